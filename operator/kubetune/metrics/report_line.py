"""The line ``kubetune.report`` writes, read whatever the task's format is.

``@kubetune {"metrics": {"loss": 0.41, "accuracy": 0.9}, "step": 3}``: a prefix no other output
starts with, then one JSON object. The scanner tries it before the collector's own format, so a
trainer that calls ``kubetune.report`` never has to match a task's ``patterns`` or ``format``.
"""

from __future__ import annotations

import json

from ..names import REPORT_PREFIX
from .base import NOTHING, ParsedLine, as_step, collect


def parse_report_line(line: str, wanted: frozenset[str]) -> ParsedLine | None:
    """The wanted metrics of a ``kubetune.report`` line; None when ``line`` is not one (never raises)."""
    text = line.lstrip()
    if not text.startswith(REPORT_PREFIX):
        return None
    try:
        obj = json.loads(text[len(REPORT_PREFIX) :])
    except (ValueError, RecursionError):
        return NOTHING  # a damaged report line is no metric of any other format either
    metrics = obj.get("metrics") if isinstance(obj, dict) else None
    if not isinstance(metrics, dict):
        return NOTHING
    return collect([(str(name), value) for name, value in metrics.items()], wanted, as_step(obj.get("step")))
