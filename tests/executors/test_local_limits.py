"""Time and compute limits in a real local run: the runner wakes when the budget runs out, and stops the trials."""

from __future__ import annotations

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
    code, state = run(tmp_path, obj)
    # The limit stopped trials that had reported values: those are the results, not a failure.
    assert code == 0
    status = status_of(state)
    assert status["phase"] == "Succeeded" and message in status["message"]
    assert "2 stopped trials reported loss" in status["message"]
    stopped = trials_of(state)
    assert [t["status"]["phase"] for t in stopped] == ["Stopped", "Stopped"]
    # The runner woke when the budget ran out, not after the 30-second trials: they were cut short.
    epochs = [(t["status"].get("metrics") or [{"count": 0}])[0]["count"] for t in stopped]
    assert max(epochs) < 60, epochs
