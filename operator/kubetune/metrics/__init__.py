"""Parse trial output and annotations into metric series; aggregate them.

Typical use::

    wanted = wanted_metrics(spec.objective)
    scanner = LogScanner(spec.metrics_collector, wanted)   # one per trial
    scanner.feed(chunk)                                    # bytes or text, any boundaries
    reading = scanner.finish()                             # at end of stream
    objective = aggregate(reading.series[spec.objective.primary], spec.objective.aggregation)

``read_log`` does the same for a whole text at once, ``read_annotation`` for a pod annotation.
"""

from .annotation import ParsedAnnotation, parse_annotation, read_annotation
from .base import LineParser, MetricsReading, ParsedLine, ParserFactory, Report, wanted_metrics
from .parsing import FORMATS, line_parser
from .report_line import parse_report_line
from .scanner import MAX_LINE_LENGTH, LogScanner, read_log
from .series import SeriesAccumulator, aggregate, best_so_far, running_average

__all__ = [
    "FORMATS",
    "MAX_LINE_LENGTH",
    "LineParser",
    "LogScanner",
    "MetricsReading",
    "ParsedAnnotation",
    "ParsedLine",
    "ParserFactory",
    "Report",
    "SeriesAccumulator",
    "aggregate",
    "best_so_far",
    "line_parser",
    "parse_annotation",
    "parse_report_line",
    "read_annotation",
    "read_log",
    "running_average",
    "wanted_metrics",
]
