"""Incremental reading of trial output: chunks, partial lines, long lines, encodings."""

from __future__ import annotations

from kubetune.api import MetricsCollector, MetricsFormat
from kubetune.api.trial import MAX_SERIES_POINTS
from kubetune.metrics import LogScanner, read_log
from kubetune.metrics.scanner import MAX_OTHER_METRICS, MAX_OTHER_POINTS

LOSS = frozenset({"loss"})


def values(scanner: LogScanner, metric: str = "loss") -> list[float]:
    series = scanner.reading().series.get(metric)
    return [p.value for p in series.points] if series else []


def test_half_written_line_is_not_parsed_until_its_newline_arrives() -> None:
    scanner = LogScanner(MetricsCollector(), LOSS)
    scanner.feed(b"loss=0.5\nloss=0.2")
    assert values(scanner) == [0.5]  # "loss=0.2" may still become "loss=0.25"
    scanner.feed(b"5\n")
    assert values(scanner) == [0.5, 0.25]


def test_finish_parses_a_final_line_without_newline() -> None:
    scanner = LogScanner(MetricsCollector(), LOSS)
    scanner.feed("loss=1\nloss=2")
    reading = scanner.finish()
    assert [p.value for p in reading.series["loss"].points] == [1.0, 2.0]
    assert reading.lines == 2


def test_a_utf8_character_cut_between_chunks_is_decoded_whole() -> None:
    data = "étape loss=0.5 ✓\n".encode()
    scanner = LogScanner(MetricsCollector(), LOSS)
    for i in range(len(data)):
        scanner.feed(data[i : i + 1])
    assert values(scanner) == [0.5]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    reading = read_log(b"\xff\xfe loss=0.5 \xc3\nloss=0.7\xe2\x82", MetricsCollector(), LOSS)
    assert reading.series["loss"].count == 2


def test_carriage_returns_of_progress_bars_end_lines() -> None:
    reading = read_log(" 10%|#  | loss=0.9\r 20%|## | loss=0.8\r\nloss=0.7\r\n", MetricsCollector(), LOSS)
    assert [p.value for p in reading.series["loss"].points] == [0.9, 0.8, 0.7]
    assert reading.lines == 3


def test_an_overlong_line_is_skipped_without_being_buffered_and_the_next_line_is_read() -> None:
    scanner = LogScanner(MetricsCollector(), LOSS, max_line_length=100)
    scanner.feed("loss=1 ")
    for _ in range(1000):
        scanner.feed("x" * 50)
        assert scanner._partial_length <= 100 or not scanner._partial  # nothing piles up
    scanner.feed(" loss=2\nloss=3\n")
    reading = scanner.finish()
    assert [p.value for p in reading.series["loss"].points] == [3.0]
    assert reading.skipped_lines == 1
    assert "1 overlong line skipped" in reading.summary()


def test_a_line_of_exactly_the_limit_is_read() -> None:
    line = "loss=1".ljust(100)
    assert read_log(line + "\n" + line + "x", MetricsCollector(), LOSS, max_line_length=100).series["loss"].count == 1


def test_metrics_without_a_step_key_are_numbered_by_report() -> None:
    reading = read_log("loss=3\nnoise\nloss=2\nloss=1\n", MetricsCollector(), LOSS)
    assert [(p.step, p.value) for p in reading.series["loss"].points] == [(1, 3.0), (2, 2.0), (3, 1.0)]


def test_a_line_without_step_after_stepped_lines_takes_the_next_step() -> None:
    reading = read_log("step=100 loss=3\nloss=2\n", MetricsCollector(), LOSS)
    assert [p.step for p in reading.series["loss"].points] == [100, 101]


def test_text_and_bytes_chunks_can_be_mixed() -> None:
    scanner = LogScanner(MetricsCollector(), LOSS)
    scanner.feed(b"loss=")
    scanner.feed("1\n")
    scanner.feed(b"loss=2\n")
    assert values(scanner) == [1.0, 2.0]


def test_the_summary_counts_values_lines_and_ignored_values() -> None:
    reading = read_log("loss=1\nloss=nan\nloss=inf\nacc=1\nloss=-inf\n", MetricsCollector(), frozenset({"loss", "acc"}))
    assert reading.summary() == "Read 2 values of acc, loss from 5 lines; 3 non-finite or non-numeric values ignored."


def test_json_format_through_the_scanner() -> None:
    collector = MetricsCollector(format=MetricsFormat.JSON)
    reading = read_log('starting\n{"epoch": 1, "loss": 0.5}\n{"epoch": 2, "loss": 0.4}\n', collector, LOSS)
    assert [(p.step, p.value) for p in reading.series["loss"].points] == [(1, 0.5), (2, 0.4)]


def test_no_wanted_metric_gives_an_empty_reading() -> None:
    reading = read_log("hello\nworld\n", MetricsCollector(), LOSS)
    assert reading.series == {}
    assert reading.summary() == "No value of loss was found in 2 lines of output."


def test_metrics_the_task_did_not_ask_for_are_kept_but_not_the_step_key() -> None:
    reading = read_log("epoch=1 loss=0.5 acc=0.7 lr=0.1\nepoch=2 loss=0.4 acc=0.8\n", MetricsCollector(), LOSS)
    assert sorted(reading.series) == ["acc", "loss", "lr"]
    assert [(p.step, p.value) for p in reading.series["acc"].points] == [(1, 0.7), (2, 0.8)]


def test_other_metrics_are_bounded_in_names_and_points() -> None:
    names = " ".join(f"m{i}=1" for i in range(MAX_OTHER_METRICS + 5))
    lines = "".join(f"step={s} loss={s} {names}\n" for s in range(200))
    reading = read_log(lines, MetricsCollector(), LOSS)
    others = [name for name in reading.series if name != "loss"]
    assert len(others) == MAX_OTHER_METRICS
    assert sorted(others) == sorted(f"m{i}" for i in range(MAX_OTHER_METRICS))  # the first ones printed
    assert len(reading.series["m0"].points) <= MAX_OTHER_POINTS and reading.series["m0"].count == 200
    assert MAX_OTHER_POINTS < len(reading.series["loss"].points) <= MAX_SERIES_POINTS  # the objective keeps more


def test_a_missing_metric_is_reported_with_the_names_the_trial_printed() -> None:
    reading = read_log("epoch=1 val_loss=0.5 accuracy=0.9\n", MetricsCollector(), LOSS)
    assert "loss" not in reading.series
    assert reading.summary() == "No value of loss was found in 1 line of output; the trial printed accuracy, val_loss."
