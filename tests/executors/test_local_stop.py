"""``kubetune stop`` on a local task: through a running ``kubetune run``, or on its own when none runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kubetune.api import Stop
from kubetune.cli import main
from kubetune.executors.state import StateDir
from tests.waiting import wait_for

from .test_local import manifest, status_of, trials_of, write


def slow_task(tmp_path: Path, name: str) -> tuple[list[str], Path]:
    """A task whose trials take about six seconds each, and the command that runs it."""
    obj = manifest(name, algorithm={"name": "random", "seed": 5}, budget={"maxTrials": 20, "parallelTrials": 2})
    obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] += ["--epochs=4", "--sleep=1.5"]
    state = tmp_path / "state"
    return [
        sys.executable,
        "-m",
        "kubetune.cli",
        "run",
        str(write(tmp_path, obj)),
        "--plain",
        "--state-dir",
        str(state),
    ], state


def wait_running(state: Path, runner: subprocess.Popen[str]) -> None:
    def two_running() -> bool:
        assert runner.poll() is None, "the run ended before it had two trials running"
        try:
            return sum(t["status"]["phase"] == "Running" for t in trials_of(state)) == 2
        except (OSError, ValueError, KeyError):  # not written yet
            return False

    wait_for(two_running, timeout=60, message="the run to have two trials running")


@pytest.mark.parametrize("force", [False, True])
def test_stop_reaches_a_running_kubetune_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], force: bool) -> None:
    command, state = slow_task(tmp_path, "stoppable")
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_running(state, runner)
        assert main(["stop", "--state-dir", str(state), *(["--force"] if force else [])]) == 0
        assert "asked the `kubetune run` of stoppable to stop" in capsys.readouterr().out
        out, _ = runner.communicate(timeout=60)
    finally:
        runner.kill()
    assert runner.returncode == 0, out
    status = status_of(state)
    assert (status["phase"], status["reason"]) == ("Stopped", "StoppedByUser")
    trials = trials_of(state)
    assert len(trials) == 2, "no trial started after the stop"
    phases = {t["status"]["phase"] for t in trials}
    # graceful: the two running trials finished their four epochs; force: they were stopped at once
    assert phases == ({"Stopped"} if force else {"Succeeded"})
    assert "stopped for good" in out and "kubetune delete" in out

    # Terminal: running the task again does not resume it.
    again = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert "stoppable: Stopped (StoppedByUser)" in again.stdout
    assert len(trials_of(state)) == 2


def test_stop_without_a_runner_stops_the_interrupted_trials(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command, state = slow_task(tmp_path, "halted")
    runner = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_running(state, runner)
    finally:
        runner.kill()  # like a crash: two trials stay recorded as running
        runner.wait()

    assert main(["stop", "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    assert "halted: Stopped (StoppedByUser)" in out
    assert [t["status"]["phase"] for t in trials_of(state)] == ["Stopped", "Stopped"]
    assert status_of(state)["trials"]["stopped"] == 2

    assert main(["stop", "--state-dir", str(state)]) == 0
    assert "has already finished (Stopped, StoppedByUser); nothing to stop" in capsys.readouterr().out


def test_a_stop_left_for_a_runner_that_crashed_is_carried_out_by_the_next_run(tmp_path: Path) -> None:
    command, state = slow_task(tmp_path, "crashed")
    runner = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_running(state, runner)
    finally:
        runner.kill()
        runner.wait()
    StateDir(state).request_stop(Stop())  # graceful, as `kubetune stop` leaves it for a running runner

    again = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert "crashed: Stopped (StoppedByUser)" in again.stdout, again.stdout + again.stderr
    # Their runs died with the runner: nothing is running, so a graceful stop has nothing to wait for.
    assert [t["status"]["phase"] for t in trials_of(state)] == ["Stopped", "Stopped"]
