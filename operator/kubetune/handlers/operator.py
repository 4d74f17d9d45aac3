"""Kopf wiring: one daemon per HPOTask, woken by its Jobs and by spec changes; settings; leadership.

Everything durable is in the cluster. In memory there are only a client, a poke per task, the
log cursors of running trials and the leadership flag: all rebuilt after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import kopf
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from tenacity import AsyncRetrying, RetryCallState, wait_exponential_jitter

from .. import names
from ..api import TaskPhase
from ..executors.kube import RETRIED_STATUSES, Kube
from ..executors.workload import REGISTRY
from . import telemetry
from .reconcile import Outcome, reconcile, record_error

log = logging.getLogger(__name__)

RESYNC_SECONDS = 30.0
"""Longest sleep of an active task's daemon: a missed watch event costs at most this."""
IDLE_SECONDS = 600.0
"""Sleep of a finished task's daemon until Kopf stops it (``needs_reconciling`` no longer matches)."""
LEADER_POLL_SECONDS = 1.0
"""Sleep of a daemon while this replica does not lead: leadership is a thread's flag, not an event."""
RETRY_SECONDS = 0.5
"""First wait after a failed reconcile; each failure in a row doubles it (plus up to as much jitter)."""
MAX_RETRY_SECONDS = 60.0
"""Longest wait between two attempts of a reconcile that keeps failing."""
QUIET_ATTEMPTS = 3
"""Transient failures (a conflict, an unavailable API server) are only logged until this many in a row."""
MESSAGE_CHARS = 300
"""Longest failure description in a condition or an Event."""
WORKLOAD_KINDS_ENV = "KUBETUNE_WORKLOAD_KINDS"
"""The workload kinds to manage (the chart's ``workloadKinds``), as ``Kind.group``, comma-separated."""


@dataclass
class Options:
    """How the operator runs; from ``kubetune operator`` flags or the environment."""

    leader_election: bool = True
    lease_name: str = "kubetune-operator"
    lease_namespace: str = "default"
    follow_seconds: float = 5.0
    """While early stopping needs intermediate metrics: seconds between two reads of a running trial's log."""
    identity: str = field(default_factory=lambda: os.environ.get("POD_NAME") or f"kubetune-{uuid.uuid4().hex[:8]}")
    workload_kinds: frozenset[str] | None = None
    """The workload kinds to manage, as ``Kind.group`` (the chart's ``workloadKinds``); None: any."""

    @classmethod
    def from_env(cls, *, leader_election: bool | None = None, lease_name: str | None = None) -> Options:
        """Options as the Deployment's environment gives them; a flag that was given wins over it."""
        defaults = cls()
        if leader_election is None:
            leader_election = os.environ.get("KUBETUNE_LEADER_ELECTION", "true").lower() != "false"
        return cls(
            leader_election=leader_election,
            lease_name=lease_name or os.environ.get("KUBETUNE_LEASE_NAME", defaults.lease_name),
            lease_namespace=os.environ.get("POD_NAMESPACE", defaults.lease_namespace),
            follow_seconds=float(os.environ.get("KUBETUNE_FOLLOW_SECONDS", defaults.follow_seconds)),
            workload_kinds=_workload_kinds(),
        )


def _workload_kinds() -> frozenset[str] | None:
    """``KUBETUNE_WORKLOAD_KINDS``: comma-separated ``Kind.group`` names (``Job.batch,JobSet.jobset.x-k8s.io``)."""
    text = os.environ.get(WORKLOAD_KINDS_ENV)
    return None if text is None else frozenset(k.strip() for k in text.split(",") if k.strip())


@dataclass
class Runtime:
    """What the handlers share, kept in Kopf's memo."""

    kube: Kube
    leader: threading.Event
    follow_seconds: float
    stop: threading.Event = field(default_factory=threading.Event)
    pokes: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)

    def poke(self, namespace: str, name: str) -> asyncio.Event:
        """The event that wakes one task's daemon."""
        return self.pokes.setdefault((namespace, name), asyncio.Event())


def load_client() -> client.ApiClient:
    """A client for the cluster the operator runs in, else the current kubeconfig context."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        # Read KUBECONFIG now: the client reads it once, when it is imported.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    return client.ApiClient()


def elect(runtime: Runtime, options: Options, stop: threading.Event) -> None:
    """Hold the Lease while this replica leads; only the leader reconciles (runs in a thread)."""
    from kubernetes.leaderelection import electionconfig, leaderelection  # noqa: PLC0415
    from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock  # noqa: PLC0415

    lock = LeaseLock(options.lease_name, options.lease_namespace, options.identity)
    election = electionconfig.Config(
        lock,
        lease_duration=15,
        renew_deadline=10,
        retry_period=2,
        onstarted_leading=runtime.leader.set,
        onstopped_leading=runtime.leader.clear,
    )
    while not stop.is_set():  # after losing the lease, stand as a candidate again
        try:
            leaderelection.LeaderElection(election).run()
            log.warning("lost the lease %s/%s", options.lease_namespace, options.lease_name)
        except Exception as error:  # the API server is unreachable: follow, and try again
            runtime.leader.clear()
            log.warning("leader election failed, retrying: %s", error)
            stop.wait(2)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Settings, the client, and (with several replicas) leader election."""
    settings.persistence.finalizer = f"{names.GROUP}/finalizer"
    settings.posting.enabled = True
    settings.posting.level = logging.CRITICAL + 1  # post only the Events we write, not log lines
    settings.background.cancellation_polling = 1
    settings.watching.server_timeout = 300
    # No CRD or namespace scanning: the resources are known, and the RBAC stays minimal (docs/rbac.md).
    settings.scanning.disabled = True
    options: Options = memo.get("options") or Options.from_env()
    kube = Kube(
        memo.get("api") or load_client(),
        log_read_interval=options.follow_seconds,
        on_retry=telemetry.request_retried,
        workload_kinds=options.workload_kinds,
    )
    runtime = Runtime(kube=kube, leader=threading.Event(), follow_seconds=options.follow_seconds)
    memo["runtime"] = runtime
    if options.leader_election:
        thread = threading.Thread(target=elect, args=(runtime, options, runtime.stop), name="leader-election")
        thread.daemon = True  # it may sleep in the client's acquire loop; it must not keep the process alive
        thread.start()
    else:
        runtime.leader.set()


@kopf.on.cleanup()
def shut_down(memo: Any, **_: Any) -> None:
    """Stop standing for leadership when the operator stops."""
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None:
        runtime.stop.set()
        runtime.leader.clear()


def needs_reconciling(body: kopf.Body, **_: Any) -> bool:
    """Whether a task may still change: not finished, or its spec changed since it finished.

    Kopf keeps its finalizer on an object only while a daemon matches it, so a finished task
    carries none: deleting it needs no operator (its Trials and Jobs go by owner references).
    A spec change (a larger ``maxTrials``) makes it match again, and its daemon starts anew.
    """
    status = body.get("status") or {}
    finished = status.get("phase") in (TaskPhase.SUCCEEDED, TaskPhase.FAILED)
    return not finished or status.get("observedGeneration") != body.get("metadata", {}).get("generation")


@kopf.daemon(
    names.GROUP,
    names.VERSION,
    names.TASK_PLURAL,
    id="reconcile",
    cancellation_timeout=5.0,
    when=needs_reconciling,
)
async def run_task(
    namespace: str | None, name: str, body: kopf.Body, stopped: kopf.DaemonStopped, memo: Any, **_: Any
) -> None:
    """Reconcile one task whenever something about it changes, or a timer is due."""
    assert namespace is not None  # HPOTasks are namespaced
    runtime: Runtime = memo["runtime"]
    poke = runtime.poke(namespace, name)
    try:
        while not stopped:
            poke.clear()
            delay = LEADER_POLL_SECONDS
            outcome = await _finish_step(runtime, namespace, name, body, stopped) if runtime.leader.is_set() else None
            if outcome is not None:
                if outcome.gone:
                    return
                delay = IDLE_SECONDS if outcome.finished else RESYNC_SECONDS
                if outcome.wake_after is not None:
                    delay = min(delay, outcome.wake_after.total_seconds() + 0.1)
                if not outcome.finished and body.get("spec", {}).get("earlyStopping"):
                    delay = min(delay, runtime.follow_seconds)
            await _sleep(poke, stopped, delay)
    finally:
        runtime.pokes.pop((namespace, name), None)


async def _finish_step(
    runtime: Runtime, namespace: str, name: str, body: kopf.Body, stopped: kopf.DaemonStopped
) -> Outcome | None:
    """One reconcile whose Events are posted even if Kopf cancels the daemon meanwhile.

    A step that ends the task writes a status that no longer matches the daemon's filter, so Kopf
    stops the daemon, and cancels it after ``cancellation_timeout`` if the step is still under way
    (a loaded API server). The step's thread runs on regardless; its Events must not be lost.
    """
    step = asyncio.ensure_future(_reconcile(runtime, namespace, name, body, stopped))
    try:
        outcome = await asyncio.shield(step)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            _post(body, await step)
        raise
    _post(body, outcome)
    return outcome


def _post(body: kopf.Body, outcome: Outcome | None) -> None:
    for event in outcome.events if outcome is not None else []:
        # Kopf cuts a message over 1 KiB in its middle: a failure's last output stays.
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


async def _reconcile(
    runtime: Runtime, namespace: str, name: str, body: kopf.Body, stopped: kopf.DaemonStopped
) -> Outcome | None:
    """One reconcile, retried with exponential backoff and jitter until it succeeds.

    Level-based: each attempt re-reads everything, so any failure (an API error, a bug, a plugin
    that misbehaves) can be retried. None when the daemon stops or the replica stops leading first.
    """

    async def pause(seconds: float) -> None:
        await stopped.wait(seconds)  # not woken by pokes: the backoff holds whatever changes

    def given_up() -> bool:
        return bool(stopped) or not runtime.leader.is_set()

    retrying = AsyncRetrying(
        wait=wait_exponential_jitter(multiplier=RETRY_SECONDS, max=MAX_RETRY_SECONDS, jitter=RETRY_SECONDS),
        stop=lambda _: given_up(),
        sleep=pause,
        before_sleep=partial(_report_failure, runtime, namespace, name, body),
        reraise=True,
    )
    try:
        return await retrying(asyncio.to_thread, reconcile, runtime.kube, namespace, name)
    except Exception:
        if given_up():
            return None
        raise


async def _report_failure(runtime: Runtime, namespace: str, name: str, body: kopf.Body, state: RetryCallState) -> None:
    """Log a failed reconcile; unless it looks transient, show it on the task and in a Warning Event."""
    error = state.outcome.exception() if state.outcome is not None else None
    if error is None:
        return
    seconds = state.next_action.sleep if state.next_action is not None else 0.0
    telemetry.reconcile_failed(namespace, name, seconds)
    what = describe_error(error)
    if _transient(error) and state.attempt_number < QUIET_ATTEMPTS:
        log.info("reconcile of %s/%s failed (%s), retrying in %.1f s", namespace, name, what, seconds)
        return
    exc_info = None if _transient(error) else error  # a bug: its traceback goes to the log
    log.warning("reconcile of %s/%s failed (%s), retrying in %.1f s", namespace, name, what, seconds, exc_info=exc_info)
    message = f"Reconcile failed ({state.attempt_number} in a row): {what}. Retrying in {seconds:.0f} s."
    kopf.event(body, type="Warning", reason="ReconcileError", message=message)
    try:
        await asyncio.to_thread(record_error, runtime.kube, namespace, name, message)
    except Exception as failure:  # the API server may be what fails: the log and the Event must do
        log.warning("cannot record the failure on %s/%s: %s", namespace, name, describe_error(failure))


def _transient(error: BaseException) -> bool:
    """Whether an error is the kind a moment's wait usually cures (a conflict, an unavailable server)."""
    if isinstance(error, ApiException):
        return error.status in RETRIED_STATUSES
    return isinstance(error, urllib3.exceptions.HTTPError)


def describe_error(error: BaseException) -> str:
    """One line about a failure, for a condition and an Event."""
    if isinstance(error, ApiException):
        detail = error.reason or ""
        with contextlib.suppress(ValueError, AttributeError):  # a body that is not a Status
            detail = json.loads(error.body or "{}").get("message") or detail
        text = f"the API server answered {error.status}: {detail}"
    elif isinstance(error, urllib3.exceptions.HTTPError):
        text = f"the API server could not be reached: {error}"
    else:
        text = f"{type(error).__name__}: {error}"
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"


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


async def workload_changed(namespace: str | None, labels: kopf.Labels, memo: Any, **_: Any) -> None:
    """Wake the task of a trial workload whose state changed (queued, started, finished, deleted)."""
    runtime: Runtime | None = memo.get("runtime")
    task = labels.get(names.LABEL_TASK)
    if runtime is not None and namespace is not None and task:
        runtime.poke(namespace, task).set()


# One watch per workload kind this operator manages. Kopf resolves them once, at startup, through
# discovery: a kind whose CRD is not installed is not watched (its tasks are Valid=False anyway).
_ENABLED = _workload_kinds()
for _workload in REGISTRY.values():
    _qualified = f"{_workload.kind}.{_workload.group}"
    if _ENABLED is None or _qualified in _ENABLED:
        kopf.on.event(
            _workload.group,
            _workload.version,
            _workload.plural,
            labels={names.LABEL_TASK: kopf.PRESENT},
            id="job-changed" if _workload.kind == "Job" else f"{_workload.kind.lower()}-changed",
        )(workload_changed)
for _qualified in sorted((_ENABLED or set()) - {f"{w.kind}.{w.group}" for w in REGISTRY.values()}):
    _kind, _, _group = _qualified.partition(".")  # a kind described by CEL: found by kind, any version
    kopf.on.event(
        group=_group, kind=_kind, labels={names.LABEL_TASK: kopf.PRESENT}, id=f"{_qualified.lower()}-changed"
    )(workload_changed)


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
