"""A kind kubetune has no built-in knowledge of: the template's CEL conditions and primary pod labels say."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ... import engine
from ...api import TrialTemplate, cel, kinds
from ...metrics import MetricsReading
from .. import facts
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

    def finished(self, obj: Mapping[str, Any]) -> bool:
        """Whether either condition holds."""
        return cel.holds(self.success, obj) or cel.holds(self.failure, obj)

    def is_primary(self, pod: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
        """A pod of the trial with every primary pod label, made after the object."""
        labels = pod["metadata"].get("labels") or {}
        return all(labels.get(k) == v for k, v in self.primary_labels.items()) and not_older(pod, obj)

    def fact(
        self, name: str, obj: Mapping[str, Any], pod: Mapping[str, Any] | None, reading: MetricsReading
    ) -> engine.RunFact:
        """Succeeded or failed as the conditions say; running once the primary pod runs."""
        started = facts.parse_time((obj.get("status") or {}).get("startTime"))
        if cel.holds(self.success, obj):
            return engine.RunFact(
                engine.RunState.SUCCEEDED,
                reading.series,
                started_at=started,
                metrics_note=reading.summary(),
                metrics_unreadable=reading.problem is not None,
                job_name=name,
            )
        if cel.holds(self.failure, obj):
            condition = {"reason": "FailureCondition", "message": f"The {self.kind}'s failureCondition holds."}
            return facts.failed_fact(name, condition, pod, reading, started, "FailureCondition", "")
        return facts.running_fact(name, pod, reading, started)
