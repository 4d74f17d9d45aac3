"""The registry of metrics formats: a new format is one module and one line here."""

from __future__ import annotations

from collections.abc import Mapping

from ..api import MetricsCollector, MetricsFormat
from .base import LineParser, ParserFactory
from .json_lines import JsonLinesParser
from .key_value import KeyValueParser
from .regex import RegexParser

FORMATS: Mapping[MetricsFormat, ParserFactory] = {
    MetricsFormat.KEY_VALUE: KeyValueParser,
    MetricsFormat.JSON: JsonLinesParser,
    MetricsFormat.REGEX: RegexParser,
    # TensorFlow event files reach the scanner as the JSON lines their follower prints.
    MetricsFormat.TFEVENT: JsonLinesParser,
}
"""The parser of each ``metricsCollector.format``."""


def line_parser(collector: MetricsCollector, wanted: frozenset[str]) -> LineParser:
    """The parser of the collector's format, reading only the ``wanted`` metrics."""
    return FORMATS[collector.format](collector, wanted)
