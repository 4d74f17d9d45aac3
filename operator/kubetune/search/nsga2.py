"""nsga2: Optuna's NSGA-II, the genetic algorithm for several objectives (and constraints).

Each generation of ``population_size`` trials is bred from the best of the previous ones: ranked
by non-domination, then by crowding distance (the spread along the front), and feasible trials
before infeasible ones. With conditional parameters, crossover acts on the parameters every
parent has and the others are drawn at random, as Optuna does for a dynamic space.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import optuna_backend
from .base import Proposal, SearchRequest, Suggestion
from .history import assigned_keys
from .seeding import call_seed
from .space import SearchSpace

DEFAULT_POPULATION_SIZE = 50
"""Optuna's own default: the size of one generation."""


@dataclass(frozen=True)
class NSGA2:
    """NSGA-II on an in-memory Optuna study rebuilt from the history at every call."""

    space: SearchSpace
    population_size: int = DEFAULT_POPULATION_SIZE

    def suggest(self, request: SearchRequest) -> Proposal:
        """Ask the sampler ``count`` times; running and just-asked trials belong to the current generation."""
        spec = optuna_backend.SamplerSpec("nsga2", population_size=self.population_size)
        seed = call_seed(request, "nsga2")
        params = optuna_backend.ask(
            self.space,
            request.history,
            request.pending,
            request.count,
            seed,
            spec,
            taken=assigned_keys(self.space, request),
            objectives=request.objectives,
        )
        return Proposal([Suggestion(p) for p in params])
