"""Following one container's log through repeated reads, each given a ``sinceSeconds`` window.

The Kubernetes log API has no cursor: a read says how many seconds back to start, in whole
seconds, and each line carries the kubelet's RFC 3339 timestamp. A follower therefore re-reads
from a little before the last line it saw and skips what it already fed its scanner: lines older
than the last timestamp, and as many lines at that exact timestamp as it saw before. Every read
passes ``limitBytes``: a chunk grows only while a whole chunk shares one timestamp, up to
MAX_CHUNK_BYTES, and every byte read, re-read ones included, counts against MAX_BYTES. Past the cap
(or past a line longer than a chunk), a finished trial's last lines are still read, in a bounded
tail read, because its final values decide the objective. The operator's memory therefore stays
bounded whatever a trial prints. The follower knows nothing of the Kubernetes client: it is given
a reader.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ..metrics import LogScanner, MetricsReading
from .facts import parse_time

CHUNK_BYTES = 4 * 1024 * 1024
"""Most bytes of a pod's log read in one request; longer logs are read in several."""
MAX_CHUNK_BYTES = 8 * 1024 * 1024
"""Largest request, for a trial that prints more than a chunk within one second."""
TAIL_LINES = (1000, 10, 1)
"""Lines read from the end of a finished trial's log when the rest was past a cap: fewer and fewer
until a whole line comes back (one huge line among the last ones must not hide the final value)."""
TAIL_BYTES = 1024 * 1024
"""Most bytes of one tail read."""
MAX_BYTES = 256 * 1024 * 1024
"""Most new bytes of one trial's log read: a runaway trial cannot make the operator read forever."""
MARGIN_SECONDS = 2
"""Extra seconds of a re-read window: the API rounds to whole seconds, and clocks drift."""


class LogReader(Protocol):
    """Reads a container's log with kubelet timestamps; None when it cannot be read now."""

    def __call__(
        self, *, since_seconds: int | None, limit_bytes: int | None, tail_lines: int | None
    ) -> bytes | None: ...


@dataclass
class LogFollower:
    """How far one run's log has been read: kept in memory, rebuilt by re-reading after a restart."""

    scanner: LogScanner
    read: LogReader
    clock: Callable[[], datetime]
    """The wall clock, to turn the last timestamp into a ``sinceSeconds`` window."""
    chunk_bytes: int = CHUNK_BYTES
    max_chunk_bytes: int = MAX_CHUNK_BYTES
    max_bytes: int = MAX_BYTES
    tail_lines: tuple[int, ...] = TAIL_LINES
    tail_bytes: int = TAIL_BYTES
    last_stamp: str = ""
    """Timestamp of the last line fed (RFC 3339 with nanoseconds, as the kubelet writes it)."""
    seen_at_stamp: int = 0
    """Lines fed that carry exactly ``last_stamp``: a re-read from that second skips them."""
    read_bytes: int = 0
    """Bytes read so far, re-read ones included (the cap counts these)."""
    ahead: float = 0.0
    """How far the kubelet's clock was seen ahead of ours (a line stamped in our future), in seconds."""
    last_read: float = field(default=0.0)
    """When the log was last read (monotonic seconds), to space reads of a running trial."""

    def advance(self, *, final: bool) -> MetricsReading:
        """Read what the log holds past the cursor and feed it; ``final``: the run ended, read its end too."""
        chunk = self.chunk_bytes
        to_the_end = False
        while self.read_bytes < self.max_bytes:
            data = self._read(since_seconds=self._since(), limit_bytes=chunk)
            if data is None:
                to_the_end = True  # unreadable now (logged by the reader): the next step tries again
                break
            fresh = self._fresh_lines(data)
            if fresh:
                self._feed(fresh)
            if len(data) < chunk:
                to_the_end = True
                break
            if not fresh:
                # A whole chunk of lines already seen: more than a chunk shares the last second.
                if chunk >= self.max_chunk_bytes:
                    break
                chunk = min(chunk * 4, self.max_chunk_bytes)
        if final and not to_the_end:
            # Past the cap, still read the last lines: the final values decide the objective.
            for lines in self.tail_lines:
                tail = self._read(tail_lines=lines, limit_bytes=self.tail_bytes)
                fresh = self._fresh_lines(tail) if tail is not None else []
                if fresh:
                    self.scanner.feed("".join(fresh))
                    break
        return self.scanner.finish() if final else self.scanner.reading()

    def _read(
        self, *, since_seconds: int | None = None, limit_bytes: int | None = None, tail_lines: int | None = None
    ) -> bytes | None:
        self.last_read = time.monotonic()
        data = self.read(since_seconds=since_seconds, limit_bytes=limit_bytes, tail_lines=tail_lines)
        self.read_bytes += len(data or b"")
        return data

    def _since(self) -> int | None:
        """Seconds back to re-read from: a little before the last line, or None (the whole log)."""
        stamp = parse_time(self.last_stamp)
        if stamp is None:
            return None
        elapsed = (self.clock() - stamp).total_seconds()
        return max(1, int(elapsed + self.ahead) + MARGIN_SECONDS)

    def _feed(self, fresh: list[str]) -> None:
        self.scanner.feed("".join(fresh))
        # A stamp later than our clock means the kubelet's clock runs ahead: widen later windows
        # by as much, or they would start after the last line seen and skip what came since.
        stamp = parse_time(self.last_stamp)
        if stamp is not None:
            self.ahead = max(self.ahead, (stamp - self.clock()).total_seconds())

    def _fresh_lines(self, data: bytes) -> list[str]:
        """Lines after the cursor, timestamps stripped; moves the cursor past them."""
        fresh = []
        seen_now = 0
        for line in data.decode("utf-8", errors="replace").splitlines(keepends=True):
            if not line.endswith("\n"):
                break  # a chunk cut mid-line: the next read starts again from its timestamp
            stamp, _, rest = line.partition(" ")
            if self.last_stamp and stamp < self.last_stamp:
                continue
            if stamp == self.last_stamp:
                seen_now += 1
                if seen_now <= self.seen_at_stamp:
                    continue
                self.seen_at_stamp = seen_now
            else:
                self.last_stamp, self.seen_at_stamp, seen_now = stamp, 1, 1
            fresh.append(rest)
        return fresh
