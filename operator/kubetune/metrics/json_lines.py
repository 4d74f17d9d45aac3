"""The json format: one JSON object per line, e.g. ``{"epoch": 3, "loss": 0.41}``.

Lines that are not a JSON object (other output of the program) are skipped. Only top-level
keys are read; a nested object is not a metric value.
"""

from __future__ import annotations

import json

from ..api import MetricsCollector
from .base import NOTHING, ParsedLine, as_step, collect, step_keys


class JsonLinesParser:
    """Reads the wanted top-level keys of a JSON object line; a step key gives the step."""

    def __init__(self, collector: MetricsCollector, wanted: frozenset[str]) -> None:
        self._wanted = wanted
        self._step_keys = step_keys(collector)

    def parse(self, line: str) -> ParsedLine:
        """Return the wanted metrics the JSON object on ``line`` holds."""
        text = line.strip()
        # Checked first so that ordinary output costs no JSON decoding attempt.
        if not (text.startswith("{") and text.endswith("}")):
            return NOTHING
        try:
            # Python's decoder reads NaN and Infinity; ``collect`` counts and drops them.
            obj = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, too many digits, or nested too deep
            return NOTHING
        if not isinstance(obj, dict):
            return NOTHING
        step = next((s for key in self._step_keys if (s := as_step(obj.get(key))) is not None), None)
        return collect(list(obj.items()), self._wanted, step)
