"""Distributed trials on the emulator: JobSet, PyTorchJob, TrainJob and RayJob, from their real CRDs.

For each kind: the trial's metrics come from the primary pod only (the other replicas print a
misleading loss), a failing primary fails the trial, an operator restart mid-trial creates no
second workload, and deleting the task removes every workload and pod.

On a real API server (tests/realcluster/test_workloads.py) each kind's workload is created by the
operator and stored as sent, with nothing pruned; no controller of these kinds runs there, so what
their controllers do with it is judged here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from kubetune import names
from kubetune.api import kinds
from tests.kube import AppendFile, Call, Kube, Log, PodScript, Sleep, WriteFile, pod_env

from .conftest import RunOperator, arg, phase, quadratic, task_manifest

CRDS = Path(__file__).resolve().parents[2].parent / "shared" / "crds"
MISLEADING = 999.0
DONE = ("Succeeded", "Failed")

TRAINER = {
    "image": "trainer:1",
    "command": ["python", "train.py"],
    "args": ["--lr=${params.lr}", "--mode=${params.mode}"],
}
GPU = {"limits": {"nvidia.com/gpu": 4}}


def _needs_crds() -> None:
    if not CRDS.is_dir():
        pytest.skip(f"the real workload CRDs are not at {CRDS} (the shared/crds folder beside the repository)")


@dataclass(frozen=True)
class Case:
    """One workload kind: its CRD files, its template, and which pod is the primary one."""

    kind: str
    crds: tuple[str, ...]
    template: Callable[[], dict[str, Any]]
    primary: Callable[[dict[str, Any]], bool]
    gpus: int
    """GPUs a trial requests, all replicas together."""


def _pod_template(name: str = "train") -> dict[str, Any]:
    return {"spec": {"containers": [{"name": name, **TRAINER, "resources": GPU}]}}


def _pytorchjob() -> dict[str, Any]:
    replica = {"restartPolicy": "Never", "template": _pod_template("pytorch")}
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "spec": {"pytorchReplicaSpecs": {"Master": {**replica, "replicas": 1}, "Worker": {**replica, "replicas": 2}}},
    }


def _jobset() -> dict[str, Any]:
    def rjob(name: str, replicas: int, parallelism: int) -> dict[str, Any]:
        spec = {"parallelism": parallelism, "completions": parallelism, "completionMode": "Indexed", "backoffLimit": 0}
        return {"name": name, "replicas": replicas, "template": {"spec": {**spec, "template": _pod_template()}}}

    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "spec": {"replicatedJobs": [rjob("leader", 1, 2), rjob("workers", 2, 1)]},
    }


def _trainjob() -> dict[str, Any]:
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "spec": {
            "runtimeRef": {"name": "torch-distributed"},
            "trainer": {**TRAINER, "numNodes": 2, "resourcesPerNode": GPU},
        },
    }


def _rayjob() -> dict[str, Any]:
    def group(name: str) -> dict[str, Any]:
        return {"spec": {"containers": [{"name": name, "image": "rayproject/ray:2.40.0", "resources": GPU}]}}

    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "spec": {
            "entrypoint": "python train.py --lr=${params.lr} --mode=${params.mode}",
            "shutdownAfterJobFinishes": True,
            "rayClusterSpec": {
                "headGroupSpec": {"rayStartParams": {}, "template": group("ray-head")},
                "workerGroupSpecs": [
                    {"groupName": "gpu", "replicas": 2, "minReplicas": 2, "maxReplicas": 2, "rayStartParams": {},
                     "template": group("ray-worker")}
                ],
            },
        },
    }  # fmt: skip


def _labels(pod: dict[str, Any]) -> dict[str, str]:
    return dict(pod["metadata"].get("labels") or {})


def _jobset_leader(pod: dict[str, Any], rjob: str) -> bool:
    labels = _labels(pod)
    index = (pod["metadata"].get("annotations") or {}).get("batch.kubernetes.io/job-completion-index")
    return (
        labels.get("jobset.sigs.k8s.io/replicatedjob-name") == rjob
        and labels.get("jobset.sigs.k8s.io/job-index") == "0"
        and index == "0"
    )


CASES = [
    Case(
        "PyTorchJob",
        ("kubeflow.org_pytorchjobs.yaml",),
        _pytorchjob,
        lambda pod: _labels(pod).get("training.kubeflow.org/replica-type") == "master",
        3 * 4,
    ),
    Case("JobSet", ("jobset.x-k8s.io_jobsets.yaml",), _jobset, lambda pod: _jobset_leader(pod, "leader"), 4 * 4),
    Case(
        "TrainJob",
        ("trainer.kubeflow.org_trainjobs.yaml", "jobset.x-k8s.io_jobsets.yaml"),
        _trainjob,
        lambda pod: _jobset_leader(pod, "node"),
        2 * 4,
    ),
    Case(
        "RayJob",
        ("ray.io_rayjobs.yaml", "ray.io_rayclusters.yaml"),
        _rayjob,
        lambda pod: pod["spec"]["containers"][0]["name"] == "ray-job-submitter",
        3 * 4,
    ),
]


def trainer(case: Case) -> Callable[[dict[str, Any]], PodScript]:
    """The primary pod trains as the quadratic trainer; every other replica prints a misleading loss."""

    def behave(pod: dict[str, Any]) -> PodScript:
        if case.primary(pod):
            return quadratic(pod)
        if case.kind == "RayJob":  # Ray's head and workers run until the cluster goes
            return PodScript([Log(f"loss={MISLEADING}"), Sleep(30)])
        return PodScript([Sleep(0.05), Log(f"epoch=3 loss={MISLEADING}"), Sleep(0.1)])

    return behave


def manifest(case: Case, name: str, **spec: Any) -> dict[str, Any]:
    """An HPOTask whose trials are ``case``'s kind."""
    body = task_manifest(
        name,
        parameters=[
            {"name": "lr", "type": "double", "min": 0.001, "max": 1.0, "scale": "log"},
            {"name": "mode", "type": "categorical", "values": ["normal"]},
        ],
        **spec,
    )
    body["spec"]["trialTemplate"] = {**case.template(), "metadata": {"labels": {"team": "ml"}}}
    return body


def trials(cluster: Kube, task: str) -> list[dict[str, Any]]:
    found = cluster.list("trials", labels=f"{names.LABEL_TASK}={task}")
    return sorted(({"status": {}, **t} for t in found), key=lambda t: t["spec"]["index"])


@pytest.fixture
def installed(cluster: Kube, request: pytest.FixtureRequest) -> Case:
    """The emulator with the case's real CRDs installed."""
    _needs_crds()
    case: Case = request.param
    for file in case.crds:
        cluster.install_crd(CRDS / file)
    cluster.behaviour = trainer(case)
    return case


@pytest.mark.parametrize("installed", CASES, ids=[c.kind for c in CASES], indirect=True)
def test_a_distributed_trial_reads_only_its_primary_pod_survives_a_restart_and_cascades(
    cluster: Kube, operator: RunOperator, installed: Case
) -> None:
    case = installed
    plural = kinds.builtin(case.template()["apiVersion"], case.kind)
    assert plural is not None
    with operator():
        cluster.create(manifest(case, "dist", budget={"maxTrials": 2, "parallelTrials": 2}))
        cluster.wait_for(lambda: cluster.find(plural.plural, "dist-0"), timeout=20, message="the first workload")
    with operator():  # a restart mid-trial: the workloads are found, not created again
        cluster.wait_for(lambda: phase(cluster, "dist") in DONE, timeout=40)
    status = cluster.get("hpotasks", "dist")["status"]
    assert status["phase"] == "Succeeded", status
    ran = [
        t["status"]["gpus"] * (_time(t["status"]["completionTime"]) - _time(t["status"]["startTime"])).total_seconds()
        for t in trials(cluster, "dist")
    ]
    assert status["gpuHours"] == pytest.approx(sum(ran) / 3600, abs=1e-4), "GPU-hours: GPUs times time run"
    for trial in trials(cluster, "dist"):
        lr = trial["spec"]["parameters"]["lr"]
        assert trial["status"]["phase"] == "Succeeded"
        assert trial["status"]["gpus"] == case.gpus, "GPUs summed over every replica's pods"
        assert trial["status"]["objective"] == pytest.approx((lr - 0.1) ** 2 + 1 / 3, abs=1e-6), "primary pod only"
        workload = cluster.get(plural.plural, trial["metadata"]["name"])
        assert workload["metadata"]["ownerReferences"][0]["uid"] == trial["metadata"]["uid"]
        assert workload["metadata"]["labels"]["team"] == "ml"
        _every_replica_knows_the_trial(case, workload, trial)
    workloads = cluster.list(plural.plural)
    assert sorted(w["metadata"]["name"] for w in workloads) == ["dist-0", "dist-1"], "no duplicate workloads"

    with operator():
        cluster.delete("hpotasks", "dist")
        cluster.wait_for(lambda: not cluster.list(plural.plural), timeout=20, message="the workloads to go")
        cluster.wait_for(lambda: not cluster.list("pods"), timeout=20, message="every replica's pod to go")


def _every_replica_knows_the_trial(case: Case, workload: dict[str, Any], trial: dict[str, Any]) -> None:
    """Placeholders, kubetune's env (first) and the parameters file reach every container of every replica."""
    lr = repr(trial["spec"]["parameters"]["lr"])
    if case.kind == "TrainJob":
        containers = [workload["spec"]["trainer"]]
    else:
        containers = [c for _, pod in kinds.pod_specs(workload["spec"]) for c in pod["containers"]]
        assert len(containers) >= 2
        for _, pod in kinds.pod_specs(workload["spec"]):
            assert any(v["name"] == "kubetune-parameters" for v in pod["volumes"])
    for container in containers:
        env = [e["name"] for e in container["env"]]
        assert env[0].startswith("KUBETUNE_") and "KUBETUNE_TRIAL" in env
        if case.kind != "RayJob":
            assert container["args"][0] == f"--lr={lr}"
    if case.kind == "RayJob":
        assert workload["spec"]["entrypoint"] == f"python train.py --lr={lr} --mode=normal"


@pytest.mark.parametrize("installed", CASES, ids=[c.kind for c in CASES], indirect=True)
def test_a_failing_primary_fails_the_distributed_trial(cluster: Kube, operator: RunOperator, installed: Case) -> None:
    body = manifest(installed, "fails", budget={"maxTrials": 1, "parallelTrials": 1})
    body["spec"]["parameters"][1]["values"] = ["crash"]
    with operator():
        cluster.create(body)
        cluster.wait_for(lambda: phase(cluster, "fails") in DONE, timeout=30)
    [trial] = trials(cluster, "fails")
    assert trial["status"]["phase"] == "Failed", trial["status"]
    assert trial["status"]["reason"] not in ("", "MetricsUnavailable")


def test_a_kind_the_cluster_lacks_is_one_line_and_blocks_nothing(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    with operator():
        cluster.create(manifest(CASES[0], "missing"))
        cluster.create(task_manifest("plain", budget={"maxTrials": 1}))
        cluster.wait_for(lambda: phase(cluster, "plain") == "Succeeded" and phase(cluster, "missing"), timeout=20)
    status = cluster.get("hpotasks", "missing")["status"]
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")
    assert valid["status"] == "False"
    assert valid["message"] == (
        "spec.trialTemplate.kind: PyTorchJob (kubeflow.org/v1) is not installed in this cluster: the API server "
        "serves no such kind (install its CRD and operator: the task starts then)"
    )
    assert status["phase"] == "Pending", "the task waits for its kind rather than fails"
    assert "\n" not in valid["message"] and not cluster.list("trials", labels=f"{names.LABEL_TASK}=missing")


def test_kueue_queues_trials_within_parallel_trials_and_a_preempted_trial_is_requeued_not_duplicated(
    cluster: Kube, operator: RunOperator
) -> None:
    _needs_crds()
    cluster.install_crd(CRDS / "jobset.x-k8s.io_jobsets.yaml")
    case = CASES[1]
    cluster.behaviour = trainer(case)
    training = cluster.emulator.training
    cluster.call(training.install_kueue, 1)
    body = manifest(case, "queued", budget={"maxTrials": 3, "parallelTrials": 2})
    body["spec"]["trialTemplate"]["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = "gpu"
    for rjob in body["spec"]["trialTemplate"]["spec"]["replicatedJobs"]:
        rjob["template"]["spec"]["template"]["spec"]["containers"][0]["args"].append("--sleep=0.4")
    seen: set[tuple[int, int]] = set()
    preempted = False
    with operator():
        cluster.create(body)

        def done_noting_phases() -> bool:
            nonlocal preempted
            # From the Trials, written as each changes: the task's counts may coalesce a second's changes.
            phases = [t["status"].get("phase") for t in trials(cluster, "queued")]
            seen.add((phases.count("Running"), phases.count("Queued")))
            running = [t for t in trials(cluster, "queued") if t["status"].get("phase") == "Running"]
            if running and not preempted:
                # Kueue preempts the running trial's JobSet: suspended, its pods go, then it is readmitted.
                name = running[0]["metadata"]["name"]
                cluster.call(training.preempt, "jobset.x-k8s.io/v1alpha2", "JobSet", "default", name, hold=True)
                cluster.wait_for(partial(_is_queued, cluster, name), timeout=10, message="requeued")
                cluster.call(training.release, "jobset.x-k8s.io/v1alpha2", "JobSet", "default", name)
                cluster.call(training.enqueue, "kueue", "", "default", "")
                preempted = True
            return phase(cluster, "queued") in DONE

        cluster.wait_for(done_noting_phases, timeout=40)
    status = cluster.get("hpotasks", "queued")["status"]
    assert status["phase"] == "Succeeded", status
    assert preempted and (1, 1) in seen, f"one admitted, one queued, both within parallelTrials: {seen}"
    assert all(r + q <= 2 for r, q in seen), seen
    done = trials(cluster, "queued")
    assert [t["spec"]["index"] for t in done] == [0, 1, 2], "the preempted trial kept its index: no duplicate"
    assert all(t["status"]["phase"] == "Succeeded" for t in done), [
        (t["status"]["phase"], t["status"].get("reason"), t["status"].get("message")) for t in done
    ]
    assert len(cluster.list("jobsets")) == 3


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _is_queued(cluster: Kube, trial: str) -> bool:
    return _phase_of(cluster, trial) == "Queued"


def _phase_of(cluster: Kube, trial: str) -> str | None:
    found = cluster.find("trials", trial)
    return ((found or {}).get("status") or {}).get("phase")


def test_a_users_env_may_refer_to_kubetunes_variables(cluster: Kube, operator: RunOperator) -> None:
    """kubetune's KUBETUNE_* variables come first, so ``$(KUBETUNE_TRIAL)`` expands as the kubelet does."""

    def trainer(pod: dict[str, Any]) -> PodScript:
        env = pod_env(pod)
        seen = env["TRIAL_NAME"] == pod["metadata"]["labels"][names.LABEL_TRIAL]
        return PodScript([Log(f"loss={0.5 if seen else 9.0}")])

    cluster.behaviour = trainer
    body = task_manifest("envs", budget={"maxTrials": 1})
    container = body["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "TRIAL_NAME", "value": "$(KUBETUNE_TRIAL)"}]
    with operator():
        cluster.create(body)
        cluster.wait_for(lambda: phase(cluster, "envs") in DONE, timeout=20)
    [trial] = trials(cluster, "envs")
    assert trial["status"]["objective"] == 0.5
    env = cluster.get("jobs", "envs-0")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env][-1] == "TRIAL_NAME", "the user's variables after kubetune's"


SWEEP_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "sweeps.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "sweeps", "singular": "sweep", "kind": "Sweep"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


def test_a_kind_described_by_cel_conditions_and_primary_pod_labels_runs_as_trials(
    cluster: Kube, operator: RunOperator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The chart's workloadKinds lists the kind, read as the operator starts: it is managed and watched
    # (its events wake the task; no shortened resync is needed).
    monkeypatch.setenv("KUBETUNE_WORKLOAD_KINDS", "Job.batch,Sweep.example.com")
    cluster.install_crd(SWEEP_CRD)

    def behave(pod: dict[str, Any]) -> PodScript:
        if _labels(pod).get("example.com/role") == "lead":
            return quadratic(pod)
        return PodScript([Sleep(0.05), Log(f"epoch=3 loss={MISLEADING}")])

    cluster.behaviour = behave
    worker = {"template": {"spec": {"containers": [{"name": "train", **TRAINER}]}}}
    body = manifest(CASES[0], "sweep", budget={"maxTrials": 2, "parallelTrials": 2})
    body["spec"]["trialTemplate"] = {
        "apiVersion": "example.com/v1",
        "kind": "Sweep",
        "successCondition": "has(object.status.phase) && object.status.phase == 'Succeeded'",
        "failureCondition": "has(object.status.phase) && object.status.phase == 'Failed'",
        "primaryPodLabels": {"example.com/role": "lead"},
        "spec": {"workers": [{"role": "helper", **worker}, {"role": "lead", **worker}]},
    }
    with operator():
        cluster.create(body)
        cluster.wait_for(lambda: phase(cluster, "sweep") in DONE, timeout=30)
    assert cluster.get("hpotasks", "sweep")["status"]["phase"] == "Succeeded"
    for trial in trials(cluster, "sweep"):
        lr = trial["spec"]["parameters"]["lr"]
        assert trial["status"]["objective"] == pytest.approx((lr - 0.1) ** 2 + 1 / 3, abs=1e-6), "the lead's log"


def test_a_kind_this_operator_does_not_manage_is_refused_in_one_line(
    cluster: Kube, operator: RunOperator, monkeypatch: pytest.MonkeyPatch
) -> None:
    _needs_crds()
    cluster.install_crd(CRDS / "jobset.x-k8s.io_jobsets.yaml")
    monkeypatch.setenv("KUBETUNE_WORKLOAD_KINDS", "Job.batch")
    with operator():
        cluster.create(manifest(CASES[1], "unmanaged"))
        cluster.wait_for(lambda: phase(cluster, "unmanaged") == "Failed", timeout=20)
    valid = next(c for c in cluster.get("hpotasks", "unmanaged")["status"]["conditions"] if c["type"] == "Valid")
    assert valid["message"] == (
        "spec.trialTemplate.kind: this operator does not manage JobSet.jobset.x-k8s.io (it manages Job.batch); "
        "add it to the chart's workloadKinds, which also grants the operator access to it"
    )
    assert not cluster.list("jobsets")


def test_metrics_written_to_a_file_are_read_from_the_termination_message(cluster: Kube, operator: RunOperator) -> None:
    """The file source: the primary container's metrics file is its termination message, no agent in the pod."""
    path = "/var/log/train/metrics.json"

    def trainer(pod: dict[str, Any]) -> PodScript:
        lr = float(arg(pod, "lr"))
        lines = "".join(f'{{"step": {e}, "loss": {(lr - 0.1) ** 2 + 1 / e}}}\n' for e in (1, 2, 3))
        assert pod_env(pod)["KUBETUNE_METRICS_FILE"] == path
        return PodScript([Log("loss=12345 printed, not the file"), WriteFile(path, lines)])

    cluster.behaviour = trainer
    body = task_manifest("filed", budget={"maxTrials": 2, "parallelTrials": 2})
    body["spec"]["metricsCollector"] = {"source": "file", "path": path, "format": "json"}
    with operator():
        cluster.create(body)
        cluster.wait_for(lambda: phase(cluster, "filed") in DONE, timeout=20)
    for trial in trials(cluster, "filed"):
        lr = trial["spec"]["parameters"]["lr"]
        assert trial["status"]["objective"] == pytest.approx((lr - 0.1) ** 2 + 1 / 3)
        assert [p["step"] for p in trial["status"]["metrics"][0]["points"]] == [1, 2, 3]
    container = cluster.get("jobs", "filed-0")["spec"]["template"]["spec"]["containers"][0]
    assert (container["terminationMessagePath"], container["terminationMessagePolicy"]) == (path, "File")


def test_a_followed_metrics_file_gives_values_while_trials_run_so_the_median_rule_stops_one(
    cluster: Kube, operator: RunOperator, tmp_path: Path
) -> None:
    """follow: a native sidecar (here the real `kubetune follow-file` process, run by the emulated
    kubelet) prints the file's lines; the operator reads them as a log while the trial runs."""
    path = str(tmp_path / "metrics" / "metrics.json")

    def trainer(pod: dict[str, Any]) -> PodScript:
        mode, epochs = arg(pod, "mode"), int(arg(pod, "epochs"))
        where = pod_env(pod)["KUBETUNE_METRICS_FILE"]
        # The trainer starts once the follower is ready (the sidecar's startup probe): no head start needed.
        steps: list[Any] = [Log("loss=12345 printed, not the file")]
        for epoch in range(1, epochs + 1):
            loss = 1.0 / epoch + (10.0 if mode == "bad" else 0.0)
            steps += [Sleep(0.1), AppendFile(where, json.dumps({"step": epoch, "loss": loss}) + "\n")]
        return PodScript(steps)

    cluster.behaviour = trainer
    experiments: list[dict[str, Any]] = [{"mode": "normal", "epochs": 4}] * 3 + [{"mode": "bad", "epochs": 60}]
    manifest = task_manifest(
        "followed",
        algorithm={"name": "experiments", "experiments": experiments},
        parameters=[
            {"name": "mode", "type": "categorical", "values": ["normal", "bad"]},
            {"name": "epochs", "type": "int", "min": 1, "max": 100},
        ],
        budget={"maxTrials": 4, "parallelTrials": 1},
        earlyStopping={"rule": "median", "minTrials": 3, "startStep": 1},
    )
    container = manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["args"] = ["--mode=${params.mode}", "--epochs=${params.epochs}"]
    manifest["spec"]["metricsCollector"] = {"source": "file", "path": path, "format": "json", "follow": True}
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "followed") in DONE, timeout=60)
    *good, bad = trials(cluster, "followed")
    for trial in good:
        assert trial["status"]["phase"] == "Succeeded"
        assert trial["status"]["objective"] == pytest.approx(0.25), "the file's last value, not the printed one"
        assert [p["step"] for p in trial["status"]["metrics"][0]["points"]] == [1, 2, 3, 4], "the last line too"
    assert (bad["status"]["phase"], bad["status"]["reason"]) == ("EarlyStopped", "MedianStop")
    assert bad["status"]["metrics"][0]["count"] < 60
    pod_spec = cluster.get("jobs", "followed-0")["spec"]["template"]["spec"]
    [sidecar] = pod_spec["initContainers"]
    assert (sidecar["name"], sidecar["restartPolicy"]) == ("kubetune-metrics", "Always")
    assert sidecar["command"] == ["kubetune", "follow-file", path]
    assert {"name": "kubetune-metrics", "emptyDir": {}} in pod_spec["volumes"]


def test_a_trainer_that_ends_at_once_loses_no_followed_value(
    cluster: Kube, operator: RunOperator, tmp_path: Path
) -> None:
    """The trainer writes its values and ends at once: the sidecar was ready before it started (its
    startup probe passed) and reads the file to its end when the kubelet stops it."""
    path = str(tmp_path / "metrics" / "metrics.json")

    def trainer(pod: dict[str, Any]) -> PodScript:
        where = pod_env(pod)["KUBETUNE_METRICS_FILE"]
        lines = "".join(json.dumps({"step": step, "loss": 1.0 / step}) + "\n" for step in (1, 2, 3))
        return PodScript([AppendFile(where, lines)])

    cluster.behaviour = trainer
    # One at a time: the emulated pods share this machine's filesystem, so the file is not their own.
    manifest = task_manifest("instant", budget={"maxTrials": 2, "parallelTrials": 1})
    manifest["spec"]["metricsCollector"] = {"source": "file", "path": path, "format": "json", "follow": True}
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "instant") in DONE, timeout=60)
    for trial in trials(cluster, "instant"):
        assert trial["status"]["phase"] == "Succeeded", trial["status"]
        assert [p["step"] for p in trial["status"]["metrics"][0]["points"]] == [1, 2, 3]
    [sidecar] = cluster.get("jobs", "instant-0")["spec"]["template"]["spec"]["initContainers"]
    assert sidecar["startupProbe"]["exec"]["command"] == ["kubetune", "follow-file", path, "--check-following"]


def test_tensorflow_event_files_are_followed_in_the_primary_pod(
    cluster: Kube, operator: RunOperator, tmp_path: Path
) -> None:
    """format: tfevent: the sidecar (the real `kubetune follow-file --format tfevent`) prints each scalar
    of the event files a summary writer makes; the metric is named after the subdirectory."""
    from tensorboard.compat.proto import event_pb2  # noqa: PLC0415 - the test extra's, only here
    from tensorboard.plugins.scalar import summary_v2  # noqa: PLC0415
    from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: PLC0415

    logs = tmp_path / "logs"

    def trainer(pod: dict[str, Any]) -> PodScript:
        lr = float(arg(pod, "lr"))
        writer: list[EventFileWriter] = []

        def write(step: int) -> None:
            if not writer:
                writer.append(EventFileWriter(str(logs / "test")))
            summary = summary_v2.scalar_pb("accuracy", 1 - (lr - 0.1) ** 2 - 0.1 / step)
            writer[0].add_event(event_pb2.Event(step=step, wall_time=time.time(), summary=summary))
            writer[0].flush()

        steps: list[Any] = []  # the follower is ready first: the sidecar's startup probe holds the trainer back
        for step in (1, 2, 3):
            steps += [Call(partial(write, step)), Sleep(0.1)]

        def close() -> None:
            writer[0].close()

        return PodScript([*steps, Call(close)])

    cluster.behaviour = trainer
    body = task_manifest("events", budget={"maxTrials": 2, "parallelTrials": 1})
    body["spec"]["objective"] = {"metric": "test/accuracy", "direction": "maximize"}
    body["spec"]["metricsCollector"] = {"source": "file", "path": str(logs), "format": "tfevent", "follow": True}
    with operator():
        cluster.create(body)
        cluster.wait_for(lambda: phase(cluster, "events") in DONE, timeout=40)
    for trial in trials(cluster, "events"):
        lr = trial["spec"]["parameters"]["lr"]
        assert trial["status"]["objective"] == pytest.approx(1 - (lr - 0.1) ** 2 - 0.1 / 3, rel=1e-6)
        assert [p["step"] for p in trial["status"]["metrics"][0]["points"]] == [1, 2, 3]
    [sidecar] = cluster.get("jobs", "events-0")["spec"]["template"]["spec"]["initContainers"]
    assert sidecar["command"] == ["kubetune", "follow-file", str(logs), "--format", "tfevent"]
    assert sidecar["volumeMounts"][0]["mountPath"] == str(logs)
