"""Following a pod's log through repeated windowed reads: every metric line is read once, none lost."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubetune.api import MetricsCollector
from kubetune.executors.pod_logs import LogFollower
from kubetune.metrics import LogScanner, MetricsReading

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class Kubelet:
    """A container log as the Kubernetes log API serves it: timestamped lines, read in windows.

    ``ahead`` is how far the kubelet's clock runs ahead of the reader's clock.
    """

    now: datetime = T0
    ahead: timedelta = timedelta(0)
    lines: list[tuple[datetime, str]] = field(default_factory=list)
    reads: list[dict[str, int | None]] = field(default_factory=list)
    served: int = 0

    def write(self, text: str, at: datetime | None = None) -> None:
        self.lines.append((at or self.now + self.ahead, text))

    def clock(self) -> datetime:
        return self.now

    def read(self, *, since_seconds: int | None, limit_bytes: int | None, tail_lines: int | None) -> bytes:
        self.reads.append({"since": since_seconds, "limit": limit_bytes, "tail": tail_lines})
        start = self.now + self.ahead - timedelta(seconds=since_seconds) if since_seconds is not None else None
        kept = [(t, text) for t, text in self.lines if start is None or t >= start]
        if tail_lines is not None:
            kept = kept[-tail_lines:]
        stamp = "%Y-%m-%dT%H:%M:%S.%f"
        data = "".join(f"{t.strftime(stamp)}000Z {text}\n" for t, text in kept).encode()
        data = data[:limit_bytes] if limit_bytes is not None else data
        self.served += len(data)
        return data


def follower(kubelet: Kubelet, **limits: Any) -> LogFollower:
    scanner = LogScanner(MetricsCollector(), frozenset({"loss"}))
    return LogFollower(scanner, kubelet.read, kubelet.clock, **limits)


def losses(reading: MetricsReading) -> list[float]:
    """The loss values read, in order (short series keep every point)."""
    series = reading.series.get("loss")
    return [p.value for p in series.points] if series is not None else []


def count(reading: MetricsReading) -> int:
    series = reading.series.get("loss")
    return series.count if series is not None else 0


def test_lines_cut_by_the_byte_limit_are_read_whole_by_the_next_request() -> None:
    kubelet = Kubelet()
    for step in range(1, 41):
        kubelet.write(f"step={step} loss={step / 100}", at=T0 + timedelta(milliseconds=step))
    kubelet.now = T0 + timedelta(seconds=1)
    reading = follower(kubelet, chunk_bytes=100).advance(final=True)
    assert losses(reading) == [step / 100 for step in range(1, 41)]
    assert len(kubelet.reads) > 3, "read in several chunks, each cut inside a line"


def test_lines_sharing_a_timestamp_are_neither_repeated_nor_dropped_across_reads() -> None:
    kubelet = Kubelet()
    follow = follower(kubelet)
    kubelet.write("step=1 loss=0.9")
    kubelet.write("step=2 loss=0.8")  # the same nanosecond as the line before
    assert losses(follow.advance(final=False)) == [0.9, 0.8]
    kubelet.write("step=3 loss=0.7")  # still the same stamp, written after the first read
    kubelet.now += timedelta(seconds=5)
    kubelet.write("step=4 loss=0.6")
    assert losses(follow.advance(final=True)) == [0.9, 0.8, 0.7, 0.6]


def test_a_kubelet_clock_ahead_of_the_operators_loses_no_line() -> None:
    kubelet = Kubelet(ahead=timedelta(seconds=30))
    follow = follower(kubelet)
    kubelet.write("step=1 loss=0.9")
    assert losses(follow.advance(final=False)) == [0.9]
    kubelet.now += timedelta(seconds=10)
    kubelet.write("step=2 loss=0.8")
    kubelet.now += timedelta(seconds=10)
    kubelet.write("step=3 loss=0.7")
    assert losses(follow.advance(final=True)) == [0.9, 0.8, 0.7]


def test_a_kubelet_clock_behind_re_reads_a_wider_window_and_repeats_nothing() -> None:
    kubelet = Kubelet(ahead=timedelta(seconds=-30))
    follow = follower(kubelet)
    kubelet.write("step=1 loss=0.9")
    kubelet.now += timedelta(seconds=3)
    assert losses(follow.advance(final=False)) == [0.9]
    kubelet.write("step=2 loss=0.8")
    assert losses(follow.advance(final=True)) == [0.9, 0.8]


def test_more_than_a_chunk_within_one_second_grows_the_request_instead_of_stalling() -> None:
    kubelet = Kubelet()
    for step in range(1, 201):
        kubelet.write(f"step={step} loss={step}")  # all in the same second
    follow = follower(kubelet, chunk_bytes=256, max_chunk_bytes=256 * 64)
    reading = follow.advance(final=False)
    assert count(reading) == 200 and reading.series["loss"].last == 200
    assert max(r["limit"] or 0 for r in kubelet.reads) > 256


def test_past_the_byte_cap_a_finished_trial_still_gets_its_last_lines() -> None:
    kubelet = Kubelet()
    for step in range(1, 1001):
        kubelet.write(f"step={step} loss={1000 - step}", at=T0 + timedelta(milliseconds=step))
    kubelet.now = T0 + timedelta(seconds=2)
    follow = follower(kubelet, chunk_bytes=512, max_bytes=2048, tail_lines=(5,))
    reading = follow.advance(final=True)
    assert follow.read_bytes < 20 * 1000 // 2, "far from the whole log was read"
    assert reading.series["loss"].last == 0.0, "the final value, from the tail, decides the objective"
    assert count(reading) < 1000
    assert kubelet.reads[-1]["tail"] == 5
    assert all(r["limit"] is not None for r in kubelet.reads), "every read is bounded, the tail read too"


def test_a_line_longer_than_any_chunk_costs_bounded_reads_and_hides_no_final_value() -> None:
    kubelet = Kubelet()
    kubelet.write("x" * 100_000, at=T0)  # a trainer that printed one huge line
    kubelet.write("loss=0.5", at=T0)
    kubelet.now = T0 + timedelta(seconds=1)
    follow = follower(kubelet, chunk_bytes=256, max_chunk_bytes=1024, max_bytes=8192, tail_bytes=512)
    reading = follow.advance(final=True)
    assert losses(reading) == [0.5]
    assert max(r["limit"] or 0 for r in kubelet.reads) <= 1024, "chunks stop growing at the cap"
    assert follow.read_bytes == kubelet.served, "every byte read counts against the cap, re-read ones included"
    assert kubelet.served < 8192 + 3 * 512


def test_a_running_trial_past_the_cap_is_not_read_again() -> None:
    kubelet = Kubelet()
    for step in range(1, 101):
        kubelet.write(f"step={step} loss={step}", at=T0 + timedelta(milliseconds=step))
    kubelet.now = T0 + timedelta(seconds=1)
    follow = follower(kubelet, chunk_bytes=256, max_bytes=256)
    follow.advance(final=False)
    reads = len(kubelet.reads)
    follow.advance(final=False)
    assert len(kubelet.reads) == reads


def test_an_unreadable_log_reads_nothing_and_keeps_the_cursor() -> None:
    kubelet = Kubelet()
    kubelet.write("step=1 loss=0.5")
    follow = follower(kubelet)
    follow.advance(final=False)
    broken = LogFollower(follow.scanner, lambda **_: None, kubelet.clock, last_stamp=follow.last_stamp)
    assert losses(broken.advance(final=False)) == [0.5]
    assert broken.last_stamp == follow.last_stamp
