"""Examples pass, broken manifests fail, and the model and the CRD schema agree about both."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kubetune.api import crd, parse_task
from kubetune.cli import main
from kubetune.errors import InvalidSpec
from tests.cel import rule_failures

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
TASK_SCHEMA = crd.task_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def crd_errors(obj: dict[str, Any]) -> list[str]:
    """What the API server's schema validation (OpenAPI 3.0 ~ JSON Schema draft 4), then its CEL rules, would say."""
    validator = jsonschema.Draft4Validator(TASK_SCHEMA)
    errors = [f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]
    return errors or [f"{path}: {message}" for path, message in rule_failures(obj, TASK_SCHEMA)]


def base_task() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())


def test_there_is_an_example_for_every_algorithm() -> None:
    names = {yaml.safe_load(p.read_text())["spec"].get("algorithm", {}).get("name", "auto") for p in EXAMPLES}
    assert names >= {"auto", "random", "grid", "sobol", "bayesian", "tpe", "cmaes", "hyperband", "nsga2", "experiments"}


@pytest.fixture
def example_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/plugin.yaml's plugin, registered (not importable: validation only looks it up)."""
    dist = tmp_path / "my_evolution-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-evolution\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[kubetune.algorithms]\nmy-evolution = my_evolution:Evolution\n")
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_valid_for_the_models_and_the_crd_schema(path: Path, example_plugin: None) -> None:
    obj = yaml.safe_load(path.read_text())
    task = parse_task(obj)
    assert task.metadata.name
    assert crd_errors(obj) == []


def set_path(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``obj`` with the dotted ``path`` (list indexes as numbers) set or, for ..., removed."""
    obj = copy.deepcopy(obj)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = obj
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return obj


# (description, where to change, new value, expected path, expected words, the CRD schema rejects it too)
BROKEN = [
    ("min above max", "spec.parameters.0.min", 1.0, "spec.parameters[0].min", "must be less than max", True),
    ("log scale from zero", "spec.parameters.1.min", 0.0, "spec.parameters[1].min", "must be > 0 for log scale", True),
    ("step wider than range", "spec.parameters.2.step", 500, "spec.parameters[2].step", "must fit the range", True),
    ("unknown scale", "spec.parameters.0.scale", "cubic", "spec.parameters[0].scale", "'linear', 'log'", True),
    ("bad parameter name", "spec.parameters.0.name", "learning-rate", "spec.parameters[0].name", "should match", True),
    ("no values for categorical", "spec.parameters.3.values", ..., "spec.parameters[3].values", "is required", False),
    ("zero trials", "spec.budget.maxTrials", 0, "spec.budget.maxTrials", "greater than or equal to 1", True),
    ("bad duration", "spec.budget.trialTimeout", "ten minutes", "spec.budget.trialTimeout", "duration", True),
    ("missing objective", "spec.objective", ..., "spec.objective", "is required", True),
    ("bad direction", "spec.objective.direction", "up", "spec.objective.direction", "'minimize' or 'maximize'", True),
    ("unknown algorithm", "spec.algorithm.name", "magic", "spec.algorithm.name", "'auto'", True),
    (
        "setting of another algorithm",
        "spec.algorithm.settings",
        {"eta": 3},
        "spec.algorithm.settings.eta",
        "does not apply to the auto algorithm",
        False,
    ),
    ("typo in a field", "spec.budget.maxTrial", 5, "spec.budget.maxTrial", "is not a known field", False),
    # Accepted once, then crashed at run time: each is one line naming the field now.
    ("timeout past a year", "spec.budget.trialTimeout", "999999999h", "spec.budget.trialTimeout", "most 365d", False),
    ("timeout past timedelta", "spec.budget.trialTimeout", "99999999999h", "spec.budget.trialTimeout", "365d", False),
    ("duration of infinity", "spec.budget.maxDuration", float("inf"), "spec.budget.maxDuration", "365d", False),
    ("bound near the float limit", "spec.parameters.0.max", 1e308, "spec.parameters[0].max", "within ±1e+300", True),
    ("int bound past 2^53", "spec.parameters.2.max", 1e18, "spec.parameters[2].max", "within ±2^53", True),
    (
        "a logNormal whose scale overflows",
        "spec.parameters.1",
        {"name": "alpha", "distribution": "logNormal", "mean": 710, "sigma": 1},
        "spec.parameters[1].sigma",
        "beyond ±690.8",
        False,
    ),
    (
        "a normal wider than any float",
        "spec.parameters.1",
        {"name": "alpha", "distribution": "normal", "mean": 0, "sigma": 1e308},
        "spec.parameters[1].sigma",
        "beyond ±1e+300",
        False,
    ),
    ("a step no float can count", "spec.parameters.0.step", 1e-300, "spec.parameters[0].step", "too small", False),
    ("NUL in a value", "spec.parameters.3.values.1", "ta\x00nh", "spec.parameters[3].values[1]", "control", False),
    ("newline in a value", "spec.parameters.3.values.1", "a\nb", "spec.parameters[3].values[1]", "(\\x0a)", False),
    (
        "a list as a categorical value",
        "spec.parameters.3.values.1",
        ["tanh"],
        "spec.parameters[3].values[1]",
        "must be a string, a number or a boolean, got a list",
        False,
    ),
    (
        "NUL in an argument",
        "spec.trialTemplate.spec.template.spec.containers.0.args.4",
        "--epochs=8\x00",
        "spec.trialTemplate.spec.template.spec.containers[0].args[4]",
        "NUL byte",
        False,
    ),
    (
        "no containers",
        "spec.trialTemplate.spec.template.spec.containers",
        [],
        "spec.trialTemplate.spec.template.spec.containers",
        "at least one container",
        False,
    ),
    (
        "placeholder of an unknown parameter",
        "spec.trialTemplate.spec.template.spec.containers.0.args.0",
        "--lr=${params.learning_rate}",
        "spec.trialTemplate.spec.template.spec.containers[0].args[0]",
        "${params.learning_rate} names no parameter",
        False,
    ),
]


@pytest.mark.parametrize(("case", "where", "value", "path", "words", "crd_rejects"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_manifest_gets_one_line_naming_the_field(
    case: str, where: str, value: Any, path: str, words: str, crd_rejects: bool
) -> None:
    obj = set_path(base_task(), where, value)
    with pytest.raises(InvalidSpec) as caught:
        parse_task(obj)
    problems = caught.value.problems
    assert [p.path for p in problems] == [path], problems
    assert words in problems[0].message
    assert "\n" not in str(problems[0])
    if crd_rejects:
        assert crd_errors(obj), f"the CRD schema should reject: {case}"


@pytest.mark.parametrize(
    ("changes", "path", "words"),
    [
        (
            {"spec.algorithm.name": "grid", "spec.algorithm.seed": ...},
            "spec.parameters[0].step",
            "is required for grid search on a double range",
        ),
        (
            {"spec.algorithm.name": "hyperband", "spec.algorithm.seed": ...},
            "spec.algorithm.settings.resourceParameter",
            "is required by hyperband",
        ),
        (
            {
                "spec.algorithm.name": "hyperband",
                "spec.algorithm.settings": {"resourceParameter": "hidden"},
                "spec.parameters.2.max": 9e15,
            },
            "spec.algorithm.settings.resourceParameter",
            "max / min is at most 100000",
        ),
        (
            {"spec.algorithm.name": "hyperband", "spec.algorithm.settings": {"resourceParameter": "activation"}},
            "spec.algorithm.settings.resourceParameter",
            "must name an int or double range",
        ),
        (
            {"spec.algorithm.name": "experiments", "spec.algorithm.experiments": [{"lr": 5.0}]},
            "spec.algorithm.experiments[0].lr",
            "outside [0.0001, 0.3]",
        ),
        ({"spec.algorithm.name": "plugin"}, "spec.algorithm.plugin", "is required by"),
        (
            {"spec.algorithm.name": "grid", "spec.parameters.2.max": 8e9, "spec.algorithm.seed": ...},
            "spec.parameters[2].step",
            "gives 1e+09 grid points, more than grid search can visit (at most 100000)",
        ),
        (
            {
                "spec.metricsCollector": {
                    "format": "regex",
                    "patterns": [{"metric": "loss", "regex": "loss (\\d+) (\\d+)"}],
                }
            },
            "spec.metricsCollector.patterns[0].regex",
            "exactly one capture group, has 2",
        ),
        ({"spec.parameters.1.name": "lr"}, "spec.parameters[1].name", "declared twice"),
        (
            {"spec.parameters.1.name": "LR"},
            "spec.parameters[1].name",
            "'LR' and 'lr' would both be the environment variable KUBETUNE_PARAM_LR",
        ),
        (
            {"spec.algorithm.name": "plugin", "spec.algorithm.plugin": "nowhere", "spec.algorithm.seed": ...},
            "spec.algorithm.plugin",
            "no search algorithm plugin 'nowhere' is installed here",
        ),
        (
            {"spec.parameters.0.base": 10, "spec.parameters.0.scale": "linear", "spec.parameters.0.max": 400},
            "spec.parameters[0].max",
            "gives base ** max = 1e400",
        ),
    ],
)
def test_semantic_rules_name_the_field(changes: dict[str, Any], path: str, words: str) -> None:
    obj = base_task()
    for where, value in changes.items():
        obj = set_path(obj, where, value)
    with pytest.raises(InvalidSpec) as caught:
        parse_task(obj)
    assert path in [p.path for p in caught.value.problems], caught.value.problems
    assert any(words in p.message for p in caught.value.problems if p.path == path)


def test_validate_prints_one_line_per_problem_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    obj = set_path(set_path(base_task(), "spec.parameters.0.min", 1.0), "spec.budget.parallelTrials", 0)
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(obj))
    good = ROOT / "examples" / "demo.yaml"

    assert main(["validate", str(good), str(broken)]) == 2

    out, err = capsys.readouterr()
    assert f"{good}: valid" in out
    assert err.splitlines() == [
        f"{broken}: spec.parameters[0].min: must be less than max (1 >= 0.3)",
        f"{broken}: spec.budget.parallelTrials: input should be greater than or equal to 1",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("spec: [unclosed", "invalid YAML"),
        ("", "holds no manifest"),
        ("- just\n- a list\n", "kind: must be HPOTask or Trial"),
        ("kind: Deployment\n", "kind: must be HPOTask or Trial, got 'Deployment'"),
    ],
)
def test_validate_reports_unusable_files_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert expected in err
    assert "Traceback" not in err


def test_validate_names_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read: No such file or directory" in capsys.readouterr().err


def test_a_valid_manifest_round_trips_through_the_model() -> None:
    task = parse_task(base_task())
    again = parse_task(task.to_manifest())
    assert again == task
    assert again.spec.budget.trial_timeout is not None
    assert again.to_manifest()["spec"]["budget"]["trialTimeout"] == "2m"


def test_a_task_name_must_work_as_a_label_and_a_directory() -> None:
    for bad in ("../escape", "a/b", "Upper_Case", "x" * 64):
        with pytest.raises(InvalidSpec) as caught:
            parse_task(set_path(base_task(), "metadata.name", bad))
        assert [p.path for p in caught.value.problems] == ["metadata.name"]


def test_times_written_without_a_zone_are_read_as_utc() -> None:
    from kubetune.api import parse_trial  # noqa: PLC0415

    trial = parse_trial(
        {
            "apiVersion": "kubetune.io/v1alpha1",
            "kind": "Trial",
            "metadata": {"name": "t-0"},
            "spec": {"task": "t", "index": 0, "parameters": {}},
            "status": {"startTime": "2026-01-01T10:00:00"},
        }
    )
    assert trial.status is not None and trial.status.start_time is not None
    assert trial.status.start_time.utcoffset() is not None
