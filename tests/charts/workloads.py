"""A realistic trial workload of every kind kubetune knows, with every kind of pod template it may have.

From examples/ where one exists (Job, JobSet, PyTorchJob, RayJob), written after the real CRDs in
../shared/crds otherwise: two replica types of each Training Operator kind, a TrainJob whose runtime
patches set two replicated jobs' pod specs, a RayJob with two worker groups and a submitter pod.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from kubetune.api import kinds

from .chart import ROOT


def _example(name: str) -> dict[str, Any]:
    template: dict[str, Any] = yaml.safe_load((ROOT / "examples" / name).read_text())["spec"]["trialTemplate"]
    return template


def _pod(name: str) -> dict[str, Any]:
    return {"containers": [{"name": name, "image": "registry.example.com/ml/trainer:1.0", "command": ["python"]}]}


def _replicas(key: str, *roles: str) -> dict[str, Any]:
    return {key: {role: {"replicas": 1, "template": {"spec": _pod(role.lower())}} for role in roles}}


def _trainjob() -> dict[str, Any]:
    def patch(manager: str, *jobs: str) -> dict[str, Any]:
        # What a patch's pod spec may set (kubeflow/trainer's RuntimePatch): containers by name, with
        # env, securityContext and volumeMounts; the ServiceAccount; volumes.
        def pod(job: str) -> dict[str, Any]:
            return {"containers": [{"name": job, "env": [{"name": "NCCL_DEBUG", "value": "INFO"}]}]}

        replicated = [{"name": job, "template": {"spec": {"template": {"spec": pod(job)}}}} for job in jobs]
        return {"manager": manager, "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": replicated}}}}

    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "spec": {
            "runtimeRef": {"name": "torch-distributed"},
            "trainer": {"image": "registry.example.com/ml/trainer:1.0", "command": ["python"], "numNodes": 2},
            # A list keyed by manager (one entry each), of replicated jobs keyed by name.
            "runtimePatches": [
                patch("example.com/tuning", "node", "dataset-initializer"),
                patch("example.com/storage", "model-initializer"),
            ],
        },
    }


def _rayjob() -> dict[str, Any]:
    template = _example("rayjob.yaml")
    groups = template["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    groups.append({**copy.deepcopy(groups[0]), "groupName": "cpu"})
    template["spec"]["submitterPodTemplate"] = {"spec": {**_pod("submitter"), "restartPolicy": "Never"}}
    return template


def _training(kind: str, key: str, *roles: str) -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v1", "kind": kind, "spec": _replicas(key, *roles)}


WORKLOADS: dict[str, dict[str, Any]] = {
    "Job": {"apiVersion": "batch/v1", "kind": "Job", **{"spec": _example("demo.yaml")["spec"]}},
    "JobSet": _example("jobset.yaml"),
    "PyTorchJob": _example("pytorchjob-ddp.yaml"),
    "TFJob": _training("TFJob", "tfReplicaSpecs", "Chief", "Worker", "PS"),
    "MPIJob": _training("MPIJob", "mpiReplicaSpecs", "Launcher", "Worker"),
    "XGBoostJob": _training("XGBoostJob", "xgbReplicaSpecs", "Master", "Worker"),
    "TrainJob": _trainjob(),
    "RayJob": _rayjob(),
}
"""trialTemplate (apiVersion, kind, spec) of each built-in kind, by kind."""

BY_KIND = {kind.kind: kind for kind in kinds.BUILTIN.values()}


def workload(kind: str) -> dict[str, Any]:
    """A fresh copy of the kind's trialTemplate."""
    return copy.deepcopy(WORKLOADS[kind])
