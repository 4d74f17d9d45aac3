"""tpe: Optuna's Tree-structured Parzen Estimator (multivariate by default, constant liar for batches)."""

from __future__ import annotations

from dataclasses import dataclass

from . import optuna_backend
from .base import Proposal, SearchRequest, Suggestion
from .seeding import call_seed
from .space import SearchSpace

DEFAULT_INITIAL_POINTS = 10
"""Optuna's own default: TPE needs a few points on each side of its good/bad split."""


@dataclass(frozen=True)
class TPE:
    """TPE on an in-memory Optuna study rebuilt from the history at every call."""

    space: SearchSpace
    n_initial_points: int | None = None
    multivariate: bool = True
    constant_liar: bool = True

    def suggest(self, request: SearchRequest) -> Proposal:
        """Ask the sampler ``count`` times; running and just-asked trials count as bad (constant liar)."""
        spec = optuna_backend.SamplerSpec(
            "tpe",
            n_startup_trials=self.n_initial_points or DEFAULT_INITIAL_POINTS,
            multivariate=self.multivariate,
            constant_liar=self.constant_liar,
        )
        seed = call_seed(request, "tpe")
        params = optuna_backend.ask(self.space, request.history, request.pending, request.count, seed, spec)
        return Proposal([Suggestion(p) for p in params])
