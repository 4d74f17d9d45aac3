"""Which workload kinds the operator watches: those ``KUBETUNE_WORKLOAD_KINDS`` lists, that it may
list and watch (its RBAC), decided as it starts."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import kopf
from kubernetes.client.exceptions import ApiException

from ..executors.client import Kube, qualified_kind
from ..executors.workload import REGISTRY

log = logging.getLogger(__name__)


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


def watchable(kube: Kube, kinds: Sequence[WatchedKind], scopes: Sequence[str | None]) -> list[WatchedKind]:
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
