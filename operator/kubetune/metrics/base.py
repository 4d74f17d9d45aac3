"""The interface every metrics format implements, and the values that cross it.

A format is a :class:`LineParser` built once per trial from the task's collector and the set of
wanted metric names; :class:`~kubetune.metrics.scanner.LogScanner` calls ``parse`` once per
complete line. Parsers keep no state between lines, so the same log gives the same reports
however it was cut into chunks.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..api import MetricsCollector, MetricSeries, Objective

DEFAULT_STEP_KEYS = ("step", "epoch")
"""Keys whose value is the step of the other values on the line, in order of preference."""

MAX_STEP = 2**53
"""Steps at or above this are not exact as floats, so they are not steps but noise."""


@dataclass(frozen=True)
class Report:
    """One finite value of one metric, with the step the line gave (None: not given)."""

    metric: str
    value: float
    step: int | None = None


@dataclass(frozen=True)
class ParsedLine:
    """What one line held: the finite values of wanted metrics, and how many were unusable."""

    reports: Sequence[Report] = ()
    ignored: int = 0
    """Values of wanted metrics dropped for being NaN, infinite or not numbers."""
    others: Sequence[Report] = ()
    """Finite values of metrics the task did not ask for (shown to people, never used to decide)."""


NOTHING = ParsedLine()
"""A line without any wanted metric."""


@dataclass(frozen=True)
class MetricsReading:
    """Everything read from one trial's output or annotation so far."""

    series: Mapping[str, MetricSeries] = field(default_factory=dict)
    """The metrics that reported at least one finite value, by name: the wanted ones, and a bounded
    number of others the trial printed."""
    ignored: int = 0
    """Values of wanted metrics dropped for being NaN, infinite or not numbers."""
    lines: int = 0
    """Non-empty lines read (0 for an annotation)."""
    skipped_lines: int = 0
    """Lines longer than the scanner's limit, skipped unread."""
    problem: str | None = None
    """Why nothing could be read (a malformed or absent annotation), as a sentence fragment."""
    wanted: frozenset[str] | None = None
    """The metrics that were asked for (None: every one in ``series`` was)."""

    def summary(self) -> str:
        """One sentence with numbers, e.g. "Read 12 values of loss; 3 non-finite values ignored."."""
        if self.problem is not None:
            return f"No metrics: {self.problem}."
        wanted = self.wanted if self.wanted is not None else frozenset(self.series)
        found = sorted(name for name in self.series if name in wanted)
        values = sum(self.series[name].count for name in found)
        lines = f" {self.lines} line{_s(self.lines)}" if self.lines else ""
        if values:
            parts = [f"Read {values} value{_s(values)} of {', '.join(found)}" + (f" from{lines}" if lines else "")]
        else:  # say what was looked for, not "0 values of no wanted metric"
            looked_for = ", ".join(sorted(wanted)) or "the wanted metrics"
            parts = [f"No value of {looked_for} was found" + (f" in{lines} of output" if lines else "")]
        others = sorted(name for name in self.series if name not in wanted)
        if others:
            parts.append(f"the trial printed {', '.join(others)}")
        if self.ignored:
            parts.append(f"{self.ignored} non-finite or non-numeric value{_s(self.ignored)} ignored")
        if self.skipped_lines:
            parts.append(f"{self.skipped_lines} overlong line{_s(self.skipped_lines)} skipped")
        return "; ".join(parts) + "."


def _s(count: int) -> str:
    return "" if count == 1 else "s"


class LineParser(Protocol):
    """Reads the wanted metrics of one complete line of trial output."""

    def parse(self, line: str) -> ParsedLine:
        """Return the wanted metrics ``line`` reports; never raise on any input."""
        ...


class ParserFactory(Protocol):
    """Builds a format's parser for one collector and the metrics the task records."""

    def __call__(self, collector: MetricsCollector, wanted: frozenset[str]) -> LineParser: ...


def wanted_metrics(objective: Objective) -> frozenset[str]:
    """The metric names a trial's output is searched for: the objectives, the constraint and the additional ones."""
    return frozenset((*objective.names, *(c.metric for c in objective.constraints), *objective.additional_metrics))


def step_keys(collector: MetricsCollector) -> tuple[str, ...]:
    """The keys that give a line's step: the collector's ``stepKey``, else ``step`` then ``epoch``."""
    return (collector.step_key,) if collector.step_key else DEFAULT_STEP_KEYS


def finite(value: object) -> float | None:
    """``value`` as a finite float, or None for NaN, infinities, booleans and non-numbers."""
    # bool is an int subclass, but ``"loss": true`` is a mistake, not the value 1.
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer with hundreds of digits
            return None
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_step(value: object) -> int | None:
    """``value`` as a step (a whole number in [0, 2**53)), or None when it cannot be one."""
    number = finite(value)
    if number is None or number < 0 or number >= MAX_STEP or not number.is_integer():
        return None
    return int(number)


def collect(pairs: Collection[tuple[str, object]], wanted: frozenset[str], step: int | None) -> ParsedLine:
    """Keep the wanted ``(name, raw value)`` pairs as reports at ``step``, count the unusable ones,
    and keep the finite values of the other names as ``others``."""
    reports: list[Report] = []
    others: list[Report] = []
    ignored = 0
    for name, raw in pairs:
        value = finite(raw)
        if name not in wanted:
            if value is not None:
                others.append(Report(name, value, step))
        elif value is None:
            ignored += 1
        else:
            reports.append(Report(name, value, step))
    return ParsedLine(tuple(reports), ignored, tuple(others)) if reports or ignored or others else NOTHING
