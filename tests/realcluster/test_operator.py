"""The operator on a real API server, as the chart installs it: its ServiceAccount's token, its RBAC,
the real Job, garbage-collection and TTL controllers, a scheduler, and pod logs read through the
API server from the fake node's kubelet API.

Twins of the emulator's operator tests (tests/handlers/): the lifecycle of a Job task, kill -9
mid-task, leader handover, deletion with and without the operator, ``retainWorkloads.keepFor``,
a kind that is installed but not granted, and the Lease in the release namespace.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.waiting import wait_for

from .cluster import SHARED_CRDS, Cluster, wait_gone

TRAINER = """
import sys, time
x, seconds = float(sys.argv[1]), float(sys.argv[2])
for epoch in range(3):
    time.sleep(seconds / 3)
    print(f"epoch={epoch} loss={(x - 0.3) ** 2 + 0.1 / (epoch + 1):.6f}", flush=True)
"""


def task_manifest(
    name: str, *, trials: int = 4, parallel: int = 2, seconds: float = 0.0, **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "kubetune.io/v1alpha1",
        "kind": "HPOTask",
        "metadata": {"name": name},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "algorithm": {"name": "random", "seed": 3},
            "parameters": [{"name": "x", "type": "double", "min": 0, "max": 1}],
            "budget": {"maxTrials": trials, "parallelTrials": parallel},
            "trialTemplate": {
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "terminationGracePeriodSeconds": 2,
                            "containers": [
                                {
                                    "name": "trainer",
                                    "image": "python:3.11-slim",
                                    "command": ["python", "-c", TRAINER, "${params.x}", str(seconds)],
                                    "resources": {"limits": {"nvidia.com/gpu": 1}},
                                }
                            ],
                        }
                    },
                }
            },
        },
    }
    body["spec"].update(copy.deepcopy(spec))
    return body


def create(cluster: Cluster, namespace: str, body: dict[str, Any]) -> None:
    cluster.custom.create_namespaced_custom_object("kubetune.io", "v1alpha1", namespace, "hpotasks", body)


def jobs(cluster: Cluster, namespace: str, task: str) -> list[dict[str, Any]]:
    listed = client.BatchV1Api(cluster.api).list_namespaced_job(namespace, label_selector=f"kubetune.io/task={task}")
    return [cluster.api.sanitize_for_serialization(j) for j in listed.items]


def loss(x: float) -> float:
    return (x - 0.3) ** 2 + 0.1 / 3


def test_a_job_task_runs_to_succeeded_with_metrics_read_through_pods_log(operator: Cluster, namespace: str) -> None:
    cluster = operator
    replica = cluster.start_operator()
    create(cluster, namespace, task_manifest("lifecycle", trials=4, parallel=2))

    body = cluster.wait_phase(namespace, "lifecycle", ("Succeeded", "Failed"))

    assert body["status"]["phase"] == "Succeeded", body["status"]
    trials = cluster.trials(namespace, "lifecycle")
    assert len(trials) == 4
    values = {t["metadata"]["name"]: t["status"]["objective"] for t in trials}
    for t in trials:
        assert t["status"]["phase"] == "Succeeded"
        assert t["status"]["objective"] == pytest.approx(loss(float(t["spec"]["parameters"]["x"])), abs=1e-5)
    best = body["status"]["bestTrial"]
    assert best["name"] == min(values, key=lambda n: values[n])
    assert replica.alive(), cluster.operator_logs()
    # A refusal reads "... is forbidden: User ..." (reason Forbidden, code 403) in both the client's
    # and Kopf's errors. A bare "403" would also match a log line's milliseconds.
    assert "forbidden" not in replica.output().lower(), cluster.operator_logs()


def test_the_lease_is_held_in_the_release_namespace(operator: Cluster, namespace: str) -> None:
    cluster = operator
    replica = cluster.start_operator()

    # A replica stopped by an earlier test may hold it until its 15 s lease runs out.
    held = wait_for(
        lambda: cluster.lease_holder() == replica.name, timeout=60, interval=0.5, message="the Lease in kubetune-system"
    )

    assert held


def test_kill_9_mid_task_leaves_no_duplicate_trial_and_no_orphan_workload(operator: Cluster, namespace: str) -> None:
    cluster = operator
    first = cluster.start_operator()
    create(cluster, namespace, task_manifest("crash", trials=8, parallel=3, seconds=3))
    wait_for(lambda: len(cluster.trials(namespace, "crash")) >= 3, timeout=90, interval=0.3, message="3 trials")

    first.kill()
    # The killed replica's Lease must expire (15 s) before another leads: the same as on a cluster.
    cluster.start_operator()
    body = cluster.wait_phase(namespace, "crash", ("Succeeded", "Failed"), timeout=240)

    assert body["status"]["phase"] == "Succeeded", body["status"]
    trials = cluster.trials(namespace, "crash")
    indexes = [t["metadata"]["name"] for t in trials]
    assert len(indexes) == len(set(indexes)) == 8
    trial_uids = {t["metadata"]["uid"] for t in trials}
    for job in jobs(cluster, namespace, "crash"):
        owners = {o["uid"] for o in job["metadata"].get("ownerReferences") or []}
        assert owners & trial_uids, f"Job {job['metadata']['name']} belongs to no Trial"
    for t in trials:
        assert "objective" in t["status"] or t["status"]["phase"] != "Succeeded", t


def test_a_second_replica_takes_over_when_the_leader_dies(operator: Cluster, namespace: str) -> None:
    cluster = operator
    leader = cluster.start_operator()
    follower = cluster.start_operator()
    create(cluster, namespace, task_manifest("handover", trials=6, parallel=2, seconds=2))
    holder = wait_for(cluster.lease_holder, timeout=60, interval=0.5, message="a leader")
    if holder == follower.name:
        leader, follower = follower, leader
    wait_for(lambda: len(cluster.trials(namespace, "handover")) >= 2, timeout=90, interval=0.3, message="2 trials")

    leader.kill()
    taken = wait_for(
        lambda: cluster.lease_holder() == follower.name,
        timeout=90,
        interval=0.5,
        message="the follower to take the Lease",
    )
    body = cluster.wait_phase(namespace, "handover", ("Succeeded", "Failed"), timeout=240)

    assert taken
    assert body["status"]["phase"] == "Succeeded", body["status"]
    names = [t["metadata"]["name"] for t in cluster.trials(namespace, "handover")]
    assert len(names) == len(set(names)) == 6


def test_deleting_a_task_with_the_operator_running_removes_its_trials_and_jobs(
    operator: Cluster, namespace: str
) -> None:
    cluster = operator
    cluster.start_operator()
    create(cluster, namespace, task_manifest("doomed", trials=6, parallel=2, seconds=30))
    wait_for(lambda: len(jobs(cluster, namespace, "doomed")) >= 2, timeout=90, interval=0.3, message="2 Jobs")

    cluster.custom.delete_namespaced_custom_object("kubetune.io", "v1alpha1", namespace, "hpotasks", "doomed")

    wait_gone(lambda: cluster.exists(cluster.task, namespace, "doomed"), message="the task to go")
    wait_gone(lambda: cluster.trials(namespace, "doomed"), message="its Trials to go (garbage collection)")
    wait_gone(lambda: jobs(cluster, namespace, "doomed"), message="its Jobs to go (garbage collection)")


def test_deleting_a_task_while_no_operator_runs_completes_when_one_starts(operator: Cluster, namespace: str) -> None:
    cluster = operator
    replica = cluster.start_operator()
    create(cluster, namespace, task_manifest("orphaned", trials=4, parallel=2, seconds=30))
    wait_for(lambda: len(jobs(cluster, namespace, "orphaned")) >= 1, timeout=90, interval=0.3, message="a Job")
    replica.stop()

    cluster.custom.delete_namespaced_custom_object("kubetune.io", "v1alpha1", namespace, "hpotasks", "orphaned")
    # Nothing removes the finalizer while no operator runs: the task stays, marked for deletion.
    held = cluster.task(namespace, "orphaned")
    assert held["metadata"].get("deletionTimestamp"), held["metadata"]

    cluster.start_operator()
    wait_gone(lambda: cluster.exists(cluster.task, namespace, "orphaned"), timeout=90, message="the task to go")
    wait_gone(lambda: jobs(cluster, namespace, "orphaned"), message="its Jobs to go")


def test_keep_for_lets_the_ttl_controller_remove_every_finished_job(operator: Cluster, namespace: str) -> None:
    cluster = operator
    cluster.start_operator()
    create(
        cluster,
        namespace,
        task_manifest("ttl", trials=3, parallel=3, retainWorkloads={"policy": "all", "keepFor": "3s"}),
    )

    body = cluster.wait_phase(namespace, "ttl", ("Succeeded", "Failed"))

    assert body["status"]["phase"] == "Succeeded", body["status"]
    wait_gone(lambda: jobs(cluster, namespace, "ttl"), timeout=90, message="the TTL controller to remove the Jobs")
    trials = cluster.trials(namespace, "ttl")
    assert len(trials) == 3 and all("objective" in t["status"] for t in trials)


def test_a_kind_installed_but_not_granted_is_never_watched(operator: Cluster, namespace: str) -> None:
    """The Training Operator's CRDs are installed; the chart grants PyTorchJob only (its default)."""
    cluster = operator
    if not SHARED_CRDS.is_dir():
        pytest.skip(f"no {SHARED_CRDS}")
    for name in (
        "kubeflow.org_tfjobs.yaml",
        "kubeflow.org_mpijobs.yaml",
        "kubeflow.org_xgboostjobs.yaml",
        "kubeflow.org_pytorchjobs.yaml",
    ):
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(SHARED_CRDS / name))
    cluster.plane.wait_established("tfjobs.kubeflow.org", "mpijobs.kubeflow.org")
    replica = cluster.start_operator()
    create(cluster, namespace, task_manifest("plain", trials=2, parallel=2))
    tf = task_manifest("tf")
    tf["spec"]["trialTemplate"] = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "TFJob",
        "spec": {
            "tfReplicaSpecs": {
                "Worker": {"replicas": 1, "template": task_manifest("x")["spec"]["trialTemplate"]["spec"]["template"]}
            }
        },
    }
    # The admission policy already refuses the kind; without the policy the operator would say
    # Valid=False (tests/handlers/test_workload_kinds.py).
    with pytest.raises(ApiException) as refused:
        create(cluster, namespace, tf)

    body = cluster.wait_phase(namespace, "plain", ("Succeeded", "Failed"))

    assert body["status"]["phase"] == "Succeeded", body["status"]
    assert replica.alive(), cluster.operator_logs()
    assert refused.value.status == 403 and "TFJob" in str(refused.value.body)
    assert "tfjobs" not in replica.output(), cluster.operator_logs()
