"""random: independent uniform draws from the unit cube (log-uniform on log ranges)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ..api import ParamValue
from .base import Proposal, SearchRequest, Suggestion
from .history import assigned_keys
from .seeding import call_rng
from .space import SearchSpace

_TRIES = 64
"""Draws tried per suggestion to avoid an assignment already made."""

ENUMERABLE = 100_000
"""Finite spaces up to this size are listed, so that random search draws without replacement."""


def draw_distinct(
    space: SearchSpace, request: SearchRequest, count: int, salt: str, also: Collection[tuple[float, ...]] = ()
) -> list[dict[str, ParamValue]]:
    """``count`` random assignments, avoiding assigned ones, the keys in ``also`` (and each other)
    when a few draws can."""
    rng = call_rng(request, salt)
    taken = assigned_keys(space, request) | set(also)
    out = []
    for _ in range(count):
        params = space.sample(rng)
        for _ in range(_TRIES):
            if space.key(params) not in taken:
                break
            params = space.sample(rng)
        taken.add(space.key(params) or ())
        out.append(params)
    return out


@dataclass(frozen=True)
class RandomSearch:
    """Uniform random search; in a small finite space, without replacement until exhausted."""

    space: SearchSpace

    def suggest(self, request: SearchRequest) -> Proposal:
        """Draw ``count`` assignments not assigned before (when avoidable)."""
        size = self.space.size
        if size is None or size > ENUMERABLE:
            return Proposal([Suggestion(p) for p in draw_distinct(self.space, request, request.count, "random")])
        taken = assigned_keys(self.space, request)
        left = [p for p in self.space.grid() if self.space.key(p) not in taken]
        picks = call_rng(request, "random").permutation(len(left))[: request.count]
        suggestions = [Suggestion(left[i]) for i in sorted(picks.tolist())]
        exhausted = len(suggestions) == len(left)
        reason = "" if len(suggestions) == request.count else f"Only {len(left)} of {size} points are left."
        return Proposal(suggestions, exhausted=exhausted, reason=reason)
