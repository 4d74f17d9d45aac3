"""Driving a suggester the way the engine does: ask, run the trials, record what happened."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kubetune.api import Parameter, ParamValue
from kubetune.search.base import Assignment, Observation, Pending, SearchRequest, Suggester, TrialState
from kubetune.search.space import SearchSpace

Objective = Callable[[Assignment], float | None]


def request(
    space: SearchSpace,
    history: Sequence[Observation] = (),
    pending: Sequence[Pending] = (),
    count: int = 1,
    seed: int = 0,
    max_trials: int | None = None,
    objectives: int = 1,
) -> SearchRequest:
    """A request as the engine builds it."""
    return SearchRequest(space, list(history), list(pending), count, seed, max_trials, objectives)


def optimize(
    suggester: Suggester,
    space: SearchSpace,
    objective: Objective,
    trials: int,
    batch: int = 1,
    seed: int = 0,
) -> list[Observation]:
    """Run ``trials`` trials, ``batch`` at a time; an objective returning None is a failed trial."""
    history: list[Observation] = []
    while len(history) < trials:
        count = min(batch, trials - len(history))
        proposal = suggester.suggest(request(space, history, count=count, seed=seed))
        if not proposal.suggestions:
            break
        for suggestion in proposal.suggestions:
            value = objective(suggestion.params)
            state = TrialState.COMPLETE if value is not None else TrialState.FAILED
            history.append(
                Observation(len(history), suggestion.params, state, value, suggestion.resource, suggestion.tags)
            )
    return history


def space_of(*parameters: Parameter) -> SearchSpace:
    """A space from parameters."""
    return SearchSpace.from_parameters(parameters)


def quadratic(params: Assignment) -> float:
    """A bowl with its minimum 0 at x = 0.3, y = 0.7 (numbers only)."""
    x, y = params["x"], params["y"]
    assert isinstance(x, int | float) and isinstance(y, int | float)
    return float((x - 0.3) ** 2 + (y - 0.7) ** 2)


def value(params: Assignment, name: str) -> ParamValue:
    """One value, for readability in tests."""
    return params[name]
