"""The operator's in-memory view of its tasks' Trials, workloads and pods, fed by watch streams.

The API server stays the only source of truth: this view is what the watches delivered, kept
small (each object stripped to the fields the engine reads) and rebuilt after a restart from one
paged list per kind. A reconcile reads it instead of listing the cluster, so its cost follows the
task's active trials, not every trial it ever ran.

A watch lags behind the operator's own writes. :class:`Expectations` bridges that gap, as
controller-runtime's expectations do: what a reconcile wrote (a Trial's status, a created or
deleted workload, the task's status) is laid over the view until the watch shows it, so the next
reconcile never redoes a write whose event has not arrived yet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import names
from ..api import HPOTaskStatus, Trial, TrialCounts, TrialStatus, parse_trial
from ..errors import InvalidSpec

log = logging.getLogger(__name__)

EXPECTATION_SECONDS = 60.0
"""How long a write waits for its watch event before the view is trusted again (an event lost for good)."""


@dataclass(frozen=True)
class CachedTrial:
    """A Trial as the watch last showed it, parsed once when it arrived."""

    trial: Trial
    uid: str
    owners: frozenset[str]
    resource_version: str


OWNER_FIELDS = ("uid", "kind", "name")
"""What of an owner reference the workload adapters read (a RayJob's submitter pod is found by its Job's name)."""


def _meta(body: Mapping[str, Any], *, annotations: bool = False) -> dict[str, Any]:
    """The metadata kubetune reads: identity, labels, owners, deletion; never managedFields.

    Every label is kept: the workload adapters find a primary pod by the labels its controller
    set (JobSet's job index, the Training Operator's replica type, a custom kind's primary labels).
    """
    meta = body.get("metadata") or {}
    kept: dict[str, Any] = {
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "uid": meta.get("uid", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
        "creationTimestamp": meta.get("creationTimestamp", ""),
        "labels": dict(meta.get("labels") or {}),
        "ownerReferences": [{k: ref[k] for k in OWNER_FIELDS if k in ref} for ref in meta.get("ownerReferences") or []],
    }
    if meta.get("deletionTimestamp"):
        kept["deletionTimestamp"] = meta["deletionTimestamp"]
    if annotations and meta.get("annotations"):
        # The metrics annotation's key is the task's choice; the client's own bulky one is never needed.
        kept["annotations"] = {
            k: v for k, v in meta["annotations"].items() if k != "kubectl.kubernetes.io/last-applied-configuration"
        }
    return kept


def strip_trial(body: Mapping[str, Any]) -> CachedTrial | None:
    """A Trial from a watch event, parsed; None (logged) for one written by hand that does not parse."""
    meta = body.get("metadata") or {}
    try:
        # Only what the engine reads of the metadata: the model keeps any extra field it is given.
        slim = {k: meta.get(k) for k in ("name", "namespace", "uid") if meta.get(k)}
        labels = meta.get("labels") or {}
        slim["labels"] = {k: v for k, v in labels.items() if k in (names.LABEL_TASK, names.LABEL_TRIAL)}
        trial = parse_trial({k: v for k, v in body.items() if k != "metadata"} | {"metadata": slim})
    except InvalidSpec as error:
        log.warning("ignoring trial %s: %s", meta.get("name"), error)
        return None
    if trial.status is None:  # not written yet: Pending, as the engine records it
        trial = trial.model_copy(update={"status": TrialStatus()})
    owners = frozenset(str(ref.get("uid")) for ref in meta.get("ownerReferences") or [])
    return CachedTrial(trial, str(meta.get("uid", "")), owners, str(meta.get("resourceVersion", "")))


def strip_workload(body: Mapping[str, Any]) -> dict[str, Any]:
    """A workload without its pod templates: its status says how it runs, the Trial says what it runs.

    The rest of its spec stays, small as it is: the adapters read some of it (where ``suspend``
    is, a JobSet's first replicated Job, a Training Operator job's replica types).
    """
    return {
        "metadata": _meta(body),
        "spec": _without_pod_templates(body.get("spec") or {}),
        "status": body.get("status") or {},
    }


def _without_pod_templates(value: Any) -> Any:
    """``value`` with every pod template in it (a mapping whose ``spec`` has ``containers``) left out."""
    if isinstance(value, Mapping):
        return {k: _without_pod_templates(v) for k, v in value.items() if not _pod_template(v)}
    if isinstance(value, list):
        return [_without_pod_templates(v) for v in value if not _pod_template(v)]
    return value


def _pod_template(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("spec"), Mapping) and "containers" in value["spec"]


def strip_pod(body: Mapping[str, Any]) -> dict[str, Any]:
    """A pod reduced to its phase, start, annotations and container states (no spec, no conditions).

    Of an ended container: its exit code and its termination message (where ``metricsCollector``
    ``source: file`` finds the metrics; the kubelet caps it at 4 KiB).
    """
    status = body.get("status") or {}
    containers = []
    for container in status.get("containerStatuses") or []:
        entry: dict[str, Any] = {"name": container.get("name"), "restartCount": container.get("restartCount", 0)}
        for key in ("state", "lastState"):
            terminated = (container.get(key) or {}).get("terminated")
            entry[key] = {"terminated": _ended(terminated)} if terminated else {}
        containers.append(entry)
    kept: dict[str, Any] = {"phase": status.get("phase"), "containerStatuses": containers}
    # A native sidecar's restarts (the metrics-file follower's): its restarted log starts over.
    sidecars = [
        {"name": c.get("name"), "restartCount": c.get("restartCount", 0)}
        for c in status.get("initContainerStatuses") or []
    ]
    if sidecars:
        kept["initContainerStatuses"] = sidecars
    if status.get("startTime"):
        kept["startTime"] = status["startTime"]
    return {"metadata": _meta(body, annotations=True), "status": kept}


@dataclass(frozen=True)
class Snapshot:
    """What the watches hold for one task at one moment, copied out of the event loop."""

    trials: tuple[CachedTrial, ...] = ()
    workloads: tuple[dict[str, Any], ...] = ()
    pods: tuple[dict[str, Any], ...] = ()
    task_resource_version: str = ""
    workloads_uncached: bool = False
    """No watch holds the task's kind of workload (``workloads`` is empty): they are listed instead."""


def _newer(candidate: str, than: str) -> bool:
    """Whether resourceVersion ``candidate`` is at least ``than`` (etcd revisions are integers)."""
    if candidate.isdigit() and than.isdigit():
        return int(candidate) >= int(than)
    return candidate == than


@dataclass
class Expectations:
    """One task's own writes that its watches have not shown yet (thread-safe: reconciles run in threads)."""

    trials: dict[str, tuple[float, CachedTrial]] = field(default_factory=dict)
    created: dict[str, float] = field(default_factory=dict)
    """Trials this operator created that the watch has not shown yet."""
    started: dict[str, float] = field(default_factory=dict)
    deleted: dict[str, float] = field(default_factory=dict)
    status: tuple[float, str, HPOTaskStatus] | None = None
    """The status last written, until the watch shows it."""
    written: tuple[float, HPOTaskStatus] | None = None
    """The status last written, and when (kept after the watch showed it)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrote_trial(self, cached: CachedTrial, *, created: bool = False) -> None:
        """A Trial was created or its status written; ``cached`` carries the resourceVersion it got."""
        name = cached.trial.metadata.name or ""
        with self._lock:
            self.trials[name] = (time.monotonic(), cached)
            if created:
                self.created[name] = time.monotonic()

    def started_workload(self, name: str) -> None:
        """A trial's workload was created."""
        with self._lock:
            self.started[name] = time.monotonic()

    def deleted_workload(self, name: str) -> None:
        """A trial's workload was deleted."""
        with self._lock:
            self.started.pop(name, None)
            self.deleted[name] = time.monotonic()

    def wrote_status(self, resource_version: str, status: HPOTaskStatus) -> None:
        """The task's status was written and got ``resource_version``."""
        with self._lock:
            self.status = (time.monotonic(), resource_version, status)
            self.written = (self.status[0], status)

    def may_defer(self, status: HPOTaskStatus, interval: float) -> bool:
        """Whether ``status`` differs from the last one written only in counts, within ``interval`` of it."""
        with self._lock:
            if self.written is None or time.monotonic() - self.written[0] >= interval:
                return False
            return _without_counts(self.written[1]) == _without_counts(status)

    def task_status(self, seen_resource_version: str, seen: HPOTaskStatus | None) -> HPOTaskStatus | None:
        """The task's status: the one last written, until the watch shows it (or a later one)."""
        with self._lock:
            if self.status is None:
                return seen
            at, written, status = self.status
            if _newer(seen_resource_version, written) or time.monotonic() - at > EXPECTATION_SECONDS:
                self.status = None
                return seen
            return status

    def overlay(self, snapshot: Snapshot) -> tuple[list[CachedTrial], set[str], set[str]]:
        """The task's trials with its own unseen writes laid over, and the workloads started or deleted unseen."""
        now = time.monotonic()
        with self._lock:
            by_name = {c.trial.metadata.name or "": c for c in snapshot.trials}
            for name, (at, written) in list(self.trials.items()):
                seen = by_name.get(name)
                if now - at > EXPECTATION_SECONDS:
                    del self.trials[name]
                elif seen is None:
                    # Created and not shown yet: it exists. Shown before and gone now: deleted (by hand).
                    if name in self.created:
                        by_name[name] = written
                    else:
                        del self.trials[name]
                elif _newer(seen.resource_version, written.resource_version):
                    del self.trials[name]
                else:
                    by_name[name] = written
            shown = {c.trial.metadata.name for c in snapshot.trials}
            for name, at in list(self.created.items()):
                if name in shown or now - at > EXPECTATION_SECONDS:
                    del self.created[name]
            present = {w["metadata"]["name"] for w in snapshot.workloads if not w["metadata"].get("deletionTimestamp")}
            for name, at in list(self.started.items()):
                if name in present or now - at > EXPECTATION_SECONDS:
                    del self.started[name]
            for name, at in list(self.deleted.items()):
                if name not in present or now - at > EXPECTATION_SECONDS:
                    del self.deleted[name]
            return list(by_name.values()), set(self.started), set(self.deleted)


def _without_counts(status: HPOTaskStatus) -> HPOTaskStatus:
    """A status with what changes as trials come and go blanked: counts, progress, best (or Pareto
    front), GPU-hours used, messages.

    Not ``trials.created``: it is what keeps an index from being used twice, so it is written at once.
    """
    conditions = [c.model_copy(update={"message": ""}) for c in status.conditions]
    counts = TrialCounts(created=status.trials.created)
    blank = {
        "trials": counts,
        "progress": None,
        "message": None,
        "best_trial": None,
        "pareto_front": [],
        "front_size": None,
        "gpu_hours": None,
        "conditions": conditions,
    }
    return status.model_copy(update=blank)


def _ended(terminated: Mapping[str, Any]) -> dict[str, Any]:
    return {k: terminated[k] for k in ("exitCode", "message") if k in terminated}
