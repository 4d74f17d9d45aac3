"""``kubetune stop`` then ``kubetune stop --force`` on a running ``kubetune run``: the later, stronger request wins."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kubetune.cli import main

from .test_local import manifest, status_of, trials_of, write


def wait_until(runner: subprocess.Popen[str], what: str, condition: Callable[[], bool]) -> None:
    """Until ``condition`` holds, read from the state directory (bounded: a hang fails with a name);
    a file caught mid-write reads as not yet."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and runner.poll() is None:
        try:
            if condition():
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"the runner never got to: {what}")


def test_a_forced_stop_after_a_graceful_one_stops_the_running_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = manifest("escalated", algorithm={"name": "random", "seed": 5}, budget={"maxTrials": 20, "parallelTrials": 2})
    # Trials of ten minutes: only a forced stop ends them before the test's own limit.
    obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] += ["--epochs=400", "--sleep=1.5"]
    command = [sys.executable, "-m", "kubetune.cli", "run", str(write(tmp_path, obj)), "--plain"]
    state = tmp_path / ".kubetune" / "escalated"
    runner = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        running = lambda: sum(t["status"]["phase"] == "Running" for t in trials_of(state)) == 2  # noqa: E731
        wait_until(runner, "two trials running", running)
        assert main(["stop", "--state-dir", str(state)]) == 0
        wait_until(runner, "a graceful stop recorded", lambda: status_of(state).get("reason") == "Stopping")
        capsys.readouterr()
        assert main(["list", "--dir", str(tmp_path), "-o", "json"]) == 0
        (row,) = json.loads(capsys.readouterr().out)["rows"]
        assert row[:2] == ["escalated", "Stopping"], "list says the task is stopping, not merely running"
        assert main(["stop", "--state-dir", str(state), "--force"]) == 0
        out, _ = runner.communicate(timeout=120)
    finally:
        runner.kill()
    assert runner.returncode == 0, out
    assert [t["status"]["phase"] for t in trials_of(state)] == ["Stopped", "Stopped"]
    status = status_of(state)
    assert (status["phase"], status["reason"]) == ("Stopped", "StoppedByUser")
    assert "with force" in status["message"]
    # The runner said what it was asked, each time.
    assert "kubetune stop (graceful): running trials finish" in out
    assert "kubetune stop (force): stopping the running trials now" in out
