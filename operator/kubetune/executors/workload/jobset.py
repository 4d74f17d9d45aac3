"""JobSet (jobset.x-k8s.io/v1alpha2), as kubernetes-sigs/jobset's controller runs it.

- Conditions ``Completed`` (reason AllJobsCompleted) and ``Failed`` (api/jobset/v1alpha2/jobset_types.go,
  pkg/controllers/jobset_controller.go).
- Child Jobs are ``<jobset>-<replicatedJob>-<jobIndex>``; they and their pods are labelled
  ``jobset.sigs.k8s.io/jobset-name``, ``jobset-uid``, ``replicatedjob-name`` and ``job-index``
  (labelAndAnnotateObject). The primary pod is the first replicated Job's Job 0, completion index 0
  (the "leader pod" of pkg/util/placement: annotation ``batch.kubernetes.io/job-completion-index`` "0").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...api import kinds
from .base import ConditionWorkload, label

JOBSET_NAME = "jobset.sigs.k8s.io/jobset-name"
JOBSET_UID = "jobset.sigs.k8s.io/jobset-uid"
REPLICATED_JOB = "jobset.sigs.k8s.io/replicatedjob-name"
JOB_INDEX = "jobset.sigs.k8s.io/job-index"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def leader(pod: Mapping[str, Any], jobset: str, replicated_job: str) -> bool:
    """Whether the pod is Job 0's pod of index 0 (or of a NonIndexed Job) of ``replicated_job`` in ``jobset``."""
    index = (pod["metadata"].get("annotations") or {}).get(COMPLETION_INDEX, "0")
    return (
        label(pod, JOBSET_NAME) == jobset
        and label(pod, REPLICATED_JOB) == replicated_job
        and label(pod, JOB_INDEX) == "0"
        and index == "0"
    )


@dataclass(frozen=True)
class JobSetWorkload(ConditionWorkload):
    """A trial as a JobSet; the primary pod is the leader of its first replicated Job."""

    def is_primary(self, pod: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
        """The first replicated Job's leader pod, of this very JobSet (its uid label)."""
        rjobs = (obj.get("spec") or {}).get("replicatedJobs") or [{}]
        first = str(rjobs[0].get("name", ""))
        return label(pod, JOBSET_UID) == obj["metadata"].get("uid") and leader(pod, obj["metadata"]["name"], first)


JOBSET = JobSetWorkload(kinds.JOBSET)
