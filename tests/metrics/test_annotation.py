"""Metrics read from a pod annotation holding a JSON object."""

from __future__ import annotations

import pytest

from kubetune.api import MetricsCollector
from kubetune.metrics import Report, parse_annotation, read_annotation

WANTED = frozenset({"loss", "val_accuracy"})


def test_scalar_values_are_one_report_each() -> None:
    parsed = parse_annotation('{"loss": 0.31, "val_accuracy": 0.9, "other": 1}', WANTED)
    assert parsed.reports == (Report("loss", 0.31), Report("val_accuracy", 0.9))
    assert parsed.problem is None


def test_the_step_key_gives_the_step_of_scalar_values() -> None:
    assert parse_annotation('{"step": 5, "loss": 0.3}', WANTED).reports == (Report("loss", 0.3, 5),)


def test_without_a_wanted_set_every_key_but_the_step_is_a_metric() -> None:
    parsed = parse_annotation('{"epoch": 2, "loss": 0.3, "acc": 0.5}')
    assert parsed.reports == (Report("loss", 0.3, 2), Report("acc", 0.5, 2))


def test_a_list_is_a_series_with_steps_from_one_or_explicit_points() -> None:
    parsed = parse_annotation('{"loss": [0.5, 0.4, {"step": 10, "value": 0.3}, "bad", NaN]}', WANTED)
    assert parsed.reports == (Report("loss", 0.5, 1), Report("loss", 0.4, 2), Report("loss", 0.3, 10))
    assert parsed.ignored == 2


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        ("  ", "is empty"),
        ('{"loss": 0.3', "is not valid JSON: "),
        ("[1, 2]", "must be a JSON object of metric values, not an array"),
        ("null", "not null"),
        ("0.3", "not a number"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_annotations_give_a_reason_not_an_exception(text: str, problem: str) -> None:
    parsed = parse_annotation(text, WANTED)
    assert parsed.problem is not None and problem in parsed.problem
    assert parsed.reports == ()


def test_read_annotation_builds_series_and_names_the_annotation_in_problems() -> None:
    collector = MetricsCollector()
    reading = read_annotation('{"loss": [0.5, 0.4], "val_accuracy": 0.8}', collector, WANTED)
    assert reading.series["loss"].last == 0.4
    assert reading.series["loss"].count == 2
    assert reading.series["val_accuracy"].points[0].step == 1
    broken = read_annotation("{oops", collector, WANTED)
    assert broken.series == {}
    assert broken.summary().startswith("No metrics: the kubetune.io/metrics annotation is not valid JSON")
    absent = read_annotation(None, collector, WANTED)
    assert absent.problem == "the pod has no kubetune.io/metrics annotation"


def test_a_configured_step_key_is_used_for_annotations() -> None:
    collector = MetricsCollector(step_key="iteration")
    reading = read_annotation('{"iteration": 7, "step": 3, "loss": 0.1}', collector, WANTED)
    assert reading.series["loss"].points[0].step == 7
