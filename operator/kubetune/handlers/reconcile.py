"""One reconcile of one HPOTask on a cluster: read the task, run one step of the engine's loop.

Synchronous on purpose: the official Kubernetes client is synchronous, so Kopf's handlers run this
in a worker thread. Nothing here decides; the engine does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .. import engine
from ..api import HPOTaskStatus, parse_task
from ..errors import InvalidSpec
from ..executors import clock
from ..executors.kube import Kube, KubeExecutor
from . import telemetry

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a reconcile did, for the caller to report (Events) and to schedule the next one."""

    events: list[engine.Event] = field(default_factory=list)
    wake_after: timedelta | None = None
    finished: bool = False
    gone: bool = False


def reconcile(kube: Kube, namespace: str, name: str, now: Callable[[], datetime] = clock) -> Outcome:
    """Bring one task one step forward; safe to repeat and to interrupt at any point."""
    body = kube.get_task(namespace, name)
    if body is None:
        return Outcome(gone=True)
    started = clock()
    try:
        task = parse_task(body)
        workload = kube.workload(task)  # a kind the cluster lacks, or this operator may not manage
    except InvalidSpec as error:
        return _invalid(kube, namespace, name, body, str(error), now())
    step = engine.step(KubeExecutor(kube, task, body, workload), task, now())
    for done in step.finished:
        telemetry.trial_finished(namespace, name, engine.phase_of(done.trial))
        if done.scrape_failed:
            telemetry.scrape_failed(namespace, name)
    for verdict in step.plan.stop:
        telemetry.trial_finished(namespace, name, verdict.phase)
    for _ in step.created:
        telemetry.trial_created(namespace, name)
    telemetry.observe_task(namespace, name, step.plan.status, clock() - started)
    return Outcome(list(step.events), step.plan.wake_after, step.plan.finished)


def record_error(kube: Kube, namespace: str, name: str, message: str, now: Callable[[], datetime] = clock) -> None:
    """Show on the task that its reconcile failed: ``Ready=False``, reason ``ReconcileError``."""
    body = kube.get_task(namespace, name)
    if body is None:
        return
    status = engine.reconcile_error_status(_recorded_status(body), message, now())
    kube.patch_task_status(namespace, name, status)


def _recorded_status(body: dict[str, object]) -> HPOTaskStatus | None:
    """The task's status as last written, if it is readable."""
    raw = body.get("status")
    try:
        return HPOTaskStatus.model_validate(raw) if isinstance(raw, dict) else None
    except ValueError:
        return None


def _invalid(kube: Kube, namespace: str, name: str, body: dict[str, object], message: str, now: datetime) -> Outcome:
    """Record a spec that can never work as ``Valid=False``; never raise, never retry in a loop."""
    previous = _recorded_status(body)
    meta = body.get("metadata")
    generation = meta.get("generation") if isinstance(meta, dict) else None
    if previous is not None and previous.reason == "InvalidSpec" and previous.message == message:
        return Outcome(finished=True)
    status = engine.invalid_status(previous, generation if isinstance(generation, int) else None, message, now)
    kube.patch_task_status(namespace, name, status)
    return Outcome(events=[engine.Event("InvalidSpec", message, "Warning")], finished=True)
