"""sobol: a scrambled Sobol' sequence from scipy.stats.qmc, continued where the history left off."""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import qmc

from .base import Proposal, SearchRequest, Suggestion
from .space import SearchSpace


@dataclass(frozen=True)
class SobolSearch:
    """Quasi-random points that fill the unit cube evenly; trial ``n`` gets the sequence's point ``n``."""

    space: SearchSpace
    scramble: bool = True

    def suggest(self, request: SearchRequest) -> Proposal:
        """The next ``count`` points of the sequence, after the ones already assigned."""
        # The seed is the task's own (not per call): the sequence is one object, fast-forwarded.
        engine = qmc.Sobol(len(self.space.dimensions), scramble=self.scramble, seed=request.seed % 2**32)
        if skip := len(request.history) + len(request.pending):
            engine.fast_forward(skip)
        # Drawn one point at a time: scipy warns when a first draw is not a power of two long,
        # and single draws continue the same sequence.
        points = [engine.random(1)[0].tolist() for _ in range(request.count)]
        return Proposal([Suggestion(self.space.from_unit(u)) for u in points])
