"""``kubetune run`` against trainers and machines that misbehave: stubborn processes, escaping
daemons, a full disk, a manifest changed between runs, a failure worth explaining."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kubetune.api import kubeyaml
from kubetune.cli import main
from kubetune.engine import LAST_OUTPUT_BYTES, last_output
from kubetune.executors import local
from kubetune.executors.state import atomic_write
from tests.waiting import wait_for

from .test_local import manifest, run, status_of, trials_of, write

GRACE = 3.0

# Ignores SIGTERM (noting that it came), as a trainer busy in native code or catching it does. Once
# its own came, it notes whether every trial's SIGTERM came while it still ran (the runner kills it a
# grace period after its own): stopped together, not one after the other.
STUBBORN = """
import glob, os, signal, sys, time
where = os.path.join(sys.argv[1], os.environ["KUBETUNE_TRIAL"])
signal.signal(signal.SIGTERM, lambda *_: open(where + ".term", "w").close())
open(where + ".started", "w").close()
print("epoch=1 loss=0.5", flush=True)
while True:
    if os.path.exists(where + ".term") and len(glob.glob(os.path.join(sys.argv[1], "*.term"))) == int(sys.argv[2]):
        open(where + ".together", "w").close()
    time.sleep(0.01)
"""

# Leaves a daemon behind the classic way: fork, setsid, fork again, first child exits.
DOUBLE_FORK = """
import os, sys, time
marker = sys.argv[1]
child = os.fork()
if child == 0:
    os.setsid()
    if os.fork() == 0:
        open(marker + ".tmp", "w").write(str(os.getpid()))
        os.rename(marker + ".tmp", marker)
        time.sleep(120)
    os._exit(0)
os.waitpid(child, 0)
while not os.path.exists(marker):
    time.sleep(0.01)
print("loss=0.5", flush=True)
"""

WAIT_DAEMON = """
def running(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
while running(int(open(marker).read())):
    time.sleep(0.01)
print("loss=0.5", flush=True)
"""


def script_task(name: str, script: str, *args: str, **spec: Any) -> dict[str, Any]:
    """A task whose trials run ``python -c script args``."""
    obj = manifest(name, algorithm={"name": "random", "seed": 1}, **spec)
    container = obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["command"], container["args"] = ["python", "-c", script, *args], []
    return obj


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stopped_together(where: Path) -> int:
    """How many STUBBORN trainers saw every trial's SIGTERM come while they still ran."""
    return len(list(where.glob("*.together")))


# --- stopping: all at once -------------------------------------------------------------------


def test_trainers_that_ignore_sigterm_are_stopped_together_at_their_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "STOP_GRACE", GRACE)
    where = tmp_path / "signals"
    where.mkdir()
    obj = script_task(
        "stubborn", STUBBORN, str(where), "4", budget={"maxTrials": 4, "parallelTrials": 4, "trialTimeout": "2s"}
    )
    code, state = run(tmp_path, obj)
    assert code == 1
    assert [t["status"]["reason"] for t in trials_of(state)] == ["TimedOut"] * 4
    assert len(list(where.glob("*.term"))) == 4
    # One after the other, the first would be killed before the second got its SIGTERM.
    assert stopped_together(where) == 4


def test_an_interrupted_run_stops_stubborn_trainers_together(tmp_path: Path) -> None:
    where = tmp_path / "signals"
    where.mkdir()
    obj = script_task("stopall", STUBBORN, str(where), "4", budget={"maxTrials": 4, "parallelTrials": 4})
    state = tmp_path / "state"
    # The runner in its own process, with a shorter grace period, to interrupt it as Ctrl-C would.
    # SIGINT as in a terminal: a test run started as a shell's background job hands it on ignored.
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler);"
        "import sys; import kubetune.executors.local as l; l.STOP_GRACE = float(sys.argv[1]);"
        "from kubetune.cli import main; sys.exit(main(sys.argv[2:]))"
    )
    command = [sys.executable, "-c", code, str(GRACE), "run", str(write(tmp_path, obj)), "--plain"]
    runner = subprocess.Popen([*command, "--state-dir", str(state)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(list(where.glob("*.started"))) == 4, timeout=60, message="the 4 trials to start")
    except BaseException:
        runner.kill()
        runner.communicate()
        raise
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, err
    assert len(list(where.glob("*.term"))) == 4
    assert stopped_together(where) == 4, "the 4 stubborn trials were stopped one after the other"
    assert not list((state / "runs").glob("*.json"))


# --- a daemon does not outlive its trial -----------------------------------------------------


def test_a_double_forked_daemon_does_not_outlive_its_trial(tmp_path: Path) -> None:
    marker = tmp_path / "daemon-pid"
    bystander = subprocess.Popen(["sleep", "60"])  # a child of this process that is not a trial's
    try:
        code, state = run(tmp_path, script_task("daemon", DOUBLE_FORK, str(marker), budget={"maxTrials": 1}))
        assert code == 0
        assert trials_of(state)[0]["status"]["objective"] == 0.5
        daemon = int(marker.read_text())
        assert not alive(daemon), "the trial's daemon still runs after the trial ended"
        assert not Path(f"/proc/{daemon}").exists(), "the daemon was killed but not reaped"
        assert bystander.poll() is None, "a child the trial did not start was killed"
    finally:
        bystander.kill()
        bystander.wait()


def test_a_daemon_that_exits_before_its_trial_is_reaped_too(tmp_path: Path) -> None:
    marker = tmp_path / "daemon-pid"
    # The daemon lives through a few of the runner's looks for strays (about one a second: one that
    # lives a moment is never seen, and stays a zombie), then exits; the trainer ends only once it has.
    script = DOUBLE_FORK.replace("time.sleep(120)", "time.sleep(3)").replace(
        'print("loss=0.5", flush=True)', WAIT_DAEMON
    )
    code, _ = run(tmp_path, script_task("shortdaemon", script, str(marker), budget={"maxTrials": 1}))
    assert code == 0
    daemon = int(marker.read_text())
    assert not Path(f"/proc/{daemon}").exists(), "the daemon that exited on its own was left a zombie"


def test_a_daemon_of_an_interrupted_run_is_stopped_with_it(tmp_path: Path) -> None:
    marker = tmp_path / "daemon-pid"
    script = DOUBLE_FORK.replace('print("loss=0.5", flush=True)', "time.sleep(120)")
    obj = script_task("daemon2", script, str(marker), budget={"maxTrials": 1})
    command = [sys.executable, "-m", "kubetune.cli", "run", str(write(tmp_path, obj)), "--plain"]
    runner = subprocess.Popen([*command, "--state-dir", str(tmp_path / "state")], stdout=subprocess.DEVNULL)
    wait_for(marker.exists, timeout=60, message="the trial's daemon to start")
    daemon = int(marker.read_text())
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=60) == 130
    assert not alive(daemon)


# --- a full disk ---------------------------------------------------------------------------


def test_a_full_disk_under_a_log_ends_the_run_with_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "logs").mkdir(parents=True)
    log = state / "logs" / "full-0.log"
    log.symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    obj = manifest("full", algorithm={"name": "random"}, budget={"maxTrials": 1})
    command = [sys.executable, "-m", "kubetune.cli", "run", str(write(tmp_path, obj)), "--plain"]
    result = subprocess.run(
        [*command, "--state-dir", str(state)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"kubetune: {log}: cannot write (No space left on device); make room, then run the same command again "
        "to continue"
    ]
    assert not list(state.glob("**/.*.tmp"))


def test_a_failed_write_leaves_no_temporary_file_and_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    target.write_text("old")
    (tmp_path / ".status.json.tmp").symlink_to("/dev/full")
    with pytest.raises(Exception, match=f"^{target}: cannot write \\(No space left on device\\)"):
        atomic_write(target, "new" * 10000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]
    assert target.read_text() == "old"


def test_a_temporary_file_left_by_a_crash_is_removed_by_the_next_run(tmp_path: Path) -> None:
    code, state = run(tmp_path, manifest("leftover", algorithm={"name": "random"}, budget={"maxTrials": 1}))
    assert code == 0
    (state / "trials" / ".leftover-0.json.tmp").write_text('{"half": ')
    code, _ = run(tmp_path, manifest("leftover", algorithm={"name": "random"}, budget={"maxTrials": 1}))
    assert code == 0
    assert not list(state.glob("**/.*.tmp"))


# --- a manifest changed between runs -----------------------------------------------------------


def test_a_budget_increase_continues_the_task_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, state = run(tmp_path, manifest("grow", algorithm={"name": "random", "seed": 1}, budget={"maxTrials": 2}))
    assert code == 0
    first = {t["metadata"]["name"]: t["status"]["completionTime"] for t in trials_of(state)}
    capsys.readouterr()
    code, _ = run(tmp_path, manifest("grow", algorithm={"name": "random", "seed": 1}, budget={"maxTrials": 4}))
    assert code == 0
    out = capsys.readouterr().out
    changed = [line for line in out.splitlines() if "changed" in line]
    assert changed == ["kubetune: the budget changed (maxTrials 2 -> 4); continuing with the 2 trials so far"]
    trials = trials_of(state)
    assert len(trials) == 4
    assert {t["metadata"]["name"]: t["status"]["completionTime"] for t in trials[:2]} == first
    assert status_of(state)["progress"] == "4/4"


def test_a_changed_search_space_is_refused_with_the_ways_to_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, state = run(tmp_path, manifest("space", algorithm={"name": "random"}, budget={"maxTrials": 2}))
    assert code == 0
    before = (state / "task.yaml").read_text()
    capsys.readouterr()
    changed = manifest("space", algorithm={"name": "random"}, budget={"maxTrials": 4})
    changed["spec"]["parameters"][0]["max"] = 2.0
    code, _ = run(tmp_path, changed)
    assert code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("kubetune: space: spec.parameters changed since the last run")
    assert "a new metadata.name" in line and "--restart" in line and "--allow-changes" in line
    assert len(trials_of(state)) == 2
    assert (state / "task.yaml").read_text() == before


@pytest.mark.parametrize(
    ("field", "value"),
    [("objective", {"metric": "loss", "direction": "maximize"}), ("algorithm", {"name": "sobol"})],
)
def test_a_changed_objective_or_algorithm_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: dict[str, Any]
) -> None:
    code, _ = run(tmp_path, manifest("meaning", algorithm={"name": "random"}, budget={"maxTrials": 1}))
    assert code == 0
    capsys.readouterr()
    changed = manifest("meaning", algorithm={"name": "random"}, budget={"maxTrials": 1})
    changed["spec"][field] = value
    assert run(tmp_path, changed)[0] == 2
    assert f"spec.{field} changed" in capsys.readouterr().err


def test_allow_changes_keeps_trials_outside_the_new_space(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    experiments = [{"x": 0.9, "y": 1}, {"x": 0.1, "y": 1}]
    obj = manifest("allow", algorithm={"name": "experiments", "experiments": experiments}, budget={"maxTrials": 2})
    code, state = run(tmp_path, obj)
    assert code == 0
    capsys.readouterr()
    narrowed = manifest("allow", algorithm={"name": "bayesian", "seed": 1}, budget={"maxTrials": 4})
    narrowed["spec"]["parameters"][0]["max"] = 0.5
    path = write(tmp_path, narrowed)
    code = main(["run", str(path), "--plain", "--state-dir", str(state), "--allow-changes"])
    assert code == 0
    out = capsys.readouterr().out
    assert (
        "kubetune: spec.parameters, spec.algorithm changed (--allow-changes): 1 of 2 trials lie outside the new "
        "search space and are kept but left out of the algorithm's history"
    ) in out
    trials = trials_of(state)
    assert [t["spec"]["parameters"]["x"] for t in trials[:2]] == [0.9, 0.1]
    assert all(t["spec"]["parameters"]["x"] <= 0.5 for t in trials[2:]) and len(trials) == 4


def test_allow_changes_rereads_the_objective_of_earlier_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, state = run(tmp_path, manifest("reread", algorithm={"name": "random"}, budget={"maxTrials": 2}))
    assert code == 0
    changed = manifest("reread", algorithm={"name": "random"}, budget={"maxTrials": 2})
    changed["spec"]["objective"] = {"metric": "loss", "direction": "minimize", "aggregation": "max"}  # was: last
    capsys.readouterr()
    assert main(["run", str(write(tmp_path, changed)), "--plain", "--state-dir", str(state), "--allow-changes"]) == 0
    assert "each trial's objective is re-read from the metrics it recorded" in capsys.readouterr().out
    trials = trials_of(state)
    assert [t["status"]["objective"] for t in trials] == [t["status"]["metrics"][0]["max"] for t in trials]
    assert status_of(state)["bestTrial"]["objective"] == min(t["status"]["objective"] for t in trials)


def test_restart_sets_the_old_state_aside_and_starts_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, state = run(tmp_path, manifest("again", algorithm={"name": "random"}, budget={"maxTrials": 2}))
    assert code == 0
    capsys.readouterr()
    changed = manifest("again", algorithm={"name": "random"}, budget={"maxTrials": 1})
    changed["spec"]["parameters"][0]["max"] = 2.0
    code = main(["run", str(write(tmp_path, changed)), "--plain", "--state-dir", str(state), "--restart"])
    assert code == 0
    (aside,) = state.parent.glob("again.replaced-*")
    assert f"the old state of again is now in {aside}" in capsys.readouterr().out
    assert len(trials_of(aside)) == 2
    assert len(trials_of(state)) == 1


# --- a failed trial says why ---------------------------------------------------------------


def test_a_failed_trial_shows_its_last_output_and_where_its_log_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = manifest("crash", algorithm={"name": "random"}, mode="fail", budget={"maxTrials": 1})
    code, state = run(tmp_path, obj)
    assert code == 1
    (trial,) = trials_of(state)
    message = trial["status"]["message"]
    log = state / "logs" / "crash-0.log"
    assert message.startswith('Exited with code 3. Last output: "epoch=1 loss=')
    assert message.endswith(f' | CUDA error: out of memory" (full log: {log}).')
    assert f"crash-0: {message}" in capsys.readouterr().out  # the event line
    assert main(["trials", "--state-dir", str(state), "--include-failed", "-o", "json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["rows"][0][table["header"].index("message")] == message


def test_the_last_output_is_bounded_and_printable() -> None:
    many = "\n".join(f"line {i}" for i in range(20)) + "\n\n"
    assert last_output(many) == "line 15 | line 16 | line 17 | line 18 | line 19"
    huge = last_output(b"x" * 5000 + b"\xff\x00 the end\r\n")
    assert len(huge.encode()) <= LAST_OUTPUT_BYTES and huge.endswith("\ufffd  the end") and huge.startswith("…")
    assert last_output(b"") == ""


# --- where the state is ------------------------------------------------------------------------


def test_results_are_found_from_another_directory_or_the_message_says_where_to_look(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    path = project / "task.yaml"
    path.write_text(kubeyaml.dump(manifest("here", algorithm={"name": "random"}, budget={"maxTrials": 1})))
    monkeypatch.chdir(project)
    assert main(["run", "task.yaml", "--plain"]) == 0
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["trials", str(path), "-o", "json"]) == 0  # the state beside the manifest
    assert json.loads(capsys.readouterr().out)["total"] == 1
    assert main(["best", "--state-dir", str(elsewhere)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"kubetune: {elsewhere}: not a kubetune state directory (no task.yaml);")
    assert ".kubetune/TASK under the directory it ran in" in err and "--state-dir DIR" in err
    assert main(["run", str(path), "--plain"]) == 0
    assert f"{project / '.kubetune' / 'here'} holds an earlier run" in capsys.readouterr().out


# Prints a line that a backtracking regex engine needs hours for against ``^(a+)+$``, then waits.
BACKTRACKING_BAIT = """
import sys, time
print("a" * 40 + "!", flush=True)
open(sys.argv[1], "w").close()
time.sleep(300)
"""


def test_a_run_whose_pattern_would_backtrack_still_answers_sigterm(tmp_path: Path) -> None:
    printed = tmp_path / "printed"
    collector = {"format": "regex", "patterns": [{"metric": "loss", "regex": "^(a+)+$"}]}
    obj = script_task("bait", BACKTRACKING_BAIT, str(printed), metricsCollector=collector, budget={"maxTrials": 1})
    state = tmp_path / "state"
    command = [sys.executable, "-m", "kubetune.cli", "run", str(write(tmp_path, obj)), "--plain", "--state-dir"]
    runner = subprocess.Popen([*command, str(state)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: printed.exists() or runner.poll() is not None, timeout=60)
        assert printed.exists(), "the trainer never printed its line"
        # The runner logs each line, then gives it to the metrics parser, whose pattern would backtrack.
        log = state / "logs" / "bait-0.log"
        wait_for(lambda: log.exists() and "!" in log.read_text(), timeout=60, message="the runner to read the line")
        runner.send_signal(signal.SIGTERM)
        # Python's re held the interpreter lock for hours on that line: the signal handler never ran.
        out, _ = runner.communicate(timeout=60)
    finally:
        runner.kill()
    assert runner.returncode == 130, out  # interrupted, as Ctrl-C would: the state is kept to resume
