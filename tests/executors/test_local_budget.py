"""``kubetune run`` again with a lower maxTrials: trials that have not started yet are stopped, not run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from kubetune.cli import main
from tests.executors.test_local import manifest, status_of, trials_of, write
from tests.waiting import wait_for


def test_a_rerun_with_a_lower_max_trials_stops_the_interrupted_trials_beyond_it(tmp_path: Path) -> None:
    obj = manifest("shrunk", algorithm={"name": "random", "seed": 4}, budget={"maxTrials": 4, "parallelTrials": 4})
    obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] += ["--epochs=30", "--sleep=0.1"]
    state = tmp_path / "state"
    command = [sys.executable, "-m", "kubetune.cli", "run", str(write(tmp_path, obj)), "--plain", "--state-dir"]
    first = subprocess.Popen([*command, str(state)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def four_running() -> bool:
        try:
            return sum(t["status"]["phase"] == "Running" for t in trials_of(state)) == 4
        except (OSError, ValueError, KeyError):  # not written yet
            return False

    try:
        wait_for(four_running, timeout=60, message="the first run to start its four trials")
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()

    obj["spec"]["budget"]["maxTrials"] = 1
    assert main(["run", str(write(tmp_path, obj)), "--plain", "--state-dir", str(state)]) == 0

    trials = trials_of(state)
    assert [(t["status"]["phase"], t["status"].get("reason")) for t in trials] == [
        ("Succeeded", "Completed"),
        *[("Stopped", "MaxTrialsLowered")] * 3,
    ]
    status = status_of(state)
    assert (status["phase"], status["progress"]) == ("Succeeded", "4/4")
    assert status["message"] == (
        "All 4 trials finished; maxTrials was lowered to 1 after 4 were created, "
        "and 3 that had not started were stopped."
    )
    assert not list((state / "runs").glob("*.json")), "no process is left recorded as running"
