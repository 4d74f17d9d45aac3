"""bayesian: a GP on a bounded window of the history, with either backend."""

from __future__ import annotations

import sys

import pytest

from kubetune.api import Algorithm, GPBackend, Parameter
from kubetune.errors import SearchError
from kubetune.search import optuna_backend, registry
from kubetune.search.bayesian import Bayesian
from kubetune.search.history import Point, window

from .helpers import optimize, quadratic, request, space_of

SPACE = space_of(Parameter(name="x", min=0, max=1), Parameter(name="y", min=0, max=1))


def test_the_window_keeps_the_best_half_and_the_most_recent_rest() -> None:
    points = [Point(i, (0.0,), float(v)) for i, v in enumerate([5, 1, 9, 2, 8, 7, 6, 3, 4, 0])]
    kept = window(points, 4)
    assert [p.index for p in kept] == [1, 7, 8, 9]
    assert [p.index for p in window(points, 20)] == list(range(10))


def test_the_backend_is_the_documented_default_whatever_is_installed() -> None:
    # torch is installed here (the test extra), and still the default is scikit-optimize.
    assert optuna_backend.gp_available()
    suggester = registry.create(Algorithm(name="bayesian"), SPACE)
    assert isinstance(suggester, Bayesian) and suggester.backend is GPBackend.SKOPT
    assert suggester.suggest(request(SPACE)).ran == "bayesian (skopt)"


def test_a_backend_that_is_not_installed_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what an environment without torch looks like
    with pytest.raises(SearchError, match="optuna-gp needs torch, which is not installed") as error:
        Bayesian(SPACE, backend=GPBackend.OPTUNA_GP).suggest(request(SPACE))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("backend", list(GPBackend))
def test_the_gp_improves_on_its_random_start(backend: GPBackend) -> None:
    history = optimize(Bayesian(SPACE, n_initial_points=4, backend=backend), SPACE, quadratic, trials=7, seed=2)
    values = [o.value for o in history if o.value is not None]
    # The model's points sit nearer the optimum than the random start, on average.
    assert sum(values[4:]) / len(values[4:]) < sum(values[:4]) / 4
