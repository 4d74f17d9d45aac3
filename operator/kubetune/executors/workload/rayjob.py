"""KubeRay RayJob (ray.io/v1), as ray-project/kuberay's controller runs it.

- ``status.jobDeploymentStatus`` (Initializing, Running, Complete, Failed, ValidationFailed,
  Suspending, Suspended, Retrying, Waiting) and ``status.jobStatus`` (PENDING, RUNNING, STOPPED,
  SUCCEEDED, FAILED), with ``status.reason`` such as AppFailed or DeadlineExceeded
  (ray-operator/apis/ray/v1/rayjob_types.go). A Ray job in a terminal state makes the RayJob
  Complete, or Failed (reason AppFailed) when the job FAILED; it counts as succeeded only when
  Complete with jobStatus SUCCEEDED (ray-operator/controllers/ray/rayjob_controller.go).
- In K8sJobMode (the default) the entrypoint is run by a submitter: a batch/v1 Job named as the
  RayJob, owned by it (createNewK8sJob), whose container ``ray-job-submitter``
  (utils.SubmitterContainerName, common/job.go GetDefaultSubmitterContainer) follows the driver's
  output. That pod is the primary one: its log is the driver's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ... import engine
from ...api import HPOTask, kinds
from ...metrics import MetricsReading
from .. import facts
from .base import ConditionWorkload, not_older

SUBMITTER_CONTAINER = "ray-job-submitter"
JOB_NAME = "batch.kubernetes.io/job-name"
ENDED = {"Complete", "Failed", "ValidationFailed"}


@dataclass(frozen=True)
class RayJobWorkload(ConditionWorkload):
    """A trial as a RayJob; the primary pod is the submitter's."""

    def finished(self, obj: Mapping[str, Any]) -> bool:
        """Complete, Failed or ValidationFailed."""
        return (obj.get("status") or {}).get("jobDeploymentStatus") in ENDED

    @property
    def labelled_pods(self) -> bool:
        """The submitter pod is KubeRay's, without kubetune's labels."""
        return False

    def pod_selector(self, task: str, workloads: Collection[str]) -> str:
        """The submitter Jobs' pods (the Job controller labels them with the Job's name, the RayJob's)."""
        return f"{JOB_NAME} in ({','.join(sorted(workloads))})"

    def trial_of(self, pod: Mapping[str, Any]) -> str | None:
        """The submitter Job's name, which is the RayJob's."""
        value = (pod["metadata"].get("labels") or {}).get(JOB_NAME)
        return value if isinstance(value, str) else None

    def is_primary(self, pod: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
        """A pod of the Job named as the RayJob, made after it."""
        refs = pod["metadata"].get("ownerReferences") or []
        by_job = any(r.get("kind") == "Job" and r.get("name") == obj["metadata"]["name"] for r in refs)
        return by_job and not_older(pod, obj)

    def log_container(self, task: HPOTask) -> str | None:
        """``primaryContainer``, else the submitter pod template's first container, else KubeRay's default one."""
        template = task.spec.trial_template
        if template.primary_container is not None:
            return template.primary_container
        containers = kinds.at(template.spec, ("submitterPodTemplate", "spec", "containers"))
        if isinstance(containers, list) and containers and isinstance(containers[0], dict):
            return str(containers[0].get("name"))
        return SUBMITTER_CONTAINER

    def fact(
        self, name: str, obj: Mapping[str, Any], pod: Mapping[str, Any] | None, reading: MetricsReading
    ) -> engine.RunFact:
        """Succeeded when Complete with jobStatus SUCCEEDED; failed when otherwise ended."""
        status = obj.get("status") or {}
        deployment, job = status.get("jobDeploymentStatus"), status.get("jobStatus")
        started = facts.parse_time(status.get("startTime"))
        if deployment == "Complete" and job == "SUCCEEDED":
            return engine.RunFact(
                engine.RunState.SUCCEEDED,
                reading.series,
                started_at=started,
                finished_at=facts.parse_time(status.get("endTime")),
                metrics_note=reading.summary(),
                metrics_unreadable=reading.problem is not None,
                job_name=name,
            )
        if deployment in ENDED:
            condition = {
                "reason": status.get("reason") or f"RayJob{str(job or deployment).capitalize()}",
                "message": status.get("message") or f"The Ray job ended {job or deployment}.",
                "lastTransitionTime": status.get("endTime"),
            }
            return facts.failed_fact(name, condition, pod, reading, started, "RayJobFailed", "The RayJob failed.")
        return facts.running_fact(name, pod, reading, started)


RAYJOB = RayJobWorkload(kinds.RAYJOB)
