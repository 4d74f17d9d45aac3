"""GPUs a trial requests, counted by one rule for every kind: what a quota system counts.

Kubernetes' ResourceQuota and Kueue count each pod's effective request (the larger of its
containers' sum and its largest init container; a sidecar, an init container that keeps running,
adds to the containers) times the pods the workload runs (a Job: parallelism, at most completions).
A GPU is any ``VENDOR/gpu`` resource; a container's request defaults to its limit.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubetune.api import parse_task
from tests.engine.conftest import task_manifest


def _container(name: str, gpus: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "x", "command": ["t"], **({"resources": gpus} if gpus else {}), **extra}


def _gpus(template: dict[str, Any]) -> int:
    return parse_task(task_manifest(trialTemplate=template)).spec.trial_template.requested_gpus()


def _job(pod: dict[str, Any], **job: Any) -> dict[str, Any]:
    return {"spec": {**job, "template": {"spec": pod}}}


ONE = {"limits": {"nvidia.com/gpu": 1}}
TWO = {"requests": {"nvidia.com/gpu": "2"}}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # A Job's pods: parallelism of them at once, never more than completions (Kueue's pod set).
        (_job({"containers": [_container("c", ONE)]}, parallelism=3), 3),
        (_job({"containers": [_container("c", ONE)]}, parallelism=4, completions=2), 2),
        # Any vendor's GPUs count, on a Job as on other kinds.
        (_job({"containers": [_container("c", {"limits": {"amd.com/gpu": 2}})]}), 2),
        # An init container that needs more than the containers sets the pod's request.
        (_job({"containers": [_container("c", ONE)], "initContainers": [_container("i", TWO)]}), 2),
        # A sidecar (an init container that keeps running) adds to the containers.
        (
            _job(
                {
                    "containers": [_container("c", ONE)],
                    "initContainers": [_container("s", ONE, restartPolicy="Always"), _container("i", TWO)],
                }
            ),
            3,
        ),
    ],
)
def test_a_jobs_gpus_are_what_a_quota_counts(template: dict[str, Any], expected: int) -> None:
    assert _gpus(template) == expected


def test_a_jobsets_pods_count_their_init_containers_like_a_jobs() -> None:
    pod = {"containers": [_container("c", ONE)], "initContainers": [_container("i", TWO)]}
    template = {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "spec": {"replicatedJobs": [{"name": "w", "replicas": 2, "template": _job(pod, parallelism=2)}]},
    }
    assert _gpus(template) == 2 * 2 * 2
