"""auto: grid for small finite spaces, a GP for small budgets, TPE for long or wide searches."""

from __future__ import annotations

import numpy as np

from kubetune.api import Parameter
from kubetune.search.auto import MAX_GP_TRIALS, Auto
from kubetune.search.base import Observation, TrialState
from kubetune.search.bayesian import Bayesian
from kubetune.search.grid import GridSearch
from kubetune.search.nsga2 import NSGA2
from kubetune.search.tpe import TPE

from .helpers import request, space_of

FINITE = space_of(Parameter(name="k", type="int", min=1, max=4), Parameter(name="c", type="categorical", values=[1, 2]))
CONTINUOUS = space_of(Parameter(name="x", min=0, max=1), Parameter(name="y", min=0, max=1))


def test_a_finite_space_within_the_budget_is_searched_on_a_grid() -> None:
    assert isinstance(Auto(FINITE).choose(request(FINITE, max_trials=8)), GridSearch)
    proposal = Auto(FINITE).suggest(request(FINITE, count=8, max_trials=8))
    assert len({FINITE.key(s.params) for s in proposal.suggestions}) == 8 and proposal.exhausted


def test_a_finite_space_larger_than_the_budget_is_modelled() -> None:
    assert isinstance(Auto(FINITE).choose(request(FINITE, max_trials=5)), Bayesian)


def test_a_small_budget_uses_the_gp_and_a_long_run_moves_to_tpe() -> None:
    assert isinstance(Auto(CONTINUOUS).choose(request(CONTINUOUS, max_trials=100)), Bayesian)
    rng = np.random.default_rng(0)
    history = [Observation(i, CONTINUOUS.sample(rng), TrialState.COMPLETE, 1.0) for i in range(MAX_GP_TRIALS)]
    assert isinstance(Auto(CONTINUOUS).choose(request(CONTINUOUS, history)), TPE)


def test_many_dimensions_use_tpe() -> None:
    wide = space_of(*[Parameter(name=f"x{i}", min=0, max=1) for i in range(25)])
    assert isinstance(Auto(wide).choose(request(wide)), TPE)


def test_two_objectives_use_the_gp_then_nsga2_in_any_dimension() -> None:
    wide = space_of(*[Parameter(name=f"x{i}", min=0, max=1) for i in range(30)])
    assert isinstance(Auto(wide).choose(request(wide, objectives=2)), Bayesian)
    rng = np.random.default_rng(0)
    history = [
        Observation(i, wide.sample(rng), TrialState.COMPLETE, 1.0, values=(1.0, 2.0)) for i in range(MAX_GP_TRIALS)
    ]
    assert isinstance(Auto(wide).choose(request(wide, history, objectives=2)), NSGA2)
