"""The Pareto front of a multi-objective task, and how it is kept to a bounded size.

A trial is on the front when no other feasible succeeded trial is at least as good on every
objective and strictly better on one. A front larger than :data:`~kubetune.api.task.MAX_FRONT`
is thinned the way NSGA-II keeps a population spread: the extremes of every objective stay,
then the member with the smallest crowding distance (the size of the box its neighbours on
the front span, summed over the objectives, each scaled to the front's range) is removed, one
at a time, recomputing the distances; ties go to the later trial.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..api import Trial


@dataclass(frozen=True)
class Point:
    """A trial as the front sees it: its losses (lower is better on every axis)."""

    trial: Trial
    losses: tuple[float, ...]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether losses ``a`` are at least as good as ``b`` everywhere and better somewhere."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def front(points: Sequence[Point]) -> list[Point]:
    """The non-dominated points, in trial order; of equal losses, the earliest trial stays."""
    # Sorted by losses, a point can only be dominated by one before it, so each point is checked
    # against the front found so far: O(n * front size).
    ordered = sorted(points, key=lambda p: (p.losses, p.trial.spec.index))
    kept: list[Point] = []
    for point in ordered:
        if any(dominates(k.losses, point.losses) or k.losses == point.losses for k in kept):
            continue
        kept.append(point)
    return sorted(kept, key=lambda p: p.trial.spec.index)


def crowding_distances(points: Sequence[Point]) -> list[float]:
    """NSGA-II's crowding distance of each point of a front (infinite at each objective's extremes)."""
    n = len(points)
    distances = [0.0] * n
    if n <= 2:
        return [math.inf] * n
    for axis in range(len(points[0].losses)):
        order = sorted(range(n), key=lambda i: (points[i].losses[axis], points[i].trial.spec.index))
        low, high = points[order[0]].losses[axis], points[order[-1]].losses[axis]
        distances[order[0]] = distances[order[-1]] = math.inf
        span = high - low
        if span <= 0:
            continue
        for before, here, after in zip(order, order[1:], order[2:], strict=False):
            distances[here] += (points[after].losses[axis] - points[before].losses[axis]) / span
    return distances


def bounded(points: Sequence[Point], size: int) -> list[Point]:
    """At most ``size`` points of a front: the most crowded removed first, in trial order."""
    kept = list(points)
    while len(kept) > size:
        distances = crowding_distances(kept)
        worst = min(range(len(kept)), key=lambda i: (distances[i], -kept[i].trial.spec.index))
        del kept[worst]
    return kept
