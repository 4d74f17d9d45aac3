"""Kopf wiring: one daemon per HPOTask, woken by its Jobs and by spec changes; settings; leadership.

Everything durable is in the cluster. In memory there are only a client, a poke per task, the
log cursors of running trials and the leadership flag: all rebuilt after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import kopf
import urllib3
from kubernetes.client.exceptions import ApiException
from tenacity import AsyncRetrying, RetryCallState, wait_exponential_jitter

from .. import engine, names
from ..api import TaskPhase
from ..executors.cache import CachedTrial, Expectations, Snapshot, strip_pod, strip_trial, strip_workload
from ..executors.kube import Kube, operator_client, own_namespace, qualified_kind, transient
from ..executors.workload import DEFAULT_KINDS, REGISTRY
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
RECONCILERS = 32
"""Reconciles running at once (threads): most of a reconcile waits on the API server, and asyncio's
default pool (CPUs + 4 threads) made ten busy tasks queue behind each other."""
EVENT_BURST = 25
"""Normal Events about trials a task posts at once before the budget below applies."""
EVENT_REFILL_SECONDS = 5.0
"""After a burst, one more Normal Event about trials per this many seconds (the rest are dropped)."""
LIST_CHUNK = 500
"""Objects per page of the list that fills the watch cache at start (``limit``/``continue``)."""
WORKLOAD_KINDS_ENV = "KUBETUNE_WORKLOAD_KINDS"
"""The workload kinds to manage (the chart's ``workloadKinds``), as ``Kind.group``, comma-separated."""

TRIALS = (names.GROUP, names.VERSION, names.TRIAL_PLURAL)
PODS = ("v1", "pods")
OF_A_TASK = {names.LABEL_TASK: kopf.PRESENT}


@dataclass
class Options:
    """How the operator runs; from ``kubetune operator`` flags or the environment."""

    leader_election: bool = True
    lease_name: str = "kubetune-operator"
    lease_namespace: str | None = None
    """Where the Lease is: the operator's own namespace (None: unknown, the operator refuses to start)."""
    follow_seconds: float = 5.0
    """While early stopping needs intermediate metrics: seconds between two reads of a running trial's log."""
    identity: str = field(default_factory=lambda: os.environ.get("POD_NAME") or f"kubetune-{uuid.uuid4().hex[:8]}")
    workload_kinds: frozenset[str] = DEFAULT_KINDS
    """The workload kinds to manage, as ``Kind.group`` (the chart's ``workloadKinds``)."""
    namespaces: tuple[str, ...] = ()
    """The namespaces the operator serves; empty: the whole cluster (or not told: then its access to a
    workload kind is checked cluster-wide)."""

    @classmethod
    def from_env(
        cls, *, leader_election: bool | None = None, lease_name: str | None = None, lease_namespace: str | None = None
    ) -> Options:
        """Options as the Deployment's environment gives them; a flag that was given wins over it.

        The Lease's namespace: the flag, else POD_NAMESPACE (the Deployment sets it), else the
        namespace of the pod's service account, else that of the kubeconfig's current context.
        Never ``default`` by guess: the chart's RBAC grants Leases in the operator's namespace only.
        """
        defaults = cls()
        if leader_election is None:
            leader_election = os.environ.get("KUBETUNE_LEADER_ELECTION", "true").lower() != "false"
        return cls(
            leader_election=leader_election,
            lease_name=lease_name or os.environ.get("KUBETUNE_LEASE_NAME", defaults.lease_name),
            lease_namespace=lease_namespace or os.environ.get("POD_NAMESPACE") or own_namespace(),
            follow_seconds=float(os.environ.get("KUBETUNE_FOLLOW_SECONDS", defaults.follow_seconds)),
            workload_kinds=_workload_kinds(),
        )


def _workload_kinds() -> frozenset[str]:
    """``KUBETUNE_WORKLOAD_KINDS``: comma-separated ``Kind.group`` names (``Job.batch,JobSet.jobset.x-k8s.io``);
    unset, the chart's default list (never "every kind kubetune knows": the chart grants only those)."""
    text = os.environ.get(WORKLOAD_KINDS_ENV)
    return DEFAULT_KINDS if text is None else frozenset(k.strip() for k in text.split(",") if k.strip())


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


@dataclass
class EventBudget:
    """How many Normal Events about trials a task may still post: a burst, then a slow refill.

    Kubernetes' own event recorder (client-go's spam filter) limits each object's Events the same
    way. Without it a 2,000-trial task posted two Events per trial (created, succeeded), a quarter
    of its API requests. Warnings and the Events about the task itself (finished, invalid, stopped
    by the user) are always posted; every trial's outcome stays in its Trial object.
    """

    tokens: float = EVENT_BURST
    at: float = field(default_factory=time.monotonic)

    def allows(self, event: engine.Event) -> bool:
        if event.type == "Warning" or (event.trial is None and event.reason != "TrialsCreated"):
            return True
        now = time.monotonic()
        self.tokens = min(float(EVENT_BURST), self.tokens + (now - self.at) / EVENT_REFILL_SECONDS)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class Runtime:
    """What the handlers share, kept in Kopf's memo."""

    kube: Kube
    leader: threading.Event
    follow_seconds: float
    stop: threading.Event = field(default_factory=threading.Event)
    pokes: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)
    lease_problem: str | None = None
    """Why the Lease cannot be read, while it cannot: /healthz fails meanwhile."""
    expectations: dict[tuple[str, str], Expectations] = field(default_factory=dict)
    watched: frozenset[str] = frozenset()
    """The workload kinds (``Kind.group``) whose watch fills the cache: those listed, granted and served
    when the operator started. Another kind's workloads are listed at each reconcile instead."""
    reconcilers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(RECONCILERS, thread_name_prefix="kubetune-reconcile")
    )

    def poke(self, namespace: str, name: str) -> asyncio.Event:
        """The event that wakes one task's daemon."""
        return self.pokes.setdefault((namespace, name), asyncio.Event())


def elect(runtime: Runtime, options: Options, stop: threading.Event) -> None:
    """Hold the Lease while this replica leads; only the leader reconciles (runs in a thread)."""
    from kubernetes.leaderelection import electionconfig, leaderelection  # noqa: PLC0415
    from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock  # noqa: PLC0415

    class CheckedLease(LeaseLock):
        """The client's Lease lock, which logs read failures at INFO and retries forever: say it loudly."""

        def get(self, name: str, namespace: str) -> tuple[bool, Any]:
            found, record = super().get(name, namespace)
            status = getattr(record, "status", None)
            if found or status == 404:  # absent: it is created next
                runtime.lease_problem = None
            else:
                problem = f"cannot read the Lease {namespace}/{name}: {status} {getattr(record, 'reason', record)}"
                if runtime.lease_problem != problem:
                    log.error("%s; this replica cannot lead (see --lease-namespace and the RBAC)", problem)
                runtime.lease_problem = problem
            return found, record

    lock = CheckedLease(options.lease_name, options.lease_namespace, options.identity)
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
    watched = _watchable(kube, listed(options.workload_kinds), scopes)
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
    step = asyncio.ensure_future(_reconcile(runtime, namespace, name, body, stopped, state, expectations))
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


async def _reconcile(
    runtime: Runtime,
    namespace: str,
    name: str,
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    state: Callable[[], tuple[dict[str, Any], Snapshot]],
    expectations: Expectations,
) -> Outcome | None:
    """One reconcile, retried with exponential backoff and jitter until it succeeds.

    Level-based: each attempt starts from the task and the cache as they are then, so any failure
    (an API error, a bug, a plugin that misbehaves) can be retried. None when the daemon stops or
    the replica stops leading first.
    """

    async def attempt() -> Outcome:
        task, snapshot = state()
        work = partial(reconcile, runtime.kube, task, snapshot, expectations)
        return await asyncio.get_running_loop().run_in_executor(runtime.reconcilers, work)

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
        return await retrying(attempt)
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
    if transient(error) and state.attempt_number < QUIET_ATTEMPTS:
        log.info("reconcile of %s/%s failed (%s), retrying in %.1f s", namespace, name, what, seconds)
        return
    exc_info = None if transient(error) else error  # a bug: its traceback goes to the log
    log.warning("reconcile of %s/%s failed (%s), retrying in %.1f s", namespace, name, what, seconds, exc_info=exc_info)
    message = f"Reconcile failed ({state.attempt_number} in a row): {what}. Retrying in {seconds:.0f} s."
    kopf.event(body, type="Warning", reason="ReconcileError", message=message)
    try:
        await asyncio.to_thread(record_error, runtime.kube, namespace, name, message)
    except Exception as failure:  # the API server may be what fails: the log and the Event must do
        log.warning("cannot record the failure on %s/%s: %s", namespace, name, describe_error(failure))


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


@dataclass(frozen=True)
class WatchedKind:
    """A workload kind the operator manages, as ``KUBETUNE_WORKLOAD_KINDS`` lists it."""

    qualified: str
    """``Kind.group``, as ``workloadKinds`` names it."""
    group: str
    kind: str
    version: str | None = None
    """None: a kind described by CEL, watched by kind in whichever version the API server prefers."""
    plural: str | None = None
    """None: a kind described by CEL that the API server did not serve when the operator started."""

    @property
    def api_version(self) -> str | None:
        """GROUP/VERSION of a known kind."""
        return f"{self.group}/{self.version}" if self.version else None

    @property
    def known(self) -> bool:
        """Whether kubetune has an adapter for the kind (its workloads are cached), rather than CEL conditions."""
        return any(qualified_kind(w.api_version, w.kind) == self.qualified for w in REGISTRY.values())

    @property
    def selector(self) -> tuple[str, str] | tuple[str, str, str]:
        """Kopf's resource selector, for its settings: group, version and plural; group and kind for another."""
        return (self.group, self.version, self.plural or "") if self.known and self.version else (self.group, self.kind)

    def served(self, kube: Kube) -> bool:
        """Whether the kind is cached: known, and served now (as Kopf's discovery finds it when it starts)."""
        if not self.known or self.api_version is None:
            return False
        try:
            return kube.plural(self.api_version, self.kind) is not None
        except ApiException as error:
            log.warning("cannot discover %s: %s; its workloads are listed at each reconcile", self.qualified, error)
            return False


def listed(kinds: Iterable[str]) -> list[WatchedKind]:
    """The kinds ``KUBETUNE_WORKLOAD_KINDS`` lists: a known one with its resource, another by group and kind."""
    known = {qualified_kind(w.api_version, w.kind): w for w in REGISTRY.values()}
    found = []
    for qualified in sorted(kinds):
        workload = known.get(qualified)
        if workload is not None:
            found.append(WatchedKind(qualified, workload.group, workload.kind, workload.version, workload.plural))
        else:
            kind, _, group = qualified.partition(".")
            found.append(WatchedKind(qualified, group, kind))
    return found


def _watchable(kube: Kube, kinds: Sequence[WatchedKind], scopes: Sequence[str | None]) -> list[WatchedKind]:
    """The listed kinds Kopf may watch: those this operator may list and watch in every scope it serves.

    Kopf ends the operator when a watch is refused (after retrying it), so a listed kind that the
    RBAC does not grant (the chart's values and the environment disagree) is not watched: its tasks
    say so in one line (``Kube.refused``) and every other task carries on. The authorizer is asked
    (a SelfSubjectAccessReview), so the answer holds for a kind whose CRD is not installed yet.
    """
    allowed = []
    for kind in kinds:
        resource = (kind.version, kind.plural) if kind.plural else kube.preferred(kind.group, kind.kind)
        if resource is None:
            log.info("%s is not served: its workloads are listed at each reconcile once it is", kind.qualified)
            continue
        version, plural = resource
        try:
            refused = kube.may_watch(kind.group, plural, scopes)
        except ApiException as error:  # no answer: not watched, and not refused (a request may still work)
            log.warning("cannot ask whether %s may be watched: %s; it is not watched", kind.qualified, error)
            continue
        if refused is None:
            allowed.append(replace(kind, version=kind.version or version, plural=plural))
            continue
        why = (
            f"the operator may not watch {plural}.{kind.group} (its RBAC refuses {refused}): grant it in the "
            "chart's workloadKinds, which sets both the RBAC and KUBETUNE_WORKLOAD_KINDS"
        )
        log.error("%s; its tasks wait, the others carry on", why)
        kube.refused[kind.qualified] = why
    return allowed


class WorkloadWatches:
    """Which workload resources Kopf watches: the kinds listed and granted, decided as the operator starts.

    Kopf needs its handlers before it starts (it creates their indices first), but the kinds are
    known only then, from ``KUBETUNE_WORKLOAD_KINDS`` and the RBAC. So the two handlers below are
    registered once, at import, with a selector that is a method of this object, and Kopf asks it
    about each resource it discovers, after the startup handler has filled it. A kind not listed is
    never watched, even where its CRD is installed.
    """

    def __init__(self) -> None:
        self.cached: frozenset[tuple[str, str, str]] = frozenset()
        """Known kinds, as (group, version, plural): their workloads fill an index."""
        self.woken: frozenset[tuple[str, str]] = frozenset()
        """Kinds described by CEL, as (group, kind): their events only wake their tasks."""

    def watch(self, kinds: Iterable[WatchedKind]) -> None:
        """Watch these kinds from now on (set as the operator starts, before Kopf's first scan)."""
        kinds = list(kinds)
        self.cached = frozenset((k.group, k.version, k.plural) for k in kinds if k.known and k.version and k.plural)
        self.woken = frozenset((k.group, k.kind) for k in kinds if not k.known)

    def indexes(self, resource: kopf.Resource) -> bool:
        """Whether Kopf caches this resource's workloads."""
        return (resource.group, resource.version, resource.plural) in self.cached

    def wakes(self, resource: kopf.Resource) -> bool:
        """Whether Kopf watches this resource to wake the tasks of its workloads."""
        return self.indexes(resource) or (resource.preferred and (resource.group, resource.kind) in self.woken)

    def __repr__(self) -> str:  # Kopf's warnings name a selector by it
        names_ = sorted(f"{p}.{g}/{v}" for g, v, p in self.cached) + sorted(f"{k}.{g}" for g, k in self.woken)
        return f"the workload kinds listed and granted ({', '.join(names_) or 'none'})"


WORKLOADS = WorkloadWatches()


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
