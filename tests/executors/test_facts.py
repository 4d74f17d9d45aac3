"""What a Job and its newest pod, as the API server shows them, say about a trial's run."""

from __future__ import annotations

from typing import Any

from kubetune.engine import RunState
from kubetune.executors.facts import pod_attempt
from kubetune.executors.workload.job import JOB
from kubetune.metrics import MetricsReading


def job(*conditions: tuple[str, str], **status: Any) -> dict[str, Any]:
    found = [{"type": kind, "status": "True", "reason": reason} for kind, reason in conditions]
    return {"status": {"conditions": found, **status}}


def pod(phase: str, restarts: int = 0, uid: str = "u1") -> dict[str, Any]:
    containers = [{"name": "sidecar", "restartCount": 7}, {"name": "train", "restartCount": restarts}]
    return {"metadata": {"uid": uid}, "status": {"phase": phase, "containerStatuses": containers}}


def test_a_job_is_finished_once_it_completed_or_failed() -> None:
    assert not JOB.finished(job())
    assert not JOB.finished(job(("Suspended", "")))
    assert JOB.finished(job(("Complete", "")))
    assert JOB.finished(job(("Failed", "BackoffLimitExceeded")))
    false_failed = {"status": {"conditions": [{"type": "Failed", "status": "False"}]}}
    assert not JOB.finished(false_failed)


def test_a_restarted_container_or_a_new_pod_is_a_new_attempt() -> None:
    assert pod_attempt(pod("Running"), "train") == ("u1", 0)
    assert pod_attempt(pod("Running", restarts=1), "train") == ("u1", 1)
    assert pod_attempt(pod("Running", uid="u2"), "train") == ("u2", 0)


def test_the_job_and_pod_state_become_the_run_state() -> None:
    nothing = MetricsReading()
    assert JOB.fact("t-0", job(), None, nothing).state is RunState.WAITING
    assert JOB.fact("t-0", job(), pod("Pending"), nothing).state is RunState.WAITING
    assert JOB.fact("t-0", job(startTime="2026-01-01T00:00:00Z"), pod("Running"), nothing).state is RunState.RUNNING
    done = JOB.fact("t-0", job(("Complete", ""), completionTime="2026-01-01T00:05:00Z"), pod("Succeeded"), nothing)
    assert done.state is RunState.SUCCEEDED and done.finished_at is not None
    failed = JOB.fact("t-0", job(("Failed", "DeadlineExceeded")), pod("Failed"), nothing)
    assert (failed.state, failed.reason) == (RunState.FAILED, "DeadlineExceeded")


def test_an_unreadable_metrics_source_is_a_typed_fact_not_a_message() -> None:
    unreadable = MetricsReading(problem="the metrics annotation is not JSON")
    fact = JOB.fact("t-0", job(("Complete", "")), pod("Succeeded"), unreadable)
    assert fact.metrics_unreadable
    assert not JOB.fact("t-0", job(("Complete", "")), pod("Succeeded"), MetricsReading()).metrics_unreadable
