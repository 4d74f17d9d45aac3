"""Bounded series: exact statistics, even thinning, round trips, aggregation, the median rule's inputs."""

from __future__ import annotations

import itertools
import math

import pytest

from kubetune.api import Aggregation, Direction, MetricPoint, MetricSeries
from kubetune.api.trial import MAX_SERIES_POINTS
from kubetune.metrics import SeriesAccumulator, aggregate, best_so_far, running_average


def filled(values: list[float], **kwargs: int) -> SeriesAccumulator:
    acc = SeriesAccumulator("loss", **kwargs)
    for v in values:
        acc.add(v)
    return acc


def test_statistics_are_exact_over_every_value_even_when_points_are_thinned() -> None:
    values = [float(i % 97) for i in range(10_000)]
    series = filled(values).to_series()
    assert series.count == 10_000
    assert (series.min, series.max, series.last) == (0.0, 96.0, values[-1])
    assert series.mean == pytest.approx(sum(values) / len(values), rel=1e-12)
    assert len(series.points) <= MAX_SERIES_POINTS


def test_thinned_points_are_evenly_spaced_and_end_with_the_latest_value() -> None:
    series = filled([float(i) for i in range(1000)]).to_series()
    steps = [p.step for p in series.points]
    assert steps[0] == 1 and steps[-1] == 1000
    gaps = {b - a for a, b in itertools.pairwise(steps[:-1])}
    assert gaps == {16}  # one stride, a power of two
    assert len(series.points) == 64


def test_short_series_keep_every_point() -> None:
    series = filled([3.0, 1.0, 2.0]).to_series()
    assert [(p.step, p.value) for p in series.points] == [(1, 3.0), (2, 1.0), (3, 2.0)]


def test_non_finite_values_are_refused() -> None:
    acc = filled([1.0])
    assert not acc.add(math.nan)
    assert not acc.add(math.inf)
    assert acc.count == 1


def test_the_mean_of_huge_values_does_not_overflow() -> None:
    series = filled([1.7e308, 1.7e308, -1e308, 1.7e308]).to_series()
    assert series.mean is not None and math.isfinite(series.mean)
    assert series.mean == pytest.approx((1.7 * 3 - 1) / 4 * 1e308)


@pytest.mark.parametrize("count", [0, 1, 5, 99, 100, 101, 198, 199, 200, 1000, 4321])
def test_a_series_continued_from_its_status_equals_one_never_interrupted(count: int) -> None:
    first, rest = [float(i * 7 % 13) for i in range(count)], [float(i % 5) for i in range(300)]
    whole = filled(first + rest).to_series()
    resumed = SeriesAccumulator.from_series(filled(first).to_series())
    for v in rest:
        resumed.add(v)
    got = resumed.to_series()
    assert got.points == whole.points
    assert (got.count, got.min, got.max, got.last) == (whole.count, whole.min, whole.max, whole.last)
    assert got.mean == pytest.approx(whole.mean, rel=1e-12)


def test_a_hand_written_series_without_statistics_is_continued_from_its_points() -> None:
    series = MetricSeries(name="loss", points=[MetricPoint(step=1, value=2.0), MetricPoint(step=2, value=4.0)], count=2)
    acc = SeriesAccumulator.from_series(series)
    acc.add(6.0)
    assert acc.to_series().model_dump(exclude={"points"}) == {
        "name": "loss",
        "count": 3,
        "last": 6.0,
        "min": 2.0,
        "max": 6.0,
        "mean": 4.0,
    }


def test_too_few_points_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        SeriesAccumulator("loss", max_points=2)


@pytest.mark.parametrize(
    ("how", "expected"),
    [(Aggregation.LAST, 2.0), (Aggregation.MIN, 1.0), (Aggregation.MAX, 3.0), (Aggregation.MEAN, 2.0)],
)
def test_aggregation_reduces_the_series_as_the_objective_says(how: Aggregation, expected: float) -> None:
    assert aggregate(filled([3.0, 1.0, 2.0]).to_series(), how) == expected


@pytest.mark.parametrize("how", list(Aggregation))
def test_aggregation_of_an_empty_or_non_finite_series_is_none(how: Aggregation) -> None:
    assert aggregate(MetricSeries(name="loss"), how) is None
    broken = MetricSeries(name="loss", count=1, last=math.nan, min=math.inf, max=-math.inf, mean=math.nan)
    assert aggregate(broken, how) is None


def test_running_average_and_best_so_far_at_a_step() -> None:
    series = filled([4.0, 2.0, 3.0, 1.0]).to_series()  # steps 1..4
    assert running_average(series, 0) is None
    assert running_average(series, 2) == 3.0
    assert running_average(series, 10) == 2.5
    assert best_so_far(series, 0, Direction.MINIMIZE) is None
    assert best_so_far(series, 3, Direction.MINIMIZE) == 2.0
    assert best_so_far(series, 3, Direction.MAXIMIZE) == 4.0
    assert best_so_far(series, 4, Direction.MINIMIZE) == 1.0


def test_at_the_last_step_the_median_rule_inputs_are_exact_despite_thinning() -> None:
    values = [float((i * 37) % 1001) for i in range(5000)]
    series = filled(values).to_series()
    assert running_average(series, 5000) == series.mean
    assert best_so_far(series, 5000, Direction.MINIMIZE) == min(values)
    assert best_so_far(series, 5000, Direction.MAXIMIZE) == max(values)
    halfway = running_average(series, 2500)
    assert halfway == pytest.approx(sum(values[:2500]) / 2500, rel=0.05)  # estimated from kept points
