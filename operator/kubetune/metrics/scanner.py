"""Incremental reading of a trial's output: chunks of any size in, metric series out.

Chunks arrive as a process pipe or repeated pod-log reads deliver them, cut anywhere, even
inside a UTF-8 character. A line is parsed only once its end (``\\n`` or ``\\r``) has arrived, so
a half-written line is never read early; ``\\r`` ends a line too because progress bars (tqdm,
Keras) rewrite one terminal line with it and may print no ``\\n`` for hours. State is bounded:
one partial line of at most ``max_line_length`` characters, and the :class:`SeriesAccumulator` of
each wanted metric and of at most ``max_others`` other metrics the trial printed.
"""

from __future__ import annotations

import codecs
import re

from ..api import MetricsCollector
from ..api.trial import MAX_SERIES_POINTS
from .base import MetricsReading, Report, step_keys
from .parsing import line_parser
from .report_line import parse_report_line
from .series import SeriesAccumulator

MAX_LINE_LENGTH = 64 * 1024
"""Characters a line may have; a longer line is skipped, never buffered whole."""
MAX_OTHER_METRICS = 10
"""Metrics a trial printed beyond the wanted ones that are kept (the first ones printed): enough to
show what a trainer reports, bounded however many names a chatty log holds."""
MAX_OTHER_POINTS = 20
"""Points kept per series of such a metric (its count, last, min, max and mean cover every value):
a task of 2,000 trials stores a few kilobytes more per Trial, not a hundred."""

_LINE_END = re.compile(r"[\r\n]")


class LogScanner:
    """Feed it output chunks (bytes or text) as they come; ask for the series read so far at any time."""

    def __init__(
        self,
        collector: MetricsCollector,
        wanted: frozenset[str],
        *,
        max_line_length: int = MAX_LINE_LENGTH,
        max_points: int = MAX_SERIES_POINTS,
        max_others: int = MAX_OTHER_METRICS,
    ) -> None:
        self._parser = line_parser(collector, wanted)
        self._wanted = wanted
        self._max_others = max_others
        # A line's step key (``epoch=3``) gives the step of its metrics; it is not a metric itself.
        self._not_metrics = frozenset(step_keys(collector))
        self._max_line_length = max_line_length
        self._max_points = max_points
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # Pieces of the unfinished line; joined once its end arrives (no quadratic concatenation).
        self._partial: list[str] = []
        self._partial_length = 0
        self._overlong = False
        self._series: dict[str, SeriesAccumulator] = {}
        self._others = 0
        """How many unwanted metric names have a series (at most ``max_others``)."""
        self.lines = 0
        self.ignored = 0
        self.skipped_lines = 0

    def feed(self, chunk: bytes | str) -> None:
        """Read a chunk; complete lines are parsed now, a trailing partial line waits for its end."""
        self._consume(self._decoder.decode(chunk) if isinstance(chunk, bytes) else self._flush_decoder() + chunk)

    def finish(self) -> MetricsReading:
        """End of stream: parse the last line even without its newline, and return the reading."""
        self._consume(self._flush_decoder())
        if self._partial or self._overlong:
            self._end_line()
        return self.reading()

    def reading(self) -> MetricsReading:
        """The series read from complete lines so far."""
        return MetricsReading(
            series={name: acc.to_series() for name, acc in sorted(self._series.items())},
            ignored=self.ignored,
            lines=self.lines,
            skipped_lines=self.skipped_lines,
            wanted=self._wanted,
        )

    def _flush_decoder(self) -> str:
        # Bytes of a character cut short by the end of the byte stream become U+FFFD.
        text = self._decoder.decode(b"", final=True)
        self._decoder.reset()
        return text

    def _consume(self, text: str) -> None:
        *complete, rest = _LINE_END.split(text)
        for piece in complete:
            self._append(piece)
            self._end_line()
        self._append(rest)

    def _append(self, piece: str) -> None:
        if self._overlong or not piece:
            return
        self._partial_length += len(piece)
        if self._partial_length > self._max_line_length:
            self._overlong = True  # drop what we have and everything up to the line's end
            self._partial.clear()
        else:
            self._partial.append(piece)

    def _end_line(self) -> None:
        if self._overlong:
            self.skipped_lines += 1
        elif self._partial:
            self.lines += 1
            self._parse("".join(self._partial))
        self._partial.clear()
        self._partial_length = 0
        self._overlong = False

    def _parse(self, line: str) -> None:
        parsed = parse_report_line(line, self._wanted)
        if parsed is None:
            parsed = self._parser.parse(line)
        self.ignored += parsed.ignored
        for report in parsed.reports:
            self._add(report)
        for report in parsed.others:
            if self._keeps(report.metric):
                self._add(report)

    def _keeps(self, name: str) -> bool:
        """Whether values of an unwanted metric are kept: the first ``max_others`` names are."""
        if name in self._series:
            return True
        if name in self._not_metrics or self._others >= self._max_others:
            return False
        self._others += 1
        return True

    def _add(self, report: Report) -> None:
        acc = self._series.get(report.metric)
        if acc is None:
            points = self._max_points if report.metric in self._wanted else min(self._max_points, MAX_OTHER_POINTS)
            acc = self._series[report.metric] = SeriesAccumulator(report.metric, max_points=points)
        acc.add(report.value, report.step)


def read_log(
    text: str | bytes,
    collector: MetricsCollector,
    wanted: frozenset[str],
    *,
    max_line_length: int = MAX_LINE_LENGTH,
) -> MetricsReading:
    """Read a whole log (e.g. a finished trial's output file) at once."""
    scanner = LogScanner(collector, wanted, max_line_length=max_line_length)
    scanner.feed(text)
    return scanner.finish()
