"""``kubetune run`` on a distributed template: the primary replica runs as one process, as a one-node job."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from kubetune.api import kubeyaml

from .test_local import run, trials_of

REPORTER = textwrap.dedent(
    """
    import json, os, sys
    keys = ["WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT", "PET_NNODES", "JOB_COMPLETION_INDEX",
            "KUBETUNE_TRIAL", "ROLE"]
    print("env", json.dumps({k: os.environ.get(k) for k in keys}), flush=True)
    lr = float(sys.argv[1].split("=")[1])
    print(f"loss={(lr - 0.1) ** 2}", flush=True)
    """
)


def _task(tmp_path: Path, name: str, template: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "kubetune.io/v1alpha1",
        "kind": "HPOTask",
        "metadata": {"name": name},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "algorithm": {"name": "random", "seed": 1},
            "parameters": [{"name": "lr", "type": "double", "min": 0.01, "max": 0.5}],
            "budget": {"maxTrials": 2},
            "trialTemplate": template,
        },
    }


def _container(tmp_path: Path, name: str, role: str) -> dict[str, Any]:
    script = tmp_path / "reporter.py"
    script.write_text(REPORTER)
    return {
        "name": name,
        "image": "trainer:1",
        "command": ["python", str(script)],
        "args": ["--lr=${params.lr}"],
        "env": [{"name": "ROLE", "value": role}],
    }


def _logged_env(state: Path) -> list[dict[str, str | None]]:
    found = []
    for log in sorted(state.rglob("*.log")):
        for line in log.read_text().splitlines():
            if line.startswith("env "):
                found.append(json.loads(line[4:]))
    return found


def test_a_pytorchjob_runs_its_master_as_one_process_of_a_world_of_one(tmp_path: Path) -> None:
    replica = {"template": {"spec": {"containers": [_container(tmp_path, "pytorch", "master")]}}}
    worker = {"replicas": 3, "template": {"spec": {"containers": [_container(tmp_path, "pytorch", "worker")]}}}
    template = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, **replica}, "Worker": worker}},
    }
    code, state = run(tmp_path, _task(tmp_path, "ddp", template))
    assert code == 0
    envs = _logged_env(state)
    assert len(envs) == 2, "one process per trial, not one per replica"
    for env in envs:
        assert (env["WORLD_SIZE"], env["RANK"], env["MASTER_ADDR"]) == ("1", "0", "localhost")
        assert env["ROLE"] == "master" and env["MASTER_PORT"] == "23456"


@pytest.mark.parametrize("kind", ["JobSet", "TrainJob"])
def test_jobset_and_trainjob_run_their_first_node(tmp_path: Path, kind: str) -> None:
    container = _container(tmp_path, "node", "leader")
    if kind == "JobSet":
        pod = {"spec": {"parallelism": 2, "completions": 2, "completionMode": "Indexed",
                        "template": {"spec": {"containers": [container]}}}}  # fmt: skip
        template = {
            "apiVersion": "jobset.x-k8s.io/v1alpha2",
            "kind": "JobSet",
            "spec": {"replicatedJobs": [{"name": "nodes", "replicas": 2, "template": pod}]},
        }
    else:
        trainer = {k: v for k, v in container.items() if k != "name"}
        template = {
            "apiVersion": "trainer.kubeflow.org/v1alpha1",
            "kind": "TrainJob",
            "spec": {"runtimeRef": {"name": "torch-distributed"}, "trainer": {**trainer, "numNodes": 4}},
        }
    code, state = run(tmp_path, _task(tmp_path, kind.lower(), template))
    assert code == 0
    envs = _logged_env(state)
    assert len(envs) == 2 and all(e["JOB_COMPLETION_INDEX"] == "0" for e in envs)
    if kind == "TrainJob":
        assert all(e["PET_NNODES"] == "1" for e in envs)


def test_a_rayjob_runs_its_entrypoint(tmp_path: Path) -> None:
    script = tmp_path / "reporter.py"
    script.write_text(REPORTER)
    head = {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.40.0"}]}}
    template = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "spec": {
            "entrypoint": f"python {script} --lr=${{params.lr}}",
            "rayClusterSpec": {"headGroupSpec": {"rayStartParams": {}, "template": head}},
        },
    }
    code, state = run(tmp_path, _task(tmp_path, "ray", template))
    assert code == 0
    envs = _logged_env(state)
    assert len(envs) == 2 and all(e["KUBETUNE_TRIAL"] for e in envs)


FILE_WRITER = textwrap.dedent(
    """
    import json, os, sys
    lr = float(sys.argv[1].split("=")[1])
    print("loss=12345 printed, not the file", flush=True)
    with open(os.environ["KUBETUNE_METRICS_FILE"], "w") as f:
        for step in (1, 2):
            f.write(json.dumps({"step": step, "loss": (lr - 0.1) ** 2 + 1 / step}) + "\\n")
    """
)


def test_the_file_source_is_read_from_the_file_locally(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(FILE_WRITER)
    container = {"name": "train", "image": "t", "command": ["python", str(script)], "args": ["--lr=${params.lr}"]}
    task = _task(tmp_path, "filed", {"spec": {"template": {"spec": {"containers": [container]}}}})
    task["spec"]["metricsCollector"] = {"source": "file", "path": "/var/log/train/metrics.json", "format": "json"}
    code, state = run(tmp_path, task)
    assert code == 0
    for trial in trials_of(state):
        lr = trial["spec"]["parameters"]["lr"]
        assert trial["status"]["objective"] == pytest.approx((lr - 0.1) ** 2 + 1 / 2)


def test_a_users_env_may_refer_to_kubetunes_variables_locally(tmp_path: Path) -> None:
    container = _container(tmp_path, "train", "$(KUBETUNE_TRIAL)-$$(KUBETUNE_TASK)")
    task = _task(tmp_path, "expand", {"spec": {"template": {"spec": {"containers": [container]}}}})
    code, state = run(tmp_path, task)
    assert code == 0
    roles = sorted(str(e["ROLE"]) for e in _logged_env(state))
    assert roles == ["expand-0-$(KUBETUNE_TASK)", "expand-1-$(KUBETUNE_TASK)"]


APPENDER = textwrap.dedent(
    """
    import json, os, sys, time
    mode, epochs = sys.argv[1].split("=")[1], int(sys.argv[2].split("=")[1])
    print("loss=12345 printed, not the file", flush=True)
    for step in range(1, epochs + 1):
        time.sleep(0.05)
        with open(os.environ["KUBETUNE_METRICS_FILE"], "a") as f:
            f.write(json.dumps({"step": step, "loss": 1 / step + (10 if mode == "bad" else 0)}) + "\\n")
    """
)


def test_a_followed_metrics_file_is_read_while_the_trial_runs_so_the_median_rule_stops_one(tmp_path: Path) -> None:
    script = tmp_path / "appender.py"
    script.write_text(APPENDER)
    container = {"name": "train", "image": "t", "command": ["python", str(script)]}
    container["args"] = ["--mode=${params.mode}", "--epochs=${params.epochs}"]
    task = _task(tmp_path, "followed", {"spec": {"template": {"spec": {"containers": [container]}}}})
    experiments = [{"mode": "normal", "epochs": 4}] * 3 + [{"mode": "bad", "epochs": 200}]
    task["spec"].update(
        algorithm={"name": "experiments", "experiments": experiments},
        parameters=[
            {"name": "mode", "type": "categorical", "values": ["normal", "bad"]},
            {"name": "epochs", "type": "int", "min": 1, "max": 200},
        ],
        budget={"maxTrials": 4},
        earlyStopping={"rule": "median", "minTrials": 3, "startStep": 1},
        metricsCollector={"source": "file", "path": "/var/log/train/metrics.json", "format": "json", "follow": True},
    )
    code, state = run(tmp_path, task)
    assert code == 0
    *good, bad = sorted(trials_of(state), key=lambda t: t["metadata"]["name"])
    for trial in good:
        assert trial["status"]["objective"] == pytest.approx(0.25)
        assert [p["step"] for p in trial["status"]["metrics"][0]["points"]] == [1, 2, 3, 4]
    assert (bad["status"]["phase"], bad["status"]["reason"]) == ("EarlyStopped", "MedianStop")
    assert bad["status"]["metrics"][0]["count"] < 200


SUMMARY_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from tensorboard.plugins.scalar import summary_v2
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    lr = float(sys.argv[1].split("=")[1])
    writer = EventFileWriter(os.path.join(os.environ["KUBETUNE_METRICS_FILE"], "test"))
    for step in (1, 2, 3):
        accuracy = 1 - (lr - 0.1) ** 2 - 0.1 / step
        summary = summary_v2.scalar_pb("accuracy", accuracy)
        writer.add_event(event_pb2.Event(step=step, wall_time=time.time(), summary=summary))
        writer.flush()
        time.sleep(0.05)
    writer.close()
    """
)


def test_tensorflow_event_files_are_read_locally_while_the_trial_runs(tmp_path: Path) -> None:
    script = tmp_path / "summaries.py"
    script.write_text(SUMMARY_WRITER)
    container = {"name": "train", "image": "t", "command": ["python", str(script)], "args": ["--lr=${params.lr}"]}
    task = _task(tmp_path, "events", {"spec": {"template": {"spec": {"containers": [container]}}}})
    task["spec"]["objective"] = {"metric": "test/accuracy", "direction": "maximize"}
    task["spec"]["metricsCollector"] = {"source": "file", "path": "/logs", "format": "tfevent", "follow": True}
    code, state = run(tmp_path, task)
    assert code == 0
    for trial in trials_of(state):
        lr = trial["spec"]["parameters"]["lr"]
        assert trial["status"]["objective"] == pytest.approx(1 - (lr - 0.1) ** 2 - 0.1 / 3, rel=1e-6)
        assert [p["step"] for p in trial["status"]["metrics"][0]["points"]] == [1, 2, 3]


def _followed_run(tmp_path: Path, script: str, path: str) -> subprocess.CompletedProcess[str]:
    """`kubetune run` of one trial running ``script`` (sh), its metrics file ``path`` followed, in a
    process whose peak memory (and its trials') is printed last."""
    container = {"name": "train", "image": "t", "command": ["sh", "-c", script]}
    task = _task(tmp_path, "bounded", {"spec": {"template": {"spec": {"containers": [container]}}}})
    task["spec"].update(budget={"maxTrials": 1}, metricsCollector={"source": "file", "path": path, "follow": True})
    manifest = tmp_path / "bounded.yaml"
    manifest.write_text(kubeyaml.dump(task))
    measure = (
        "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024); sys.exit(code)"
    )
    kubetune = str(Path(sys.executable).parent / "kubetune")
    argv = [
        sys.executable,
        "-c",
        measure,
        kubetune,
        "run",
        str(manifest),
        "--plain",
        "--state-dir",
        str(tmp_path / "s"),
    ]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, start_new_session=True
    )
    try:  # a bound, so that a runner that spins fails here rather than hangs the suite
        out, err = process.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the runner too, not only the measuring wrapper
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def test_a_followed_file_of_300_mb_without_newlines_is_read_in_bounded_memory(tmp_path: Path) -> None:
    script = 'truncate -s 300M "$KUBETUNE_METRICS_FILE" && printf "\\nloss=0.5\\n" >> "$KUBETUNE_METRICS_FILE"'
    done = _followed_run(tmp_path, script, "/var/log/train/metrics.log")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "s" / "trials" / "bounded-0.json").read_text())["status"]["objective"] == 0.5
    peak = int(done.stdout.splitlines()[-1])
    assert peak < 250, f"kubetune run grew to {peak} MiB"  # the pieces it holds, not the file


def test_a_followed_device_is_not_read_and_the_trial_ends(tmp_path: Path) -> None:
    done = _followed_run(tmp_path, "echo started", "/dev/zero")
    assert done.returncode == 1, done.stderr  # the trial reports no objective: failed, and said why
    trial = json.loads((tmp_path / "s" / "trials" / "bounded-0.json").read_text())
    assert trial["status"]["phase"] == "Failed"
    log = (tmp_path / "s" / "logs" / "bounded-0.log").read_text()
    assert log == "started\n"
