"""Reading a request's history the way model-based algorithms need it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .base import Assignment, Observation, SearchRequest, TrialState
from .space import SearchSpace


@dataclass(frozen=True)
class Point:
    """A completed trial as a model sees it: model coordinates and a finite loss."""

    index: int
    coordinates: tuple[float, ...]
    value: float


def assigned_keys(space: SearchSpace, request: SearchRequest) -> set[tuple[float, ...]]:
    """Identities of every assignment already made, finished or pending."""
    params: list[Assignment] = [o.params for o in request.history] + [p.params for p in request.pending]
    # encode_many gives exactly the keys of space.key, a dimension at a time (long histories).
    return {key for key in space.encode_many(params) if key is not None}


def completed_points(space: SearchSpace, history: Sequence[Observation]) -> list[Point]:
    """Completed trials with a finite loss that fit the space; failed and stopped ones are left out."""
    points = []
    for observation in history:
        if observation.state is not TrialState.COMPLETE or observation.value is None:
            continue
        if not math.isfinite(observation.value):
            continue
        coordinates = space.encode(observation.params)
        if coordinates is not None:
            points.append(Point(observation.index, coordinates, observation.value))
    return points


def window(points: Sequence[Point], size: int) -> list[Point]:
    """At most ``size`` points: the best half and the most recent rest, in index order.

    The best points keep the model accurate where the optimum is; the recent ones keep it
    accurate where the search is now. Fitting cost grows as the cube of the point count.
    """
    if len(points) <= size:
        return list(points)
    best = sorted(points, key=lambda p: (p.value, p.index))[: size // 2]
    chosen = {p.index for p in best}
    recent = [p for p in reversed(points) if p.index not in chosen][: size - len(best)]
    return sorted([*best, *recent], key=lambda p: p.index)
