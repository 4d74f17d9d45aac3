"""grid: every combination of the parameters' grid values, in a stable order, each exactly once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..api import ParamValue
from ..api.algorithms import GridOrder
from .base import Proposal, SearchRequest, Suggestion
from .history import assigned_keys
from .seeding import fixed_rng
from .space import SearchSpace

_ORDER_SALT = 0x67726964  # "grid": keeps the permutation's draw apart from other uses of the seed


@dataclass(frozen=True)
class GridSearch:
    """Visits the grid in order (the last parameter varies fastest, or a seeded random order),
    skipping assigned points.

    A range is split by its step, or into ``points_per_dimension`` values evenly spaced on its
    scale (default 10 for a double range without a step; every integer for an int range).
    """

    space: SearchSpace
    points_per_dimension: int | None = None
    order: GridOrder = GridOrder.SEQUENTIAL

    def suggest(self, request: SearchRequest) -> Proposal:
        """The next unassigned grid points; exhausted once every point is assigned."""
        taken = assigned_keys(self.space, request)
        suggestions: list[Suggestion] = []
        points: Iterable[dict[str, ParamValue]] = self.space.grid(self.points_per_dimension)
        if self.order is GridOrder.RANDOM:
            # One permutation per task (the seed alone, not the history), so every call walks the
            # same order and skips what is assigned: a random unvisited point each time, as
            # Optuna's GridSampler picks, rebuilt from nothing. (In order, the walk stops early.)
            listed = list(points)
            points = [listed[i] for i in fixed_rng(request.seed, _ORDER_SALT).permutation(len(listed))]
        for params in points:
            if self.space.key(params) in taken:
                continue
            if len(suggestions) == request.count:
                return Proposal(suggestions)  # an unassigned point remains for a later call
            suggestions.append(Suggestion(params))
        total = self.space.grid_size(self.points_per_dimension)
        reason = "" if len(suggestions) == request.count else f"All {total} grid points are assigned."
        return Proposal(suggestions, exhausted=True, reason=reason)
