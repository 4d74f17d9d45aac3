"""Several objectives and constraints: the Optuna-backed samplers approach the front and avoid infeasible points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kubetune.api import Algorithm, Parameter
from kubetune.errors import SearchError
from kubetune.search import registry
from kubetune.search.base import Observation, Pending, SearchRequest, TrialState
from kubetune.search.optuna_backend import gp_available
from kubetune.search.space import SearchSpace

from .helpers import space_of

SPACE = space_of(Parameter(name="x", min=0, max=1), Parameter(name="y", min=0, max=1))


def zdt1(x: float, y: float) -> tuple[float, float]:
    """ZDT1 in two variables: the front is f2 = 1 - sqrt(f1), reached where y = 0."""
    g = 1 + 9 * y
    return x, g * (1 - math.sqrt(x / g))


def run(
    name: str, trials: int, constraint: bool = False, settings: dict[str, object] | None = None
) -> list[Observation]:
    suggester = registry.create(Algorithm.model_validate({"name": name, "settings": settings or {}}), SPACE)
    history: list[Observation] = []
    while len(history) < trials:
        request = SearchRequest(SPACE, list(history), [], 1, 3, trials, objectives=2)
        (suggestion,) = suggester.suggest(request).suggestions
        x, y = float(suggestion.params["x"]), float(suggestion.params["y"])  # type: ignore[arg-type]
        values = zdt1(x, y)
        violations = (x - 0.5,) if constraint else ()  # feasible where x <= 0.5
        history.append(
            Observation(len(history), suggestion.params, TrialState.COMPLETE, values[0], None, {}, values, violations)
        )
    return history


def mean_g(history: list[Observation]) -> float:
    """How far the later half of the trials is from the front (0 on it)."""
    late = history[len(history) // 2 :]
    return sum(float(o.params["y"]) for o in late) / len(late)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["nsga2", "tpe", "auto"])
def test_multi_objective_samplers_move_toward_the_front(name: str) -> None:
    history = run(name, 60, settings={"populationSize": 10} if name == "nsga2" else None)
    assert mean_g(history) < mean_g(run("random", 60))


def test_tpe_with_a_constraint_samples_mostly_feasible_points() -> None:
    history = run("tpe", 50, constraint=True)
    late = history[25:]
    feasible = sum(1 for o in late if o.constraints[0] <= 0)
    assert feasible >= 0.7 * len(late)


def test_nsga2_with_a_constraint_prefers_feasible_parents() -> None:
    history = run("nsga2", 60, constraint=True, settings={"populationSize": 10})
    late = history[40:]
    assert sum(1 for o in late if o.constraints[0] <= 0) > len(late) / 2


def test_bayesian_with_two_objectives_runs_optuna_gp_where_torch_is() -> None:
    settings: dict[str, object] = {"backend": "optuna-gp", "nInitialPoints": 5}
    if gp_available():
        assert len(run("bayesian", 8, settings=settings)) == 8
    else:
        with pytest.raises(SearchError, match="needs torch"):
            run("bayesian", 8, settings=settings)


def test_bayesian_parego_approaches_the_front_and_spreads_along_it() -> None:
    history = run("bayesian", 24, settings={"nInitialPoints": 8})
    assert mean_g(history) < mean_g(run("random", 24))
    late = [float(o.params["x"]) for o in history[12:]]  # type: ignore[arg-type]
    # A new weight at each suggestion: the suggestions aim at different parts of the front.
    assert max(late) - min(late) > 0.3


def _observed(space: SearchSpace, count: int, seed: int) -> list[Observation]:
    rng = np.random.default_rng(seed)
    history = []
    for i in range(count):
        params = space.sample(rng)
        values = zdt1(float(params["x"]) / 4, float(params["y"]) / 4)  # type: ignore[arg-type]
        history.append(Observation(i, params, TrialState.COMPLETE, values[0], values=values))
    return history


def test_bayesian_parego_is_deterministic_for_a_seed_and_proposes_no_duplicates() -> None:
    # 25 points in all, 16 of them evaluated and 2 running: a batch of 4 must avoid all 18 and itself.
    space = space_of(Parameter(name="x", type="int", min=0, max=4), Parameter(name="y", type="int", min=0, max=4))
    history = _observed(space, 16, 1)
    running = [Pending(16 + i, p) for i, p in enumerate(space.sample(np.random.default_rng(9)) for _ in range(2))]
    suggester = registry.create(Algorithm(name="bayesian"), space)

    def ask(seed: int) -> list[tuple[float, ...] | None]:
        request = SearchRequest(space, history, running, 4, seed, 40, objectives=2)
        return [space.key(s.params) for s in suggester.suggest(request).suggestions]

    first = ask(5)
    taken = {space.key(o.params) for o in history} | {space.key(p.params) for p in running}
    assert len(set(first)) == 4 and not set(first) & taken
    assert ask(5) == first
    assert any(ask(seed) != first for seed in (6, 7, 8))
