"""Time and compute limits in a real local run: the runner wakes when the budget runs out, and stops the trials."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from .test_local import manifest, run, status_of, trials_of


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({"maxTrialHours": 0.001}, "hours in all, maxTrialHours is 0.001."),
        ({"deadline": "DEADLINE"}, "The deadline "),
    ],
)
def test_a_spent_budget_stops_the_running_trials(tmp_path: Path, budget: dict[str, Any], message: str) -> None:
    if budget.get("deadline") == "DEADLINE":
        budget = {"deadline": (datetime.now(UTC) + timedelta(seconds=3)).isoformat()}
    obj = manifest(
        "limited", algorithm={"name": "random", "seed": 2}, budget={"maxTrials": 10, "parallelTrials": 2, **budget}
    )
    obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] += ["--epochs=60", "--sleep=0.5"]
    began = time.monotonic()
    code, state = run(tmp_path, obj)
    took = time.monotonic() - began
    # The limit stopped trials that had reported values: those are the results, not a failure.
    assert code == 0
    status = status_of(state)
    assert status["phase"] == "Succeeded" and message in status["message"]
    assert "2 stopped trials reported loss" in status["message"]
    assert [t["status"]["phase"] for t in trials_of(state)] == ["Stopped", "Stopped"]
    assert took < 20, "the runner woke when the budget ran out, not after the 30-second trials"
