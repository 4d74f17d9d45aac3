"""The operator under things going wrong: failing reconciles, conflicts, hand-deleted objects, no operator.

The emulator is the place for these: it can inject the failures (a conflict at a chosen write, a
server that answers 500) that a real API server gives only by chance. Deleting a task while no
operator runs has its twin on a real API server in tests/realcluster/test_operator.py.
"""

from __future__ import annotations

import itertools
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from kubetune import names
from kubetune.engine import LAST_OUTPUT_BYTES
from tests.kube import Kube, Log, PodScript, pod_args, pod_env

from .conftest import RunOperator, phase, quadratic, steps_done, task_manifest
from .test_operator import DONE, trials


def _install_plugin(root: Path, module: str, body: str, name: str) -> None:
    """A search algorithm plugin, registered under kubetune's entry-point group as a package would."""
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    dist = root / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{names.PLUGIN_ENTRY_POINTS}]\n{name} = {module}:Sloppy\n")


def _condition(cluster: Kube, task: str, kind: str) -> dict[str, Any] | None:
    status = (cluster.find("hpotasks", task) or {}).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), None)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_reconcile_that_raises_is_shown_on_the_task_and_retried_with_growing_waits(
    cluster: Kube, operator: RunOperator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A plugin whose first three answers are a plain list instead of a Proposal: the engine itself
    # then raises (an AttributeError), an exception no code path expects.
    body = """
        import time
        from kubetune.search.base import Proposal, Suggestion

        calls = []

        class Sloppy:
            def __init__(self, space, settings):
                self.space = space

            def suggest(self, request):
                calls.append(time.monotonic())
                if len(calls) <= 3:
                    return [{"lr": 0.1}]
                return Proposal([Suggestion(self.space.from_unit([0.5])) for _ in range(request.count)])
    """
    _install_plugin(tmp_path, "kubetune_plugin_sloppy", body, "sloppy")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "kubetune_plugin_sloppy", raising=False)
    cluster.behaviour = quadratic
    manifest = task_manifest("sloppy", algorithm={"name": "plugin", "plugin": "sloppy"}, budget={"maxTrials": 2})
    errors_before = _sample("kubetune_reconcile_errors_total", namespace="default", task="sloppy")
    with operator():
        cluster.create(manifest)
        ready = cluster.wait_for(
            lambda: (c := _condition(cluster, "sloppy", "Ready")) and c["status"] == "False" and c, timeout=20
        )
        assert ready["reason"] == "ReconcileError"
        assert "AttributeError" in ready["message"] and "\n" not in ready["message"]
        warnings = [e for e in cluster.events("default", involved="sloppy") if e["type"] == "Warning"]
        assert warnings and warnings[0]["reason"] == "ReconcileError"
        cluster.wait_for(lambda: phase(cluster, "sloppy") in DONE, timeout=40)
    assert phase(cluster, "sloppy") == "Succeeded"
    ready = _condition(cluster, "sloppy", "Ready")
    assert ready is not None and (ready["status"], ready["reason"]) == ("True", "Reconciled")
    calls = sys.modules["kubetune_plugin_sloppy"].calls
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls[:4])]
    # Waits of 0.5, 1 and 2 s, each plus up to 0.5 s of jitter: growing, never a fixed delay, and
    # never Kopf's silent 60 s. (Lower bounds only: a loaded machine makes waits longer, not shorter.)
    assert len(gaps) == 3 and gaps[0] >= 0.5 and gaps[1] >= 1.0 and gaps[2] >= 2.0, gaps
    errors = _sample("kubetune_reconcile_errors_total", namespace="default", task="sloppy") - errors_before
    assert errors == 3


def test_conflicts_on_status_patches_are_retried_at_once_not_after_a_fixed_five_seconds(
    cluster: Kube, operator: RunOperator
) -> None:
    cluster.behaviour = quadratic
    cluster.fail("PATCH", "/status", times=10, code=409)
    waited_before = _sample("kubetune_retry_wait_seconds_total", retried="request") + _sample(
        "kubetune_retry_wait_seconds_total", retried="reconcile"
    )
    retried_before = _sample("kubetune_request_retries_total", code="409")
    with operator():
        cluster.create(task_manifest("contested", budget={"maxTrials": 2, "parallelTrials": 2}))
        cluster.wait_for(lambda: phase(cluster, "contested") in DONE, timeout=40)
    assert phase(cluster, "contested") == "Succeeded"
    assert set(cluster.call(lambda: dict(cluster.emulator.server.faults)).values()) == {0}, "all ten conflicts happened"
    assert [t["status"]["phase"] for t in trials(cluster, "contested")] == ["Succeeded", "Succeeded"]
    waited = (
        _sample("kubetune_retry_wait_seconds_total", retried="request")
        + _sample("kubetune_retry_wait_seconds_total", retried="reconcile")
        - waited_before
    )
    # Ten conflicts used to cost 5 s each (50 s); repeated at once with jitter, they cost a few seconds.
    assert _sample("kubetune_request_retries_total", code="409") - retried_before >= 5
    assert waited < 8.0, f"{waited:.1f} s spent waiting on ten conflicts"


def test_a_finished_task_has_no_finalizer_and_deletes_without_an_operator(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    manifest = task_manifest("done", budget={"maxTrials": 2})
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: len(cluster.list("jobs")) == 2, timeout=20)
        finalizers = cluster.get("hpotasks", "done")["metadata"].get("finalizers")
        assert finalizers == [f"{names.GROUP}/finalizer"], "a running task's daemon holds one"
        cluster.wait_for(lambda: phase(cluster, "done") in DONE, timeout=20)
        cluster.wait_for(lambda: not cluster.get("hpotasks", "done")["metadata"].get("finalizers"), timeout=10)
    # No operator runs now: deleting the task must not hang in Terminating.
    cluster.delete("hpotasks", "done")
    cluster.wait_gone("hpotasks", "done", timeout=5)
    cluster.wait_for(lambda: not cluster.list("trials") and not cluster.list("jobs"), timeout=10)


def test_a_spec_change_after_the_end_brings_the_daemon_back(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    with operator():
        cluster.create(task_manifest("more", budget={"maxTrials": 1}))
        cluster.wait_for(lambda: phase(cluster, "more") in DONE, timeout=20)
        cluster.wait_for(lambda: not cluster.get("hpotasks", "more")["metadata"].get("finalizers"), timeout=10)
        cluster.patch("hpotasks", "more", {"spec": {"budget": {"maxTrials": 3}}})
        cluster.wait_for(lambda: len(trials(cluster, "more")) == 3, timeout=20)
        cluster.wait_for(lambda: phase(cluster, "more") in DONE and len(trials(cluster, "more")) == 3, timeout=20)
    assert phase(cluster, "more") == "Succeeded"
    assert cluster.get("hpotasks", "more")["status"]["trials"]["succeeded"] == 3


def test_dollar_parentheses_in_a_parameter_reach_the_trainer_on_the_cluster_as_they_do_locally(
    cluster: Kube, operator: RunOperator
) -> None:
    tags = ["$(KUBETUNE_TASK)", "cost$$5", "$(", "plain$"]
    seen: dict[str, dict[str, str]] = {}

    def trainer(pod: dict[str, Any]) -> PodScript:
        env = pod_env(pod)  # as the process sees it: the emulated kubelet expands $(VAR) as Kubernetes does
        seen[env["KUBETUNE_TRIAL"]] = {"arg": pod_args(pod)[-2], "env": env["KUBETUNE_PARAM_TAG"], "own": env["OWN"]}
        return PodScript([Log("loss=1.0")])

    cluster.behaviour = trainer
    manifest = task_manifest(
        "dollars",
        algorithm={"name": "experiments", "experiments": [{"tag": tag} for tag in tags]},
        parameters=[{"name": "tag", "type": "categorical", "values": tags}],
        budget={"maxTrials": len(tags), "parallelTrials": 2},
        retainWorkloads={"policy": "all"},  # each trial's pod is looked at in the end
    )
    container = manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    # The template's own text keeps Kubernetes' meaning: $(KUBETUNE_TRIAL) there is expanded.
    container["args"] = ["${params.tag}", "--trial=$(KUBETUNE_TRIAL)"]
    container["env"] = [{"name": "OWN", "value": "${params.tag}"}]
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "dollars") in DONE, timeout=30)
    for trial in trials(cluster, "dollars"):
        name, tag = trial["metadata"]["name"], trial["spec"]["parameters"]["tag"]
        assert seen[name] == {"arg": tag, "env": tag, "own": tag}
        assert pod_args(cluster.list("pods", labels=f"{names.LABEL_TRIAL}={name}")[0])[-1] == f"--trial={name}"


def test_a_failed_trials_message_shows_its_last_output_bounded_and_where_the_full_log_is(
    cluster: Kube, operator: RunOperator
) -> None:
    def chatty(pod: dict[str, Any]) -> PodScript:
        lines = [Log(f"step {i}: " + "x" * 500) for i in range(50)]
        return PodScript([*lines, Log("RuntimeError: CUDA out of memory")], exit_code=3)

    cluster.behaviour = chatty
    with operator():
        cluster.create(task_manifest("chatty", budget={"maxTrials": 1}))
        cluster.wait_for(lambda: phase(cluster, "chatty") in DONE, timeout=20)
    (trial,) = trials(cluster, "chatty")
    message = trial["status"]["message"]
    assert message.startswith('Exited with code 3. Last output: "…')
    assert message.endswith(
        'RuntimeError: CUDA out of memory" (full log: kubectl logs -n default job/chatty-0 -c train).'
    )
    tail = message.split('Last output: "', 1)[1].rsplit('" (full log', 1)[0]
    assert 900 < len(tail.encode()) <= LAST_OUTPUT_BYTES, "about 1 KiB of output, whatever the trial printed"
    event = next(e for e in cluster.events("default", involved="chatty") if e["reason"] == "TrialFailed")
    assert "RuntimeError: CUDA out of memory" in event["message"]


def test_deleting_a_trials_job_stops_that_trial_and_never_runs_it_again(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    manifest = task_manifest("cancel", budget={"maxTrials": 2, "parallelTrials": 2})
    manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] += [
        "--epochs=400",
        "--sleep=0.05",
    ]
    with operator():
        cluster.create(manifest)
        cluster.wait_for(
            lambda: [t["status"].get("phase") for t in trials(cluster, "cancel")] == ["Running", "Running"],
            timeout=20,
        )
        cluster.delete("jobs", "cancel-0", propagation="Background")
        stopped = cluster.wait_for(
            lambda: (t := trials(cluster, "cancel")[0])["status"].get("phase") == "Stopped" and t, timeout=20
        )
        assert stopped["status"]["reason"] == "WorkloadDeleted"
        assert "Job cancel-0 was deleted" in stopped["status"]["message"]
        # Steps that began after the trial stopped (a change to a trial pokes one at once): none makes the
        # Job again, none puts a trial in its place.
        done = steps_done()
        cluster.patch("trials", "cancel-1", {"metadata": {"annotations": {"test/poke": "1"}}})
        cluster.wait_for(lambda: steps_done() >= done + 2, timeout=20, message="two more reconcile steps")
        assert cluster.find("jobs", "cancel-0") is None
        assert [t["metadata"]["name"] for t in trials(cluster, "cancel")] == ["cancel-0", "cancel-1"]
        assert trials(cluster, "cancel")[1]["status"]["phase"] == "Running"
    reasons = [e["reason"] for e in cluster.events("default", involved="cancel")]
    assert "TrialStopped" in reasons


def test_deleting_a_trial_replaces_it_under_a_new_index_and_leaves_nothing_behind(
    cluster: Kube, operator: RunOperator
) -> None:
    cluster.behaviour = quadratic
    manifest = task_manifest("redo", budget={"maxTrials": 3, "parallelTrials": 1})
    manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] += ["--sleep=0.3"]
    with operator():
        cluster.create(manifest)
        cluster.wait_for(
            lambda: (cluster.find("trials", "redo-1") or {}).get("status", {}).get("phase") == "Running", timeout=20
        )
        cluster.delete("trials", "redo-1")
        cluster.wait_for(lambda: phase(cluster, "redo") in DONE, timeout=30)
    assert phase(cluster, "redo") == "Succeeded"
    done = trials(cluster, "redo")
    assert [t["metadata"]["name"] for t in done] == ["redo-0", "redo-2", "redo-3"], "index 1 is never reused"
    assert all(t["status"]["phase"] == "Succeeded" for t in done)
    assert sorted(j["metadata"]["name"] for j in cluster.list("jobs")) == ["redo-0", "redo-2", "redo-3"]
    status = cluster.get("hpotasks", "redo")["status"]
    assert (status["trials"]["total"], status["trials"]["created"], status["progress"]) == (3, 4, "3/3")


def test_lowering_max_trials_stops_the_trials_still_waiting_and_the_status_says_so(
    cluster: Kube, operator: RunOperator
) -> None:
    cluster.behaviour = quadratic
    manifest = task_manifest("lowered", budget={"maxTrials": 6, "parallelTrials": 6})
    manifest["spec"]["trialTemplate"]["spec"]["suspend"] = True  # queued, as Kueue holds Jobs until admitted
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: len(cluster.list("jobs")) == 6, timeout=20)
        cluster.patch("hpotasks", "lowered", {"spec": {"budget": {"maxTrials": 2}}})
        cluster.wait_for(
            lambda: [t["status"].get("reason") for t in trials(cluster, "lowered")[2:]] == ["MaxTrialsLowered"] * 4,
            timeout=20,
        )
        stopped = trials(cluster, "lowered")[2:]
        assert {t["status"]["phase"] for t in stopped} == {"Stopped"}
        assert stopped[0]["status"]["message"] == "maxTrials was lowered to 2 before this trial started."
        cluster.wait_for(
            lambda: sorted(j["metadata"]["name"] for j in cluster.list("jobs")) == ["lowered-0", "lowered-1"],
            timeout=20,
        )
        for name in ("lowered-0", "lowered-1"):  # admitted by the queue
            cluster.patch("jobs", name, {"spec": {"suspend": False}})
        cluster.wait_for(lambda: phase(cluster, "lowered") in DONE, timeout=20)
    status = cluster.get("hpotasks", "lowered")["status"]
    assert (status["phase"], status["reason"], status["progress"]) == ("Succeeded", "MaxTrialsReached", "6/6")
    assert status["message"] == (
        "All 6 trials finished; maxTrials was lowered to 2 after 6 were created, "
        "and 4 that had not started were stopped."
    )
    assert status["trials"]["succeeded"] == 2 and status["trials"]["stopped"] == 4
