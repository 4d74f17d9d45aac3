"""``kubetune.report``'s line is read by every collector format, and only once."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import kubetune
from kubetune.api import MetricsCollector, MetricsFormat
from kubetune.api.task import MetricPattern
from kubetune.metrics import LogScanner, read_log

WANTED = frozenset({"loss", "accuracy"})

COLLECTORS = {
    "keyValue": MetricsCollector(),
    "json": MetricsCollector(format=MetricsFormat.JSON),
    # Patterns that match nothing the trainer prints: the report line is read anyway.
    "regex": MetricsCollector(
        format=MetricsFormat.REGEX, patterns=[MetricPattern(metric="loss", regex=r"LOSS IS (\S+)")]
    ),
    "tfevent": MetricsCollector(source="file", path="/tmp/tb", follow=True, format=MetricsFormat.TFEVENT),
    "stepKey": MetricsCollector(step_key="iteration"),
}


def trainer_output(capsys: pytest.CaptureFixture[str]) -> str:
    """What a trainer that calls kubetune.report prints, among its other output."""
    print("Epoch 1/2 starting")
    kubetune.report(loss=0.5, accuracy=0.8, step=1)
    print('{"not": "a report"}')
    kubetune.report(loss=0.25, accuracy=0.9, step=2)
    kubetune.report(loss=0.2, lr=0.01)
    return capsys.readouterr().out


@pytest.mark.parametrize("collector", COLLECTORS.values(), ids=COLLECTORS.keys())
def test_every_format_reads_the_report_line_exactly_once(
    collector: MetricsCollector, capsys: pytest.CaptureFixture[str]
) -> None:
    reading = read_log(trainer_output(capsys), collector, WANTED)
    loss = reading.series["loss"]
    assert [(p.step, p.value) for p in loss.points][:2] == [(1, 0.5), (2, 0.25)]
    assert loss.count == 3 and loss.last == 0.2
    assert [p.value for p in reading.series["accuracy"].points] == [0.8, 0.9]
    assert reading.series["lr"].last == 0.01, "a metric the task did not ask for is shown, not used"


def test_a_report_line_is_read_when_the_trainer_logs_it_indented_or_cut_across_chunks() -> None:
    line = kubetune.trainer.report_line({"loss": 0.3}, 7)
    scanner = LogScanner(MetricsCollector(), WANTED)
    for piece in ("  " + line[:10], line[10:], "\n"):
        scanner.feed(piece.encode())
    assert [(p.step, p.value) for p in scanner.finish().series["loss"].points] == [(7, 0.3)]


def test_non_finite_values_are_written_and_ignored_by_the_reader(capsys: pytest.CaptureFixture[str]) -> None:
    kubetune.report(loss=math.nan, accuracy=math.inf, step=1)
    kubetune.report(loss=0.1)
    reading = read_log(capsys.readouterr().out, MetricsCollector(), WANTED)
    assert reading.ignored == 2 and reading.series["loss"].count == 1


def test_a_damaged_report_line_gives_nothing_rather_than_a_key_value_guess() -> None:
    reading = read_log('@kubetune {"metrics": {"loss": 0.1} oops loss=5\n', MetricsCollector(), WANTED)
    assert "loss" not in reading.series


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kubetune.report(loss="low"), "kubetune.report: loss must be a number, got 'low'"),
        (lambda: kubetune.report(loss=1.0, step=-1), "kubetune.report: step must be a whole number >= 0, got -1"),
        (lambda: kubetune.report(loss=1.0, step=1.5), "kubetune.report: step must be a whole number >= 0, got 1.5"),
        (kubetune.report, "kubetune.report: give at least one metric, e.g. kubetune.report(loss=0.41)"),
    ],
)
def test_a_wrong_call_is_one_plain_sentence(call: object, message: str) -> None:
    with pytest.raises((TypeError, ValueError)) as error:
        call()  # type: ignore[operator]
    assert str(error.value) == message


def test_numbers_of_numpy_and_of_other_libraries_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    kubetune.report(loss=np.float32(0.5), accuracy=np.int64(1), step=np.int64(3).item())
    reading = read_log(capsys.readouterr().out, MetricsCollector(), WANTED)
    assert reading.series["loss"].last == 0.5 and reading.series["accuracy"].points[0].step == 3


def test_the_metrics_file_of_a_file_source_gets_the_line_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "metrics.log"
    monkeypatch.setenv("KUBETUNE_METRICS_FILE", str(target))
    kubetune.report(loss=0.4, step=1)
    kubetune.report(loss=0.3, step=2)
    collector = MetricsCollector(source="file", path="/m/metrics.log", format=MetricsFormat.JSON)
    reading = read_log(target.read_text(), collector, WANTED)
    assert [p.value for p in reading.series["loss"].points] == [0.4, 0.3]
    assert capsys.readouterr().out.count("@kubetune") == 2
