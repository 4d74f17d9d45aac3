"""tpe: Optuna's Tree-structured Parzen Estimator (multivariate by default, constant liar for batches).

With several objectives it is Optuna's multi-objective TPE (MOTPE: the good/bad split ranks
trials by non-domination); with constraints, infeasible trials fall on the bad side; with
conditional parameters, ``group`` gives each sub-space of parameters that occur together its
own multivariate model, so an inactive parameter is never modelled at a made-up value.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api.algorithms import TPESettings
from . import optuna_backend
from .base import Proposal, SearchRequest, Suggestion
from .history import assigned_keys
from .seeding import call_seed
from .space import SearchSpace

_DEFAULTS = TPESettings()


@dataclass(frozen=True)
class TPE:
    """TPE on an in-memory Optuna study rebuilt from the history at every call."""

    space: SearchSpace
    n_initial_points: int = _DEFAULTS.n_initial_points
    multivariate: bool = _DEFAULTS.multivariate
    constant_liar: bool = _DEFAULTS.constant_liar

    def suggest(self, request: SearchRequest) -> Proposal:
        """Ask the sampler ``count`` times; running and just-asked trials count as bad (constant liar)."""
        spec = optuna_backend.SamplerSpec(
            "tpe",
            n_startup_trials=self.n_initial_points,
            multivariate=self.multivariate,
            constant_liar=self.constant_liar,
        )
        seed = call_seed(request, "tpe")
        taken = assigned_keys(self.space, request)
        params = optuna_backend.ask(
            self.space,
            request.history,
            request.pending,
            request.count,
            seed,
            spec,
            taken=taken,
            objectives=request.objectives,
        )
        return Proposal([Suggestion(p) for p in params])
