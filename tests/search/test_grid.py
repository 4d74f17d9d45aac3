"""grid: each point once, in a stable order, then exhausted."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings

from kubetune.api import Parameter
from kubetune.api.algorithms import GridOrder
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


# Katib's grid is Optuna's GridSampler, which picks a random unvisited point for every trial
# (pkg/suggestion/v1beta1/optuna/base_service.py): a budget smaller than the grid then samples all
# of it. order: random does the same with a permutation fixed by the seed.
BIG = space_of(
    Parameter(name="lr", type="int", min=1, max=9),
    Parameter(name="layers", type="int", min=1, max=5),
)


def run_grid(grid: GridSearch, space: SearchSpace, trials: int, batch: int, seed: int) -> list[tuple[int, int]]:
    history: list[Observation] = []
    while len(history) < trials:
        proposal = grid.suggest(request(space, history, count=min(batch, trials - len(history)), seed=seed))
        for s in proposal.suggestions:
            history.append(Observation(len(history), s.params, TrialState.COMPLETE, 1.0))
    return [(int(o.params["lr"]), int(o.params["layers"])) for o in history]


def test_random_order_spreads_a_small_budget_over_the_whole_grid() -> None:
    sequential = run_grid(GridSearch(BIG), BIG, 12, 3, seed=1)
    shuffled = run_grid(GridSearch(BIG, order=GridOrder.RANDOM), BIG, 12, 3, seed=1)
    assert {lr for lr, _ in sequential} == {1, 2, 3}  # the first rows only
    assert len({lr for lr, _ in shuffled}) > 3
    assert len(set(shuffled)) == 12


def test_random_order_visits_every_point_once_and_the_same_order_for_the_same_seed() -> None:
    first = run_grid(GridSearch(BIG, order=GridOrder.RANDOM), BIG, 45, 4, seed=5)
    assert sorted(first) == sorted(run_grid(GridSearch(BIG), BIG, 45, 4, seed=5))
    assert first == run_grid(GridSearch(BIG, order=GridOrder.RANDOM), BIG, 45, 7, seed=5)  # batches do not matter
    assert first != run_grid(GridSearch(BIG, order=GridOrder.RANDOM), BIG, 45, 4, seed=6)
    done = [Observation(i, {"lr": lr, "layers": n}, TrialState.COMPLETE, 1.0) for i, (lr, n) in enumerate(first)]
    proposal = GridSearch(BIG, order=GridOrder.RANDOM).suggest(request(BIG, done))
    assert proposal.suggestions == [] and proposal.exhausted
