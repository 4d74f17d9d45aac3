"""Each workload kind against its real CRD on a real API server: the workload kubetune renders is
accepted with strict field validation and stored as sent (no field pruned), and the operator, with
the chart's RBAC, creates the workload of a task of each kind the chart grants by default.

No controller of these kinds runs here (JobSet, the Training Operator, Trainer, KubeRay): what
their controllers do with a workload is the emulator's part (tests/handlers/test_workloads.py).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from kubetune.api import HPOTask, Trial
from kubetune.api.loader import parse_trial
from kubetune.executors.workload import workload_for
from tests.handlers.test_workloads import CASES, Case, manifest
from tests.waiting import wait_for

from .cluster import SHARED_CRDS, Cluster

REPLICA = {
    "restartPolicy": "Never",
    "template": {
        "spec": {
            "containers": [
                {
                    "name": "train",
                    "image": "trainer:1",
                    "command": ["python", "train.py"],
                    "args": ["--lr=${params.lr}"],
                }
            ]
        }
    },
}

TRAINING_OPERATOR = {
    "TFJob": ("tfjobs", "tfReplicaSpecs", "Chief"),
    "MPIJob": ("mpijobs", "mpiReplicaSpecs", "Launcher"),
    "XGBoostJob": ("xgboostjobs", "xgbReplicaSpecs", "Master"),
}


def _training(kind: str) -> Case:
    plural, key, role = TRAINING_OPERATOR[kind]
    spec = {key: {role: {**REPLICA, "replicas": 1}, "Worker": {**REPLICA, "replicas": 1}}}
    return Case(
        kind,
        (f"kubeflow.org_{plural}.yaml",),
        lambda: {"apiVersion": "kubeflow.org/v1", "kind": kind, "spec": spec},
        lambda pod: True,
        0,
    )


JOB_CASE = Case(
    "Job",
    (),
    lambda: {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", **REPLICA["template"]["spec"]}}},
    },
    lambda pod: True,
    0,
)
EVERY_KIND = [JOB_CASE, *CASES, *(_training(k) for k in TRAINING_OPERATOR)]


def _install(cluster: Cluster, case: Case) -> None:
    if case.crds and not SHARED_CRDS.is_dir():
        pytest.skip(f"no {SHARED_CRDS}")
    for file in case.crds:
        applied = cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", str(SHARED_CRDS / file), check=False
        )
        if applied.returncode != 0 and cluster.plane.minor < 30:
            pytest.skip(f"{file} does not install on {cluster.plane.version}: {applied.stderr.splitlines()[0][:200]}")
        assert applied.returncode == 0, applied.stderr
    cluster.plane.wait_established(*(f"{f.split('_')[1].removesuffix('.yaml')}.{f.split('_')[0]}" for f in case.crds))


def missing_from(sent: Any, stored: Any, path: str = "") -> list[str]:
    """Every place where ``sent`` has a value that ``stored`` lacks or changed (the server may add defaults)."""
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [path or "."]
        return [p for k, v in sent.items() for p in missing_from(v, stored.get(k, _ABSENT), f"{path}.{k}")]
    if isinstance(sent, list):
        if not isinstance(stored, list) or len(stored) != len(sent):
            return [path]
        return [
            p for i, (a, b) in enumerate(zip(sent, stored, strict=True)) for p in missing_from(a, b, f"{path}[{i}]")
        ]
    return [] if sent == stored else [path]


_ABSENT = object()


def _trial(task: HPOTask) -> Trial:
    return parse_trial(
        {
            "apiVersion": "kubetune.io/v1alpha1",
            "kind": "Trial",
            "metadata": {"name": f"{task.metadata.name}-0", "labels": {"kubetune.io/task": task.metadata.name}},
            "spec": {"task": task.metadata.name, "index": 0, "parameters": {"lr": 0.01, "mode": "normal"}},
        }
    )


@pytest.mark.parametrize("case", EVERY_KIND, ids=[c.kind for c in EVERY_KIND])
def test_the_rendered_workload_is_accepted_strictly_and_stored_as_sent(
    cluster: Cluster, namespace: str, case: Case
) -> None:
    _install(cluster, case)
    task = HPOTask.model_validate(manifest(case, "shape"))
    body = workload_for(task).render(task, namespace, _trial(task), str(uuid.uuid4()))
    body["metadata"].pop("ownerReferences", None)  # no Trial owns it here: the garbage collector would take it

    created = cluster.kubectl(
        "create", "--validate=strict", "-o", "json", "-f", "-", input=json.dumps(body), check=False
    )

    assert created.returncode == 0, created.stderr
    assert "unknown field" not in created.stderr, created.stderr
    stored = json.loads(created.stdout)
    assert missing_from(body["spec"], stored["spec"]) == []
    assert missing_from(body["metadata"].get("labels"), stored["metadata"].get("labels")) == []


GRANTED = [c for c in CASES if c.kind in ("JobSet", "PyTorchJob", "TrainJob", "RayJob")]


@pytest.mark.parametrize("case", GRANTED, ids=[c.kind for c in GRANTED])
def test_the_operator_creates_a_workload_of_each_granted_kind(operator: Cluster, namespace: str, case: Case) -> None:
    cluster = operator
    _install(cluster, case)
    replica = cluster.start_operator()
    name = f"k{uuid.uuid4().hex[:5]}"
    body = manifest(case, name, budget={"maxTrials": 1, "parallelTrials": 1})
    cluster.custom.create_namespaced_custom_object("kubetune.io", "v1alpha1", namespace, "hpotasks", body)
    group, _, version = case.template()["apiVersion"].rpartition("/")
    plural = {"JobSet": "jobsets", "PyTorchJob": "pytorchjobs", "TrainJob": "trainjobs", "RayJob": "rayjobs"}[case.kind]

    def workload() -> dict[str, Any] | None:
        items = cluster.custom.list_namespaced_custom_object(
            group, version, namespace, plural, label_selector=f"kubetune.io/task={name}"
        )["items"]
        return items[0] if items else None

    stored = wait_for(workload, timeout=90, interval=0.5, message=f"the operator to create a {case.kind}")

    trial = parse_trial(cluster.trials(namespace, name)[0])
    task = HPOTask.model_validate(cluster.task(namespace, name))
    sent = workload_for(task).render(task, namespace, trial, cluster.trials(namespace, name)[0]["metadata"]["uid"])
    assert missing_from(sent["spec"], stored["spec"]) == []
    assert replica.alive(), cluster.operator_logs()
