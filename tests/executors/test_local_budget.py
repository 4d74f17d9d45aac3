"""``kubetune run`` again with a lower maxTrials: trials that have not started yet are stopped, not run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubetune.cli import main
from tests.executors.test_local import manifest, status_of, trials_of, write


def test_a_rerun_with_a_lower_max_trials_stops_the_interrupted_trials_beyond_it(tmp_path: Path) -> None:
    obj = manifest("shrunk", algorithm={"name": "random", "seed": 4}, budget={"maxTrials": 4, "parallelTrials": 4})
    obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] += ["--epochs=30", "--sleep=0.1"]
    state = tmp_path / "state"
    command = [sys.executable, "-m", "kubetune.cli", "run", str(write(tmp_path, obj)), "--plain", "--state-dir"]
    first = subprocess.Popen([*command, str(state)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    running: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(running) < 4:
        time.sleep(0.05)
        try:
            running = [t for t in trials_of(state) if t["status"]["phase"] == "Running"]
        except (OSError, ValueError, KeyError):
            continue
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert len(running) == 4, "the first run did not start its four trials"

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
