"""Metric names as trainers print them, spaces included, read by the json and regex formats."""

from __future__ import annotations

from kubetune.api import MetricsCollector
from kubetune.metrics import read_log

WANTED = frozenset({"valid_1 auc", "training's binary_logloss"})


def test_json_lines_read_keys_with_spaces() -> None:
    log = '{"iteration": 1, "valid_1 auc": 0.71, "training\'s binary_logloss": 0.6}\n{"valid_1 auc": 0.75}\n'
    reading = read_log(log, MetricsCollector(format="json", step_key="iteration"), WANTED)
    assert reading.series["valid_1 auc"].last == 0.75
    assert [p.value for p in reading.series["valid_1 auc"].points] == [0.71, 0.75]
    assert reading.series["training's binary_logloss"].last == 0.6


def test_regex_patterns_read_lightgbm_lines() -> None:
    collector = MetricsCollector.model_validate(
        {
            "format": "regex",
            "patterns": [
                {"metric": "valid_1 auc", "regex": r"valid_1's auc: ([-+0-9.eE]+)"},
                {"metric": "training's binary_logloss", "regex": r"training's binary_logloss: ([-+0-9.eE]+)"},
            ],
        }
    )
    log = (
        "[1]\ttraining's binary_logloss: 0.65\tvalid_1's auc: 0.7\n"
        "[2]\ttraining's binary_logloss: 0.6\tvalid_1's auc: 0.8\n"
    )
    reading = read_log(log, collector, WANTED)
    assert [p.value for p in reading.series["valid_1 auc"].points] == [0.7, 0.8]
    assert reading.series["training's binary_logloss"].min == 0.6
