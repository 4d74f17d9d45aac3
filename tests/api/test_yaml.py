"""Manifests are read as kubectl reads them, within the API server's limits, in one line per problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kubetune.api.kubeyaml import dump, load_documents
from kubetune.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEMO = (ROOT / "examples" / "demo.yaml").read_text()


def validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, list[str], str]:
    path = tmp_path / "task.yaml"
    path.write_text(text)
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    return code, [line.removeprefix(f"{path}: ") for line in err.splitlines()], out


def with_env(item: str) -> str:
    """The demo task with one environment variable in its trainer."""
    return DEMO.replace("              args:\n", f"              env: [{item}]\n              args:\n")


# go-yaml v2's resolve.go, which kubectl reads manifests with (through sigs.k8s.io/yaml).
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("y", True),
        ("Y", True),
        ("yes", True),
        ("On", True),
        ("n", False),
        ("NO", False),
        ("off", False),
        ("true", True),
        ("~", None),
        ("Null", None),
        ("'y'", "y"),
        ('"on"', "on"),
        ("1", 1),
        ("0777", 511),
        ("0o17", 15),
        ("0x1F", 31),
        ("0b101", 5),
        ("1_000", 1000),
        ("+5", 5),
        # go-yaml's float64 reaches the API server as Go writes it in JSON: 16.0 is 16, an integer.
        ("08", 8),
        ("1e3", 1000),
        ("16.0", 16),
        ("2.5", 2.5),
        (".5", 0.5),
        ("1e400", "1e400"),
        ("99999999999999999999", 1e20),
        ("18446744073709551615", 2**64 - 1),
        ("1:30", "1:30"),
        ("2026-01-02", "2026-01-02T00:00:00Z"),
        ("2026-1-2T3:04:05.120+02:00", "2026-01-02T03:04:05.12+02:00"),
        ("2026-13-01", "2026-13-01"),
    ],
)
def test_scalars_are_read_as_kubectl_reads_them(text: str, value: Any) -> None:
    [document] = load_documents(f"a: {text}\n")
    assert document.obj["a"] == value
    assert type(document.obj["a"]) is type(value)


def test_keys_become_strings_as_kubectl_sends_them() -> None:
    [document] = load_documents("base: &b {x: 1}\nm:\n  <<: *b\n  1: one\n  on: yes\n")
    assert document.obj["m"] == {"x": 1, "1": "one", "true": True}


def test_name_y_is_the_boolean_kubectl_sees_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err, _ = validate(tmp_path, capsys, DEMO.replace("- name: alpha", "- name: y"))
    assert code == 2
    assert err[0] == (
        "spec.parameters[1].name: input should be a valid string "
        "(the bare word y is the boolean true to kubectl (YAML 1.1); quote it if you mean the text)"
    )
    assert len([e for e in err if e.startswith("spec.parameters[1]")]) == 1


def test_a_value_that_changes_type_but_stays_valid_gets_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err, out = validate(tmp_path, capsys, DEMO.replace("values: [relu, tanh, logistic]", "values: [on, off]"))
    assert code == 0
    assert "valid" in out
    assert err == [
        "note: spec.parameters[3].values[0]: the bare word on is the boolean true to kubectl (YAML 1.1); "
        "quote it if you mean the text",
        "note: spec.parameters[3].values[1]: the bare word off is the boolean false to kubectl (YAML 1.1); "
        "quote it if you mean the text",
    ]


ALIAS_BOMB = "".join(
    f"      x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n" for i in range(10)
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (DEMO.replace("      backoffLimit: 0\n", "      backoffLimit: 0\n" + ALIAS_BOMB), "expands to"),
        ("a: " + "[" * 500 + "]" * 500 + "\n", "nests deeper than 64 levels"),
        (DEMO.replace("    maxTrials: 16\n", "    maxTrials: 16\n    maxTrials: 8\n"), "'maxTrials' appears twice"),
        ("a: &a [*a]\n", "holds a YAML alias to a node that contains it"),
        ("a: " + "x" * (3 * 2**20 + 1) + "\n", "larger than 3 MiB"),
        (DEMO.replace("min: 0.0001", "min: .nan"), "spec.parameters[0].min: nan cannot be sent to the API server"),
        (DEMO.replace("trialTimeout: 2m", "trialTimeout: 99999999999h"), "trialTimeout: must be at most 365d"),
        # A quoted number is a string to kubectl, which the API server's schema refuses.
        (DEMO.replace("maxTrials: 16", 'maxTrials: "16"'), "spec.budget.maxTrials: input should be a valid integer"),
        (DEMO.replace("min: 0.0001", 'min: "0.0001"'), "spec.parameters[0].min: input should be a valid number"),
        (
            DEMO.replace("  name: digits-demo\n", f"  name: digits-demo\n  annotations: {{big: {'x' * 270_000}}}\n"),
            "metadata.annotations: total 263 KiB, over the API server's limit of 256 KiB",
        ),
        (
            with_env(f"{{name: BIG, value: {'x' * 1_700_000}}}"),
            "the API server stores objects up to about 1.5 MiB",
        ),
    ],
    ids=[
        "alias-bomb",
        "deep",
        "duplicate-key",
        "recursive-alias",
        "huge",
        "nan",
        "duration",
        "quoted-int",
        "quoted-number",
        "annotations",
        "object",
    ],
)
def test_what_kubectl_or_the_api_server_refuses_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, words: str
) -> None:
    code, err, _ = validate(tmp_path, capsys, text)
    assert code == 2
    assert len(err) == 1, err
    assert words in err[0]
    assert "Traceback" not in err[0]


def test_yaml_errors_name_the_line() -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        load_documents("a: 1\nb:\n  c: 2\n  c: 3\n")
    assert caught.value.problem_mark is not None  # type: ignore[attr-defined]
    assert caught.value.problem_mark.line == 3  # type: ignore[attr-defined]


def test_a_large_object_gets_a_note_about_client_side_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = with_env(f"{{name: BIG, value: {'x' * 300_000}}}")
    code, err, _ = validate(tmp_path, capsys, text)
    assert code == 0
    assert len(err) == 1
    assert "kubectl apply --server-side" in err[0]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_what_kubetune_writes_kubectl_reads_back_unchanged(value: Any) -> None:
    [document] = load_documents(dump({"v": value}))
    assert document.obj == {"v": value}
