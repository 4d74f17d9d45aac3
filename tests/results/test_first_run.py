"""What a new user sees: the run's closing hints, a resumed run, the live display, the help."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from kubetune.api import HPOTask, HPOTaskStatus, TaskPhase, TrialCounts
from kubetune.cli import main
from kubetune.display import LiveReporter

from .conftest import START, TASK


def quick_task(tmp_path: Path) -> Path:
    body = json.loads(json.dumps(TASK))
    body["spec"]["budget"] = {"maxTrials": 2, "parallelTrials": 1}
    script = "echo epoch=1 loss=${params.lr}"
    body["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"] = ["sh", "-c", script]
    path = tmp_path / "quick.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_a_run_ends_pointing_to_the_results_and_a_rerun_says_it_reused_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    manifest = quick_task(tmp_path)
    assert main(["run", str(manifest), "--plain"]) == 0
    out = capsys.readouterr().out
    assert f"kubetune: running toy locally, state in {tmp_path / '.kubetune' / 'toy'}" in out
    for hint in (f"kubetune trials {manifest}", f"kubetune best {manifest}", f"kubetune report {manifest} --open"):
        assert hint in out
    assert "each trial's output is in .kubetune/toy/logs/TRIAL.log" in out
    assert (tmp_path / ".kubetune" / "toy" / "logs" / "toy-0.log").read_text().startswith("epoch=1 loss=")

    assert main(["run", str(manifest), "--plain"]) == 0
    again = capsys.readouterr().out
    assert (
        f"kubetune: reusing the saved state of toy in {tmp_path / '.kubetune' / 'toy'} (2 trials so far);"
        f" to start over: kubetune delete {manifest}"
    ) in again
    assert main(["delete", str(manifest), "--yes"]) == 0
    assert main(["run", str(manifest), "--plain"]) == 0
    assert "kubetune: running toy locally" in capsys.readouterr().out


def test_the_live_display_counts_pending_and_running_apart_and_keeps_the_tasks_clock() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)
    task = HPOTask.model_validate(TASK)
    # The task started 1 h 2 min 3 s ago (in an earlier run): the clock says so, not 0:00:00.
    now = START + timedelta(hours=1, minutes=2, seconds=3)
    with LiveReporter(task, console=console, now=lambda: now) as reporter:
        counts = TrialCounts(total=9, pending=3, running=2, succeeded=4)
        reporter.progress(HPOTaskStatus(phase=TaskPhase.RUNNING, start_time=START, trials=counts), [])
        drawn = screen.getvalue()  # redrawn at once, not at the next tick
    assert "4/16" in drawn and "2 running, 3 pending" in drawn and "1:02:03" in drawn


def test_a_finished_tasks_clock_stops_at_its_completion() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)
    ended = START + timedelta(minutes=5)
    with LiveReporter(HPOTask.model_validate(TASK), console=console, now=lambda: ended + timedelta(days=2)) as shown:
        status = HPOTaskStatus(phase=TaskPhase.SUCCEEDED, start_time=START, completion_time=ended)
        shown.progress(status, [])
        assert "0:05:00" in screen.getvalue()


def test_help_shows_no_markup_and_run_help_explains_resuming(capsys: pytest.CaptureFixture[str]) -> None:
    commands = [
        "",
        "run",
        "validate",
        "convert",
        "crds",
        "trials",
        "best",
        "report",
        "dashboard",
        "list",
        "delete",
        "operator",
    ]
    for command in commands:
        with pytest.raises(SystemExit):
            main([command, "--help"] if command else ["--help"])
        text = capsys.readouterr().out
        for markup in ("``", "`", "[bold", "[/", ":class:", ":func:"):
            assert markup not in text, f"kubetune {command} --help shows {markup!r}"
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Run the same command again to resume" in text and ".kubetune/TASK" in text and "--state-dir" in text
