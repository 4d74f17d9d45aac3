"""Every algorithm keeps proposing when its history is degenerate: nothing finished yet, one trial,
all failed, all equal, objectives that are NaN or infinite, a constraint on a metric never printed.

A trainer that diverges prints ``acc=nan``; one that crashes prints nothing. Neither may stop the
search for good: the algorithm must still answer the next request with valid assignments.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from kubetune.api import Algorithm, AlgorithmName, Parameter
from kubetune.search import registry
from kubetune.search.base import Observation, SearchRequest, TrialState
from kubetune.search.space import SearchSpace

SPACE = SearchSpace.from_parameters(
    [
        Parameter(name="x", min=0, max=1),
        Parameter(name="epochs", type="int", min=1, max=9),
        Parameter(name="optimizer", type="categorical", values=["sgd", "adam", "lamb"]),
    ]
)
EXPERIMENTS = [{"x": x / 12, "epochs": 1 + i % 9, "optimizer": "adam"} for i, x in enumerate(range(12))]
SETTINGS: dict[str, dict[str, object]] = {
    "grid": {"pointsPerDimension": 3},
    "bayesian": {"nInitialPoints": 2},
    "bayesian-optuna-gp": {"nInitialPoints": 2, "backend": "optuna-gp"},
    "tpe": {"nInitialPoints": 2},
    "cmaes": {"populationSize": 4, "nInitialPoints": 2},
    "hyperband": {"resourceParameter": "epochs"},
    "nsga2": {"populationSize": 4},
}
ALGORITHMS = sorted({str(n) for n in AlgorithmName} - {"plugin"} | {"bayesian-optuna-gp"})
SINGLE_ONLY = {"cmaes", "hyperband", "bayesian"}  # the API refuses them with objective.metrics
TRIALS = 9

Outcome = tuple[TrialState, float | None, tuple[float, ...]]
"""How trial i ended: its state, its loss (each objective's), its constraint violations."""

HISTORIES: dict[str, Callable[[int], Outcome]] = {
    # The engine's outcome of a trial that printed no objective (`acc=nan` is dropped as not finite).
    "none-finished": lambda i: (TrialState.COMPLETE, None, ()),
    "all-failed": lambda i: (TrialState.FAILED, None, ()),
    # nsga2's first generation (of 4) with one finished trial: trials 0-2 diverged.
    "diverged-first": lambda i: (TrialState.COMPLETE, None if i < 3 else 1.0 / i, ()),
    "one-then-nan": lambda i: (TrialState.COMPLETE, 0.5 if i == 3 else None, ()),
    "all-equal": lambda i: (TrialState.COMPLETE, 1.0, ()),
    "nan": lambda i: (TrialState.COMPLETE, math.nan, ()),
    "inf": lambda i: (TrialState.COMPLETE, float("1e309") if i % 2 else -math.inf, ()),
    "stopped-without-values": lambda i: (TrialState.STOPPED, None, ()),
    # A constraint on a metric the trainer never prints: every trial breaks it by 1.
    "never-feasible": lambda i: (TrialState.COMPLETE, 0.1 * i, (1.0,)),
    "mixed": lambda i: [
        (TrialState.FAILED, None, ()),
        (TrialState.COMPLETE, math.nan, ()),
        (TrialState.COMPLETE, 2.0, (1.0,)),
        (TrialState.STOPPED, None, ()),
    ][i % 4],
}


def _algorithm(name: str) -> Algorithm:
    base = "bayesian" if name == "bayesian-optuna-gp" else name
    extra = {"experiments": EXPERIMENTS} if name == "experiments" else {}
    return Algorithm.model_validate({"name": base, "seed": 7, "settings": SETTINGS.get(name, {})} | extra)


def _observation(index: int, params: dict[str, object], outcome: Outcome, objectives: int) -> Observation:
    state, loss, constraints = outcome
    values = (loss, loss if loss is None else -loss) if objectives > 1 else ()
    return Observation(index, params, state, loss, None, {}, values, constraints)  # type: ignore[arg-type]


CASES = [
    pytest.param(name, history, objectives, id=f"{name}-{history}-{objectives}obj")
    for name in ALGORITHMS
    for history in HISTORIES
    for objectives in (1, 2)
    if objectives == 1 or name not in SINGLE_ONLY
]


@pytest.mark.parametrize(("name", "history", "objectives"), CASES)
def test_every_algorithm_keeps_proposing_on_a_degenerate_history(name: str, history: str, objectives: int) -> None:
    suggester = registry.create(_algorithm(name), SPACE)
    observations: list[Observation] = []
    for index in range(TRIALS):
        proposal = suggester.suggest(SearchRequest(SPACE, list(observations), [], 1, 7, TRIALS, objectives=objectives))
        assert proposal.suggestions, f"no suggestion after {index} trials: {proposal.reason}"
        (suggestion,) = proposal.suggestions
        assert SPACE.contains(suggestion.params), suggestion.params
        outcome = HISTORIES[history](index)
        observations.append(_observation(index, dict(suggestion.params), outcome, objectives))
