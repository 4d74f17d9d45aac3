"""User-given patterns (``metricsCollector.patterns``) are matched in linear time: a pattern that
backtracks exponentially in Python's ``re`` cannot stall the process that reads the logs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubetune.api import MetricsCollector, MetricsFormat
from kubetune.cli import main
from kubetune.metrics import Report, line_parser

# Matched in a child process: before RE2 each of these ran for hours (the time doubles with each
# extra character; 29 "a" took 25 s), so a hang shows as the child outliving a generous timeout.
MATCH = """
import json, sys
from kubetune.api import MetricsCollector
from kubetune.metrics import line_parser
collector = MetricsCollector.model_validate({"format": "regex", "patterns": [{"metric": "loss", "regex": sys.argv[1]}]})
reports = line_parser(collector, frozenset({"loss"})).parse(sys.argv[2]).reports
print(json.dumps([[r.metric, r.value] for r in reports]))
"""


def matched(regex: str, line: str) -> list[list[object]]:
    """What the pattern reads from the line, computed in a child process that must end."""
    done = subprocess.run(
        [sys.executable, "-c", MATCH, regex, line], capture_output=True, text=True, timeout=120, check=True
    )
    found: list[list[object]] = json.loads(done.stdout)
    return found


@pytest.mark.parametrize(
    ("regex", "line", "expected"),
    [
        # Nested quantifiers: exponential backtracking on a line that almost matches.
        (r"^(a+)+$", "a" * 40 + "!", []),
        # A careless pattern: each word may be split anywhere, and no `loss=` follows.
        (r"(?:\w+\s?)*loss=([\d.]+)", "x" * 40 + "!", []),
        # The same careless pattern still reads the value when it is there.
        (r"(?:\w+\s?)*loss=([\d.]+)", "epoch 3 loss=0.25", [["loss", 0.25]]),
    ],
)
def test_a_backtracking_pattern_finishes_and_reads_what_it_should(
    regex: str, line: str, expected: list[list[object]]
) -> None:
    assert matched(regex, line) == expected


def test_katib_style_patterns_keep_working() -> None:
    # Katib's default filter (Go's syntax) with its value group alone, and a named group.
    collector = MetricsCollector.model_validate(
        {
            "format": "regex",
            "patterns": [
                {"metric": "loss", "regex": r"loss\s*=\s*([+-]?\d*(?:\.\d+)?(?:[Ee][+-]?\d+)?)"},
                {"metric": "acc", "regex": r"(?i)ACC(?:uracy)?[:=]\s*(?P<v>[\d.]+)"},
            ],
        }
    )
    assert collector.format is MetricsFormat.REGEX
    parsed = line_parser(collector, frozenset({"loss", "acc"})).parse("step=2 loss = 1.5e-1 accuracy: 0.9")
    assert list(parsed.reports) == [Report("loss", 0.15, 2), Report("acc", 0.9, 2)]


TASK = {
    "apiVersion": "kubetune.io/v1alpha1",
    "kind": "HPOTask",
    "metadata": {"name": "patterns"},
    "spec": {
        "objective": {"metric": "loss", "direction": "minimize"},
        "parameters": [{"name": "x", "type": "double", "min": 0.0, "max": 1.0}],
        "budget": {"maxTrials": 2},
        "metricsCollector": {"format": "regex", "patterns": [{"metric": "loss", "regex": "loss=([0-9.]+)"}]},
        "trialTemplate": {
            "spec": {"template": {"spec": {"containers": [{"name": "t", "image": "t", "command": ["t"]}]}}}
        },
    },
}


@pytest.mark.parametrize(
    ("regex", "construct"),
    [
        (r"(\d)\1", r"a backreference (\1)"),
        (r"(?P<v>\d)(?P=v)", "a named backreference (?P=name)"),
        (r"(?<=loss=)([\d.]+)", "lookbehind (?<=...)"),
        (r"loss=(?!nan)([\d.]+)", "negative lookahead (?!...)"),
        (r"loss=([\d.]++)", "possessive repetition (++)"),
        (r"(?>loss)=([\d.]+)", "an atomic group (?>...)"),
    ],
)
def test_validate_names_a_construct_the_linear_engine_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], regex: str, construct: str
) -> None:
    body = yaml.safe_load(yaml.safe_dump(TASK))
    body["spec"]["metricsCollector"]["patterns"][0]["regex"] = regex
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(body))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        f"{path}: spec.metricsCollector.patterns[0].regex: uses {construct}, which RE2 does not support "
        "(kubetune matches patterns in linear time with RE2, Go's syntax)"
    ]
