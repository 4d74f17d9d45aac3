"""A converted Katib Experiment run by the operator against the emulator: spaced metric names read
by the converted filter, Katib's aggregations, the trial's name from the downward API, and a
leftover Katib placeholder refused with the same line as `kubetune validate`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune import names
from kubetune.cli import main
from tests.kube import Kube, Log, PodScript, Sleep

from .conftest import RunOperator, arg, phase, task_manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "katib"


def lightgbm(pod: dict[str, Any]) -> PodScript:
    """Prints LightGBM-style lines; auc peaks at the second of three rounds."""
    leaves = int(arg(pod, "num-leaves", "8"))
    steps: list[Any] = []
    for i, auc in enumerate([0.70, 0.90, 0.80], start=1):
        line = f"[{i}] valid_1 auc : {auc + leaves / 1000:.4f} valid_1 binary_logloss : {1.0 / i:.4f}"
        steps += [Sleep(0.02), Log(line)]
    return PodScript(steps)


def converted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    experiment = yaml.safe_load((FIXTURES / "spaced-metrics.yaml").read_text())
    spec = experiment["spec"]
    spec["maxTrialCount"], spec["parallelTrialCount"] = 2, 1
    template = spec["trialTemplate"]
    template["trialParameters"].append({"name": "trialName", "reference": "${trialSpec.Name}"})
    container = template["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "RUN_NAME", "value": "${trialParameters.trialName}"}]
    source, out = tmp_path / "experiment.yaml", tmp_path / "task.yaml"
    source.write_text(yaml.safe_dump(experiment))
    assert main(["convert", str(source), "-o", str(out)]) == 0
    capsys.readouterr()
    task: dict[str, Any] = yaml.safe_load(out.read_text())
    return task


def test_a_converted_experiment_runs_on_the_emulator(
    cluster: Kube, operator: RunOperator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.behaviour = lightgbm
    with operator():
        cluster.create(converted(tmp_path, capsys))
        cluster.wait_for(lambda: phase(cluster, "lightgbm") in ("Succeeded", "Failed"), timeout=30)
    status = cluster.get("hpotasks", "lightgbm")["status"]
    assert status["phase"] == "Succeeded"
    best = status["bestTrial"]
    leaves = best["parameters"]["num_leaves"]
    # Katib's default when maximizing, written out by convert: every metric reduced by max.
    assert best["objective"] == pytest.approx(0.90 + leaves / 1000)
    assert best["metrics"] == {"valid_1 binary_logloss": pytest.approx(1.0)}
    # The trial's name reaches the trainer through the downward API: the env var reads a label
    # that the pod carries, whose value is the trial's name.
    pod = next(p for p in cluster.list("pods") if p["metadata"]["labels"][names.LABEL_TRIAL] == best["name"])
    [env] = [e for e in pod["spec"]["containers"][0]["env"] if e["name"] == "RUN_NAME"]
    field = env["valueFrom"]["fieldRef"]["fieldPath"]
    label = re.fullmatch(r"metadata\.labels\['([^']+)'\]", field)
    assert label is not None and pod["metadata"]["labels"][label[1]] == best["name"]


def test_a_leftover_katib_placeholder_is_refused_with_the_validate_line(
    cluster: Kube, operator: RunOperator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = task_manifest("leftover")
    manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] = [
        "--lr=${trialParameters.learningRate}"
    ]
    path = tmp_path / "leftover.yaml"
    path.write_text(json.dumps(manifest))
    assert main(["validate", str(path)]) == 2
    expected = capsys.readouterr().err.strip().split(": ", 1)[1]
    assert "${trialParameters.learningRate} is not a kubetune placeholder" in expected
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "leftover") == "Failed", timeout=20)
    valid = next(c for c in cluster.get("hpotasks", "leftover")["status"]["conditions"] if c["type"] == "Valid")
    assert (valid["status"], valid["reason"], valid["message"]) == ("False", "InvalidSpec", expected)
    assert not cluster.list("jobs")
