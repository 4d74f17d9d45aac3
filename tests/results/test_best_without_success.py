"""``kubetune best`` on a task where no trial succeeded: a time limit stopped them, or they failed late."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubetune.api import TaskPhase, Trial, TrialPhase
from kubetune.cli import main

from .conftest import toy_trial, write_state


def ended_as(trial: Trial, phase: TrialPhase, *, objective: bool) -> Trial:
    """``trial`` (which reported its losses while running) ended in ``phase``."""
    assert trial.status is not None
    status = trial.status.model_copy(
        update={"phase": phase, "objective": trial.status.objective if objective else None}
    )
    return trial.model_copy(update={"status": status})


@pytest.fixture
def time_limited(tmp_path: Path) -> Path:
    """Two trials stopped by maxDuration with values, and one that failed after reporting the best loss."""
    stopped = [ended_as(toy_trial(i, TrialPhase.RUNNING), TrialPhase.STOPPED, objective=True) for i in (0, 1)]
    losses = {t.metadata.name: t.status.objective for t in stopped if t.status}
    failed = ended_as(toy_trial(7, TrialPhase.RUNNING), TrialPhase.FAILED, objective=False)
    assert failed.status is not None
    assert failed.status.metrics[0].last is not None
    assert failed.status.metrics[0].last < min(v for v in losses.values() if v is not None), "the failed one is best"
    return write_state(tmp_path / "state", [*stopped, failed], phase=TaskPhase.SUCCEEDED).root


def test_best_answers_from_the_stopped_trials_when_none_succeeded(
    time_limited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["best", str(time_limited)]) == 0
    captured = capsys.readouterr()
    best = json.loads(captured.out)
    assert best["phase"] == "Stopped" and best["name"] in ("toy-0", "toy-1")
    assert "the best is a stopped trial" in captured.err and "no trial succeeded" in captured.err


def test_best_include_failed_counts_what_failed_trials_reported(
    time_limited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["best", str(time_limited), "--include-failed"]) == 0
    captured = capsys.readouterr()
    best = json.loads(captured.out)
    assert (best["name"], best["phase"]) == ("toy-7", "Failed")
    assert best["objective"] == pytest.approx(toy_trial(7, TrialPhase.RUNNING).status.objective)  # type: ignore[union-attr]
    assert "the best is a failed trial, toy-7" in captured.err
