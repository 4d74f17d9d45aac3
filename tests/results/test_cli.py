"""The result commands a user steers from the terminal: trials, best, list, delete."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.api import TrialPhase
from kubetune.cli import main
from kubetune.display import PlainReporter
from kubetune.engine import Event
from kubetune.executors.state import StateDir

from .conftest import PHASES, TASK, series, toy_trial, write_state


def output(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """Run ``kubetune ARGV -o json`` and return its document."""
    capsys.readouterr()
    assert main([*argv, "-o", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def column(page: dict[str, Any], name: str) -> list[Any]:
    index = page["header"].index(name)
    return [row[index] for row in page["rows"]]


def test_trials_sort_by_a_parameter_a_metric_or_start_and_reverse(
    toy_state: StateDir, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(toy_state.root)
    by_layers = output(capsys, "trials", root, "--sort-by", "layers")
    assert column(by_layers, "layers") == sorted(column(by_layers, "layers"))
    reverse = output(capsys, "trials", root, "--sort-by", "layers", "--reverse")
    assert column(reverse, "layers") == sorted(column(by_layers, "layers"), reverse=True)
    by_accuracy = output(capsys, "trials", root, "--sort-by", "accuracy", "--reverse")
    assert column(by_accuracy, "accuracy") == sorted(column(by_accuracy, "accuracy"), reverse=True)
    by_start = output(capsys, "trials", root, "--sort-by", "start", "--include-failed")
    assert column(by_start, "trial") == [f"toy-{i}" for i in range(len(PHASES))]
    best_first = output(capsys, "trials", root)
    assert column(best_first, "loss") == sorted(column(best_first, "loss"))
    assert column(output(capsys, "trials", root, "--reverse"), "loss") == sorted(column(best_first, "loss"))[::-1]


def test_an_unknown_sort_key_gets_one_line_with_the_choices(
    toy_state: StateDir, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trials", str(toy_state.root), "--sort-by", "lossy"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == "kubetune: --sort-by lossy: no such metric or parameter; choose from loss, accuracy, act, layers, lr, start"
    )


def test_trials_show_the_last_step_and_the_best_intermediate_value(
    toy_state: StateDir, capsys: pytest.CaptureFixture[str]
) -> None:
    page = output(capsys, "trials", str(toy_state.root), "--include-failed", "--sort-by", "start")
    steps = dict(zip(column(page, "trial"), column(page, "last_step"), strict=True))
    assert steps["toy-0"] == 6 and steps["toy-10"] == 3 and steps["toy-12"] is None
    best = dict(zip(column(page, "trial"), column(page, "best_intermediate"), strict=True))
    loss = dict(zip(column(page, "trial"), column(page, "loss"), strict=True))
    assert best["toy-0"] == pytest.approx(loss["toy-0"])  # the loss only falls: its best is its last


def test_one_trials_series_step_by_step(toy_state: StateDir, capsys: pytest.CaptureFixture[str]) -> None:
    page = output(capsys, "trials", str(toy_state.root), "--trial", "toy-10", "--series")
    assert page["header"] == ["metric", "step", "value"]
    expected = [(metric, step) for metric in ("loss", "accuracy") for step in (1, 2, 3)]
    assert [(m, s) for m, s, _ in page["rows"]] == expected
    one = output(capsys, "trials", str(toy_state.root), "--trial", "12")  # by index; failed trials too
    assert column(one, "trial") == ["toy-12"] and column(one, "phase") == ["Failed"]
    assert main(["trials", str(toy_state.root), "--metric", "loss"]) == 2
    assert "--metric goes with --series" in capsys.readouterr().err
    assert main(["trials", str(toy_state.root), "--trial", "toy-99"]) == 2
    assert "--trial toy-99: no such trial" in capsys.readouterr().err


def test_best_including_stopped_trials_says_which_kind_won(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stopped = toy_trial(1, TrialPhase.EARLY_STOPPED)
    assert stopped.status is not None
    stopped = stopped.model_copy(update={"status": stopped.status.model_copy(update={"objective": -1.0})})
    state = write_state(tmp_path / "s", [toy_trial(0, TrialPhase.SUCCEEDED), stopped, toy_trial(2, TrialPhase.FAILED)])
    capsys.readouterr()
    assert main(["best", "--state-dir", str(state.root)]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "toy-0"
    assert main(["best", "--state-dir", str(state.root), "--include-stopped"]) == 0
    captured = capsys.readouterr()
    best = json.loads(captured.out)
    assert (best["name"], best["phase"], best["objective"]) == ("toy-1", "EarlyStopped", -1.0)
    assert "accuracy" in best["metrics"]
    assert captured.err.strip().splitlines()[-1] == "kubetune: the best is an early-stopped trial, toy-1"


def test_best_including_stopped_with_nothing_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = write_state(tmp_path / "s", [toy_trial(0, TrialPhase.FAILED)])
    assert main(["best", "--state-dir", str(state.root), "--include-stopped"]) == 1
    assert "no trial has reported the objective yet" in capsys.readouterr().err


def test_list_shows_each_local_task_with_its_phase_and_best(
    toy_state: StateDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    other = dict(TASK, metadata={"name": "empty"})
    StateDir(tmp_path / ".kubetune" / "empty").adopt(toy_state.load_task().model_validate({**other, "status": None}))
    monkeypatch.chdir(tmp_path)
    page = output(capsys, "list")
    assert column(page, "task") == ["empty", "toy"]
    assert column(page, "phase") == ["Pending", "Running"]
    assert column(page, "trials") == ["0/16", "13/16"]  # finished (succeeded, stopped early, failed) of maxTrials
    assert column(page, "best_trial") == [None, "toy-7"]
    assert main(["list"]) == 0
    assert "toy-7" in capsys.readouterr().out


def test_delete_asks_first_and_yes_skips_the_question(
    toy_state: StateDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "kubetune.cli", "delete", "toy"]
    # A person at a terminal who answers no: nothing is deleted.
    leader, follower = os.openpty()
    os.write(leader, b"n\n")
    answered = subprocess.run(
        command, stdin=follower, capture_output=True, text=True, cwd=tmp_path, env=env, check=False, timeout=60
    )
    os.close(leader), os.close(follower)
    assert answered.returncode == 1
    assert f"delete {toy_state.root} ({len(PHASES)} trials" in answered.stdout
    assert toy_state.root.is_dir()
    # No terminal to ask: refused without --yes.
    piped = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, check=False, timeout=60)
    assert piped.returncode == 2 and "without --yes" in piped.stderr
    assert toy_state.root.is_dir()
    # A task a `kubetune run` is working on is never pulled from under it.
    with toy_state:
        assert main(["delete", str(toy_state.root), "--yes"]) == 2
    assert (
        "another kubetune command (`kubetune run` or `kubetune delete`) is working on this task"
        in capsys.readouterr().err
    )
    assert main(["delete", str(toy_state.root), "--yes"]) == 0
    assert not toy_state.root.exists()
    assert main(["delete", str(toy_state.root), "--yes"]) == 2  # gone: one line, not a traceback


def test_trials_list_every_metric_a_trial_printed_and_name_them_when_the_objective_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def task(name: str, metric: str) -> Path:
        body = json.loads(json.dumps(TASK))
        body["metadata"]["name"] = name
        body["spec"]["objective"] = {"metric": metric, "direction": "minimize"}
        body["spec"]["budget"] = {"maxTrials": 2, "parallelTrials": 1, "maxFailedTrials": 2}
        script = "echo step=1 loss=0.5 grad_norm=3 && echo step=2 loss=0.25 grad_norm=2 tokens_per_s=900"
        body["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"] = ["sh", "-c", script]
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(body))
        return path

    printed = task("printed", "loss")
    assert main(["run", str(printed), "--plain", "--state-dir", str(tmp_path / "printed")]) == 0
    page = output(capsys, "trials", "--state-dir", str(tmp_path / "printed"))
    assert page["header"][:6] == ["trial", "phase", "loss", "lr", "layers", "act"]
    assert {"grad_norm", "tokens_per_s"} <= set(page["header"])
    assert column(page, "grad_norm") == [2.0, 2.0]  # aggregated as the objective is (last)
    series = output(capsys, "trials", "--state-dir", str(tmp_path / "printed"), "--trial", "0", "--series")
    assert ["grad_norm", 1, 3.0] in series["rows"] and ["tokens_per_s", 2, 900.0] in series["rows"]

    # A metric named like one of the table's own columns gets a column of its own, told apart.
    clashing = task("clashing", "loss")
    body = yaml.safe_load(clashing.read_text())
    body["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"] = [
        "sh",
        "-c",
        "echo loss=0.5 seconds=7 message=3",
    ]
    clashing.write_text(yaml.safe_dump(body))
    assert main(["run", str(clashing), "--plain", "--state-dir", str(tmp_path / "clashing")]) == 0
    page = output(capsys, "trials", "--state-dir", str(tmp_path / "clashing"))
    assert page["header"].count("seconds") == 1 and page["header"].count("message") == 1
    assert column(page, "seconds") == [7.0, 7.0] and column(page, "metric:message") == [3.0, 3.0]
    assert all(isinstance(s, float) and s < 7 for s in column(page, "duration"))  # how long each trial ran

    missing = task("missing", "val_loss")
    assert main(["run", str(missing), "--plain", "--state-dir", str(tmp_path / "missing")]) == 1
    trial = json.loads((tmp_path / "missing" / "trials" / "missing-0.json").read_text())
    assert trial["status"]["reason"] == "MetricsUnavailable"
    assert "the trial printed grad_norm, loss, tokens_per_s" in trial["status"]["message"]


HOSTILE_NAME = "[link=https://evil.example]click[/link]"
CONTROL = "\x1b]0;pwned\x07\x1b[2J"


def hostile_trials() -> list[Any]:
    """Toy trials whose trainer printed a metric named as rich markup, one named with escape sequences,
    and whose last output (the message) holds escape sequences too."""
    trials = []
    for i in range(3):
        trial = toy_trial(i, TrialPhase.SUCCEEDED)
        assert trial.status is not None
        metrics = [
            *trial.status.metrics,
            series(HOSTILE_NAME, [0.5 + i]),
            series(f"acc{CONTROL}", [0.1 * i]),
        ]
        status = trial.status.model_copy(update={"metrics": metrics, "message": f"done{CONTROL}\nbye"})
        trials.append(trial.model_copy(update={"status": status}))
    return trials


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_trainer_text_reaches_the_terminal_as_text_never_as_markup_or_control(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    state = write_state(tmp_path / "s", hostile_trials())
    capsys.readouterr()
    wide = ["--wide"] if fmt == "table" else []  # every column: the hostile names are not left out
    assert main(["trials", "--state-dir", str(state.root), "--include-failed", *wide, "-o", fmt]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "pwned" in out  # shown, as escapes
    # One metric per row: the markup is shown as the trainer printed it, not read as a hyperlink.
    assert main(["trials", "--state-dir", str(state.root), "--trial", "toy-0", "--series", "-o", fmt]) == 0
    out = capsys.readouterr().out
    assert HOSTILE_NAME in out
    assert "acc\\x1b]0;pwned\\x07\\x1b[2J" in out
    assert "\x1b" not in out and "\x07" not in out


def test_run_progress_lines_show_trainer_text_as_escapes() -> None:
    out = io.StringIO()
    PlainReporter(out).event(Event("TrialFailed", f"toy-0 failed: {CONTROL}", "Warning", "toy-0"))
    assert out.getvalue().endswith("toy-0 failed: \\x1b]0;pwned\\x07\\x1b[2J\n")
