"""bayesian: a GP on a bounded window of the history, with either backend."""

from __future__ import annotations

import pytest

from kubetune.api import Parameter
from kubetune.api.task import Acquisition
from kubetune.search import optuna_backend
from kubetune.search.bayesian import Bayesian
from kubetune.search.history import Point, window

from .helpers import optimize, quadratic, space_of

SPACE = space_of(Parameter(name="x", min=0, max=1), Parameter(name="y", min=0, max=1))


def test_the_window_keeps_the_best_half_and_the_most_recent_rest() -> None:
    points = [Point(i, (0.0,), float(v)) for i, v in enumerate([5, 1, 9, 2, 8, 7, 6, 3, 4, 0])]
    kept = window(points, 4)
    assert [p.index for p in kept] == [1, 7, 8, 9]
    assert [p.index for p in window(points, 20)] == list(range(10))


def test_an_acquisition_function_setting_selects_scikit_optimize() -> None:
    assert Bayesian(SPACE, acquisition=Acquisition.EI).chosen_backend == "skopt"


NEEDS_TORCH = pytest.mark.skipif(not optuna_backend.gp_available(), reason="Optuna's GPSampler needs the gp extra")


@pytest.mark.parametrize("backend", ["skopt", pytest.param("optuna", marks=NEEDS_TORCH)])
def test_the_gp_improves_on_its_random_start(backend: str) -> None:
    history = optimize(Bayesian(SPACE, n_initial_points=4, backend=backend), SPACE, quadratic, trials=7, seed=2)
    values = [o.value for o in history if o.value is not None]
    # The model's points sit nearer the optimum than the random start, on average.
    assert sum(values[4:]) / len(values[4:]) < sum(values[:4]) / 4
