"""Properties that hold for any input: chunking, garbage, bounds, aggregation, steps."""

from __future__ import annotations

import itertools
import json
import math
import statistics
import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kubetune.api import Aggregation, MetricsCollector, MetricSeries, MetricsFormat
from kubetune.api.task import MetricPattern
from kubetune.api.trial import MAX_SERIES_POINTS
from kubetune.metrics import LogScanner, MetricsReading, SeriesAccumulator, aggregate, read_log

WANTED = frozenset({"loss", "acc"})
COLLECTORS = [
    MetricsCollector(),
    MetricsCollector(format=MetricsFormat.JSON),
    MetricsCollector(
        format=MetricsFormat.REGEX,
        patterns=[MetricPattern(metric="loss", regex=r"loss\W*(\S+)"), MetricPattern(metric="acc", regex=r"acc=(.*)")],
    ),
]

any_number = st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.sampled_from(["nan", "-inf", "1e999"])
metric_line = st.builds(
    lambda name, value, step: f"{'' if step is None else f'step={step} '}{name}={value}",
    st.sampled_from(["loss", "acc", "other"]),
    any_number,
    st.none() | st.integers(-5, 2**60),
)
json_keys = st.sampled_from(["loss", "acc", "step", "epoch"])
json_line = st.dictionaries(json_keys, any_number | st.text(max_size=5)).map(json.dumps)
garbage_line = st.text(max_size=80)
log_lines = st.lists(metric_line | json_line | garbage_line, max_size=40)
line_end = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def log_bytes(draw: st.DrawFn) -> bytes:
    """A log of metric lines, JSON lines, random text and random bytes, with mixed line endings."""
    parts: list[bytes] = []
    for line in draw(log_lines):
        parts.append(line.encode("utf-8", errors="surrogatepass") + draw(line_end).encode())
        if draw(st.booleans()):
            parts.append(draw(st.binary(max_size=20)))
    return b"".join(parts)


def assert_all_finite(reading: MetricsReading) -> None:
    for series in reading.series.values():
        assert series.count >= len(series.points) >= 1
        numbers = [series.last, series.min, series.max, series.mean, *(p.value for p in series.points)]
        assert all(v is not None and math.isfinite(v) for v in numbers)
        for how in Aggregation:
            value = aggregate(series, how)
            assert value is not None and math.isfinite(value)


@settings(max_examples=150, deadline=None)
@given(data=log_bytes(), cuts=st.lists(st.integers(0, 10_000), max_size=12), which=st.integers(0, 2))
def test_arbitrary_chunking_of_the_same_log_gives_the_same_series(data: bytes, cuts: list[int], which: int) -> None:
    collector = COLLECTORS[which]
    whole = read_log(data, collector, WANTED)
    scanner = LogScanner(collector, WANTED)
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        scanner.feed(data[start:end])
    assert scanner.finish() == whole


@settings(max_examples=150, deadline=None)
@given(data=log_bytes() | st.binary(max_size=500), which=st.integers(0, 2))
def test_garbage_binary_nan_and_inf_never_raise_nor_give_a_non_finite_value(data: bytes, which: int) -> None:
    reading = read_log(data, COLLECTORS[which], WANTED)
    assert_all_finite(reading)
    assert reading.summary()


@settings(max_examples=100, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False), step=st.none() | st.integers(0, 2**53 - 1))
def test_every_finite_float_printed_by_python_reads_back_exactly_at_its_step(value: float, step: int | None) -> None:
    prefix = "" if step is None else f"epoch={step} "
    for collector, line in [
        (COLLECTORS[0], f"{prefix}loss={value!r}"),
        (COLLECTORS[0], f"{prefix}loss: {value}, acc=1"),
        (COLLECTORS[1], json.dumps({"loss": value} if step is None else {"epoch": step, "loss": value})),
    ]:
        points = read_log(line, collector, WANTED).series["loss"].points
        assert [(p.step, p.value) for p in points] == [(1 if step is None else step, value)]


@settings(max_examples=100, deadline=None)
@given(steps=st.lists(st.none() | st.integers(0, 10**6), min_size=1, max_size=50))
def test_steps_come_from_the_step_key_or_follow_the_previous_one(steps: list[int | None]) -> None:
    text = "".join(f"{'' if s is None else f'step={s} '}loss={i}\n" for i, s in enumerate(steps))
    points = read_log(text, COLLECTORS[0], WANTED).series["loss"].points
    expected: list[int] = []
    for s in steps:
        expected.append(s if s is not None else (expected[-1] + 1 if expected else 1))
    assert [p.step for p in points] == expected


finite_values = st.lists(st.floats(min_value=-1e100, max_value=1e100), min_size=1, max_size=400)


@settings(max_examples=150, deadline=None)
@given(values=finite_values)
def test_aggregation_matches_numpy_and_statistics_on_any_finite_series(values: list[float]) -> None:
    acc = SeriesAccumulator("loss")
    for v in values:
        acc.add(v)
    series = acc.to_series()
    scale = max(abs(v) for v in values)
    assert aggregate(series, Aggregation.LAST) == values[-1]
    assert aggregate(series, Aggregation.MIN) == float(np.min(values))
    assert aggregate(series, Aggregation.MAX) == float(np.max(values))
    mean = aggregate(series, Aggregation.MEAN)
    assert mean is not None
    assert math.isclose(mean, statistics.fmean(values), rel_tol=1e-9, abs_tol=1e-9 * scale)
    assert min(values) <= mean <= max(values)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(-1e6, 1e6), max_size=700), split=st.integers(0, 700), size=st.integers(3, 40))
def test_points_are_an_even_bounded_subsequence_and_resuming_changes_nothing(
    values: list[float], split: int, size: int
) -> None:
    whole = SeriesAccumulator("loss", max_points=size)
    first = SeriesAccumulator("loss", max_points=size)
    for i, v in enumerate(values):
        whole.add(v)
        if i < split:
            first.add(v)
    resumed = SeriesAccumulator.from_series(first.to_series(), max_points=size)
    for v in values[split:]:
        resumed.add(v)
    series = whole.to_series()
    assert resumed.points == series.points
    assert len(series.points) <= size
    if values:
        assert series.points[0].step == 1 and series.points[-1].step == len(values)
        assert all(values[p.step - 1] == p.value for p in series.points)
        gaps = {b.step - a.step for a, b in itertools.pairwise(series.points[:-1])}
        assert len(gaps) <= 1  # evenly thinned


_MEMORY_PROBE = """
import tracemalloc, sys
from kubetune.api import MetricsCollector
from kubetune.metrics import LogScanner
scanner = LogScanner(MetricsCollector(), frozenset({"loss", "acc"}))
chunk = "".join(f"epoch={i} loss={1 / (i + 1)!r} acc={i % 7} noise {'x' * 40}\\n" for i in range(1000))
for _ in range(10):
    scanner.feed(chunk)  # past the first thinning, so the kept points are at their steady size
tracemalloc.start()
before, _ = tracemalloc.get_traced_memory()
tracemalloc.reset_peak()
for _ in range(20):
    scanner.feed(chunk)
after, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(after - before, peak - before, len(chunk))
"""


def test_memory_stays_bounded_over_a_hundred_thousand_lines() -> None:
    # Measured in a process of its own: tracemalloc counts every thread's allocations, and threads
    # left by other tests (an operator, an emulator) would be counted as the scanner's.
    probe = subprocess.run([sys.executable, "-c", _MEMORY_PROBE], capture_output=True, text=True, check=True)
    retained, transient, chunk_length = map(int, probe.stdout.split())
    assert retained < 20_000  # 20,000 more lines retained (almost) nothing
    assert transient < 3 * chunk_length  # the transient cost is the chunk being split, nothing more
    scanner = LogScanner(MetricsCollector(), WANTED)
    chunk = "".join(f"epoch={i} loss={1 / (i + 1)!r} acc={i % 7} noise {'x' * 40}\n" for i in range(1000))
    for _ in range(100):
        scanner.feed(chunk)
    reading = scanner.finish()
    assert reading.lines == 100_000
    for series in reading.series.values():
        assert series.count == 100_000
        assert len(series.points) <= MAX_SERIES_POINTS


def test_an_unbroken_stream_of_a_hundred_megabytes_keeps_one_bounded_line() -> None:
    scanner = LogScanner(MetricsCollector(), WANTED, max_line_length=1024)
    block = b"y" * 1_000_000
    for _ in range(100):
        scanner.feed(block)
        assert scanner._partial_length <= 1024 or not scanner._partial
    scanner.feed(b"\nloss=1\n")
    reading = scanner.finish()
    assert reading.skipped_lines == 1
    assert reading.series["loss"] == MetricSeries(
        name="loss", points=reading.series["loss"].points, count=1, last=1.0, min=1.0, max=1.0, mean=1.0
    )
