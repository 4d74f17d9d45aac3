"""One reconcile of one HPOTask on a cluster: read everything, ask the engine, carry out the plan.

Synchronous on purpose: the official Kubernetes client is synchronous, so Kopf's handlers run this
in a worker thread. Nothing here decides; the engine does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .. import engine
from ..api import HPOTask, HPOTaskStatus, SuspendPolicy, Trial, parse_task
from ..errors import InvalidSpec
from ..executors.kube import Cluster, KubeExecutor
from . import telemetry

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a reconcile did, for the caller to report (Events) and to schedule the next one."""

    events: list[engine.Event] = field(default_factory=list)
    wake_after: timedelta | None = None
    finished: bool = False
    gone: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


def reconcile(kube: KubeExecutor, namespace: str, name: str, now: Callable[[], datetime] = _now) -> Outcome:
    """Bring one task one step forward; safe to repeat and to interrupt at any point."""
    body = kube.get_task(namespace, name)
    if body is None:
        return Outcome(gone=True)
    started = datetime.now(UTC)
    try:
        task = parse_task(body)
    except InvalidSpec as error:
        return _invalid(kube, namespace, name, body, str(error))
    cluster = kube.read(namespace, name, task.metadata.uid or "")
    outcome = Outcome()
    trials = _follow_trials(kube, task, namespace, cluster, outcome, now())
    step = engine.plan(task, trials, now())
    _carry_out(kube, task, body, namespace, step, trials, now())
    if step.status != task.status:
        kube.patch_task_status(namespace, name, step.status)
    outcome.events += step.events
    outcome.wake_after = step.wake_after
    outcome.finished = step.finished
    telemetry.observe_task(namespace, name, step.status, datetime.now(UTC) - started)
    return outcome


def _invalid(kube: KubeExecutor, namespace: str, name: str, body: dict[str, object], message: str) -> Outcome:
    """Record a spec that can never work as ``Valid=False``; never raise, never retry in a loop."""
    raw = body.get("status")
    try:
        previous = HPOTaskStatus.model_validate(raw) if isinstance(raw, dict) else None
    except ValueError:
        previous = None
    meta = body.get("metadata")
    generation = meta.get("generation") if isinstance(meta, dict) else None
    if previous is not None and previous.reason == "InvalidSpec" and previous.message == message:
        return Outcome(finished=True)
    status = engine.invalid_status(previous, generation if isinstance(generation, int) else None, message, _now())
    kube.patch_task_status(namespace, name, status)
    return Outcome(events=[engine.Event("InvalidSpec", message, "Warning")], finished=True)


def _follow_trials(
    kube: KubeExecutor, task: HPOTask, namespace: str, cluster: Cluster, outcome: Outcome, now: datetime
) -> list[Trial]:
    """Create missing Jobs, turn Job and pod state into trial statuses, stop Jobs of finished trials."""
    follow = task.spec.early_stopping is not None
    # Suspended with force: a trial that has not started yet stays unstarted (the plan stops it).
    start_jobs = not (task.spec.suspend and task.spec.suspend_policy is SuspendPolicy.FORCE)
    trials = []
    for trial in cluster.trials:
        name = trial.metadata.name or ""
        if not engine.is_active(trial):
            if name in cluster.jobs and _job_active(cluster.jobs[name]):
                kube.delete_job(namespace, name)  # a finished trial leaves no running Job behind
            trials.append(trial)
            continue
        if name not in cluster.jobs and (trial.status is None or trial.status.start_time is None):
            if start_jobs:
                kube.create_job(task, namespace, trial, cluster.trial_uids[name])
            trials.append(trial)
            continue
        fact = kube.fact(task, trial, cluster, follow=follow)
        status = engine.observe(task.spec, trial, fact, now)
        if status == trial.status:
            trials.append(trial)
            continue
        kube.patch_trial_status(namespace, name, status)
        observed = trial.model_copy(update={"status": status})
        trials.append(observed)
        if status.phase.finished:
            outcome.events.append(engine.finished_event(observed))
            telemetry.trial_finished(namespace, task.metadata.name or "", status.phase)
            if fact.metrics_note.startswith("No metrics"):
                telemetry.scrape_failed(namespace, task.metadata.name or "")
    return trials


def _job_active(job: dict[str, object]) -> bool:
    status = job.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    return not any(
        isinstance(c, dict) and c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (conditions if isinstance(conditions, list) else [])
    )


def _carry_out(
    kube: KubeExecutor,
    task: HPOTask,
    body: dict[str, object],
    namespace: str,
    step: engine.Plan,
    trials: list[Trial],
    now: datetime,
) -> None:
    by_name = {t.metadata.name: t for t in trials}
    for verdict in step.stop:
        trial = by_name.get(verdict.name)
        if trial is None:
            continue
        kube.patch_trial_status(namespace, verdict.name, engine.stopped_status(trial, verdict, now))
        # Recorded first: after a crash the Job is still stopped, as a finished trial's Job.
        kube.delete_job(namespace, verdict.name)
        telemetry.trial_finished(namespace, task.metadata.name or "", verdict.phase)
    for trial in step.create:
        stored, uid = kube.create_trial(body, trial)  # recorded first: after a crash the Job is created then
        kube.create_job(task, namespace, stored, uid)
        telemetry.trial_created(namespace, task.metadata.name or "")
