"""Kubeflow Training Operator v1 kinds (kubeflow.org/v1): PyTorchJob, TFJob, MPIJob, XGBoostJob.

As kubeflow/training-operator v1.9.0 runs them:
- conditions ``Created``, ``Running``, ``Restarting``, ``Succeeded``, ``Failed``, ``Suspended``
  (pkg/apis/kubeflow.org/v1/common_types.go), with reasons ``<Kind>Succeeded``/``<Kind>Failed``
  (pkg/util/status.go NewReason);
- pods owned by the job itself, named ``<job>-<replicatype lowercased>-<index>``
  (pkg/controller.v1/common/util.go GenGeneralName) and labelled ``training.kubeflow.org/job-name``,
  ``replica-type`` (lowercased), ``replica-index`` (pkg/controller.v1/common/pod.go createNewPod);
- the master role is the Master (TFJob: Chief or Master; MPIJob: Launcher) replica, else Worker 0
  (IsMasterRole in each framework's controller): that is the primary pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...api import kinds
from .base import ConditionWorkload, label, owned_by

JOB_NAME = "training.kubeflow.org/job-name"
REPLICA_TYPE = "training.kubeflow.org/replica-type"
REPLICA_INDEX = "training.kubeflow.org/replica-index"


@dataclass(frozen=True)
class TrainingOperatorWorkload(ConditionWorkload):
    """A trial as a Training Operator v1 job; the primary pod is the master role's."""

    def is_primary(self, pod: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
        """The pod of replica 0 of the master role (Master, else Worker), owned by this job."""
        loc = self.shape.primary(obj.get("spec") or {})
        if loc is None or not owned_by(pod, obj):
            return False
        return label(pod, REPLICA_TYPE) == str(loc[1]).lower() and label(pod, REPLICA_INDEX) == "0"


PYTORCHJOB = TrainingOperatorWorkload(kinds.PYTORCHJOB)
TFJOB = TrainingOperatorWorkload(kinds.TFJOB)
MPIJOB = TrainingOperatorWorkload(kinds.MPIJOB)
XGBOOSTJOB = TrainingOperatorWorkload(kinds.XGBOOSTJOB)
