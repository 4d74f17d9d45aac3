"""grid: each point once, in a stable order, then exhausted."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings

from kubetune.api import Parameter
from kubetune.search.base import Observation, Pending, TrialState
from kubetune.search.grid import GridSearch
from kubetune.search.space import SearchSpace

from .helpers import request, space_of
from .strategies import spaces

SPACE = space_of(
    Parameter(name="k", type="int", min=1, max=3),
    Parameter(name="opt", type="categorical", values=["sgd", "adam"]),
    Parameter(name="dropout", min=0.0, max=1.0, step=0.5),
    Parameter(name="seed", value=7),
)


def test_grid_never_repeats_a_point_and_reports_exhaustion_when_all_are_assigned() -> None:
    grid = GridSearch(SPACE)
    history: list[Observation] = []
    pending: list[Pending] = []
    seen = []
    exhausted = False
    while not exhausted:
        proposal = grid.suggest(request(SPACE, history, pending, count=4))
        seen += [s.params for s in proposal.suggestions]
        # Half of each batch finishes, the rest keeps running: both count as assigned.
        for s in proposal.suggestions[:2]:
            history.append(Observation(len(history) + len(pending), s.params, TrialState.COMPLETE, 1.0))
        pending += [Pending(len(history) + len(pending), s.params) for s in proposal.suggestions[2:]]
        exhausted = proposal.exhausted
    assert len(seen) == 18
    assert len({tuple(sorted(p.items())) for p in seen}) == 18
    assert all(p["seed"] == 7 for p in seen)
    again = grid.suggest(request(SPACE, history, pending, count=4))
    assert again.suggestions == [] and again.exhausted and "18" in again.reason


def test_grid_visits_points_in_a_stable_order_with_the_last_parameter_fastest() -> None:
    proposal = GridSearch(SPACE).suggest(request(SPACE, count=4))
    assert [(p.params["k"], p.params["opt"], p.params["dropout"]) for p in proposal.suggestions] == [
        (1, "sgd", 0.0),
        (1, "sgd", 0.5),
        (1, "sgd", 1.0),
        (1, "adam", 0.0),
    ]
    assert not proposal.exhausted


def test_the_last_batch_that_assigns_every_point_reports_exhaustion() -> None:
    proposal = GridSearch(SPACE).suggest(request(SPACE, count=18))
    assert len(proposal.suggestions) == 18 and proposal.exhausted


def test_points_per_dimension_splits_a_range_evenly_on_its_scale() -> None:
    space = space_of(Parameter(name="lr", min=1e-4, max=1, scale="log"), Parameter(name="n", type="int", min=0, max=99))
    proposal = GridSearch(space, points_per_dimension=5).suggest(request(space, count=25))
    assert sorted({p.params["lr"] for p in proposal.suggestions}) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1])
    assert sorted({p.params["n"] for p in proposal.suggestions}) == [0, 25, 50, 74, 99]


def test_an_int_range_without_points_per_dimension_visits_every_integer() -> None:
    space = space_of(Parameter(name="n", type="int", min=3, max=7))
    proposal = GridSearch(space).suggest(request(space, count=10))
    assert [s.params["n"] for s in proposal.suggestions] == [3, 4, 5, 6, 7]
    assert proposal.exhausted and proposal.reason


@settings(max_examples=40, deadline=None)
@given(space=spaces(max_dimensions=3))
def test_grid_over_any_space_yields_distinct_valid_points(space: SearchSpace) -> None:
    assume(space.grid_size(3) <= 300)
    proposal = GridSearch(space, points_per_dimension=3).suggest(request(space, count=400))
    assert proposal.exhausted
    keys = [space.key(s.params) for s in proposal.suggestions]
    assert len(keys) == len(set(keys)) == space.grid_size(3)
    assert all(space.contains(s.params) for s in proposal.suggestions)
