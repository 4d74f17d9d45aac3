"""Bounded metric series: exact statistics over every value, evenly thinned points, aggregation.

A trial may print millions of values; its status keeps :data:`~kubetune.api.trial.MAX_SERIES_POINTS`.
The accumulator keeps every ``stride``-th value (indices 0, k, 2k, ...) and doubles ``stride``
when it runs out of room, plus the latest value, so the points always span the whole run and
the same values give the same points. Count, last, min, max and mean are exact over all values.
"""

from __future__ import annotations

import math

from ..api import Aggregation, Direction, MetricPoint, MetricSeries
from ..api.trial import MAX_SERIES_POINTS


class SeriesAccumulator:
    """The running series of one metric; memory stays bounded however many values arrive."""

    def __init__(self, name: str, *, max_points: int = MAX_SERIES_POINTS) -> None:
        if max_points < 3:
            raise ValueError(f"max_points must be at least 3, got {max_points}")
        self.name = name
        self.max_points = max_points
        self.count = 0
        """Values recorded in all."""
        self.min: float | None = None
        self.max: float | None = None
        self.mean: float | None = None
        # Plain (step, value) tuples: building a pydantic point per value would dominate the cost.
        self._last: tuple[int, float] | None = None
        # One place is left for the latest value, so that the points reach the end of the run.
        self._capacity = max_points - 1
        self._stride = 1
        self._kept: list[tuple[int, float]] = []

    @classmethod
    def from_series(cls, series: MetricSeries, *, max_points: int = MAX_SERIES_POINTS) -> SeriesAccumulator:
        """Continue a series recorded earlier (e.g. in a Trial's status) as if it had never stopped."""
        acc = cls(series.name, max_points=max_points)
        points = [(p.step, p.value) for p in series.points if math.isfinite(p.value)]
        if series.count <= 0 or not points:
            return acc
        acc.count = max(series.count, len(points))
        acc._last = points[-1]  # the accumulator always keeps the latest value as the last point
        values = [v for _, v in points]
        acc.min = _finite_or(series.min, min(values))
        acc.max = _finite_or(series.max, max(values))
        acc.mean = min(max(_finite_or(series.mean, sum(values) / len(values)), acc.min), acc.max)
        acc._stride = _stride_for(acc.count, acc._capacity)
        # The last point is the extra "latest value" unless its index is itself a multiple of the stride.
        kept = points if (acc.count - 1) % acc._stride == 0 else points[:-1]
        acc._kept = kept[: acc._capacity]
        return acc

    @property
    def last(self) -> float | None:
        """The latest value recorded."""
        return None if self._last is None else self._last[1]

    @property
    def points(self) -> list[MetricPoint]:
        """The kept points in report order, ending with the latest value; at most ``max_points``."""
        if self._last is None:
            return []
        kept = self._kept if (self.count - 1) % self._stride == 0 else [*self._kept, self._last]
        return [MetricPoint(step=step, value=value) for step, value in kept]

    def add(self, value: float, step: int | None = None) -> bool:
        """Record ``value`` at ``step`` (default: the previous step + 1, from 1); drop it if non-finite."""
        if not math.isfinite(value):
            return False
        if step is None:
            # The report count when no line gives steps; after one that did, the next step.
            step = 1 if self._last is None else self._last[0] + 1
        index = self.count
        self.count += 1
        self._last = (step, value)
        if self.min is None or self.max is None or self.mean is None:
            self.min = self.max = self.mean = value
        else:
            self.min = min(self.min, value)
            self.max = max(self.max, value)
            # Each term is at most max|x| / n, so this never overflows where a running sum would;
            # clamping removes the last rounding drift (the mean always lies within [min, max]).
            moved = self.mean + (value / self.count - self.mean / self.count)
            self.mean = min(max(moved, self.min), self.max)
        if index % self._stride == 0:
            self._kept.append(self._last)
            if len(self._kept) > self._capacity:
                self._kept = self._kept[::2]  # indices 0, 2k, 4k, ...: the same rule, doubled
                self._stride *= 2
        return True

    def to_series(self) -> MetricSeries:
        """The series as a Trial's status records it."""
        return MetricSeries(
            name=self.name,
            points=self.points,
            count=self.count,
            last=self.last,
            min=self.min,
            max=self.max,
            mean=self.mean,
        )


def _stride_for(count: int, capacity: int) -> int:
    """The stride after ``count`` values: the smallest power of two keeping at most ``capacity``."""
    stride = 1
    while -(-count // stride) > capacity:
        stride *= 2
    return stride


def _finite_or(value: float | None, default: float) -> float:
    return value if value is not None and math.isfinite(value) else default


def aggregate(series: MetricSeries, how: Aggregation) -> float | None:
    """The series reduced as the objective says (last, min, max, mean); None without a finite value."""
    value = {
        Aggregation.LAST: series.last,
        Aggregation.MIN: series.min,
        Aggregation.MAX: series.max,
        Aggregation.MEAN: series.mean,
    }[how]
    return value if value is not None and math.isfinite(value) else None


def _covers(series: MetricSeries, step: int) -> bool:
    """True when every value of ``series`` was reported at or before ``step``."""
    return bool(series.points) and step >= max(p.step for p in series.points)


def running_average(series: MetricSeries, step: int) -> float | None:
    """The mean of the values reported up to ``step`` (None before the first); for the median rule.

    Exact once ``step`` reaches the series' last step or while no thinning happened; otherwise the
    mean of the kept points, which are spread evenly over the run.
    """
    if _covers(series, step) and series.mean is not None and math.isfinite(series.mean):
        return series.mean
    values = [p.value for p in series.points if p.step <= step and math.isfinite(p.value)]
    return sum(values) / len(values) if values else None


def best_so_far(series: MetricSeries, step: int, direction: Direction) -> float | None:
    """The best value reported up to ``step`` (None before the first); exact at the last step."""
    extremes = [v for v in (series.min, series.max) if v is not None]
    exact = direction.best(extremes) if extremes else None
    if _covers(series, step) and exact is not None and math.isfinite(exact):
        return exact
    values = [p.value for p in series.points if p.step <= step and math.isfinite(p.value)]
    if not values:
        return None
    return direction.best(values)
