"""``kubetune run`` end to end: real trial processes, a real state directory, real kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kubetune.api import kubeyaml
from kubetune.cli import main
from tests.waiting import wait_for

TRAINER = Path(__file__).with_name("toy_trainer.py")


def manifest(name: str, *, algorithm: dict[str, Any], mode: str = "normal", **spec: Any) -> dict[str, Any]:
    """A task tuning the toy trainer; ``mode`` may be a ``${params.mode}`` placeholder."""
    args = ["--x=${params.x}", "--y=${params.y}", f"--mode={mode}"]
    if "epochs" in {p["name"] for p in spec.get("parameters", [])}:
        args.append("--epochs=${params.epochs}")
    body: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "algorithm": algorithm,
        "parameters": [
            {"name": "x", "type": "double", "min": 0.0, "max": 1.0},
            {"name": "y", "type": "int", "min": 0, "max": 4},
        ],
        "budget": {"maxTrials": 6, "parallelTrials": 2},
        "trialTemplate": {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "train", "image": "toy", "command": ["python", str(TRAINER)], "args": args}
                        ]
                    }
                }
            }
        },
    }
    body.update(spec)
    return {"apiVersion": "kubetune.io/v1alpha1", "kind": "HPOTask", "metadata": {"name": name}, "spec": body}


def with_modes(*modes: str) -> list[dict[str, Any]]:
    """The toy trainer's parameters plus a categorical ``mode``, for experiments that misbehave on purpose."""
    return [
        {"name": "x", "type": "double", "min": 0.0, "max": 1.0},
        {"name": "y", "type": "int", "min": 0, "max": 4},
        {"name": "mode", "type": "categorical", "values": list(modes)},
    ]


def write(tmp_path: Path, obj: dict[str, Any]) -> Path:
    path = tmp_path / f"{obj['metadata']['name']}.yaml"
    path.write_text(kubeyaml.dump(obj))  # as kubectl reads it: the parameter "y" stays a string
    return path


def run(tmp_path: Path, obj: dict[str, Any]) -> tuple[int, Path]:
    """Run the task to its end in-process; return the exit code and its state directory."""
    state = tmp_path / "state" / obj["metadata"]["name"]
    code = main(["run", str(write(tmp_path, obj)), "--plain", "--state-dir", str(state)])
    return code, state


def trials_of(state: Path) -> list[dict[str, Any]]:
    trials = [json.loads(p.read_text()) for p in (state / "trials").glob("*.json")]
    return sorted(trials, key=lambda t: t["spec"]["index"])


def status_of(state: Path) -> dict[str, Any]:
    return json.loads((state / "status.json").read_text())


@pytest.mark.parametrize("algorithm", ["random", "bayesian", "tpe", "sobol"])
def test_a_local_run_completes_and_keeps_the_best_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], algorithm: str
) -> None:
    code, state = run(tmp_path, manifest(algorithm, algorithm={"name": algorithm, "seed": 3}))
    assert code == 0
    trials = trials_of(state)
    assert [t["spec"]["index"] for t in trials] == list(range(6))
    assert all(t["status"]["phase"] == "Succeeded" for t in trials)
    status = status_of(state)
    assert status["phase"] == "Succeeded" and status["reason"] == "MaxTrialsReached"
    best = min(trials, key=lambda t: t["status"]["objective"])
    assert status["bestTrial"]["name"] == best["metadata"]["name"]
    expected = (best["spec"]["parameters"]["x"] - 0.3) ** 2 + (best["spec"]["parameters"]["y"] - 2) ** 2 / 10 + 1 / 3
    assert status["bestTrial"]["objective"] == pytest.approx(expected, abs=1e-5)
    out = capsys.readouterr().out
    assert "best trial:" in out and best["metadata"]["name"] in out


def test_hyperband_gives_promoted_trials_more_epochs(tmp_path: Path) -> None:
    obj = manifest(
        "hb",
        algorithm={"name": "hyperband", "seed": 2, "settings": {"resourceParameter": "epochs", "eta": 3}},
        parameters=[
            {"name": "x", "type": "double", "min": 0.0, "max": 1.0},
            {"name": "y", "type": "int", "min": 0, "max": 4},
            {"name": "epochs", "type": "int", "min": 1, "max": 9},
        ],
        budget={"maxTrials": 40, "parallelTrials": 4},
    )
    code, state = run(tmp_path, obj)
    assert code == 0
    trials = trials_of(state)
    budgets = sorted({t["spec"]["resource"] for t in trials})
    assert budgets[0] == 1 and budgets[-1] == 9
    for trial in trials:
        assert trial["spec"]["parameters"]["epochs"] == trial["spec"]["resource"]
        epochs = [p["step"] for p in trial["status"]["metrics"][0]["points"]]
        assert epochs[-1] == trial["spec"]["resource"]
    # Every promoted configuration was first tried with a smaller budget.
    small = {(t["spec"]["parameters"]["x"], t["spec"]["parameters"]["y"]) for t in trials if t["spec"]["resource"] < 9}
    promoted = [t for t in trials if t["spec"]["resource"] == 3]
    assert any((t["spec"]["parameters"]["x"], t["spec"]["parameters"]["y"]) in small for t in promoted)


def test_a_trial_printing_garbage_fails_cleanly_and_the_task_goes_on(tmp_path: Path) -> None:
    obj = manifest(
        "garbage",
        algorithm={
            "name": "experiments",
            "experiments": [{"x": 0.1, "y": 1, "mode": "garbage"}, {"x": 0.3, "y": 2, "mode": "normal"}],
        },
        mode="${params.mode}",
        parameters=with_modes("normal", "garbage"),
        budget={"maxTrials": 2, "parallelTrials": 1},
    )
    code, state = run(tmp_path, obj)
    assert code == 0
    garbage, normal = trials_of(state)
    assert garbage["status"]["phase"] == "Failed"
    assert garbage["status"]["reason"] == "MetricsUnavailable"
    assert "non-finite or non-numeric" in garbage["status"]["message"]
    assert normal["status"]["phase"] == "Succeeded"
    assert status_of(state)["bestTrial"]["name"] == normal["metadata"]["name"]


def test_a_crashing_trial_is_failed_with_its_exit_code(tmp_path: Path) -> None:
    obj = manifest("crash", algorithm={"name": "random"}, mode="fail", budget={"maxTrials": 2, "parallelTrials": 2})
    code, state = run(tmp_path, obj)
    assert code == 1
    assert {t["status"]["reason"] for t in trials_of(state)} == {"ExitCode"}
    assert status_of(state)["reason"] == "NoTrialSucceeded"
    assert "CUDA error" in (state / "logs" / "crash-0.log").read_text()


def test_a_hanging_trial_is_stopped_at_its_timeout(tmp_path: Path) -> None:
    obj = manifest("hang", algorithm={"name": "random"}, mode="hang", budget={"maxTrials": 1, "trialTimeout": "1s"})
    code, state = run(tmp_path, obj)  # returns at all: the trainer sleeps an hour (the test's limit is 120 s)
    (trial,) = trials_of(state)
    assert trial["status"]["phase"] == "Failed"
    assert trial["status"]["reason"] == "TimedOut"
    assert code == 1


def test_the_median_rule_stops_a_visibly_bad_trial_early(tmp_path: Path) -> None:
    experiments = [{"x": 0.3, "y": 2, "mode": "normal"}] * 3 + [{"x": 0.3, "y": 2, "mode": "bad"}]
    obj = manifest(
        "median",
        algorithm={"name": "experiments", "experiments": experiments},
        mode="${params.mode}",
        parameters=with_modes("normal", "bad"),
        budget={"maxTrials": 4, "parallelTrials": 1},
        earlyStopping={"rule": "median", "minTrials": 3, "startStep": 2},
    )
    obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] += ["--epochs=40", "--sleep=0.05"]
    code, state = run(tmp_path, obj)
    assert code == 0
    *good, bad = trials_of(state)
    assert [t["status"]["phase"] for t in good] == ["Succeeded"] * 3
    assert bad["status"]["phase"] == "EarlyStopped"
    assert bad["status"]["reason"] == "MedianStop"
    assert bad["status"]["metrics"][0]["count"] < 40


def test_an_invalid_manifest_gets_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    obj = manifest("bad", algorithm={"name": "random"})
    obj["spec"]["parameters"][0]["max"] = -1.0
    code, state = run(tmp_path, obj)
    assert code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"{tmp_path / 'bad.yaml'}: spec.parameters[0].min: must be less than max (0 >= -1)"
    ]
    assert not state.exists()


def test_a_missing_program_fails_its_trials_with_a_clear_reason(tmp_path: Path) -> None:
    obj = manifest("noprog", algorithm={"name": "random"}, budget={"maxTrials": 1})
    obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"] = ["/no/such/trainer"]
    code, state = run(tmp_path, obj)
    assert code == 1
    (trial,) = trials_of(state)
    assert trial["status"]["reason"] == "StartFailed"
    assert "No such file or directory" in trial["status"]["message"]


def test_trials_and_best_read_the_state_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, state = run(tmp_path, manifest("listing", algorithm={"name": "random", "seed": 5}))
    assert code == 0
    capsys.readouterr()
    assert main(["trials", "--state-dir", str(state), "-o", "json", "--limit", "2", "--offset", "1"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert (page["total"], page["count"], page["offset"], page["limit"]) == (6, 2, 1, 2)
    assert page["header"][:3] == ["trial", "phase", "loss"]
    losses = [row[2] for row in page["rows"]]
    assert losses == sorted(losses)
    assert main(["trials", "--state-dir", str(state), "-o", "csv", "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("trial,phase,loss,x,y") and len(lines) == 4
    assert main(["best", "--state-dir", str(state)]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["objective"] == min(t["status"]["objective"] for t in trials_of(state))


def test_kill_9_mid_task_then_rerun_loses_and_repeats_nothing(tmp_path: Path) -> None:
    obj = manifest("crashy", algorithm={"name": "tpe", "seed": 4}, budget={"maxTrials": 8, "parallelTrials": 2})
    obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] += ["--epochs=4", "--sleep=0.1"]
    path = write(tmp_path, obj)
    state = tmp_path / "state"
    command = [sys.executable, "-m", "kubetune.cli", "run", str(path), "--plain", "--state-dir", str(state)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def three_succeeded() -> bool:
        try:
            return sum(t["status"]["phase"] == "Succeeded" for t in trials_of(state)) >= 3
        except (OSError, ValueError):  # not written yet
            return False

    try:
        wait_for(three_succeeded, timeout=60, message="three trials of the first run to succeed")
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    before = {t["metadata"]["name"]: t for t in trials_of(state) if t["status"]["phase"] == "Succeeded"}

    second = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    assert second.returncode == 0, second.stderr
    trials = trials_of(state)
    assert [t["spec"]["index"] for t in trials] == list(range(8))
    assert all(t["status"]["phase"] == "Succeeded" for t in trials)
    for name, trial in before.items():  # finished trials were neither lost nor run again
        again = next(t for t in trials if t["metadata"]["name"] == name)
        assert again["spec"] == trial["spec"]
        assert again["status"]["completionTime"] == trial["status"]["completionTime"]
    assert not list((state / "runs").glob("*.json")), "no process is left recorded as running"


def test_unreadable_inputs_get_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.yaml"
    assert main(["trials", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"kubetune: {missing}: cannot read: No such file or directory"
    unnamed = manifest("x", algorithm={"name": "random"})
    del unnamed["metadata"]["name"]
    path = tmp_path / "unnamed.yaml"
    path.write_text(kubeyaml.dump(unnamed))
    assert main(["run", str(path)]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"{path}: metadata.name: is required (it names the state directory and the trials)"
    )
    assert main(["best", "--state-dir", str(tmp_path / "nowhere")]) == 2
    assert "not a kubetune state directory" in capsys.readouterr().err


def test_a_background_child_neither_delays_nor_outlives_its_trial(tmp_path: Path) -> None:
    marker, finished = tmp_path / "child-alive", tmp_path / "child-finished"
    script = f"(sleep 30; touch {finished}) & echo $! > {marker}; echo loss=0.5"
    obj = manifest("forks", algorithm={"name": "random"}, budget={"maxTrials": 1})
    container = obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["command"], container["args"] = ["sh", "-c", script], []
    code, state = run(tmp_path, obj)
    assert code == 0
    assert not finished.exists(), "the trial ended when its main process did, not when its child did"
    (trial,) = trials_of(state)
    assert trial["status"]["objective"] == 0.5
    child = int(marker.read_text())

    def gone() -> bool:
        try:
            return Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return True

    wait_for(gone, message="the trial's background child to be killed with it")
    assert not finished.exists()


def test_a_suspended_task_returns_and_says_how_to_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(tmp_path, manifest("paused", algorithm={"name": "random"}, suspend=True))
    assert code == 0
    out = capsys.readouterr().out
    assert "paused: Suspended" in out and "set spec.suspend to false" in out


def test_a_reader_that_stops_early_gets_no_error_message(tmp_path: Path) -> None:
    code, state = run(tmp_path, manifest("piped", algorithm={"name": "random"}, budget={"maxTrials": 1}))
    assert code == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already exited
    result = subprocess.run(
        [sys.executable, "-m", "kubetune.cli", "best", "--state-dir", str(state)],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == ""


def test_a_damaged_task_file_in_the_state_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "task.yaml").write_text("[" * 20000 + "]" * 20000)  # read by the same loader as any manifest
    assert main(["best", "--state-dir", str(state)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"kubetune: {state / 'task.yaml'}: unreadable"), err
