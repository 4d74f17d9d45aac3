"""The Python API on a cluster: ``kubetune.Client`` and ``kubetune.tune(namespace=...)`` against the real
operator and the API emulator over HTTP; trial pods run the function's source as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import kubetune
from kubetune import names, search
from kubetune.api import MetricsCollector
from kubetune.errors import InvalidSpec, StateError
from kubetune.metrics import read_annotation
from tests.kube import Kube, Log, PodScript, pod_args, pod_env

from .conftest import RunOperator, quadratic, task_manifest


def run_in_pod(pod: dict[str, Any]) -> PodScript:
    """The kubelet runs the pod's container as a process here, with the parameters file the downward API mounts."""
    argv = pod_args(pod)
    env = {**os.environ, **pod_env(pod)}
    with tempfile.TemporaryDirectory() as folder:
        params = Path(folder) / "parameters.json"
        params.write_text(pod["metadata"]["annotations"][names.ANNOTATION_PARAMETERS])
        env[names.ENV_PARAMS_FILE] = str(params)
        program = sys.executable if argv[0] == "python" else argv[0]
        done = subprocess.run([program, *argv[1:]], env=env, capture_output=True, text=True, timeout=60, check=False)
    return PodScript([Log(line) for line in (done.stdout + done.stderr).splitlines()], exit_code=done.returncode)


def trainer(params: dict[str, Any]) -> None:
    """Reports through kubetune.report, so the image needs kubetune (here: this checkout)."""
    import kubetune  # noqa: PLC0415 - the trial runs this function's source alone

    for epoch in (1, 2, 3):
        kubetune.report(loss=(params["lr"] - 0.1) ** 2 + 1 / epoch, step=epoch)


def plain(x: float, n: int) -> float:
    """Returns its objective: the image needs Python only."""
    return x * n


def test_tune_on_a_cluster_creates_a_task_whose_trials_run_the_functions_source(
    cluster: Kube, operator: RunOperator
) -> None:
    cluster.behaviour = run_in_pod
    with operator():
        result = kubetune.tune(
            trainer,
            {"lr": search.loguniform(1e-3, 1.0)},
            "loss",
            namespace="default",
            image="trainer:1",
            max_trials=3,
            parallel=2,
            seed=5,
        )
        assert result.namespace == "default" and result.state_dir is None
        result.wait(timeout=60)
        other = kubetune.tune(
            plain, {"x": search.uniform(0, 1), "n": search.int(1, 3)}, image="python:3.12", max_trials=2
        ).wait(timeout=60)
    assert result.task.status is not None and result.task.status.phase == "Succeeded"
    rows = result.trials
    assert [r["phase"] for r in rows] == ["Succeeded"] * 3
    for row in rows:
        assert row["objective"] == pytest.approx((row["params_lr"] - 0.1) ** 2 + 1 / 3, abs=1e-9)
    assert result.best is not None and result.best["objective"] == min(r["objective"] for r in rows)
    pod = cluster.list("pods")[0]
    assert pod["spec"]["containers"][0]["image"] in ("trainer:1", "python:3.12")
    for row in other.trials:
        assert row["objective"] == pytest.approx(row["params_x"] * row["params_n"])


def test_the_client_creates_lists_waits_for_reads_and_deletes_tasks(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    client = kubetune.Client()
    assert client.namespace == "default", "the kubeconfig context's namespace"
    with operator():
        created = client.create(task_manifest("first"))
        assert created.metadata.uid and created.metadata.namespace == "default"
        client.create(task_manifest("second", budget={"maxTrials": 2}))
        assert [t.metadata.name for t in client.list()] == ["first", "second"]
        done = client.wait("first", timeout=60, interval=0.2)
        assert done.status is not None and done.status.phase == "Succeeded"
        trials = client.trials("first")
        assert [t.metadata.name for t in trials] == [f"first-{i}" for i in range(4)]
        best = client.best("first")
        assert best is not None and best["objective"] == min(t.status.objective for t in trials if t.status)  # type: ignore[type-var]
        assert client.delete("first") is True
        cluster.wait_gone("hpotasks", "first")
        assert client.delete("first") is False
        client.wait("second", timeout=60, interval=0.2)
    with pytest.raises(StateError, match=r"^hpo/first: no such HPOTask in namespace default$"):
        client.get("first")


def test_the_client_stops_a_running_task(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    client = kubetune.Client("default")
    slow = task_manifest("slow", budget={"maxTrials": 50, "parallelTrials": 1})
    slow["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"].append("--sleep=0.5")
    with operator():
        client.create(slow)
        cluster.wait_for(lambda: client.trials("slow") or None, timeout=20)
        client.stop("slow", force=True)
        stopped = client.wait("slow", timeout=60, interval=0.2)
    assert stopped.status is not None and stopped.status.phase == "Stopped"
    assert len(client.trials("slow")) < 50


def test_the_client_refuses_in_one_line(cluster: Kube) -> None:
    client = kubetune.Client("default")
    client.create(task_manifest("taken"))
    with pytest.raises(StateError, match=r"^hpo/taken already exists in namespace default$"):
        client.create(task_manifest("taken"))
    with pytest.raises(StateError, match=r"^hpo/taken already exists in namespace default$"):
        client.create(client.get("taken"))  # read back: its uid and resourceVersion are not sent
    bad = task_manifest("bad")
    bad["spec"]["parameters"][0]["min"] = -1  # a log scale needs min > 0
    with pytest.raises(InvalidSpec, match=r"^spec.parameters\[0\].min: "):
        client.create(bad)
    assert cluster.find("hpotasks", "bad") is None
    with pytest.raises(TimeoutError, match=r"^hpo/taken has not finished after 0.1 s"):
        client.wait("taken", timeout=0.1, interval=0.05)


def test_report_writes_its_pods_metrics_annotation_when_given_the_pods_name(cluster: Kube) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "trainer-0"},
        "spec": {"containers": [{"name": "t", "image": "t"}]},
    }
    cluster.create(pod)
    script = "import kubetune\nkubetune.report(loss=0.5, step=1)\nkubetune.report(loss=0.25, acc=0.9, step=2)\n"
    env = {**os.environ, names.ENV_POD_NAME: "trainer-0", names.ENV_POD_NAMESPACE: "default"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert done.stderr == ""
    text = cluster.get("pods", "trainer-0")["metadata"]["annotations"][names.ANNOTATION_METRICS]
    reading = read_annotation(text, MetricsCollector(source="annotations"), frozenset({"loss"}))
    assert [(p.step, p.value) for p in reading.series["loss"].points] == [(1, 0.5), (2, 0.25)]
    # Without the RBAC rule (or the pod), training goes on: one line on stderr, the logs keep the values.
    env[names.ENV_POD_NAME] = "no-such-pod"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert done.stderr.count("kubetune.report: could not write the pod's metrics annotation") == 1
    assert done.stdout.count(names.REPORT_PREFIX) == 2
