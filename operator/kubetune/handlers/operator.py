"""Kopf wiring: one daemon per HPOTask, woken by its Jobs and by spec changes, and the watch cache.

The rest of the operator is beside it: its options (options.py), what the handlers share
(runtime.py), leader election (leadership.py), retrying a failed reconcile (retry.py), the
workload kinds it watches (watches.py), and one reconcile (reconcile.py).

Everything durable is in the cluster. In memory there are only a client, a poke per task, the
log cursors of running trials and the leadership flag: all rebuilt after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import threading
from collections.abc import Callable
from typing import Any

import kopf

from .. import names
from ..api import TaskPhase
from ..executors.cache import CachedTrial, Expectations, Snapshot, strip_pod, strip_trial, strip_workload
from ..executors.client import Kube, operator_client, qualified_kind
from . import telemetry
from .leadership import elect
from .options import Options
from .reconcile import Outcome
from .retry import reconcile_until_done
from .runtime import EVENT_BURST, EventBudget, Runtime
from .watches import WORKLOADS, listed, watchable

log = logging.getLogger(__name__)

__all__ = [
    "EVENT_BURST",
    "Options",
    "run",
]  # what `kubetune operator` and its tests use of this module, besides its handlers

RESYNC_SECONDS = 30.0
"""Longest sleep of an active task's daemon: a missed watch event costs at most this."""
IDLE_SECONDS = 600.0
"""Sleep of a finished task's daemon until Kopf stops it (``needs_reconciling`` no longer matches)."""
LEADER_POLL_SECONDS = 1.0
"""Sleep of a daemon while this replica does not lead: leadership is a thread's flag, not an event."""
LIST_CHUNK = 500
"""Objects per page of the list that fills the watch cache at start (``limit``/``continue``)."""

TRIALS = (names.GROUP, names.VERSION, names.TRIAL_PLURAL)
PODS = ("v1", "pods")
OF_A_TASK = {names.LABEL_TASK: kopf.PRESENT}


class TaskDiffBase(kopf.AnnotationsDiffBaseStorage):
    """Kopf's diff base (the "essence" it compares between events), for HPOTasks only.

    Kopf builds it for every event of every watched kind, by deep-copying the whole object, to
    detect changes for on.create/on.update handlers. kubetune has none: its Trials, Jobs and pods
    only feed indices, and a task's daemon is woken by pokes. The copy of every pod and Job (with
    its managedFields) was a quarter of the operator's event loop at 25 trials a second.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        if body.get("kind") != names.TASK_KIND:
            return kopf.BodyEssence()
        return super().build(body=body, extra_fields=extra_fields)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Settings, the client, and (with several replicas) leader election."""
    settings.persistence.finalizer = f"{names.GROUP}/finalizer"
    settings.persistence.diffbase_storage = TaskDiffBase()
    settings.posting.enabled = True
    settings.posting.level = logging.CRITICAL + 1  # post only the Events we write, not log lines
    settings.background.cancellation_polling = 1
    settings.watching.server_timeout = 300
    # The watch cache (the indices below) is filled from one paged list per kind, then kept by
    # watches that resume from their resourceVersion; only kubetune's objects are sent.
    settings.watching.chunk_size = LIST_CHUNK
    settings.watching.label_selectors[TRIALS] = names.LABEL_TASK
    settings.watching.label_selectors[PODS] = names.LABEL_TASK
    # Cluster-wide, Kopf follows the CRDs (the chart grants reading them): a workload kind installed
    # later is watched from then on, and the watch of one removed is stopped rather than failing the
    # operator. Namespaced, the chart grants nothing cluster-scoped, so nothing is scanned (docs/rbac.md).
    settings.scanning.disabled = not settings.peering.clusterwide
    options: Options = memo.get("options") or Options.from_env()
    kube = Kube(
        memo.get("api") or operator_client(),
        log_read_interval=options.follow_seconds,
        on_retry=telemetry.request_retried,
        workload_kinds=options.workload_kinds,
    )
    clusterwide = settings.peering.clusterwide or not options.namespaces
    scopes: list[str | None] = [None] if clusterwide else list(options.namespaces)
    watched = watchable(kube, listed(options.workload_kinds), scopes)
    WORKLOADS.watch(watched)
    for kind in watched:
        settings.watching.label_selectors[kind.selector] = names.LABEL_TASK
    # A known kind's workloads come from the cache if Kopf lists them as it starts; one installed
    # later is watched too (cluster-wide), but its workloads are listed at each reconcile until a restart.
    served = frozenset(kind.qualified for kind in watched if kind.served(kube))
    runtime = Runtime(kube=kube, leader=threading.Event(), follow_seconds=options.follow_seconds, watched=served)
    memo["runtime"] = runtime
    if options.leader_election:
        thread = threading.Thread(target=elect, args=(runtime, options, runtime.stop), name="leader-election")
        thread.daemon = True  # it may sleep in the client's acquire loop; it must not keep the process alive
        thread.start()
    else:
        runtime.leader.set()


@kopf.on.probe(id="lease")
def lease_readable(memo: Any, **_: Any) -> str:
    """Fail /healthz while the Lease cannot be read: a replica that can never lead is not healthy."""
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None and runtime.lease_problem:
        raise kopf.PermanentError(runtime.lease_problem)
    return "ok"


@kopf.on.cleanup()
def shut_down(memo: Any, **_: Any) -> None:
    """Stop standing for leadership when the operator stops, and let the reconcile threads go."""
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None:
        runtime.stop.set()
        runtime.leader.clear()
        runtime.reconcilers.shutdown(wait=False, cancel_futures=True)


def needs_reconciling(body: kopf.Body, **_: Any) -> bool:
    """Whether a task may still change: not finished, or its spec changed since it finished.

    Kopf keeps its finalizer on an object only while a daemon matches it, so a finished task
    carries none: deleting it needs no operator (its Trials and Jobs go by owner references).
    A spec change (a larger ``maxTrials``) makes it match again, and its daemon starts anew.
    """
    status = body.get("status") or {}
    return not TaskPhase.ended(status.get("phase")) or status.get("observedGeneration") != body.get("metadata", {}).get(
        "generation"
    )


@kopf.daemon(
    names.GROUP,
    names.VERSION,
    names.TASK_PLURAL,
    id="reconcile",
    cancellation_timeout=5.0,
    when=needs_reconciling,
)
async def run_task(
    namespace: str | None,
    name: str,
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    memo: Any,
    **kwargs: Any,
) -> None:
    """Reconcile one task whenever something about it changes, or a timer is due."""
    assert namespace is not None  # HPOTasks are namespaced
    # Kopf passes each index as a keyword argument named after it (its typed signature cannot say so).
    trials: kopf.Index[tuple[str, str], CachedTrial] = kwargs["kubetune_trials"]
    pods: kopf.Index[tuple[str, str], dict[str, Any]] = kwargs["kubetune_pods"]
    runtime: Runtime = memo["runtime"]
    poke = runtime.poke(namespace, name)
    key = (namespace, name)
    expectations = runtime.expectations.setdefault(key, Expectations())
    budget = EventBudget()
    try:
        while not stopped:
            poke.clear()
            delay = LEADER_POLL_SECONDS

            def state() -> tuple[dict[str, Any], Snapshot]:
                # Copied on the loop that updates them: the reconcile runs in a worker thread.
                task = copy.deepcopy(dict(body))
                template = task.get("spec", {}).get("trialTemplate") or {}
                kind = qualified_kind(str(template.get("apiVersion", "batch/v1")), str(template.get("kind", "Job")))
                workloads: kopf.Index[tuple[str, str, str], dict[str, Any]] = kwargs["kubetune_workloads"]
                cached = kind in runtime.watched
                return task, Snapshot(
                    tuple(trials.get(key, ())),
                    tuple(workloads.get((*key, kind), ())) if cached else (),
                    tuple(pods.get(key, ())),
                    workloads_uncached=not cached,
                )

            outcome = None
            if runtime.leader.is_set():
                outcome = await _finish_step(runtime, namespace, name, body, stopped, state, expectations, budget)
            if outcome is not None:
                delay = IDLE_SECONDS if outcome.finished else RESYNC_SECONDS
                if outcome.wake_after is not None:
                    delay = min(delay, outcome.wake_after.total_seconds() + 0.1)
                if not outcome.finished and body.get("spec", {}).get("earlyStopping"):
                    delay = min(delay, runtime.follow_seconds)
            await _sleep(poke, stopped, delay)
    finally:
        runtime.pokes.pop(key, None)
        runtime.expectations.pop(key, None)


async def _finish_step(
    runtime: Runtime,
    namespace: str,
    name: str,
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    state: Callable[[], tuple[dict[str, Any], Snapshot]],
    expectations: Expectations,
    budget: EventBudget,
) -> Outcome | None:
    """One reconcile whose Events are posted even if Kopf cancels the daemon meanwhile.

    A step that ends the task writes a status that no longer matches the daemon's filter, so Kopf
    stops the daemon, and cancels it after ``cancellation_timeout`` if the step is still under way
    (a loaded API server). The step's thread runs on regardless; its Events must not be lost.
    """
    step = asyncio.ensure_future(reconcile_until_done(runtime, namespace, name, body, stopped, state, expectations))
    try:
        outcome = await asyncio.shield(step)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            _post(body, await step, budget)
        raise
    _post(body, outcome, budget)
    return outcome


def _post(body: kopf.Body, outcome: Outcome | None, budget: EventBudget) -> None:
    for event in filter(budget.allows, outcome.events if outcome is not None else []):
        # Kopf cuts a message over 1 KiB in its middle: a failure's last output stays.
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


async def _sleep(poke: asyncio.Event, stopped: kopf.DaemonStopped, seconds: float) -> None:
    """Sleep until poked, stopped, or ``seconds`` pass: whichever comes first wakes it at once."""

    async def until_stopped() -> None:
        await stopped.wait(seconds)  # Kopf's way for an async daemon (docs/daemons.rst)

    waits = {asyncio.create_task(poke.wait()), asyncio.create_task(until_stopped())}
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


@kopf.on.event(names.GROUP, names.VERSION, names.TASK_PLURAL, id="spec-changed")
async def task_changed(namespace: str | None, name: str, body: kopf.Body, memo: Any, type: str, **_: Any) -> None:
    """Wake a task's daemon when its spec changes (not on its own status updates).

    Async so that it runs in the loop that owns the pokes (asyncio events are not thread-safe)."""
    runtime: Runtime | None = memo.get("runtime")
    if runtime is None or namespace is None:
        return
    if type == "DELETED":
        telemetry.forget_task(namespace, name)
        runtime.pokes.pop((namespace, name), None)
        return
    generation = body.get("metadata", {}).get("generation")
    observed = (body.get("status") or {}).get("observedGeneration")
    if generation != observed:
        runtime.poke(namespace, name).set()


# The watch cache: an index of Trials, one of workloads and one of pods, by (namespace, task). Kopf lists
# each resource once at start and runs no other handler before the indices are full, so a restarted
# operator never acts on half a view.


def _wake(memo: Any, namespace: str | None, labels: kopf.Labels) -> tuple[str, str] | None:
    """Wake the task an object belongs to; its key in the indices."""
    task = labels.get(names.LABEL_TASK)
    if namespace is None or not task:
        return None
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None:
        runtime.poke(namespace, task).set()
    return namespace, task


@kopf.index(*TRIALS, labels=OF_A_TASK, id="kubetune_trials")
async def index_trial(namespace: str | None, labels: kopf.Labels, body: kopf.Body, memo: Any, **_: Any) -> Any:
    """A Trial, parsed once as it arrives (async: parsing is quick, and the pokes live on this loop)."""
    key = _wake(memo, namespace, labels)
    cached = strip_trial(body)
    return {key: cached} if key is not None and cached is not None else {}


@kopf.index(WORKLOADS.indexes, labels=OF_A_TASK, id="kubetune_workloads")
async def index_workload(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, resource: kopf.Resource, memo: Any, **_: Any
) -> Any:
    """A trial's workload, without its pod templates (its state changed: queued, started, finished);
    by namespace, task and ``Kind.group``."""
    key = _wake(memo, namespace, labels)
    kind = f"{resource.kind}.{resource.group}" if resource.group else str(resource.kind)
    return {(*key, kind): strip_workload(body)} if key is not None else {}


def _gone(type: str, resource: kopf.Resource, **_: Any) -> bool:  # (Kopf names the watch event's type so)
    """Deletions of a cached kind (the index handler wakes the task on every other event: a handler
    called on each of them cost a call and a log line per event, five per trial); every event of a
    kind described by CEL, which has no index."""
    return type == "DELETED" or not WORKLOADS.indexes(resource)


@kopf.on.event(WORKLOADS.wakes, labels=OF_A_TASK, id="wake_workloads", when=_gone)
async def workload_changed(namespace: str | None, labels: kopf.Labels, memo: Any, **_: Any) -> None:
    """Wake the task of a trial workload that is gone (indices are not told of deletions), or changed
    (a kind described by CEL: its workloads are listed in the template's version at each reconcile)."""
    _wake(memo, namespace, labels)


@kopf.index(*PODS, labels=OF_A_TASK, id="kubetune_pods")
async def index_pod(namespace: str | None, labels: kopf.Labels, body: kopf.Body, memo: Any, **_: Any) -> Any:
    """A trial's pod, reduced to its phase and container states."""
    key = _wake(memo, namespace, labels)
    return {key: strip_pod(body)} if key is not None else {}


def run(
    *, namespaces: list[str], health_port: int, metrics_port: int, options: Options, verbose: bool, log_format: str
) -> None:
    """Start the operator in this process and block until it is told to stop."""
    from prometheus_client import start_http_server  # noqa: PLC0415

    level = logging.DEBUG if verbose else logging.INFO
    if log_format == "json":
        logging.basicConfig(level=level, handlers=[_json_handler()])
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if metrics_port:
        start_http_server(metrics_port)
    kopf.run(
        standalone=True,  # leadership comes from the Lease, not from Kopf's peering (which freezes equal peers)
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=f"http://0.0.0.0:{health_port}/healthz" if health_port else None,
        memo=kopf.Memo(options=options),
    )


def _json_handler() -> logging.Handler:
    """One JSON object per log line, for log collectors."""
    import json  # noqa: PLC0415

    class JsonFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return json.dumps(
                {
                    "time": self.formatTime(record),
                    "level": record.levelname,
                    "logger": record.name,
                    "message": record.getMessage(),
                }
            )

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    return handler
