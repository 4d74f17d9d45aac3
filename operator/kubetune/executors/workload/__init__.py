"""The kind of object a trial runs as on a cluster: how to render it and what its status means.

The kube executor knows workloads only through the :class:`Workload` adapter. A new kind is one
module here plus a line in :data:`REGISTRY` (and its spec's shape in ``api.kinds``); a kind
kubetune has no module for runs through :class:`~.custom.CustomWorkload`, from the CEL conditions
and primary pod labels the template gives.
"""

from __future__ import annotations

from ...api import HPOTask
from .base import Workload
from .custom import CustomWorkload
from .job import JOB
from .jobset import JOBSET
from .kubeflow import MPIJOB, PYTORCHJOB, TFJOB, XGBOOSTJOB
from .rayjob import RAYJOB
from .trainjob import TRAINJOB

REGISTRY: dict[tuple[str, str], Workload] = {
    (w.api_version, w.kind): w for w in (JOB, JOBSET, PYTORCHJOB, TFJOB, MPIJOB, XGBOOSTJOB, TRAINJOB, RAYJOB)
}
"""The kinds kubetune knows, by apiVersion and kind."""

DEFAULT_KINDS: frozenset[str] = frozenset(
    {"Job.batch", "JobSet.jobset.x-k8s.io", "PyTorchJob.kubeflow.org", "TrainJob.trainer.kubeflow.org", "RayJob.ray.io"}
)
"""The kinds the operator manages when ``KUBETUNE_WORKLOAD_KINDS`` is unset, as ``Kind.group``: the
chart's default ``workloadKinds``, which its RBAC grants (a test keeps the two equal)."""


def workload_for(task: HPOTask, plural: str | None = None) -> Workload:
    """The adapter of the task's workload kind; ``plural`` (from discovery) is needed for other kinds."""
    template = task.spec.trial_template
    known = REGISTRY.get((template.api_version, template.kind))
    if known is not None:
        return known
    return CustomWorkload.of(template, plural or f"{template.kind.lower()}s")


__all__ = ["DEFAULT_KINDS", "JOB", "REGISTRY", "CustomWorkload", "Workload", "workload_for"]
