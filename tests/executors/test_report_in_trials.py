"""``kubetune.report`` in real local trials: whatever the task's metrics collector, its values are read."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from .test_local import run, trials_of
from .test_local_workloads import SUMMARY_WRITER

REPORTING = textwrap.dedent(
    """
    import kubetune, sys
    lr = float(sys.argv[1])
    for step in (1, 2):
        kubetune.report(loss=lr * step, step=step)
    """
)

COLLECTORS: dict[str, dict[str, Any]] = {
    "logs keyValue": {},
    "logs json": {"format": "json"},
    "logs regex": {"format": "regex", "patterns": [{"metric": "loss", "regex": r"LOSS=(\S+)"}]},
    "annotations": {"source": "annotations"},  # locally, the trial's output is read
    "file": {"source": "file", "path": "/var/log/metrics.txt"},
    "file followed": {"source": "file", "path": "/var/log/metrics.txt", "follow": True, "format": "json"},
}


def task(name: str, command: list[str], collector: dict[str, Any]) -> dict[str, Any]:
    container = {"name": "train", "image": "t", "command": command, "args": ["${params.lr}"]}
    return {
        "apiVersion": "kubetune.io/v1alpha1",
        "kind": "HPOTask",
        "metadata": {"name": name},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": [{"name": "lr", "type": "double", "min": 0.01, "max": 1.0}],
            "budget": {"maxTrials": 2},
            "metricsCollector": collector,
            "trialTemplate": {"spec": {"template": {"spec": {"containers": [container]}}}},
        },
    }


@pytest.mark.parametrize("collector", COLLECTORS.values(), ids=COLLECTORS.keys())
def test_reported_values_are_read_whatever_the_collector(tmp_path: Path, collector: dict[str, Any]) -> None:
    code, state = run(tmp_path, task("reporting", ["python", "-c", REPORTING], collector))
    assert code == 0
    for trial in trials_of(state):
        lr = trial["spec"]["parameters"]["lr"]
        assert trial["status"]["phase"] == "Succeeded"
        assert [(p["step"], p["value"]) for p in trial["status"]["metrics"][0]["points"]] == [(1, lr), (2, lr * 2)]


def test_a_report_before_the_event_files_leaves_their_directory_to_the_trainer(tmp_path: Path) -> None:
    script = tmp_path / "summaries.py"
    # kubetune.report first: it must not take the event directory's path for a file of its own.
    script.write_text("import kubetune\nkubetune.report(started=1)\n" + SUMMARY_WRITER)
    container = {"name": "train", "image": "t", "command": ["python", str(script)], "args": ["--lr=${params.lr}"]}
    body = task("events", [], {"source": "file", "path": "/logs", "format": "tfevent", "follow": True})
    body["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"] = [container]
    body["spec"]["objective"] = {"metric": "test/accuracy", "direction": "maximize"}
    code, state = run(tmp_path, body)
    assert code == 0
    for trial in trials_of(state):
        assert trial["status"]["phase"] == "Succeeded", trial["status"].get("message")
