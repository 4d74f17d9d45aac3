"""The kind of object a trial runs as on a cluster: how to render it and what its status means.

The kube executor knows workloads only through this adapter, so a new kind (JobSet, PyTorchJob,
TrainJob, RayJob) is one more adapter, not a change to the step loop or to the API access.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .. import engine
from ..api import HPOTask, Trial
from ..metrics import MetricsReading
from . import facts, rendering


class Workload(Protocol):
    """One kind of trial workload."""

    @property
    def kind(self) -> str:
        """The object's kind, as messages name it (``Job``)."""
        ...

    @property
    def group(self) -> str:
        """The API group of the object (``batch``)."""
        ...

    @property
    def version(self) -> str:
        """The API version of the object (``v1``)."""
        ...

    @property
    def plural(self) -> str:
        """The resource name of the object (``jobs``)."""
        ...

    def render(self, task: HPOTask, namespace: str, trial: Trial, trial_uid: str) -> dict[str, Any]:
        """The object that runs ``trial``, owned by the Trial (uid ``trial_uid``)."""
        ...

    def finished(self, obj: Mapping[str, Any]) -> bool:
        """Whether the workload ended (succeeded or failed) as far as its own status says."""
        ...

    def fact(
        self, name: str, obj: Mapping[str, Any], pod: Mapping[str, Any] | None, reading: MetricsReading
    ) -> engine.RunFact:
        """The run fact of the workload and its newest pod, with the metrics read so far."""
        ...


@dataclass(frozen=True)
class JobWorkload:
    """A trial as a batch/v1 Job (the template is a JobSpec)."""

    kind: str = "Job"
    group: str = "batch"
    version: str = "v1"
    plural: str = "jobs"

    def render(self, task: HPOTask, namespace: str, trial: Trial, trial_uid: str) -> dict[str, Any]:
        """The Job of a trial: the user's template with the trial's parameters in it."""
        return rendering.build_job(task, namespace, trial, trial_uid)

    def finished(self, obj: Mapping[str, Any]) -> bool:
        """Whether the Job completed or failed."""
        return facts.job_finished(obj)

    def fact(
        self, name: str, obj: Mapping[str, Any], pod: Mapping[str, Any] | None, reading: MetricsReading
    ) -> engine.RunFact:
        """What the Job's conditions and its newest pod say."""
        return facts.job_fact(name, obj, pod, reading)


JOB = JobWorkload()
