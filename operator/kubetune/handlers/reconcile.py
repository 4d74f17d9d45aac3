"""One reconcile of one HPOTask on a cluster: read the task, run one step of the engine's loop.

Synchronous on purpose: the official Kubernetes client is synchronous, so Kopf's handlers run this
in a worker thread. Nothing here decides; the engine does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .. import engine
from ..api import HPOTaskStatus, parse_task
from ..errors import InvalidSpec, KindUnavailable
from ..executors import clock
from ..executors.cache import Expectations, Snapshot
from ..executors.client import Kube
from ..executors.kube import STATUS_INTERVAL, KubeExecutor
from . import telemetry

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a reconcile did, for the caller to report (Events) and to schedule the next one."""

    events: list[engine.Event] = field(default_factory=list)
    wake_after: timedelta | None = None
    finished: bool = False


def reconcile(
    kube: Kube,
    body: dict[str, Any],
    snapshot: Snapshot,
    expectations: Expectations,
    now: Callable[[], datetime] = clock,
) -> Outcome:
    """Bring one task one step forward; safe to repeat and to interrupt at any point.

    ``body`` is the task as its watch last showed it and ``snapshot`` what the watches hold of its
    trials: a reconcile reads nothing from the API server, it only writes.
    """
    meta = body["metadata"]
    namespace, name = str(meta["namespace"]), str(meta["name"])
    started = clock()
    try:
        task = parse_task(body)
        workload = kube.workload(task)  # a kind the cluster lacks, or this operator may not manage
    except KindUnavailable as error:
        return _unavailable(kube, body, expectations, str(error), now())
    except InvalidSpec as error:
        return _invalid(kube, body, expectations, str(error), now())
    # The watch may not have shown the status the last reconcile wrote yet: that one is the truth.
    status = expectations.task_status(str(meta.get("resourceVersion", "")), task.status)
    if status is not task.status:
        task = task.model_copy(update={"status": status})
    executor = KubeExecutor(kube, task, body, snapshot, expectations, workload)
    try:
        step = engine.step(executor, task, now())
    finally:
        executor.flush()  # every write of the step done (or failed) before the next step reads
    for done in step.finished:
        telemetry.trial_finished(namespace, name, engine.phase_of(done.trial))
        if done.scrape_failed:
            telemetry.scrape_failed(namespace, name)
    for verdict in step.plan.stop:
        telemetry.trial_finished(namespace, name, verdict.phase)
    for _ in step.created:
        telemetry.trial_created(namespace, name)
    telemetry.observe_task(namespace, name, step.plan.status, clock() - started)
    wake_after = step.plan.wake_after
    if executor.deferred:  # a status held back must be written within the interval, even if nothing happens
        interval = timedelta(seconds=STATUS_INTERVAL)
        wake_after = interval if wake_after is None else min(wake_after, interval)
    return Outcome(list(step.events), wake_after, step.plan.finished)


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


def _unavailable(kube: Kube, body: dict[str, Any], expectations: Expectations, message: str, now: datetime) -> Outcome:
    """Record that the task's workload kind cannot be used now as ``Valid=False``; the task waits and is
    checked again at each resync (the kind may be installed or granted meanwhile)."""
    meta = body["metadata"]
    namespace, name = str(meta["namespace"]), str(meta["name"])
    previous = expectations.task_status(str(meta.get("resourceVersion", "")), _recorded_status(body))
    generation = meta.get("generation")
    if previous is not None and previous.reason == "WorkloadKindUnavailable" and previous.message == message:
        return Outcome()
    status = engine.unavailable_status(previous, generation if isinstance(generation, int) else None, message, now)
    expectations.wrote_status(kube.patch_task_status(namespace, name, status), status)
    return Outcome(events=[engine.Event("WorkloadKindUnavailable", message, "Warning")])


def _invalid(kube: Kube, body: dict[str, Any], expectations: Expectations, message: str, now: datetime) -> Outcome:
    """Record a spec that can never work as ``Valid=False``; never raise, never retry in a loop."""
    meta = body["metadata"]
    namespace, name = str(meta["namespace"]), str(meta["name"])
    # The watch may not show the status written a moment ago yet: that one is the truth.
    previous = expectations.task_status(str(meta.get("resourceVersion", "")), _recorded_status(body))
    generation = meta.get("generation")
    if previous is not None and previous.reason == "InvalidSpec" and previous.message == message:
        return Outcome(finished=True)
    status = engine.invalid_status(previous, generation if isinstance(generation, int) else None, message, now)
    expectations.wrote_status(kube.patch_task_status(namespace, name, status), status)
    return Outcome(events=[engine.Event("InvalidSpec", message, "Warning")], finished=True)
