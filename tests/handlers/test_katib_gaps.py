"""A converted Katib Experiment run by the operator against the emulator: spaced metric names read
by the converted filter, Katib's aggregations, the trial's name from the downward API, and a
leftover Katib placeholder refused with the same line as `kubetune validate`.

The emulator is enough here: Argo and Tekton have no controller in the real-API-server tier, and what
is judged is how kubetune reads the converted task, not the API server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune import names
from kubetune.cli import main
from tests.kube import AppendFile, Kube, Log, PodScript, Sleep, pod_args

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


def _crd(group: str, kind: str, plural: str, version: str) -> dict[str, Any]:
    """A CRD that serves ``kind`` with any spec and a status subresource (the real ones are larger)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


@pytest.mark.parametrize(
    ("fixture", "crd", "primary"),
    [
        (
            "argo-workflow.yaml",
            _crd("argoproj.io", "Workflow", "workflows", "v1alpha1"),
            ("example.com/stage", "train"),
        ),
        (
            "tekton-pipelinerun.yaml",
            _crd("tekton.dev", "PipelineRun", "pipelineruns", "v1"),
            ("tekton.dev/pipelineTask", "train"),
        ),
    ],
)
def test_a_katib_argo_or_tekton_experiment_runs_with_its_conditions_written_in_cel(
    cluster: Kube,
    operator: RunOperator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fixture: str,
    crd: dict[str, Any],
    primary: tuple[str, str],
) -> None:
    """Katib's GJSON conditions become CEL that the operator evaluates on the workload's status; the
    parameter reaches the step's container; the metrics come from the primary pod's main container."""
    # The chart's workloadKinds lists the kind, as the converted task's comment says to: the operator
    # manages it and watches it (its events wake the task).
    kind = f"{crd['spec']['names']['kind']}.{crd['spec']['group']}"
    monkeypatch.setenv("KUBETUNE_WORKLOAD_KINDS", f"Job.batch,{kind}")
    cluster.install_crd(crd)
    out = tmp_path / "task.yaml"
    assert main(["convert", str(FIXTURES / fixture), "-o", str(out)]) == 0
    capsys.readouterr()
    task = yaml.safe_load(out.read_text())

    def behave(pod: dict[str, Any]) -> PodScript:
        if pod["metadata"]["labels"].get(primary[0]) != primary[1]:
            return PodScript([Sleep(0.02), Log("loss=99")])
        lr = float(next(a for a in pod_args(pod) if a.startswith("--lr=")).split("=", 1)[1])
        return PodScript([Sleep(0.02), Log(f"loss={(lr - 0.1) ** 2:.6f}")])

    cluster.behaviour = behave
    name = task["metadata"]["name"]
    with operator():
        cluster.create(task)
        cluster.wait_for(lambda: phase(cluster, name) in ("Succeeded", "Failed"), timeout=30)
    status = cluster.get("hpotasks", name)["status"]
    assert status["phase"] == "Succeeded", status["message"]
    trials = [t for t in cluster.list("trials") if t["spec"]["task"] == name]
    assert len(trials) == 2
    for trial in trials:
        lr = next(iter(trial["spec"]["parameters"].values()))
        assert trial["status"]["phase"] == "Succeeded", trial["status"]
        assert trial["status"]["objective"] == pytest.approx((lr - 0.1) ** 2, abs=1e-6), "the primary pod's log"


def test_a_katib_file_collector_with_early_stopping_runs_with_the_file_followed(
    cluster: Kube, operator: RunOperator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """convert writes follow: true; the operator reads the values while trials run, through the
    sidecar (the real `kubetune follow-file` process), including hypertune's string values."""
    out = tmp_path / "task.yaml"
    assert main(["convert", str(FIXTURES / "file-json-early-stopping.yaml"), "-o", str(out)]) == 0
    capsys.readouterr()
    task = yaml.safe_load(out.read_text())
    # The emulated pods share this machine's filesystem: the file goes under the test's directory.
    path = str(tmp_path / "katib" / "metrics.json")
    assert task["spec"]["metricsCollector"] == {
        "source": "file",
        "path": "/var/log/katib/metrics.json",
        "follow": True,
        "format": "json",
    }
    task["spec"]["metricsCollector"]["path"] = path

    def trainer(pod: dict[str, Any]) -> PodScript:
        lr = float(arg(pod, "lr"))
        steps: list[Any] = [Sleep(1.0)]  # a trainer starts after its follower, a Python process, is ready
        for step in (1, 2, 3):
            line = {"loss": str((lr - 0.1) ** 2 + 1 / step), "global_step": str(step), "timestamp": 1.0}
            steps += [Sleep(0.1), AppendFile(path, json.dumps(line) + "\n")]
        return PodScript(steps)

    cluster.behaviour = trainer
    with operator():
        cluster.create(task)
        cluster.wait_for(lambda: phase(cluster, "filed-median") in ("Succeeded", "Failed"), timeout=40)
    done = [t for t in cluster.list("trials") if t["spec"]["task"] == "filed-median"]
    assert len(done) == 3
    # The median rule needs 2 finished trials (min_trials_required) before it stops any.
    assert sum(t["status"]["phase"] == "Succeeded" for t in done) >= 2
    for trial in done:
        assert trial["status"]["phase"] in ("Succeeded", "EarlyStopped")
        if trial["status"]["phase"] == "Succeeded":
            lr = trial["spec"]["parameters"]["lr"]
            # Katib's aggregation when minimizing, written out by convert: the least value.
            assert trial["status"]["objective"] == pytest.approx((lr - 0.1) ** 2 + 1 / 3)
