"""`kubetune delete` racing `kubetune run`: the task is wholly gone or wholly present, never half."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kubetune.cli import main
from tests.executors.test_local import manifest, trials_of, write

TRIALS = 30


def test_a_run_started_while_a_delete_removes_the_state_sees_all_or_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = manifest("race", algorithm={"name": "random", "seed": 1}, budget={"maxTrials": TRIALS, "parallelTrials": 6})
    container = obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["command"], container["args"] = ["sh", "-c", "echo loss=${params.x}"], []
    path = write(tmp_path, obj)
    state = tmp_path / "state"
    assert main(["run", str(path), "--plain", "--state-dir", str(state)]) == 0
    capsys.readouterr()

    # The delete removes one file at a time, slowly (as rmtree of 400,000 files does), and the run
    # is tried again and again meanwhile: every moment of the delete meets a run.
    deleting = threading.Event()
    unlink = os.unlink

    def slow_unlink(target: Any, *args: Any, **kwargs: Any) -> None:
        unlink(target, *args, **kwargs)
        if threading.current_thread() is deleter:
            deleting.set()
            time.sleep(0.02)

    outcome: dict[str, Any] = {}

    def delete() -> None:
        try:
            outcome["code"] = main(["delete", "--state-dir", str(state), "--yes"])
        except BaseException as error:  # reported by the assertions below
            outcome["error"] = error

    monkeypatch.setattr(os, "unlink", slow_unlink)
    deleter = threading.Thread(target=delete)
    deleter.start()
    assert deleting.wait(30)
    runs = []
    while deleter.is_alive():
        runs.append(main(["run", str(path), "--plain", "--state-dir", str(state)]))
        if runs[-1] != 2:
            break
    deleter.join()
    monkeypatch.setattr(os, "unlink", unlink)
    out = capsys.readouterr()

    assert "error" not in outcome, outcome
    assert outcome["code"] in (0, 2), out.err
    assert "reusing the saved state" not in out.out or f"({TRIALS} trials so far)" in out.out, out.out
    if state.exists():
        trials = trials_of(state)
        assert len(trials) == TRIALS
        for trial in trials:
            name = trial["metadata"]["name"]
            assert (state / "logs" / f"{name}.log").is_file(), name
            assert (state / "params" / f"{name}.json").is_file(), name
    assert not [p.name for p in tmp_path.iterdir() if ".deleting-" in p.name]
