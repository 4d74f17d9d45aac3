"""The search space: every value it produces is a plain, in-bounds, on-grid, declared value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubetune.api import Parameter
from kubetune.search.space import Coordinate, NumericDimension, SearchSpace

from .helpers import space_of
from .strategies import spaces

PLAIN = (int, float, str, bool)


@settings(max_examples=150, deadline=None)
@given(space=spaces(), units=st.lists(st.floats(0, 1), min_size=4, max_size=4))
def test_values_from_the_unit_cube_are_plain_in_bounds_on_grid_and_declared(
    space: SearchSpace, units: list[float]
) -> None:
    params = space.from_unit(units[: len(space.dimensions)])
    assert space.contains(params)
    assert all(type(v) in PLAIN for v in params.values())


@settings(max_examples=150, deadline=None)
@given(space=spaces(), coordinates=st.lists(st.floats(-1e6, 1e6), min_size=4, max_size=4))
def test_any_model_coordinate_decodes_to_a_valid_assignment(space: SearchSpace, coordinates: list[float]) -> None:
    params = space.decode(coordinates[: len(space.dimensions)])
    assert space.contains(params)


@settings(max_examples=150, deadline=None)
@given(space=spaces(), units=st.lists(st.floats(0, 1), min_size=4, max_size=4))
def test_encoding_a_produced_value_and_decoding_it_gives_it_back(space: SearchSpace, units: list[float]) -> None:
    params = space.from_unit(units[: len(space.dimensions)])
    coordinates = space.encode(params)
    assert coordinates is not None
    again = space.decode(coordinates)
    for name, original in params.items():
        if isinstance(original, float):
            assert again[name] == pytest.approx(original, rel=1e-9, abs=1e-12)
        else:
            assert again[name] == original
    unit = space.to_unit(params)
    assert unit is not None and all(0.0 <= u <= 1.0 for u in unit)
    assert space.from_unit(unit) == again or space.contains(space.from_unit(unit))


@settings(max_examples=60, deadline=None)
@given(space=spaces(max_dimensions=2))
def test_fixed_values_are_in_every_assignment_and_never_searched(space: SearchSpace) -> None:
    params = space.sample(np.random.default_rng(0))
    for name, fixed in space.fixed.items():
        assert params[name] == fixed
        assert name not in space.names


def test_int_values_are_ints_on_the_step_grid() -> None:
    space = space_of(Parameter(name="batch", type="int", min=16, max=256, step=16))
    values = {space.from_unit([u])["batch"] for u in np.linspace(0, 1, 200)}
    assert values == set(range(16, 257, 16))
    assert all(type(v) is int for v in values)


def test_float_steps_give_the_values_a_user_would_write() -> None:
    space = space_of(Parameter(name="dropout", min=0.0, max=0.5, step=0.1))
    values = sorted({space.from_unit([u])["dropout"] for u in np.linspace(0, 1, 100)})
    assert values == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


def test_every_grid_point_gets_an_equal_share_of_the_unit_interval() -> None:
    space = space_of(Parameter(name="k", type="int", min=1, max=3))
    counts = {1: 0, 2: 0, 3: 0}
    for u in np.linspace(0, 1, 3000, endpoint=False):
        counts[int(space.from_unit([u])["k"])] += 1
    assert counts == {1: 1000, 2: 1000, 3: 1000}


def test_log_scale_gives_each_decade_the_same_share() -> None:
    space = space_of(Parameter(name="lr", min=1e-5, max=1e-1, scale="log"))
    values = np.array([space.from_unit([u])["lr"] for u in np.linspace(0, 1, 4001)])
    per_decade = [int(np.sum((values >= 10.0**e) & (values < 10.0 ** (e + 1)))) for e in range(-5, -1)]
    assert max(per_decade) - min(per_decade) <= 2


def test_reverse_log_is_dense_near_max() -> None:
    space = space_of(Parameter(name="momentum", min=0.9, max=0.999, scale="reverse_log"))
    values = np.array([space.from_unit([u])["momentum"] for u in np.linspace(0, 1, 3001)])
    # 1 - momentum is log-uniform over 0.001..0.1: two decades, half the draws in each.
    assert np.mean(values >= 0.99) == pytest.approx(0.5, abs=0.01)
    assert values.min() == pytest.approx(0.9) and values.max() == pytest.approx(0.999)


def test_power_base_searches_the_exponent_and_steps_it() -> None:
    space = space_of(Parameter(name="wd", min=-5, max=-1, base=10, step=1))
    values = sorted({space.from_unit([u])["wd"] for u in np.linspace(0, 1, 100)})
    assert values == pytest.approx([1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
    assert isinstance(space.dimensions[0], NumericDimension)
    assert space.dimensions[0].coordinate is Coordinate.ORDERED


def test_power_base_below_one_stays_within_its_bounds() -> None:
    space = space_of(Parameter(name="decay", min=1, max=4, base=0.5))
    values = [space.from_unit([u])["decay"] for u in np.linspace(0, 1, 50)]
    assert min(values) == pytest.approx(0.5**4) and max(values) == pytest.approx(0.5)


def test_categories_keep_their_types_even_when_equal_in_python() -> None:
    space = space_of(Parameter(name="c", type="categorical", values=[1, True, "1", 1.5]))
    values = [space.from_unit([u])["c"] for u in (0.1, 0.3, 0.6, 0.9)]
    assert [type(v) for v in values] == [int, bool, str, float]


def test_log_int_range_is_a_real_axis_that_snaps_to_integers() -> None:
    space = space_of(Parameter(name="units", type="int", min=1, max=1024, scale="log"))
    assert space.dimensions[0].coordinate is Coordinate.REAL
    values = [space.decode([t])["units"] for t in np.linspace(0, math.log(1024), 50)]
    assert all(type(v) is int and 1 <= v <= 1024 for v in values)


def test_an_assignment_from_another_space_does_not_encode() -> None:
    space = space_of(Parameter(name="x", min=0, max=1), Parameter(name="c", type="categorical", values=["a"]))
    assert space.encode({"x": 0.5}) is None
    assert space.encode({"x": 0.5, "c": "zzz"}) is None
    assert space.size is None


def test_a_finite_space_knows_its_size() -> None:
    space = space_of(
        Parameter(name="k", type="int", min=1, max=4),
        Parameter(name="c", type="categorical", values=["a", "b", "c"]),
        Parameter(name="fixed", value=0.5),
    )
    assert space.size == 12
    assert space.grid_size() == 12
    assert len({tuple(p.items()) for p in space.grid()}) == 12
    assert SearchSpace.from_parameters([]).size == 1


def test_bounds_of_log_and_power_ranges_read_as_written() -> None:
    space = space_of(
        Parameter(name="lr", min=1e-4, max=0.3, scale="log"),
        Parameter(name="wd", base=10, min=-6, max=-2),
    )
    low = space.decode([d.bounds[0] for d in space.dimensions])
    high = space.decode([d.bounds[1] for d in space.dimensions])
    assert (low["lr"], low["wd"]) == (1e-4, 1e-6)
    assert (high["lr"], high["wd"]) == (0.3, 1e-2)


@settings(max_examples=150, deadline=None)
@given(space=spaces(), units=st.lists(st.lists(st.floats(0, 1), min_size=4, max_size=4), min_size=1, max_size=6))
def test_encoding_many_assignments_at_once_gives_each_ones_coordinates_exactly(
    space: SearchSpace, units: list[list[float]]
) -> None:
    assignments: list[dict[str, object]] = [space.from_unit(u[: len(space.dimensions)]) for u in units]
    if space.dimensions:  # and ones that do not fit: a missing parameter, a value of the wrong type
        assignments.append({k: v for k, v in assignments[0].items() if k != space.dimensions[0].name})
        assignments.append({**assignments[0], space.dimensions[0].name: "?"})
    assert space.encode_many(assignments) == [space.encode(a) for a in assignments]  # type: ignore[arg-type]
