"""A kind kubetune has no built-in knowledge of: the template's CEL conditions and primary pod labels say."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ... import engine
from ...api import TrialTemplate, kinds
from ...metrics import MetricsReading
from .. import cel_sandbox, facts
from .base import ConditionWorkload, not_older


@dataclass(frozen=True)
class CustomWorkload(ConditionWorkload):
    """A trial as an object of any kind: done when ``successCondition`` or ``failureCondition`` holds."""

    success: str = "false"
    failure: str = "false"
    primary_labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, template: TrialTemplate, plural: str) -> CustomWorkload:
        """The adapter a template describes; ``plural`` comes from the API server's discovery."""
        shape = kinds.Kind(
            template.api_version,
            template.kind,
            plural,
            lambda spec: None,
            lambda spec: list(kinds.custom_replicas(spec)),
            suspend=None,
            deadline=None,
            ttl=None,
        )
        return cls(
            shape,
            success=template.success_condition or "false",
            failure=template.failure_condition or "false",
            primary_labels=dict(template.primary_pod_labels or {}),
        )

    def verdicts(self, obj: Mapping[str, Any]) -> tuple[cel_sandbox.Verdict, cel_sandbox.Verdict]:
        """What successCondition and failureCondition say of ``obj`` (evaluated once per resourceVersion)."""
        success, failure = cel_sandbox.judge([self.success, self.failure], obj)
        return success, failure

    def finished(self, obj: Mapping[str, Any]) -> bool:
        """Whether either condition holds, or one cannot be evaluated (the trial then fails, saying why)."""
        return any(v.holds or v.error is not None for v in self.verdicts(obj))

    def is_primary(self, pod: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
        """A pod of the trial with every primary pod label, made after the object."""
        labels = pod["metadata"].get("labels") or {}
        return all(labels.get(k) == v for k, v in self.primary_labels.items()) and not_older(pod, obj)

    def fact(
        self, name: str, obj: Mapping[str, Any], pod: Mapping[str, Any] | None, reading: MetricsReading
    ) -> engine.RunFact:
        """Succeeded or failed as the conditions say; running once the primary pod runs."""
        started = facts.parse_time((obj.get("status") or {}).get("startTime"))
        success, failure = self.verdicts(obj)
        if success.holds:
            return engine.RunFact(
                engine.RunState.SUCCEEDED,
                reading.series,
                started_at=started,
                metrics_note=reading.summary(),
                metrics_unreadable=reading.problem is not None,
                job_name=name,
            )
        if failure.holds:
            condition = {"reason": "FailureCondition", "message": f"The {self.kind}'s failureCondition holds."}
            return facts.failed_fact(name, condition, pod, reading, started, "FailureCondition", "")
        for key, verdict in (("successCondition", success), ("failureCondition", failure)):
            if verdict.error is not None:
                # Never "not yet": an error would recur at every reconcile until trialTimeout, unseen.
                return engine.RunFact(
                    engine.RunState.FAILED,
                    reading.series,
                    started_at=started,
                    reason="ConditionError",
                    detail=f"The {self.kind}'s {key} could not be evaluated: {verdict.error}.",
                    metrics_note=reading.summary(),
                    metrics_unreadable=reading.problem is not None,
                    job_name=name,
                )
        return facts.running_fact(name, pod, reading, started)
