"""Normal and log-normal parameters: random and sobol draw them exactly (inverse CDF), truncated to
the bounds; model-based algorithms start from the same draws and stay within the bounds."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from kubetune.api import Parameter
from kubetune.search.random_search import RandomSearch
from kubetune.search.sobol import SobolSearch
from kubetune.search.space import SearchSpace
from kubetune.search.tpe import TPE

from .helpers import optimize, request

NORMAL = Parameter(name="x", distribution="normal", mean=2.0, sigma=0.5)
LOG_NORMAL = Parameter(name="y", distribution="logNormal", mean=math.log(1e-3), sigma=1.0)


def draws(suggester: RandomSearch | SobolSearch, space: SearchSpace, n: int) -> list[dict[str, object]]:
    return [dict(s.params) for s in suggester.suggest(request(space, count=n, seed=5)).suggestions]


@pytest.mark.parametrize("algorithm", [RandomSearch, SobolSearch], ids=["random", "sobol"])
def test_random_and_sobol_draw_the_distributions_exactly(algorithm: type[RandomSearch] | type[SobolSearch]) -> None:
    space = SearchSpace.from_parameters([NORMAL, LOG_NORMAL])
    drawn = draws(algorithm(space), space, 1024)
    x = [float(d["x"]) for d in drawn]  # type: ignore[arg-type]
    y = [float(d["y"]) for d in drawn]  # type: ignore[arg-type]
    assert stats.kstest(x, stats.norm(loc=2.0, scale=0.5).cdf).pvalue > 0.01
    assert stats.kstest(y, stats.lognorm(s=1.0, scale=1e-3).cdf).pvalue > 0.01


def test_bounds_truncate_the_distribution() -> None:
    bounded = Parameter(name="x", distribution="normal", mean=0.0, sigma=1.0, min=-0.5, max=1.0)
    space = SearchSpace.from_parameters([bounded])
    for algorithm in (RandomSearch, SobolSearch):
        x = [float(d["x"]) for d in draws(algorithm(space), space, 1024)]  # type: ignore[arg-type]
        assert all(-0.5 <= v <= 1.0 for v in x)
        truncated = stats.truncnorm(-0.5, 1.0)
        assert stats.kstest(x, truncated.cdf).pvalue > 0.01


def test_an_int_normal_with_a_step_gives_values_on_the_grid() -> None:
    batch = Parameter(name="b", type="int", distribution="normal", mean=64, sigma=16, min=16, max=128, step=16)
    space = SearchSpace.from_parameters([batch])
    values = {d["b"] for d in draws(RandomSearch(space), space, 500)}
    assert values <= {16, 32, 48, 64, 80, 96, 112, 128}
    assert all(isinstance(v, int) for v in values)
    assert all(space.contains({"b": v}) for v in values)


def test_tpe_starts_from_distribution_draws_and_stays_in_bounds() -> None:
    bounded = Parameter(name="x", distribution="normal", mean=0.0, sigma=1.0, min=-2.0, max=2.0)
    space = SearchSpace.from_parameters([bounded])
    history = optimize(TPE(space, n_initial_points=5), space, lambda p: (float(p["x"]) - 1.0) ** 2, 25)  # type: ignore[arg-type]
    xs = [float(o.params["x"]) for o in history]  # type: ignore[arg-type]
    assert all(-2.0 <= x <= 2.0 for x in xs)
    assert min(abs(x - 1.0) for x in xs) < 0.1


def test_grid_visits_a_normal_parameter_at_evenly_spaced_quantiles() -> None:
    space = SearchSpace.from_parameters([Parameter(name="x", distribution="normal", mean=1.0, sigma=2.0)])
    values = [float(p["x"]) for p in space.grid(4)]  # type: ignore[arg-type]
    expected = [stats.norm(loc=1.0, scale=2.0).ppf(q) for q in (0.125, 0.375, 0.625, 0.875)]
    assert values == pytest.approx(expected, rel=1e-6)
