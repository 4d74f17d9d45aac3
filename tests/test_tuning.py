"""``kubetune.tune`` on this machine: a Python function as the trial, run as real processes by the
engine of ``kubetune run``, in the same state directory, read afterwards by the same commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import kubetune
from kubetune import search
from kubetune.cli import main
from kubetune.errors import InvalidSpec, StateError
from kubetune.executors.state import StateDir
from kubetune.results.source import LocalSource

SPACE = {"lr": search.loguniform(1e-4, 1e-1), "layers": search.int(1, 6), "act": search.categorical(["relu", "tanh"])}


def by_name(lr: float, layers: int, act: str) -> None:
    """A trainer that takes the parameters by name and reports two metrics per epoch."""
    import kubetune  # noqa: PLC0415 - the trial runs this function's source alone: it imports what it uses

    for epoch in (1, 2):
        loss = (lr - 0.01) ** 2 * 100 + abs(layers - 3) + (1.0 if act == "tanh" else 0.0) + 1 / epoch
        kubetune.report(loss=loss, accuracy=1 / (1 + loss), step=epoch)


def katib_style(parameters):  # type: ignore[no-untyped-def]
    """Katib SDK's example objective, unchanged: one dict in, ``result=...`` printed out."""
    result = 4 * int(parameters["a"]) - float(parameters["b"]) ** 2
    print(f"result={result}")


def returns_a_number(params: dict[str, Any]) -> float:
    value: float = (params["x"] - 2) ** 2
    return value


def returns_metrics(x: float, tag: str) -> dict[str, float]:
    # A "$(HOME)" or "${params.x}" in the source is the program's text: neither is expanded.
    assert "$(HOME)" + "${params.x}" == "$(HOME)${params.x}" and tag == "fixed"
    return {"loss": abs(x), "size": 3.0}


def fails(x: float) -> float:
    raise RuntimeError(f"diverged at x={x}")


def test_a_function_that_reports_runs_as_trials_and_the_cli_reads_its_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = kubetune.tune(by_name, SPACE, "loss", "minimize", max_trials=4, parallel=2, seed=3, verbose=False)
    rows = result.trials
    assert [r["phase"] for r in rows] == ["Succeeded"] * 4
    for row in rows:
        expected = (row["params_lr"] - 0.01) ** 2 * 100 + abs(row["params_layers"] - 3) + (row["params_act"] == "tanh")
        assert row["objective"] == pytest.approx(expected + 0.5), "the last reported loss (epoch 2)"
        assert row["metrics_accuracy"] == pytest.approx(1 / (1 + row["objective"]))
    best = min(rows, key=lambda r: r["objective"])
    assert result.best is not None and result.best["name"] == best["trial"]
    assert result.best_parameters == {k[7:]: v for k, v in best.items() if k.startswith("params_")}
    assert result.state_dir == tmp_path / ".kubetune" / "by-name"
    # The same state as `kubetune run`'s: the CLI lists and reads it by name.
    capsys.readouterr()
    assert main(["best", "by-name"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == best["trial"]
    assert main(["list", "-o", "json"]) == 0
    assert "by-name" in capsys.readouterr().out
    assert result.wait() is result


def test_katib_sdk_example_objective_runs_unchanged(tmp_path: Path) -> None:
    parameters = {"a": search.int(10, 20), "b": search.double(0.1, 0.2)}
    result = kubetune.tune(
        katib_style, parameters, "result", "maximize", max_trials=3, seed=1, workdir=tmp_path, verbose=False
    )
    for row in result.trials:
        assert row["objective"] == pytest.approx(4 * row["params_a"] - row["params_b"] ** 2)


def test_a_returned_number_is_the_objective_and_a_returned_dict_its_metrics(tmp_path: Path) -> None:
    number = kubetune.tune(returns_a_number, {"x": search.uniform(-5, 5)}, max_trials=2, seed=1, workdir=tmp_path)
    for row in number.trials:
        assert row["objective"] == pytest.approx((row["params_x"] - 2) ** 2)
    metrics = kubetune.tune(
        returns_metrics,
        {"x": search.uniform(-1, 1), "tag": "fixed"},
        "loss",
        additional_metrics=["size"],
        max_trials=2,
        workdir=tmp_path,
        verbose=False,
    )
    for row in metrics.trials:
        assert row["phase"] == "Succeeded" and row["params_tag"] == "fixed"
        assert row["objective"] == pytest.approx(abs(row["params_x"])) and row["metrics_size"] == 3.0


def test_the_task_is_a_manifest_kubetune_validate_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubetune.tune(returns_a_number, {"x": search.uniform(-5, 5)}, max_trials=1, workdir=tmp_path, verbose=False)
    manifest = tmp_path / ".kubetune" / "returns-a-number" / "task.yaml"
    container = yaml.safe_load(manifest.read_text())["spec"]["trialTemplate"]["spec"]["template"]["spec"]
    argv = container["containers"][0]["command"]
    assert argv[:2] == ["python", "-c"] and "${" not in " ".join(argv), "the source travels encoded"
    assert main(["validate", str(manifest)]) == 0


def test_a_failing_function_fails_its_trial_with_its_error_in_the_message(tmp_path: Path) -> None:
    result = kubetune.tune(fails, {"x": search.uniform(0, 1)}, max_trials=2, workdir=tmp_path, verbose=False)
    assert [r["phase"] for r in result.trials] == ["Failed", "Failed"]
    trial = result.trial_objects()[0]
    assert trial.status is not None and "RuntimeError: diverged at x=" in (trial.status.message or "")
    assert result.best is None


def test_an_importable_function_is_named_by_module_path(tmp_path: Path) -> None:
    (tmp_path / "mytrainer.py").write_text("def train(x):\n    return {'objective': x * 2}\n")
    result = kubetune.tune(
        "mytrainer:train", {"x": search.uniform(0, 1)}, max_trials=2, workdir=tmp_path, verbose=False
    )
    for row in result.trials:
        assert row["objective"] == pytest.approx(2 * row["params_x"])
    assert result.name == "train"


def test_running_again_continues_the_search_and_a_changed_space_is_refused(tmp_path: Path) -> None:
    space = {"x": search.uniform(-5, 5)}
    kubetune.tune(returns_a_number, space, max_trials=2, seed=4, workdir=tmp_path, verbose=False)
    again = kubetune.tune(returns_a_number, space, max_trials=3, seed=4, workdir=tmp_path, verbose=False)
    assert [r["index"] for r in again.trials] == [0, 1, 2], "two kept, one more run"
    with pytest.raises(StateError, match=r"spec.parameters changed since the search saved in .*restart=True"):
        kubetune.tune(
            returns_a_number, {"x": search.uniform(0, 1)}, max_trials=3, seed=4, workdir=tmp_path, verbose=False
        )
    fresh = kubetune.tune(
        returns_a_number, {"x": search.uniform(0, 1)}, max_trials=1, workdir=tmp_path, restart=True, verbose=False
    )
    assert len(fresh.trials) == 1
    assert any(p.name.startswith("returns-a-number.replaced-") for p in (tmp_path / ".kubetune").iterdir())


def closure_maker() -> Any:
    scale = 2.0

    def inner(x: float) -> float:
        return x * scale

    return inner


@pytest.mark.parametrize(
    ("objective", "space", "message"),
    [
        (lambda x: x, {"x": search.uniform(0, 1)}, "objective: must be a function defined with def"),
        (closure_maker(), {"x": search.uniform(0, 1)}, "objective: uses variables of the function around it (scale)"),
        (by_name, {"lr": search.uniform(0, 1)}, "objective: takes neither one dict of parameters nor the parameters"),
        (returns_a_number, {"x": search.loguniform(0, 1)}, "spec.parameters[0].min: "),
        (returns_a_number, {"x": search.categorical([])}, "spec.parameters[0].values: "),
        ("no_colon", {"x": search.uniform(0, 1)}, "objective: must be a function or 'package.module:function'"),
        ("os;x:y", {"x": search.uniform(0, 1)}, "objective: must be a function or 'package.module:function'"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(objective: Any, space: Any, message: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec) as error:
        kubetune.tune(objective, space, max_trials=1, workdir=tmp_path)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    assert not (tmp_path / ".kubetune").exists(), "nothing ran"


def test_categorical_refuses_a_string_for_its_list() -> None:
    with pytest.raises(TypeError, match="values must be a list, got the string 'relu'"):
        search.categorical("relu")


def test_kubetune_imports_only_the_report_function_until_more_is_used() -> None:
    heavy = "('kubetune', 'pydantic', 'numpy', 'kubernetes', 'yaml')"
    code = f"import kubetune, sys; kubetune.report(x=1); print(sorted(m for m in sys.modules if m.startswith({heavy})))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.splitlines()[-1] == "['kubetune', 'kubetune.names', 'kubetune.trainer']"


def test_the_python_api_example_runs_as_written(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "python_api.py"
    done = subprocess.run([sys.executable, str(example)], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("best: {'name': 'train-")
    trials = LocalSource(StateDir(tmp_path / ".kubetune" / "train")).load_trials()
    assert [str(t.status.phase) for t in trials if t.status] == ["Succeeded"] * 12


def test_trials_are_a_pandas_data_frame_when_pandas_is_installed(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    result = kubetune.tune(
        returns_a_number, {"x": search.uniform(-5, 5)}, max_trials=2, workdir=tmp_path, verbose=False
    )
    frame = result.trials
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == ["trial", "index", "phase", "objective", "params_x", "metrics_objective"]
    assert list(frame["phase"]) == ["Succeeded", "Succeeded"]
    assert frame["objective"].tolist() == pytest.approx(((frame["params_x"] - 2) ** 2).tolist())
