"""Turning a workload (a batch/v1 Job, or any kind with conditions) and its primary pod into a run fact."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .. import engine
from ..metrics import MetricsReading

_FRACTION = re.compile(r"(\.\d+)")


def parse_time(value: object) -> datetime | None:
    """A Kubernetes timestamp (seconds, or the kubelet's nanoseconds) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    # Python reads at most microseconds: cut the fraction to 6 digits, keep the zone.
    text = _FRACTION.sub(lambda m: m[1][:7], value.replace("Z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def conditions(job: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The object's true conditions by type."""
    status = job.get("status") or {}
    found = status.get("conditions") if isinstance(status, dict) else None
    return {
        c["type"]: c
        for c in (found if isinstance(found, list) else [])
        if isinstance(c, dict) and c.get("status") == "True" and isinstance(c.get("type"), str)
    }


def pod_running(pod: Mapping[str, Any] | None) -> bool:
    """Whether the pod is in phase Running."""
    return pod is not None and (pod.get("status") or {}).get("phase") == "Running"


def pod_attempt(pod: Mapping[str, Any], container: str | None) -> tuple[str, int]:
    """Which run of the trial a pod's log belongs to: the pod, and how often its container restarted.

    A Job retries by making a new pod (``restartPolicy: Never``) or by restarting the container in
    the same pod (``OnFailure``); either way the log starts afresh, and so must its metrics.
    """
    restarts = 0
    status_of = pod.get("status") or {}
    # A native sidecar's status (the file follower's) is among the init containers'.
    for status in [*(status_of.get("containerStatuses") or []), *(status_of.get("initContainerStatuses") or [])]:
        if container is None or status.get("name") == container:
            restarts = int(status.get("restartCount") or 0)
            break
    return str(pod["metadata"].get("uid", "")), restarts


def condition_fact(
    name: str,
    obj: Mapping[str, Any],
    pod: Mapping[str, Any] | None,
    reading: MetricsReading,
    *,
    succeeded: str,
    failed: str,
    kind: str,
) -> engine.RunFact:
    """What a workload's ``succeeded``/``failed`` conditions and its primary pod say, with the pod's metrics."""
    status = obj.get("status") or {}
    true = conditions(obj)
    started = parse_time(status.get("startTime"))
    unreadable = reading.problem is not None
    if succeeded in true:
        return engine.RunFact(
            engine.RunState.SUCCEEDED,
            reading.series,
            started_at=started,
            finished_at=parse_time(status.get("completionTime"))
            or parse_time(true[succeeded].get("lastTransitionTime")),
            metrics_note=reading.summary(),
            metrics_unreadable=unreadable,
            job_name=name,
        )
    if failed in true:
        return failed_fact(name, true[failed], pod, reading, started, f"{kind}Failed", f"The {kind} failed.")
    return running_fact(name, pod, reading, started)


def failed_fact(
    name: str,
    condition: Mapping[str, Any],
    pod: Mapping[str, Any] | None,
    reading: MetricsReading,
    started: datetime | None,
    reason: str,
    message: str,
) -> engine.RunFact:
    """A failed workload's fact, from the condition (or status) that says so."""
    return engine.RunFact(
        engine.RunState.FAILED,
        reading.series,
        started_at=started,
        finished_at=parse_time(condition.get("lastTransitionTime")),
        reason=condition.get("reason") or reason,
        detail=_failure_detail(condition, pod, message),
        metrics_note=reading.summary(),
        metrics_unreadable=reading.problem is not None,
        job_name=name,
    )


def running_fact(
    name: str, pod: Mapping[str, Any] | None, reading: MetricsReading, started: datetime | None
) -> engine.RunFact:
    """A workload that has not ended: running once its primary pod runs, else waiting."""
    if pod is not None and pod_running(pod):
        pod_start = parse_time((pod.get("status") or {}).get("startTime"))
        return engine.RunFact(engine.RunState.RUNNING, reading.series, started_at=pod_start or started, job_name=name)
    return engine.RunFact(engine.RunState.WAITING, job_name=name)


def _failure_detail(
    condition: Mapping[str, Any], pod: Mapping[str, Any] | None, default: str = "The Job failed."
) -> str:
    """``Exited with code 3.`` (naming the container when the pod has several), else the workload's message."""
    statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated.get("exitCode"):
            who = f"Container {status.get('name')} exited" if len(statuses) > 1 else "Exited"
            return f"{who} with code {terminated['exitCode']}."
    message = str(condition.get("message") or default).rstrip(".")
    return f"{message}."
