"""cmaes: CMA-ES from the ``cmaes`` library, replayed from the history at every call.

The only module that imports ``cmaes``. Optuna's CmaEsSampler keeps the optimizer pickled in
its storage, which a Trial cannot carry; here the optimizer is instead replayed: generation by
generation, the same number of ``ask`` calls as trials were created in it (so the random state
matches), then ``tell`` with the first ``population_size`` completed trials of the generation.
Each suggestion's ``cma_generation`` tag says which generation it belongs to. Failed trials are
never told; their generation waits for enough completed ones. CMA-ES searches the numeric
parameters in the unit cube; categorical ones are drawn at random, as Optuna does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from cmaes import CMA

from ..api import ParamValue
from ..api.algorithms import CmaEsSettings
from .base import Observation, Pending, Proposal, SearchRequest, Suggestion, TrialState
from .random_search import draw_distinct
from .seeding import fixed_rng
from .space import CategoricalDimension, SearchSpace

TAG = "cma_generation"
_DEFAULTS = CmaEsSettings()


@dataclass(frozen=True)
class CmaEs:
    """CMA-ES over the numeric parameters; random search when every parameter is categorical."""

    space: SearchSpace
    sigma0: float = _DEFAULTS.sigma0
    population_size: int | None = _DEFAULTS.population_size
    n_initial_points: int = _DEFAULTS.n_initial_points

    def suggest(self, request: SearchRequest) -> Proposal:
        """Replay the optimizer from the tagged history, then ask it ``count`` times."""
        numeric = [i for i, d in enumerate(self.space.dimensions) if not isinstance(d, CategoricalDimension)]
        trials: list[Observation | Pending] = sorted([*request.history, *request.pending], key=lambda t: t.index)
        tagged = [t for t in trials if isinstance(t.tags.get(TAG), int)]
        untagged = len(request.history) + len(request.pending) - len(tagged)
        if not numeric or untagged < self.n_initial_points:
            return Proposal([Suggestion(p) for p in draw_distinct(self.space, request, request.count, "cmaes")])
        optimizer = CMA(
            mean=np.full(len(numeric), 0.5),
            sigma=self.sigma0,
            bounds=np.array([[0.0, 1.0]] * len(numeric)),
            seed=request.seed % 2**32,
            population_size=self.population_size,
        )
        by_generation: dict[int, list[Observation | Pending]] = defaultdict(list)
        for trial in tagged:
            by_generation[int(trial.tags[TAG])].append(trial)
        generation = 0
        while True:
            members = by_generation.get(generation, [])
            for _ in members:
                optimizer.ask()
            solutions = self._solutions(members, numeric)[: optimizer.population_size]
            if len(solutions) < optimizer.population_size:
                break
            optimizer.tell(solutions)
            generation += 1
        position = len(by_generation.get(generation, []))
        suggestions = []
        for i in range(request.count):
            x = optimizer.ask()
            params = self._assignment(x, numeric, fixed_rng(request.seed, generation, position + i))
            suggestions.append(Suggestion(params, tags={TAG: generation}))
        return Proposal(suggestions)

    def _solutions(self, members: list[Observation | Pending], numeric: list[int]) -> list[tuple[np.ndarray, float]]:
        out = []
        for trial in members:
            if not isinstance(trial, Observation) or trial.state is not TrialState.COMPLETE:
                continue
            if trial.value is None or not math.isfinite(trial.value):
                continue
            unit = self.space.to_unit(trial.params)
            if unit is not None:
                out.append((np.array([unit[i] for i in numeric]), trial.value))
        return out

    def _assignment(self, x: np.ndarray, numeric: list[int], rng: np.random.Generator) -> dict[str, ParamValue]:
        unit = rng.random(len(self.space.dimensions))
        unit[numeric] = np.clip(x, 0.0, 1.0)
        return self.space.from_unit(unit.tolist())
