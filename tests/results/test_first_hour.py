"""The small things a new user meets in the first hour: validate, generateName, help, delete, list, wait, series."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubetune.api import TaskPhase, TrialPhase
from kubetune.cli import main
from kubetune.executors.state import StateDir

from .conftest import PHASES, TASK, toy_trial, write_state


def manifest(tmp_path: Path, name: str, edit: dict[str, object] | None = None) -> Path:
    body = json.loads(json.dumps(TASK))
    body["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] = ["--lr=${params.lr}"]
    for key, value in (edit or {}).items():
        where, field = body, key.split(".")
        for part in field[:-1]:
            where = where[part]
        where[field[-1]] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_validate_names_every_problem_in_one_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = manifest(tmp_path, "both", {"spec.budget": {"maxTrails": 4}})
    body = yaml.safe_load(path.read_text())
    body["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"].append("--wd=${params.wd}")
    path.write_text(yaml.safe_dump(body))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "spec.budget.maxTrails: is not a known field; did you mean maxTrials?" in err
    assert "containers[0].args[1]: ${params.wd} names no parameter" in err, "the placeholder too, at once"


def test_a_range_problem_does_not_hide_a_placeholder_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = manifest(tmp_path, "range")
    body = yaml.safe_load(path.read_text())
    body["spec"]["parameters"][0].update({"min": 1.0, "max": 0.5})
    body["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"].append("--wd=${params.wd}")
    path.write_text(yaml.safe_dump(body))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "spec.parameters[0].min: must be less than max" in err
    assert "containers[0].args[1]: ${params.wd} names no parameter" in err, "the placeholder too, at once"


def test_a_manifest_with_only_generate_name_is_refused_by_validate_as_by_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = manifest(tmp_path, "generated", {"metadata": {"generateName": "toy-"}})
    assert main(["validate", str(path)]) == 2
    assert "metadata.name: is required" in capsys.readouterr().err
    assert main(["run", str(path), "--plain"]) == 2
    assert "metadata.name: is required" in capsys.readouterr().err


def test_the_help_describes_convert_and_list_and_delete_offers_no_cluster_task(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def help_of(command: str) -> str:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        return capsys.readouterr().out

    assert "Read a Katib Experiment" in help_of("convert")
    assert "List the tasks that kubetune run keeps" in help_of("list")
    deleting = help_of("delete")
    assert "hpo/NAME: a task on the cluster" not in deleting and "kubectl delete hpo/NAME" in deleting


def test_delete_takes_several_tasks_and_checks_them_all_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    one = write_state(tmp_path / ".kubetune" / "one", [toy_trial(0, TrialPhase.SUCCEEDED)])
    two = write_state(tmp_path / ".kubetune" / "two", [toy_trial(0, TrialPhase.SUCCEEDED)])
    assert main(["delete", "one", "nosuch", "two", "--yes"]) == 2
    assert one.root.is_dir() and two.root.is_dir(), "a bad name deletes nothing"
    capsys.readouterr()
    assert main(["delete", "one", "two", "--yes"]) == 0
    assert not one.root.exists() and not two.root.exists()
    assert capsys.readouterr().out.count("deleted ") == 2


def test_list_leaves_out_what_restart_set_aside_and_shows_the_tasks_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_state(tmp_path / ".kubetune" / "toy", [toy_trial(i, p) for i, p in enumerate(PHASES)])
    write_state(tmp_path / ".kubetune" / "toy.replaced-20260105T090000Z", [toy_trial(0, TrialPhase.SUCCEEDED)])
    capsys.readouterr()
    assert main(["list", "--dir", str(tmp_path), "-o", "json"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert [row[0] for row in page["rows"]] == ["toy"]
    row = dict(zip(page["header"], page["rows"][0], strict=True))
    assert row["started"] == "2026-01-05 09:00:00Z" and row["time_left"] == "-"  # no time limit


def test_report_open_without_a_browser_says_so(toy_state: StateDir, tmp_path: Path) -> None:
    # A browser command that fails, and no display for any other: nothing can open the file.
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env |= {"BROWSER": "false", "PYTHONPATH": os.pathsep.join(sys.path)}
    out = tmp_path / "r.html"
    result = subprocess.run(
        [sys.executable, "-m", "kubetune.cli", "report", str(toy_state.root), "-o", str(out), "--open"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"no web browser was found here to open it; open {out}" in result.stdout


def test_wait_returns_the_phase_as_its_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    running = write_state(tmp_path / "running", [toy_trial(0, TrialPhase.RUNNING)])
    assert main(["wait", str(running.root), "--timeout", "0"]) == 124
    assert "is still Running after 0 s" in capsys.readouterr().err
    for phase, code in [(TaskPhase.SUCCEEDED, 0), (TaskPhase.FAILED, 1), (TaskPhase.STOPPED, 3)]:
        ended = write_state(tmp_path / phase.value, [toy_trial(0, TrialPhase.SUCCEEDED)], phase=phase)
        assert main(["wait", str(ended.root)]) == code


def test_series_of_one_metric_for_every_trial_at_once(toy_state: StateDir, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["trials", str(toy_state.root), "--series", "--metric", "accuracy", "-o", "json"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert page["header"] == ["trial", "step", "accuracy"]
    reported = [p for p in PHASES if p is not TrialPhase.FAILED]
    assert len({row[0] for row in page["rows"]}) == len(reported)
    assert [row[1] for row in page["rows"] if row[0] == "toy-0"] == [1, 2, 3, 4, 5, 6]


def test_best_tells_a_person_when_the_task_started_and_how_long_it_ran(toy_state: StateDir) -> None:
    leader, follower = os.openpty()  # standard error is a terminal, as for a person typing the command
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-m", "kubetune.cli", "best", str(toy_state.root)],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
        check=False,
        timeout=60,
    )
    os.close(follower)
    said = os.read(leader, 4096).decode()
    os.close(leader)
    assert result.returncode == 0
    assert "kubetune: toy: Running, started 2026-01-05 09:00:00Z, ran " in said
    assert json.loads(result.stdout)["name"] == "toy-7", "the JSON alone on standard output"


def test_archive_keeps_the_results_and_drops_the_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    running = write_state(tmp_path / "running", [toy_trial(0, TrialPhase.RUNNING)])
    assert main(["archive", str(running.root)]) == 2
    assert "not finished" in capsys.readouterr().err
    done = write_state(tmp_path / "done", [toy_trial(i, p) for i, p in enumerate(PHASES)], phase=TaskPhase.SUCCEEDED)
    (done.root / "logs").mkdir()
    (done.root / "logs" / "toy-0.log").write_text("epoch=1 loss=0.5\n" * 1000)
    capsys.readouterr()
    assert main(["trials", str(done.root), "-o", "json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert main(["archive", str(done.root)]) == 0
    assert "archived" in capsys.readouterr().out
    assert not (done.root / "logs").exists()
    assert main(["trials", str(done.root), "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == before, "every result is kept"
