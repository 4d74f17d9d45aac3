"""Which finished trials' runs are removed: the task's ``retainWorkloads`` policy (pure)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ..api import HPOTaskSpec, RetainPolicy, Trial
from . import ranking
from .stopping import is_active


def released(spec: HPOTaskSpec, trials: Sequence[Trial], ended: Collection[str]) -> list[str]:
    """Trials whose ended run (``ended``: its objects still exist) is no longer kept, in index order.

    Only a trial recorded as finished is released: its result is in its status by then, so its
    run's objects (a Job and its pods, with their logs) are no longer needed to know it.
    """
    policy = spec.retain_workloads
    if policy.policy is RetainPolicy.ALL or not ended:
        return []
    kept: set[str] = set()
    if policy.policy is RetainPolicy.BEST and policy.top_k:
        kept = {t.metadata.name or "" for t in ranking.ranked(spec, trials)[: policy.top_k]}
    return [
        name
        for t in sorted(trials, key=lambda t: t.spec.index)
        if (name := t.metadata.name or "") in ended and not is_active(t) and name not in kept
    ]
