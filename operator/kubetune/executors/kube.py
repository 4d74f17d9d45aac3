"""Trials as Kubernetes workloads: :class:`KubeExecutor` is one task's ``engine.Executor``, on
top of the API client (:class:`~kubetune.executors.client.Kube`), and :func:`view` is what the
watch cache holds of one task. Neither decides: the step loop in ``engine.driver`` does. What a
workload's status means, how it is rendered and how a pod's log is followed live in ``workload``,
``facts``, ``rendering`` and ``pod_logs``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from .. import engine
from ..api import (
    HPOTask,
    HPOTaskStatus,
    Trial,
    TrialPhase,
    TrialStatus,
    kinds,
)
from ..metrics import MetricsReading
from . import clock
from .cache import CachedTrial, Expectations, Snapshot
from .client import Kube, owned_by_one_of
from .facts import parse_time, pod_running
from .workload import JOB, Workload

log = logging.getLogger(__name__)

POD_LAG_SECONDS = 10.0
"""How long a finished Job waits for its pod's end to show in the cache before it is taken without it."""
STATUS_INTERVAL = 1.0
"""Seconds a task status whose only changes are counts (progress, active trials, best) may wait: at
most one such write per interval, however many trials end in it. Phase and condition changes are
written at once."""


@dataclass
class Cluster:
    """What the cache holds for one task, with the operator's own unseen writes laid over it."""

    trials: list[Trial]
    trial_uids: dict[str, str]
    workloads: dict[str, Mapping[str, Any]]
    """Each trial's workload, by trial name (those being deleted left out)."""
    pods: dict[str, Mapping[str, Any]]
    """The newest pod of each trial's workload, by trial name."""
    starting: set[str]
    """Trials whose workload this operator created and the watch has not shown yet."""


def view(snapshot: Snapshot, expectations: Expectations, task_uid: str, workload: Workload = JOB) -> Cluster:
    """One task's trials, workloads and primary pods from the cache: no request to the API server.

    Selected by owner: a task deleted and created again under the same name must not adopt the
    old task's objects while the garbage collector removes them.
    """
    cached, starting, deleted = expectations.overlay(snapshot)
    trials, uids = [], {}
    for entry in cached:
        if task_uid in entry.owners:
            trials.append(entry.trial)
            uids[entry.trial.metadata.name or ""] = entry.uid
    trial_uids = set(uids.values())
    workloads: dict[str, Mapping[str, Any]] = {
        w["metadata"]["name"]: w
        for w in snapshot.workloads
        if owned_by_one_of(w, trial_uids)
        and not w["metadata"].get("deletionTimestamp")
        and w["metadata"]["name"] not in deleted
    }
    pods = primary_pods(workload, snapshot.pods, workloads)
    return Cluster(sorted(trials, key=lambda t: t.spec.index), uids, workloads, pods, starting - set(workloads))


def primary_pods(
    workload: Workload, pods: Sequence[Mapping[str, Any]], workloads: Mapping[str, Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    """The newest primary pod of each trial's workload, by trial name, as the kind's adapter picks it."""
    found: dict[str, Mapping[str, Any]] = {}
    for pod in pods:
        trial = workload.trial_of(pod) or ""
        obj = workloads.get(trial)
        if obj is None or not workload.is_primary(pod, obj):
            continue  # another replica's pod, or a pod of a workload that is gone
        known = found.get(trial)
        if known is None or pod["metadata"]["creationTimestamp"] > known["metadata"]["creationTimestamp"]:
            found[trial] = pod
    return found


def _pod_ended(pod: Mapping[str, Any] | None) -> bool:
    """Whether the cache shows the pod succeeded or failed."""
    return pod is not None and (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _long_ago(workload: Mapping[str, Any]) -> bool:
    """Whether a finished workload ended more than POD_LAG_SECONDS ago (its pod may never be seen)."""
    status = workload.get("status") or {}
    # A Job's completionTime, a RayJob's endTime, an Argo Workflow's finishedAt, else the latest condition's change.
    ended = parse_time(status.get("completionTime") or status.get("endTime") or status.get("finishedAt")) or max(
        (t for c in status.get("conditions") or [] if (t := parse_time(c.get("lastTransitionTime")))), default=None
    )
    return ended is None or (clock() - ended).total_seconds() > POD_LAG_SECONDS


@dataclass
class KubeExecutor:
    """One task's executor on a cluster: trials are Trial objects, their runs workloads.

    It reads the task's objects from the watch cache (``snapshot``) and tells ``expectations``
    about every write, so that the next reconcile sees them before their watch events arrive.
    """

    kube: Kube
    task: HPOTask
    body: Mapping[str, Any]
    """The task object as stored: its Trials' owner references are built from it."""
    snapshot: Snapshot
    expectations: Expectations
    workload: Workload = JOB
    deferred: bool = False
    """The task's new status was held back (counts only): the next reconcile must come within STATUS_INTERVAL."""
    _uids: dict[str, str] = field(default_factory=dict)
    _ended: frozenset[str] = frozenset()
    _chains: dict[str, Future[None]] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        """The task's namespace."""
        return str(self.body["metadata"]["namespace"])

    def read(self) -> engine.World:
        """The task's trials, and the facts of the active ones' workloads and pods (from the cache)."""
        cluster = view(self._uncached(self.snapshot), self.expectations, self.task.metadata.uid or "", self.workload)
        self._uids = dict(cluster.trial_uids)
        follow = self.task.spec.early_stopping is not None
        facts: dict[str, engine.RunFact] = {}
        live: set[str] = set()
        ended: set[str] = set()
        observed: list[tuple[str, Mapping[str, Any], Mapping[str, Any] | None, bool]] = []
        recorded_status: dict[str, TrialStatus] = {}
        for trial in cluster.trials:
            trial_name = trial.metadata.name or ""
            obj = cluster.workloads.get(trial_name)
            done = obj is not None and self.workload.finished(obj)
            if obj is not None:
                (ended if done else live).add(trial_name)
            if not engine.is_active(trial):
                continue
            if obj is None:
                absent = self._without_workload(trial, trial_name in cluster.starting)
                if absent is not None:
                    facts[trial_name] = absent
                continue
            if self.workload.queued(obj):
                facts[trial_name] = engine.RunFact(engine.RunState.QUEUED, job_name=trial_name)
                continue
            pod = cluster.pods.get(trial_name)
            if done and not _pod_ended(pod) and not _long_ago(obj):
                # The Job's watch can run ahead of the pods': its end is taken when its pod's end is
                # seen too (the pod's event wakes the task), so that its log is read, never skipped.
                status = trial.status or TrialStatus()
                state = engine.RunState.RUNNING if status.phase is TrialPhase.RUNNING else engine.RunState.WAITING
                facts[trial_name] = engine.RunFact(state, started_at=status.start_time, job_name=status.job_name)
                continue
            observed.append((trial_name, obj, pod, done))
            if trial.status is not None:
                recorded_status[trial_name] = trial.status

        def fact(item: tuple[str, Mapping[str, Any], Mapping[str, Any] | None, bool]) -> engine.RunFact:
            trial_name, obj, pod, done = item
            reading = MetricsReading()
            if pod is not None and (done or (pod_running(pod) and follow)):
                reading = self.kube.metrics(self.task, trial_name, pod, final=done, workload=self.workload)
            found = self.workload.fact(trial_name, obj, pod, reading)
            if found.state is engine.RunState.FAILED and pod is not None:
                found = self._with_output(found, trial_name, pod)
            recorded = recorded_status.get(trial_name)
            if found.state is engine.RunState.WAITING and recorded is not None and recorded.phase is TrialPhase.RUNNING:
                # The pods' watch may lag behind the status recorded from it: a running trial stays running.
                found = engine.RunFact(
                    engine.RunState.RUNNING, started_at=recorded.start_time, job_name=recorded.job_name
                )
            return replace(found, gpus=gpus)

        gpus = self.task.spec.trial_template.requested_gpus()
        # The logs of the trials that ended are read side by side: each read waits on the API server.
        for item, found in zip(observed, self.kube.pool.map(fact, observed), strict=True):
            facts[item[0]] = found
        self._ended = frozenset(ended)
        self._expire(cluster)
        return engine.World(cluster.trials, facts, frozenset(live), warm=self._warm(), ended=self._ended)

    def _expire(self, cluster: Cluster) -> None:
        """Give the kept workloads of recorded trials their grace period (``retainWorkloads.keepFor``).

        Level-based: any finished trial whose workload lacks it gets it, however a step was
        interrupted; only once the trial's end is recorded, so that its result is never lost.
        """
        ttl = self._ttl()
        if ttl is None:
            return
        loc, patch = ttl
        for trial in cluster.trials:
            name = trial.metadata.name or ""
            obj = cluster.workloads.get(name)
            if engine.is_active(trial) or obj is None or not self.workload.finished(obj):
                continue
            if kinds.at(obj, loc) != kinds.at(patch, loc):
                self._then(name, partial(self.kube.patch_workload, self.workload, self.namespace, name, patch))

    def _ttl(self) -> tuple[tuple[str, ...], dict[str, Any]] | None:
        """Where the workload's TTL is and the merge patch that sets it to ``keepFor`` (None: no grace period)."""
        keep_for = self.task.spec.retain_workloads.keep_for
        known = self.task.spec.trial_template.known()
        if keep_for is None or known is None or known.ttl is None or self.workload.kind in self.kube.unpatchable:
            return None
        patch: dict[str, Any] = {known.ttl[-1]: max(0, math.ceil(keep_for.total_seconds()))}
        loc = ("spec", *known.ttl)
        for key in reversed(loc[:-1]):
            patch = {key: patch}
        return loc, patch

    def _without_workload(self, trial: Trial, starting: bool) -> engine.RunFact | None:
        """The fact of an active trial whose workload is not there; None: never created, so it is now."""
        status = trial.status
        if starting:  # created by this operator, not shown by the watch yet
            return engine.RunFact(engine.RunState.WAITING)
        if status is not None and (status.job_name is not None or status.start_time is not None):
            # It was seen, so someone deleted it: the trial stops rather than run again.
            kind, name = self.workload.kind, trial.metadata.name
            detail = f"The {kind} {name} was deleted before the trial finished; it is not run again."
            return engine.RunFact(engine.RunState.DELETED, detail=detail)
        return None  # never seen: not created yet (a step was interrupted)

    def _warm(self) -> list[engine.WarmSource] | None:
        """The tasks a warm start names, read from the API server (None once the task is finished)."""
        spec = self.task.spec
        if not spec.warm_start or not spec.warm_start.tasks:
            return []
        if self.task.status is not None and self.task.status.phase.finished:
            return None
        return self.kube.read_tasks(self.namespace, spec.warm_start.tasks)

    def _uncached(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot, with what the watches do not hold for this task's kind read from the API server.

        Workloads of a kind with no watch (not listed in ``workloadKinds``, or not installed when
        the operator started) and pods that do not carry kubetune's labels (a TrainJob's come from
        its runtime, a RayJob's submitter from KubeRay) are listed, those of the live workloads only.
        """
        workloads = snapshot.workloads
        if snapshot.workloads_uncached:
            workloads = tuple(self.kube.list_workloads(self.workload, self.namespace, self.task.metadata.name or ""))
        pods = snapshot.pods
        if not self.workload.labelled_pods:
            active = {c.trial.metadata.name for c in snapshot.trials if engine.is_active(c.trial)}
            wanted = [w["metadata"]["name"] for w in workloads if w["metadata"]["name"] in active]
            pods = tuple(self.kube.list_pods(self.workload, self.namespace, self.task.metadata.name or "", wanted))
        return replace(snapshot, workloads=workloads, pods=pods, workloads_uncached=False)

    # Writes go to a pool of threads, one chain per trial: a trial's writes keep their order (its
    # record before its action, as engine.step orders them, and an action is dropped if its record
    # failed), while different trials' writes overlap. ``flush`` waits for them all and raises the
    # first failure; the task's status is written only after every trial write before it is done.

    def _then(self, name: str, work: Callable[[], None]) -> None:
        """Run ``work`` after the earlier writes of trial ``name`` succeeded."""
        before = self._chains.get(name)

        def run() -> None:
            if before is not None:
                before.result()  # submitted earlier, so already taken by a worker: no deadlock
            work()

        self._chains[name] = self.kube.pool.submit(run)

    def flush(self) -> None:
        """Wait for every write of this step; raise the first that failed."""
        chains, self._chains = list(self._chains.values()), {}
        errors = [f.exception() for f in chains]
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first

    def _with_output(self, fact: engine.RunFact, trial: str, pod: Mapping[str, Any]) -> engine.RunFact:
        """A failure's detail with the last lines of the trial's output, and the command that shows the rest."""
        container = self.workload.log_container(self.task)
        output = self.kube.log_tail(self.namespace, pod["metadata"]["name"], container)
        # A Job's log outlives its pods' names (kubectl picks the pod); other kinds name the pod.
        target = f"job/{trial}" if self.workload.kind == "Job" else pod["metadata"]["name"]
        where = f"full log: kubectl logs -n {self.namespace} {target}"
        if container:
            where += f" -c {container}"
        return replace(fact, detail=engine.with_last_output(fact.detail, output, where))

    def record_trial(self, trial: Trial) -> Trial:
        """Create a new Trial, or write the status of a known one."""
        name = trial.metadata.name or ""
        owners = frozenset({self.task.metadata.uid or ""})
        if name not in self._uids:
            self._uids[name] = ""  # known from now on; its uid comes with the answer

            def create() -> None:
                stored = self.kube.create_trial(self.body, trial)
                self._uids[name] = stored.uid
                self.expectations.wrote_trial(stored, created=True)

            self._then(name, create)
            return trial

        def patch() -> None:
            version = self.kube.patch_trial_status(self.namespace, name, trial.status or TrialStatus())
            self.expectations.wrote_trial(CachedTrial(trial, self._uids[name], owners, version))
            if trial.status is not None and trial.status.phase.finished:
                self.kube.forget(self.namespace, name)
                ttl = self._ttl()
                if ttl is not None:  # recorded: its workload may now go after the grace period
                    self.kube.patch_workload(self.workload, self.namespace, name, ttl[1])

        self._then(name, patch)
        return trial

    def start(self, trial: Trial) -> None:
        """Create the trial's workload."""
        name = trial.metadata.name or ""

        def create() -> None:
            self.kube.create_workload(self.workload, self.task, self.namespace, trial, self._uids[name])
            self.expectations.started_workload(name)

        self._then(name, create)

    def stop(self, trial: Trial) -> None:
        """Delete the trial's workload (a running one's pods first)."""
        name = trial.metadata.name or ""
        finished = name in self._ended

        def delete() -> None:
            self.kube.delete_workload(self.workload, self.namespace, name, finished=finished)
            self.expectations.deleted_workload(name)

        self._then(name, delete)

    def record_status(self, status: HPOTaskStatus) -> None:
        """Write the task's status; one whose only news are counts waits up to STATUS_INTERVAL (``deferred``)."""
        if self.expectations.may_defer(status, STATUS_INTERVAL):
            self.deferred = True
            return
        self.flush()
        version = self.kube.patch_task_status(self.namespace, self.task.metadata.name or "", status)
        self.expectations.wrote_status(version, status)
