"""Every algorithm works at the extremes the model accepts, and the model refuses what they cannot handle."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from kubetune.api import Algorithm, AlgorithmName, Parameter
from kubetune.search import registry

from .helpers import optimize, space_of

# The widest ranges validation accepts, one per kind of axis.
EXTREMES: list[dict[str, Any]] = [
    {"type": "double", "min": -1e300, "max": 1e300},
    {"type": "double", "min": 1e-300, "max": 1e300, "scale": "log"},
    {"type": "double", "min": -1e300, "max": 1e300, "scale": "reverse_log"},
    {"type": "double", "base": 10, "min": -300, "max": 300},
    {"type": "int", "min": -(2**53), "max": 2**53},
    {"type": "double", "min": -1e300, "max": 1e300, "step": 1e299},
    {"type": "double", "distribution": "normal", "mean": 0, "sigma": 1e299},
    {"type": "double", "distribution": "logNormal", "mean": 0, "sigma": 69},
    {"type": "int", "distribution": "normal", "mean": 0, "sigma": 9e14},
]
ALGORITHMS = [AlgorithmName.RANDOM, AlgorithmName.SOBOL, AlgorithmName.BAYESIAN, AlgorithmName.TPE, AlgorithmName.CMAES]


@pytest.mark.parametrize("bounds", EXTREMES, ids=lambda b: "-".join(str(v) for v in b.values()))
@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=str)
def test_every_algorithm_samples_inside_the_widest_accepted_range(
    algorithm: AlgorithmName, bounds: dict[str, Any]
) -> None:
    x = Parameter(name="x", **bounds)
    space = space_of(x, Parameter(name="y", min=0, max=1))
    suggester = registry.create(Algorithm(name=algorithm, seed=3), space)

    history = optimize(suggester, space, lambda p: (float(p["y"]) - 0.5) ** 2, trials=8)

    values = [o.params["x"] for o in history]
    assert len(values) == 8
    inside = (lambda v: x.low <= v <= x.high) if x.min is not None else (lambda v: True)
    assert all(isinstance(v, int | float) and math.isfinite(v) and inside(v) for v in values), values
    assert len(set(values)) > 1, f"{algorithm} sampled one value at the bounds {bounds}: {values[0]}"


@pytest.mark.parametrize(
    "bounds",
    [
        {"min": -1e308, "max": 1e308},  # max - min is infinite: random and sobol gave 1e308 every time
        {"min": 1e307, "max": 1.7e308},  # finite, but TPE's estimator turns it into NaN
        {"type": "int", "min": 0, "max": 1e18},  # beyond 2^53 an int is no longer exact in a float
        {"base": 10, "min": 0, "max": 400},  # 10 ** 400 overflows
        {"distribution": "logNormal", "mean": 710, "sigma": 1},  # math.exp(710) overflows
        {"distribution": "normal", "mean": 0, "sigma": 1e308},  # draws infinity
    ],
)
def test_ranges_no_algorithm_handles_are_refused(bounds: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Parameter(name="x", **bounds)


def test_hyperband_works_at_the_widest_resource_range_it_accepts() -> None:
    epochs = Parameter(name="epochs", type="int", min=1, max=100_000)
    space = space_of(epochs, Parameter(name="y", min=0, max=1))
    suggester = registry.create(
        Algorithm.model_validate(
            {"name": AlgorithmName.HYPERBAND, "seed": 3, "settings": {"resourceParameter": "epochs"}}
        ),
        space,
    )
    history = optimize(suggester, space, lambda p: float(p["y"]), trials=12)
    assert len(history) == 12
    assert all(1 <= o.params["epochs"] <= 100_000 for o in history)


def test_grid_works_at_the_most_points_it_accepts() -> None:
    space = space_of(Parameter(name="n", type="int", min=1, max=100_000), Parameter(name="y", min=0, max=1, step=0.5))
    suggester = registry.create(Algorithm(name=AlgorithmName.GRID, seed=3), space)
    history = optimize(suggester, space, lambda p: float(p["y"]), trials=5)
    assert [o.params["n"] for o in history] == [1, 1, 1, 2, 2]
