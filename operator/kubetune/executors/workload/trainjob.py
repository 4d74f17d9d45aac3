"""Kubeflow Trainer v2 TrainJob (trainer.kubeflow.org/v1alpha1), as kubeflow/trainer runs it.

- Conditions ``Complete`` and ``Failed``, copied from its JobSet's ``Completed``/``Failed``
  (pkg/apis/trainer/v1alpha1/trainjob_types.go; pkg/runtime/framework/plugins/jobset/jobset.go Status).
- The TrainJob's pods come from a JobSet of the same name built from its runtime; the trainer's
  nodes are the replicated Job ``node`` (pkg/constants/constants.go Node), whose container is
  ``node``. Its template is the runtime's, so kubetune's labels are not on the pods: they are found
  by the JobSet's ``jobset.sigs.k8s.io/jobset-name`` label, and the primary pod is node Job 0, index 0.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ...api import HPOTask, kinds
from .base import ConditionWorkload, label, not_older
from .jobset import JOBSET_NAME, leader

NODE = "node"


@dataclass(frozen=True)
class TrainJobWorkload(ConditionWorkload):
    """A trial as a TrainJob."""

    @property
    def labelled_pods(self) -> bool:
        """The pods come from the runtime's template, without kubetune's labels."""
        return False

    def pod_selector(self, task: str, workloads: Collection[str]) -> str:
        """The pods of the trials' JobSets (named as the TrainJobs)."""
        return f"{JOBSET_NAME} in ({','.join(sorted(workloads))})"

    def trial_of(self, pod: Mapping[str, Any]) -> str | None:
        """The JobSet's name, which is the TrainJob's."""
        return label(pod, JOBSET_NAME)

    def is_primary(self, pod: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
        """Node Job 0's pod of index 0."""
        return leader(pod, obj["metadata"]["name"], NODE) and not_older(pod, obj)

    def log_container(self, task: HPOTask) -> str | None:
        """The trainer's container, ``node``."""
        return NODE


TRAINJOB = TrainJobWorkload(kinds.TRAINJOB)
