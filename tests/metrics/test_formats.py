"""The line formats: keyValue, json and regex, and the registry that picks one."""

from __future__ import annotations

import pytest

from kubetune.api import MetricsCollector, MetricsFormat, Objective
from kubetune.api.task import MetricPattern
from kubetune.errors import InvalidSpec
from kubetune.metrics import FORMATS, Report, line_parser, wanted_metrics

LOSS_ACC = frozenset({"loss", "val_accuracy"})


def parse(line: str, collector: MetricsCollector | None = None, wanted: frozenset[str] = LOSS_ACC) -> list[Report]:
    return list(line_parser(collector or MetricsCollector(), wanted).parse(line).reports)


def regex_collector(*patterns: tuple[str, str], step_key: str | None = None) -> MetricsCollector:
    return MetricsCollector(
        format=MetricsFormat.REGEX,
        patterns=[MetricPattern(metric=m, regex=r) for m, r in patterns],
        step_key=step_key,
    )


def test_every_collector_format_has_a_parser() -> None:
    assert set(FORMATS) == set(MetricsFormat)


def test_wanted_metrics_are_the_objective_and_the_additional_ones() -> None:
    objective = Objective(metric="loss", direction="minimize", additional_metrics=["acc", "lr"])
    assert wanted_metrics(objective) == {"loss", "acc", "lr"}


# --- keyValue -----------------------------------------------------------------------------------


def test_key_value_pairs_anywhere_in_a_line_are_read_with_the_epoch_as_step() -> None:
    assert parse("INFO epoch=3 loss=0.41 val_accuracy=0.87 lr=0.1") == [
        Report("loss", 0.41, 3),
        Report("val_accuracy", 0.87, 3),
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [("3", 3.0), ("-0.5", -0.5), ("+2.5", 2.5), ("1e-3", 1e-3), ("2.5E+2", 250.0), (".5", 0.5), ("7.", 7.0)],
)
def test_key_value_reads_every_way_of_writing_a_number(text: str, value: float) -> None:
    assert parse(f"loss={text}") == [Report("loss", value)]


@pytest.mark.parametrize(
    "line",
    [
        "loss = 0.25",
        "loss=0.25, val_accuracy=0.5",
        "[loss=0.25]",
        "loss: 0.25 - val_accuracy: 0.5",  # Keras
        '{"loss": 0.25, "val_accuracy": 0.5}',  # a flat JSON line
        "{'loss': 0.25, 'val_accuracy': 0.5}",  # print() of a Python dict
        "INFO:root:loss=0.25;val_accuracy=0.5",
        "the loss=0.25.",
    ],
)
def test_key_value_tolerates_the_separators_real_programs_print(line: str) -> None:
    assert parse(line)[0] == Report("loss", 0.25)


@pytest.mark.parametrize("line", ["val_loss=0.3", "loss=3s", "loss=0x1f", "loss=0.3.4", "loss=abc", "loss==", "loss"])
def test_key_value_skips_other_names_and_values_that_are_not_numbers(line: str) -> None:
    assert parse(line) == []


def test_key_value_counts_spelled_nan_and_infinity_as_ignored_values() -> None:
    parsed = line_parser(MetricsCollector(), LOSS_ACC).parse("loss=nan val_accuracy=-Infinity loss=1e999 loss=inf")
    assert parsed.reports == ()
    assert parsed.ignored == 4


def test_step_key_wins_over_epoch_and_epoch_is_the_fallback() -> None:
    assert parse("epoch=2 step=200 loss=1") == [Report("loss", 1.0, 200)]
    assert parse("epoch=2 loss=1") == [Report("loss", 1.0, 2)]
    assert parse("epoch=2/10 loss=1") == [Report("loss", 1.0, 2)]


def test_a_configured_step_key_is_the_only_step_key() -> None:
    collector = MetricsCollector(step_key="iteration")
    assert parse("iteration=7 step=3 loss=1", collector) == [Report("loss", 1.0, 7)]
    assert parse("step=3 loss=1", collector) == [Report("loss", 1.0)]


@pytest.mark.parametrize("step", ["-1", "1.5", "nan", "1e30"])
def test_a_step_that_is_not_a_whole_number_is_no_step(step: str) -> None:
    assert parse(f"step={step} loss=1") == [Report("loss", 1.0)]


def test_a_step_key_can_also_be_a_wanted_metric() -> None:
    assert parse("epoch=4 loss=1", wanted=frozenset({"epoch", "loss"})) == [
        Report("epoch", 4.0, 4),
        Report("loss", 1.0, 4),
    ]


# --- json ---------------------------------------------------------------------------------------

JSON = MetricsCollector(format=MetricsFormat.JSON)


def test_json_lines_give_the_wanted_keys_and_the_step() -> None:
    assert parse('{"step": 10, "loss": 0.5, "val_accuracy": 0.75, "other": 1}', JSON) == [
        Report("loss", 0.5, 10),
        Report("val_accuracy", 0.75, 10),
    ]


@pytest.mark.parametrize(
    "line",
    ["loss=0.5", '{"loss": 0.5', "[0.5]", '"loss"', "{", "{}", '{"loss": {"value": 0.5}}', "{" * 5000 + "}" * 5000],
)
def test_json_ignores_lines_that_are_not_a_flat_object_with_the_metric(line: str) -> None:
    assert parse(line, JSON) == []


def test_json_counts_nan_infinity_strings_and_booleans_as_ignored() -> None:
    line = '{"loss": NaN, "val_accuracy": true, "x": 1} '
    parsed = line_parser(JSON, LOSS_ACC).parse(line)
    assert parsed.reports == ()
    assert parsed.ignored == 2
    assert line_parser(JSON, LOSS_ACC).parse('{"loss": "n/a", "val_accuracy": 1' + "0" * 400 + "}").ignored == 2


def test_json_reads_numbers_written_as_strings() -> None:
    assert parse('{"loss": "0.5"}', JSON) == [Report("loss", 0.5)]


# --- regex --------------------------------------------------------------------------------------


def test_regex_patterns_give_their_capture_group_and_the_key_value_step() -> None:
    collector = regex_collector(("loss", r"Loss is (\S+)"), ("val_accuracy", r"acc\[(.*?)\]"))
    assert parse("epoch=4 Loss is 0.25 acc[0.5]", collector) == [
        Report("loss", 0.25, 4),
        Report("val_accuracy", 0.5, 4),
    ]


def test_regex_every_match_on_a_line_is_a_value_and_garbage_is_counted() -> None:
    collector = regex_collector(("loss", r"L=(\S+)"))
    parsed = line_parser(collector, LOSS_ACC).parse("L=1 L=2 L=nan L=oops")
    assert [r.value for r in parsed.reports] == [1.0, 2.0]
    assert parsed.ignored == 2


def test_regex_patterns_of_unwanted_metrics_give_other_values_only() -> None:
    collector = regex_collector(("other", r"x=(\S+)"))
    assert parse("x=1", collector) == []
    assert list(line_parser(collector, LOSS_ACC).parse("x=1").others) == [Report("other", 1.0)]


@pytest.mark.parametrize(("regex", "message"), [("(a)(b)", "exactly one capture group"), ("(", "not a valid")])
def test_a_bad_pattern_is_an_invalid_spec_with_its_path(regex: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=r"patterns\[0\]\.regex: .*" + message):
        line_parser(regex_collector(("loss", regex)), LOSS_ACC)


def test_key_value_reads_a_pytorch_tensor_as_printed() -> None:
    line = "epoch=3 loss=tensor(0.0712, device='cuda:0') val_accuracy=tensor(0.91)"
    assert parse(line) == [Report("loss", 0.0712, 3), Report("val_accuracy", 0.91, 3)]
