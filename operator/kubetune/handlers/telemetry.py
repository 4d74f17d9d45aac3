"""Prometheus metrics of the operator, served on ``/metrics`` (prometheus-client)."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from prometheus_client import Counter, Gauge, Histogram

from ..api import HPOTaskStatus, TaskPhase, TrialPhase

TASKS = Gauge("kubetune_tasks", "HPOTasks by phase.", ["namespace", "task", "phase"])
TRIALS = Gauge("kubetune_trials", "Trials of each task by phase.", ["namespace", "task", "phase"])
TRIALS_CREATED = Counter("kubetune_trials_created", "Trials created.", ["namespace", "task"])
TRIALS_FINISHED = Counter(
    "kubetune_trials_finished", "Trials finished, by final phase.", ["namespace", "task", "phase"]
)
SCRAPE_FAILURES = Counter(
    "kubetune_metric_scrape_failures", "Trials whose metrics could not be read.", ["namespace", "task"]
)
RECONCILE_SECONDS = Histogram("kubetune_reconcile_duration_seconds", "Time of one HPOTask reconcile.")
BEST = Gauge("kubetune_best_objective", "Best objective value of each task.", ["namespace", "task"])
RECONCILE_ERRORS = Counter(
    "kubetune_reconcile_errors", "Reconciles that failed and were retried later.", ["namespace", "task"]
)
REQUEST_RETRIES = Counter(
    "kubetune_request_retries", "API requests repeated after a failure, by status code.", ["code"]
)
RETRY_WAIT = Counter("kubetune_retry_wait_seconds", "Seconds waited before retrying, by what was retried.", ["retried"])


def observe_task(namespace: str, task: str, status: HPOTaskStatus, took: timedelta) -> None:
    """Record a task's phase, trial counts and best value after a reconcile."""
    RECONCILE_SECONDS.observe(took.total_seconds())
    for task_phase in TaskPhase:
        TASKS.labels(namespace, task, task_phase.value).set(1 if status.phase is task_phase else 0)
    counts = status.trials
    for phase, count in (
        (TrialPhase.PENDING, counts.pending),
        (TrialPhase.QUEUED, counts.queued),
        (TrialPhase.RUNNING, counts.running),
        (TrialPhase.SUCCEEDED, counts.succeeded),
        (TrialPhase.FAILED, counts.failed),
        (TrialPhase.EARLY_STOPPED, counts.early_stopped),
        (TrialPhase.STOPPED, counts.stopped),
    ):
        TRIALS.labels(namespace, task, phase.value).set(count)
    if status.best_trial is not None:
        BEST.labels(namespace, task).set(status.best_trial.objective)


def trial_created(namespace: str, task: str) -> None:
    """Count a trial creation."""
    TRIALS_CREATED.labels(namespace, task).inc()


def trial_finished(namespace: str, task: str, phase: TrialPhase) -> None:
    """Count a trial's end."""
    TRIALS_FINISHED.labels(namespace, task, phase.value).inc()


def scrape_failed(namespace: str, task: str) -> None:
    """Count a trial whose metrics could not be read."""
    SCRAPE_FAILURES.labels(namespace, task).inc()


def forget_task(namespace: str, task: str) -> None:
    """Drop the series of a deleted task, so that the metrics stay bounded."""
    for gauge in (TASKS, TRIALS):
        for phase in {*TaskPhase, *TrialPhase}:
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, task, phase.value)
    for series in (BEST, RECONCILE_ERRORS):
        with contextlib.suppress(KeyError):
            series.remove(namespace, task)


def reconcile_failed(namespace: str, task: str, wait: float) -> None:
    """Count a failed reconcile, and the wait before its retry."""
    RECONCILE_ERRORS.labels(namespace, task).inc()
    RETRY_WAIT.labels("reconcile").inc(wait)


def request_retried(code: str, wait: float) -> None:
    """Count a repeated API request, and the wait before it."""
    REQUEST_RETRIES.labels(code).inc()
    RETRY_WAIT.labels("request").inc(wait)
