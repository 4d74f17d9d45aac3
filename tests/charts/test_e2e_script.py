"""e2e/run.sh's own logic, run against stand-ins for docker, kind, helm and kubectl (fake_cluster.py).

The real run needs Docker and kind (the e2e workflow); this proves here that its checks pass on a
healthy cluster and fail, with the right message, when a check's condition is broken.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .chart import ROOT

FAKE = Path(__file__).with_name("fake_cluster.py")

pytestmark = pytest.mark.skipif(shutil.which("jq") is None, reason="e2e/run.sh needs jq, which is not installed")


def run_e2e(tmp_path: Path, scenario: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    state, bin_dir = tmp_path / "state", tmp_path / "bin"
    state.mkdir()
    bin_dir.mkdir()
    (state / "scenario").write_text(scenario)
    for tool in ("docker", "kind", "helm", "kubectl"):
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "{state}" {tool} "$@"\n')
        wrapper.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "ARTIFACTS": str(tmp_path / "artifacts"),
        "POLL_INTERVAL": "0.1",
        "CLEANUP_TIMEOUT": "1",
    }
    result = subprocess.run(
        ["bash", str(ROOT / "e2e" / "run.sh")], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return result, (state / "calls.log").read_text().splitlines()


def test_e2e_script_passes_on_a_healthy_cluster_and_cleans_up(tmp_path: Path) -> None:
    result, calls = run_e2e(tmp_path, "ok")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS: kubetune end-to-end on kind" in result.stdout
    assert "docker build --tag kubetune/operator:e2e " + str(ROOT) in calls
    assert any(c.startswith("kind create cluster --name kubetune-e2e") for c in calls)
    assert any("kind load docker-image" in c and "kubetune/example-trainer:0.1.0" in c for c in calls)
    helm = next(c for c in calls if c.startswith("helm "))
    assert f"--values {ROOT}/e2e/values.yaml" in helm
    # The leader pod is killed mid-run, the task deleted at the end, the cluster deleted last.
    assert any(c.endswith("delete pod kubetune-5d9c7-aaaaa --wait=false") for c in calls)
    assert any("delete hpotask digits-demo" in c for c in calls)
    assert calls[-1] == "kind delete cluster --name kubetune-e2e"


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("failed-task", "digits-demo ended Failed"),
        ("wrong-best", "the best succeeded trial has 0.97, status.bestTrial says 0.95"),
        ("spec-touched", "managers other than kubectl own spec or labels: kopf"),
        ("leftovers", "objects of digits-demo are left after its deletion"),
    ],
)
def test_e2e_script_fails_when_a_check_does_not_hold(tmp_path: Path, scenario: str, message: str) -> None:
    result, calls = run_e2e(tmp_path, scenario)

    assert result.returncode != 0
    assert f"FAIL: {message}" in result.stderr
    assert (tmp_path / "artifacts").is_dir()  # diagnostics were collected
    assert calls[-1] == "kind delete cluster --name kubetune-e2e"
