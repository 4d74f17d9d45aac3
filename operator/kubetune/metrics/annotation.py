"""Metrics a trial writes as a JSON object into a pod annotation (``kubetune.io/metrics``).

Accepted shapes, all top-level keys being metric names::

    {"loss": 0.31, "val_accuracy": 0.9}          one value each, at step 1
    {"step": 5, "loss": 0.3}                     the step key gives the step of the values
    {"loss": [0.5, 0.4, 0.3]}                    a series: steps 1, 2, 3
    {"loss": [{"step": 10, "value": 0.5}, ...]}  a series with explicit steps

The annotation holds the trial's whole story each time it is read, so a reading replaces the
previous one rather than adding to it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from ..api import MetricsCollector
from ..api.trial import MAX_SERIES_POINTS
from .base import DEFAULT_STEP_KEYS, MetricsReading, Report, as_step, finite, step_keys
from .series import SeriesAccumulator

_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


@dataclass(frozen=True)
class ParsedAnnotation:
    """The values an annotation holds, or the problem that kept it from being read."""

    reports: Sequence[Report] = ()
    ignored: int = 0
    """Values of wanted metrics dropped for being NaN, infinite or not numbers."""
    problem: str | None = None
    """Why the annotation could not be read, e.g. "is not valid JSON: ..."."""


def parse_annotation(
    text: str, wanted: frozenset[str] | None = None, *, keys: Sequence[str] = DEFAULT_STEP_KEYS
) -> ParsedAnnotation:
    """The ``wanted`` metrics (default: every key) of a metrics annotation; never raises."""
    if not text.strip():
        return ParsedAnnotation(problem="is empty")
    try:
        obj = json.loads(text)
    except RecursionError:
        return ParsedAnnotation(problem="is nested too deeply to be a metrics object")
    except ValueError as err:
        return ParsedAnnotation(problem=f"is not valid JSON: {err}")
    if not isinstance(obj, dict):
        kind = "null" if obj is None else _JSON_TYPES.get(type(obj), type(obj).__name__)
        return ParsedAnnotation(problem=f"must be a JSON object of metric values, not {kind}")
    step = next((s for key in keys if (s := as_step(obj.get(key))) is not None), None)
    reports: list[Report] = []
    ignored = 0
    for name, raw in obj.items():
        # A step key is the step, not a metric, unless the task asked for it by name.
        if (name not in wanted) if wanted is not None else (name in keys):
            continue
        items = raw if isinstance(raw, list) else [raw]
        for position, item in enumerate(items, start=1):
            value, item_step = _value_and_step(item)
            if value is None:
                ignored += 1
            elif isinstance(raw, list):
                reports.append(Report(name, value, position if item_step is None else item_step))
            else:
                reports.append(Report(name, value, step if item_step is None else item_step))
    return ParsedAnnotation(tuple(reports), ignored)


def _value_and_step(item: object) -> tuple[float | None, int | None]:
    """A value, or a ``{"step": s, "value": v}`` point, as (value, step)."""
    if isinstance(item, dict):
        return finite(item.get("value")), as_step(item.get("step"))
    return finite(item), None


def read_annotation(
    text: str | None,
    collector: MetricsCollector,
    wanted: frozenset[str],
    *,
    max_points: int = MAX_SERIES_POINTS,
) -> MetricsReading:
    """The series a pod's metrics annotation holds (``text`` None: the pod has no such annotation)."""
    if text is None:
        return MetricsReading(problem=f"the pod has no {collector.annotation} annotation")
    parsed = parse_annotation(text, wanted, keys=step_keys(collector))
    if parsed.problem is not None:
        return MetricsReading(problem=f"the {collector.annotation} annotation {parsed.problem}")
    series: dict[str, SeriesAccumulator] = {}
    for report in parsed.reports:
        if report.metric not in series:
            series[report.metric] = SeriesAccumulator(report.metric, max_points=max_points)
        series[report.metric].add(report.value, report.step)
    return MetricsReading(
        series={name: acc.to_series() for name, acc in sorted(series.items())}, ignored=parsed.ignored
    )
