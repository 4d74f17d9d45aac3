"""`kubetune convert` on badly typed Experiments: one line per problem naming the Katib field, never a
traceback, never a silent conversion of a wrong type; and generated Experiments end as a valid
HPOTask or as one-line refusals, nothing else."""

from __future__ import annotations

import contextlib
import copy
import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetune.api import load_task
from kubetune.api.kubeyaml import dump
from kubetune.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "katib"
FULL = yaml.safe_load((FIXTURES / "full-job.yaml").read_text())


def _container(experiment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = experiment["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets the field at the dotted ``path`` (``spec.objective.goal``)."""

    def change(experiment: dict[str, Any]) -> None:
        node: Any = experiment
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value

    return change


def _lognormal_with_negative_max(experiment: dict[str, Any]) -> None:
    space = experiment["spec"]["parameters"][0]["feasibleSpace"]
    space.update(distribution="logNormal", min="0.1", max="-1")


def _downward_env_without_name(experiment: dict[str, Any]) -> None:
    _container(experiment)["env"].append({"value": "${trialParameters.trialName}"})


def _env_as_text(experiment: dict[str, Any]) -> None:
    _container(experiment)["env"] = "abc"


def _integer_filter(experiment: dict[str, Any]) -> None:
    experiment["spec"]["metricsCollectorSpec"] = {"source": {"filter": {"metricsFormat": [5]}}}


def convert_file(experiment: Any) -> tuple[int, str, str]:
    """Run ``kubetune convert`` on the Experiment as a file; its exit code, output and error lines."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "experiment.yaml"
        path.write_text(dump(experiment))
        out = Path(scratch) / "task.yaml"
        code = main(["convert", str(path), "-o", str(out)])
        return code, out.read_text() if out.exists() else "", str(path)


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (_lognormal_with_negative_max, "spec.parameters[0].feasibleSpace.max: must be at least min (0.1), got -1"),
        (_set("spec.metricsCollectorSpec", "StdOut"), "spec.metricsCollectorSpec: input should be a valid dictionary"),
        (
            _downward_env_without_name,
            "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].env[2].name: is required",
        ),
        (_integer_filter, "spec.metricsCollectorSpec.source.filter.metricsFormat[0]: input should be a valid string"),
        (
            _set("spec.trialTemplate.trialSpec.metadata", [{"labels": {"team": "vision"}}]),
            "spec.trialTemplate.trialSpec.metadata: input should be a valid dictionary",
        ),
        (_set("metadata.labels", "team=vision"), "metadata.labels: input should be a valid dictionary"),
        (
            _set("spec.trialTemplate.trialSpec.metadata.labels", "team"),
            "spec.trialTemplate.trialSpec.metadata.labels: input should be a valid dictionary",
        ),
        (
            _set("spec.objective.additionalMetricNames", "acc"),
            "spec.objective.additionalMetricNames: input should be a valid list",
        ),
        (_env_as_text, "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].env: input should be a valid"),
        (_set("spec.parameters.0.feasibleSpace.min", True), "spec.parameters[0].feasibleSpace.min: must be a number"),
    ],
)
def test_a_badly_typed_field_is_one_line_naming_the_katib_field(
    capsys: pytest.CaptureFixture[str], change: Callable[[dict[str, Any]], None], line: str
) -> None:
    experiment = copy.deepcopy(FULL)
    change(experiment)
    code, out, path = convert_file(experiment)
    err = capsys.readouterr().err.splitlines()
    assert (code, out) == (2, ""), err
    assert len(err) == 1, err
    assert err[0].startswith(f"{path}: {line}"), err


def test_every_problem_of_the_shape_is_said_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    experiment = copy.deepcopy(FULL)
    _set("spec.objective.additionalMetricNames", "acc")(experiment)
    _env_as_text(experiment)  # found once the Experiment's own fields are right: two steps, as the reader goes
    _set("metadata.labels", "x")(experiment)
    code, _, _ = convert_file(experiment)
    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert [line.split(": ")[1] for line in err] == ["metadata.labels", "spec.objective.additionalMetricNames"]


# --- generated Experiments ------------------------------------------------------------------------

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in an Experiment a value can be replaced at."""
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _places(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _places(value, (*path, i))
    return found


BASES = [
    yaml.safe_load((FIXTURES / name).read_text())
    for name in ("full-job.yaml", "hyperband.yaml", "spaced-metrics.yaml", "file-json-early-stopping.yaml")
]
KEYS = sorted({p[-1] for base in BASES for p in _places(base) if isinstance(p[-1], str)})


def _other_type(value: Any) -> st.SearchStrategy[Any]:
    """A value of another JSON type than ``value``: the mistake a careless manifest makes."""
    text = st.sampled_from(["acc", "-1", "0", "1e400", "${trialParameters.lr}", "", "abc"])
    numbers = st.sampled_from([0, -1, 5, 0.5, True])
    if isinstance(value, list):
        return text | numbers | st.dictionaries(st.sampled_from(KEYS), JSON, max_size=2)
    if isinstance(value, dict):
        return text | numbers | st.lists(JSON, max_size=2) | st.lists(text, max_size=2)
    return numbers | st.lists(text, max_size=2) | st.dictionaries(st.sampled_from(KEYS), JSON, max_size=2) | text


@st.composite
def experiments(draw: st.DrawFn) -> Any:
    """An Experiment from the fixtures with a few fields replaced by a value of another type (or any JSON),
    dropped, or a known field added where it does not belong."""
    experiment = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        places = _places(experiment)
        if not places:
            break
        path = draw(st.sampled_from(places))
        node: Any = experiment
        for part in path[:-1]:
            node = node[part]
        action = draw(st.sampled_from(["retype", "retype", "any", "drop", "add"]))
        if action == "drop" and isinstance(node, dict):
            del node[path[-1]]
        elif action == "add" and isinstance(node, dict):
            node[draw(st.sampled_from(KEYS))] = draw(JSON)
        else:
            node[path[-1]] = draw(_other_type(node[path[-1]]) if action == "retype" else JSON)
    return experiment


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(experiments())
def test_a_generated_experiment_becomes_a_valid_task_or_one_line_refusals(experiment: Any) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code, out, path = convert_file(experiment)
    lines = err.getvalue().splitlines()
    assert code in (0, 2), lines
    if code == 0:
        with tempfile.TemporaryDirectory() as scratch:
            written = Path(scratch) / "task.yaml"
            written.write_text(out)
            load_task(written)  # a valid HPOTask
    else:
        assert out == "" and lines, "a refusal says why"
    for line in lines:
        assert line.startswith(f"{path}: "), line  # one line per problem (or note), naming the file
        assert "Traceback" not in line
