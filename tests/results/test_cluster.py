"""The result commands on a cluster task (``hpo/NAME``), read with a kubeconfig from the API emulator over HTTP."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune import names
from kubetune.api import TaskPhase, Trial, TrialPhase
from kubetune.api.crd import all_crds
from kubetune.cli import main
from kubetune.results.dashboard import Dashboard
from kubetune.results.source import open_source
from tests.kube import Kube
from tests.kube.fixtures import kube  # noqa: F401 - the emulator fixture

from .conftest import PHASES, TASK, toy_trial, write_state

NAMESPACE = "ml"


@pytest.fixture
def cluster(kube: Kube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kube:  # noqa: F811
    """The emulator with kubetune's CRDs, a namespace ``ml``, and a kubeconfig with two contexts."""
    for crd in all_crds().values():
        kube.install_crd(crd)
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    cluster = {"name": "emulator", "cluster": {"server": kube.url}}
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "me", "user": {"token": "t"}}],
        "contexts": [
            {"name": "main", "context": {"cluster": "emulator", "user": "me"}},
            {"name": "ml-team", "context": {"cluster": "emulator", "user": "me", "namespace": NAMESPACE}},
        ],
        "current-context": "main",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return kube


def put_task(emulator: Kube, trials: list[Trial], status: dict[str, Any] | None = None, name: str = "toy") -> None:
    """The toy task and its trials as the operator leaves them: Trials owned by the task, statuses written."""
    body = {**TASK, "metadata": {"name": name, "namespace": NAMESPACE}}
    task = emulator.create(body)
    if status is not None:
        emulator.patch("hpotasks", name, {"status": status}, NAMESPACE, subresource="status")
    owner = {"apiVersion": names.API_VERSION, "kind": "HPOTask", "name": name, "uid": task["metadata"]["uid"]}
    for trial in trials:
        manifest = trial.to_manifest()
        trial_status = manifest.pop("status", None)
        manifest["metadata"] = {
            "name": manifest["metadata"]["name"].replace("toy-", f"{name}-"),
            "namespace": NAMESPACE,
            "labels": {names.LABEL_TASK: name},
            "ownerReferences": [owner],
        }
        manifest["spec"]["task"] = name
        emulator.create(manifest)
        if trial_status:
            emulator.patch(
                "trials", manifest["metadata"]["name"], {"status": trial_status}, NAMESPACE, subresource="status"
            )


def toy_trials() -> list[Trial]:
    return [toy_trial(i, p) for i, p in enumerate(PHASES)]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_trials_and_best_read_a_cluster_task_as_they_read_a_local_one(
    cluster: Kube, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = write_state(tmp_path / "local", toy_trials())
    put_task(cluster, toy_trials(), local.load_status().model_dump(mode="json", by_alias=True, exclude_none=True))  # type: ignore[union-attr]

    on_cluster = run_json(capsys, "trials", "hpo/toy", "-n", NAMESPACE, "--include-failed", "-o", "json")
    assert on_cluster == run_json(capsys, "trials", str(local.root), "--include-failed", "-o", "json")
    assert on_cluster["total"] == len(PHASES)
    # The context's namespace is the default, as with kubectl.
    assert run_json(capsys, "best", "hpotasks/toy", "--context", "ml-team") == run_json(capsys, "best", str(local.root))
    series = run_json(capsys, "trials", "toy", "-n", NAMESPACE, "--trial", "toy-3", "--series", "-o", "json")
    assert series["total"] == 12, "six steps of loss and of accuracy"


def test_a_missing_cluster_task_is_one_line_naming_the_namespace(
    cluster: Kube, capsys: pytest.CaptureFixture[str]
) -> None:
    put_task(cluster, [])
    assert main(["best", "hpo/toy"]) == 2  # the current context has no namespace: default
    assert capsys.readouterr().err == "kubetune: hpo/toy: no such HPOTask in namespace default\n"
    assert main(["trials", "hpo/toy", "--context", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kubetune: cannot use the kubeconfig:") and len(err.splitlines()) == 1


def test_over_a_thousand_trials_are_read_in_pages_of_500(
    cluster: Kube, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    trials = [toy_trial(i, TrialPhase.SUCCEEDED) for i in range(1001)]
    put_task(cluster, trials, {"phase": "Running"}, name="big")
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        page = run_json(capsys, "trials", "hpo/big", "-n", NAMESPACE, "--top", "3", "-o", "json")
    assert page["total"] == 3 and page["rows"][0][0] == "big-" + str(
        min(range(1001), key=lambda i: (trials[i].status.objective, i))  # type: ignore[union-attr]
    )
    lists = [r.getMessage() for r in caplog.records if "/trials?" in r.getMessage()]
    assert len(lists) == 3, lists
    assert all("limit=500" in line for line in lists)
    assert sum("continue=" in line for line in lists) == 2


def test_a_report_and_the_dashboard_of_a_cluster_task(
    cluster: Kube, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put_task(cluster, toy_trials()[:6], {"phase": "Running"})
    out = tmp_path / "toy.html"
    assert main(["report", "hpo/toy", "-n", NAMESPACE, "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    text = out.read_text()
    assert "<h1>toy</h1>" in text and len(re.findall(r"<td>toy-\d+</td>", text)) == 6

    dashboard = Dashboard([open_source("hpo/toy", namespace=NAMESPACE)])
    assert dashboard.studies == ["toy"]
    assert not dashboard.refresh(), "nothing changed on the cluster"
    cluster.patch("hpotasks", "toy", {"status": {"phase": "Succeeded"}}, NAMESPACE, subresource="status")
    assert dashboard.refresh(), "a change on the cluster shows"


def test_kubectl_kubetune_takes_a_plain_name_as_a_cluster_task(cluster: Kube) -> None:
    put_task(cluster, toy_trials(), {"phase": "Running"})
    plugin = Path(sys.executable).with_name("kubectl-kubetune")
    env = {**os.environ, "KUBECONFIG": os.environ["KUBECONFIG"]}
    done = subprocess.run(
        [str(plugin), "trials", "toy", "-n", NAMESPACE, "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"] == PHASES.count(TrialPhase.SUCCEEDED)
    usage = subprocess.run([str(plugin), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert usage.stdout.startswith("usage: kubectl kubetune")


def test_stop_sets_the_spec_field_the_operator_honours(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    put_task(cluster, [], {"phase": "Running"})
    assert main(["stop", "hpo/toy", "-n", NAMESPACE, "--force"]) == 0
    assert "set spec.stop on hpo/toy in namespace ml (force" in capsys.readouterr().out
    assert cluster.get("hpotasks", "toy", NAMESPACE)["spec"]["stop"] == {"policy": "force"}

    cluster.patch(
        "hpotasks", "toy", {"status": {"phase": "Stopped", "reason": "StoppedByUser"}}, NAMESPACE, subresource="status"
    )
    assert main(["stop", "hpo/toy", "-n", NAMESPACE]) == 0
    assert "has already finished (Stopped, StoppedByUser)" in capsys.readouterr().out


def test_namespace_applies_to_cluster_tasks_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = write_state(tmp_path / "local", toy_trials(), TaskPhase.RUNNING)
    assert main(["trials", str(state.root), "-n", "ml"]) == 2
    assert "apply to a cluster task (hpo/NAME) only" in capsys.readouterr().err


def test_delete_refuses_a_cluster_task_and_names_kubectl_delete(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["delete", "hpo/toy", "--yes"]) == 2
    assert "delete works on local tasks only (on a cluster: kubectl delete hpo/NAME)" in capsys.readouterr().err
    assert main(["delete", "toy", "--yes"], plugin=True) == 2, "as a kubectl plugin, a plain NAME is a cluster task"
