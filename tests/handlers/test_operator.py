"""The Kopf operator end to end: HPOTasks in, Trials and GPU Jobs out, status and Events back.

The lifecycle of a Job task, with metrics read through pods/log, its deletion and
``retainWorkloads.keepFor`` have twins on a real API server in tests/realcluster/test_operator.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import REGISTRY

from kubetune import names
from kubetune.cli import main
from tests.kube import Kube, Log, PodScript, Sleep

from .conftest import RunOperator, arg, phase, quadratic, task_manifest

DONE = ("Succeeded", "Failed")


def trials(kube: Kube, task: str) -> list[dict[str, Any]]:
    """The task's trials in index order; one created a moment ago has an empty status."""
    found = kube.list("trials", labels=f"{names.LABEL_TASK}={task}")
    return sorted(({"status": {}, **t} for t in found), key=lambda t: t["spec"]["index"])


def test_a_task_runs_to_completion_with_parallel_trials(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    running_together: list[int] = []
    with operator():
        cluster.create(task_manifest())

        def done_noting_active_jobs() -> bool:
            active = [j for j in cluster.list("jobs") if (j.get("status") or {}).get("active")]
            running_together.append(len(active))
            return phase(cluster, "lr-search") in DONE

        cluster.wait_for(done_noting_active_jobs, timeout=30)
        assert phase(cluster, "lr-search") == "Succeeded"
        # Kopf posts Events from a queue of its own: the last one may follow the status by a moment.
        cluster.wait_for(
            lambda: "MaxTrialsReached" in [e["reason"] for e in cluster.events("default", involved="lr-search")],
            timeout=10,
        )

    task = cluster.get("hpotasks", "lr-search")
    status = task["status"]
    assert status["reason"] == "MaxTrialsReached"
    assert status["trials"]["succeeded"] == 4 and status["progress"] == "4/4"
    assert status["observedGeneration"] == task["metadata"]["generation"]
    done = trials(cluster, "lr-search")
    assert [t["metadata"]["name"] for t in done] == [f"lr-search-{i}" for i in range(4)]
    best = min(done, key=lambda t: t["status"]["objective"])
    assert status["bestTrial"]["name"] == best["metadata"]["name"]
    assert status["bestTrial"]["objective"] == best["status"]["objective"]
    lr = best["spec"]["parameters"]["lr"]
    assert best["status"]["objective"] == round((lr - 0.1) ** 2 + 1 / 3, 6)
    assert max(running_together) == 2, "parallelTrials is honoured, and used"
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {
        "Valid": "True",
        "Running": "False",
        "Suspended": "False",
        "Succeeded": "True",
        "Failed": "False",
        "Stopped": "False",
        "Ready": "True",
    }

    # Each trial ran as a GPU Job built from the template, owned by its Trial; once the results are
    # recorded only the 3 best keep theirs (retainWorkloads' default), the Trials all stay.
    worst = max(done, key=lambda t: t["status"]["objective"])
    cluster.wait_gone("jobs", worst["metadata"]["name"], timeout=10)
    assert len(cluster.list("jobs")) == 3
    trial0 = best
    job = cluster.get("jobs", best["metadata"]["name"])
    pod_spec = job["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    assert container["args"] == [f"--lr={trial0['spec']['parameters']['lr']!r}"]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert pod_spec["nodeSelector"] == {"gpu": "a100"} and pod_spec["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu"
    assert job["metadata"]["labels"][names.LABEL_TASK] == "lr-search"
    assert job["spec"]["activeDeadlineSeconds"] == 600 and job["spec"]["backoffLimit"] == 0
    assert job["metadata"]["ownerReferences"][0]["kind"] == "Trial"
    assert trial0["metadata"]["ownerReferences"][0]["uid"] == task["metadata"]["uid"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert float(env["KUBETUNE_PARAM_LR"]) == trial0["spec"]["parameters"]["lr"]
    params = json.loads(job["spec"]["template"]["metadata"]["annotations"][names.ANNOTATION_PARAMETERS])
    assert params == trial0["spec"]["parameters"]
    assert env[names.ENV_PARAMS_FILE] == "/etc/kubetune/parameters.json"

    reasons = [e["reason"] for e in cluster.events("default", involved="lr-search")]
    assert "TrialsCreated" in reasons and "TrialSucceeded" in reasons and "MaxTrialsReached" in reasons


def test_failed_and_silent_trials_are_failed_with_reasons(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    manifest = task_manifest(
        "mixed",
        algorithm={
            "name": "experiments",
            "experiments": [{"lr": 0.1, "mode": "crash"}, {"lr": 0.2, "mode": "silent"}, {"lr": 0.3, "mode": "normal"}],
        },
        parameters=[
            {"name": "lr", "type": "double", "min": 0.001, "max": 1.0},
            {"name": "mode", "type": "categorical", "values": ["normal", "crash", "silent"]},
        ],
        budget={"maxTrials": 3, "parallelTrials": 3},
    )
    manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"].append(
        "--mode=${params.mode}"
    )
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "mixed") in DONE, timeout=20)
    crash, silent, normal = trials(cluster, "mixed")
    assert (crash["status"]["phase"], crash["status"]["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert crash["status"]["message"] == (
        'Exited with code 1. Last output: "CUDA error: out of memory" '
        "(full log: kubectl logs -n default job/mixed-0 -c train)."
    )
    assert (silent["status"]["phase"], silent["status"]["reason"]) == ("Failed", "MetricsUnavailable")
    assert normal["status"]["phase"] == "Succeeded"
    status = cluster.get("hpotasks", "mixed")["status"]
    assert status["phase"] == "Succeeded" and status["trials"]["failed"] == 2
    warnings = [e for e in cluster.events("default", involved="mixed") if e["type"] == "Warning"]
    assert {e["reason"] for e in warnings} >= {"TrialFailed"}
    # The silent trial's metrics could not be read; the crash is a failure, not a scrape failure.
    labels = {"namespace": "default", "task": "mixed"}
    assert REGISTRY.get_sample_value("kubetune_metric_scrape_failures_total", labels) == 1


def test_a_container_restarted_in_its_pod_reports_only_the_retrys_metrics(cluster: Kube, operator: RunOperator) -> None:
    attempts: list[str] = []

    def flaky(pod: dict[str, Any]) -> PodScript:
        attempts.append(pod["metadata"]["name"])
        if len(attempts) == 1:  # the first attempt prints a great loss, then crashes
            return PodScript([Log("epoch=1 loss=0.0001"), Sleep(1.0)], exit_code=1)
        return quadratic(pod)

    cluster.behaviour = flaky
    manifest = task_manifest(
        "retried",
        budget={"maxTrials": 1},
        # Early stopping makes the operator read the log while the first attempt runs.
        earlyStopping={"rule": "median", "minTrials": 3},
        objective={"metric": "loss", "direction": "minimize", "aggregation": "min"},
    )
    job_spec = manifest["spec"]["trialTemplate"]["spec"]
    job_spec["backoffLimit"] = 2
    job_spec["template"]["spec"]["restartPolicy"] = "OnFailure"
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "retried") in DONE, timeout=30)
    (trial,) = trials(cluster, "retried")
    assert len(attempts) == 2 and attempts[0] == attempts[1], "one pod, its container restarted"
    assert trial["status"]["phase"] == "Succeeded"
    assert trial["status"]["metrics"][0]["count"] == 3, "the crashed attempt's line is not in the series"
    lr = trial["spec"]["parameters"]["lr"]
    assert trial["status"]["objective"] == round((lr - 0.1) ** 2 + 1 / 3, 6)


def test_metrics_can_come_from_a_pod_annotation(cluster: Kube, operator: RunOperator) -> None:
    from tests.kube import Annotate, Sleep  # noqa: PLC0415

    def annotating(pod: dict[str, Any]) -> PodScript:
        lr = float(arg(pod, "lr"))
        return PodScript([Sleep(0.05), Annotate(names.ANNOTATION_METRICS, json.dumps({"loss": [1.0, lr]}))])

    cluster.behaviour = annotating
    manifest = task_manifest("annotated", metricsCollector={"source": "annotations"}, budget={"maxTrials": 2})
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "annotated") in DONE, timeout=20)
    for trial in trials(cluster, "annotated"):
        assert trial["status"]["objective"] == trial["spec"]["parameters"]["lr"]


def test_the_median_rule_stops_a_bad_trial_early(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    experiments: list[dict[str, Any]] = [{"lr": 0.1, "mode": "normal"}] * 3 + [{"lr": 0.1, "mode": "bad"}]
    manifest = task_manifest(
        "median",
        algorithm={"name": "experiments", "experiments": experiments},
        parameters=[
            {"name": "lr", "type": "double", "min": 0.001, "max": 1.0},
            {"name": "mode", "type": "categorical", "values": ["normal", "bad"]},
        ],
        budget={"maxTrials": 4, "parallelTrials": 1},
        earlyStopping={"rule": "median", "minTrials": 3, "startStep": 1},
    )
    args = manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    args += ["--mode=${params.mode}", "--epochs=40", "--sleep=0.1"]
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "median") in DONE, timeout=60)
    *good, bad = trials(cluster, "median")
    assert [t["status"]["phase"] for t in good] == ["Succeeded"] * 3
    assert (bad["status"]["phase"], bad["status"]["reason"]) == ("EarlyStopped", "MedianStop")
    assert bad["status"]["metrics"][0]["count"] < 40
    cluster.wait_gone("jobs", bad["metadata"]["name"], timeout=10)


def test_suspend_waits_and_force_stops_running_trials(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    manifest = task_manifest("pausable", budget={"maxTrials": 6, "parallelTrials": 2})
    manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] += [
        "--epochs=200",
        "--sleep=0.05",
    ]
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: len(trials(cluster, "pausable")) == 2, timeout=20)
        cluster.patch("hpotasks", "pausable", {"spec": {"suspend": True}})
        cluster.wait_for(lambda: phase(cluster, "pausable") == "Suspended", timeout=20)
        assert len(trials(cluster, "pausable")) == 2, "no trial is created while suspended"
        assert all(t["status"].get("phase", "Pending") in ("Pending", "Running") for t in trials(cluster, "pausable"))

        cluster.patch("hpotasks", "pausable", {"spec": {"suspendPolicy": "force"}})
        cluster.wait_for(
            lambda: all(t["status"].get("phase") == "Stopped" for t in trials(cluster, "pausable")), timeout=20
        )
        cluster.wait_for(lambda: not cluster.list("jobs"), timeout=20)
        assert phase(cluster, "pausable") == "Suspended"

        cluster.patch("hpotasks", "pausable", {"spec": {"suspend": False}})
        cluster.wait_for(lambda: len(trials(cluster, "pausable")) == 4, timeout=20)


def test_an_operator_restart_mid_task_duplicates_and_loses_nothing(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    # Every Job is kept, so that the end can check each trial ran exactly once.
    manifest = task_manifest("restart", budget={"maxTrials": 6, "parallelTrials": 2}, retainWorkloads={"policy": "all"})
    manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] += ["--sleep=0.2"]
    with operator():
        cluster.create(manifest)
        cluster.wait_for(
            lambda: sum(t["status"].get("phase") == "Succeeded" for t in trials(cluster, "restart")) >= 2, timeout=20
        )
    before = {t["metadata"]["name"]: t for t in trials(cluster, "restart")}
    with operator():
        cluster.wait_for(lambda: phase(cluster, "restart") in DONE, timeout=30)
    after = trials(cluster, "restart")
    assert [t["spec"]["index"] for t in after] == list(range(6))
    for trial in after:
        if trial["metadata"]["name"] in before:
            assert trial["spec"] == before[trial["metadata"]["name"]]["spec"]
    assert sorted(j["metadata"]["name"] for j in cluster.list("jobs")) == [f"restart-{i}" for i in range(6)]
    assert phase(cluster, "restart") == "Succeeded"


def test_deleting_a_task_mid_run_removes_its_trials_and_jobs(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    manifest = task_manifest("doomed")
    manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] += [
        "--epochs=500",
        "--sleep=0.05",
    ]
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: len(cluster.list("jobs")) == 2, timeout=20)
        cluster.delete("hpotasks", "doomed")
        cluster.wait_gone("hpotasks", "doomed", timeout=20)
        cluster.wait_for(lambda: not cluster.list("trials") and not cluster.list("jobs"), timeout=20)
        cluster.wait_for(lambda: not cluster.list("pods"), timeout=20)


@pytest.mark.parametrize("breakage", ["min-above-max", "plugin-not-installed"])
def test_an_invalid_spec_gets_valid_false_with_the_validate_message(
    cluster: Kube, operator: RunOperator, tmp_path: Any, capsys: Any, breakage: str
) -> None:
    manifest = task_manifest("broken")
    if breakage == "min-above-max":
        manifest["spec"]["parameters"][0]["min"] = 5.0  # past the CRD schema, caught by kubetune's own rules
    else:  # the operator parses with the same model, so it refuses the task before any trial
        manifest["spec"]["algorithm"] = {"name": "plugin", "plugin": "not-installed-anywhere"}
    path = tmp_path / "broken.yaml"
    path.write_text(json.dumps(manifest))
    assert main(["validate", str(path)]) == 2
    expected = capsys.readouterr().err.strip().split(": ", 1)[1]
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "broken") == "Failed", timeout=20)
        healthy = task_manifest("healthy", budget={"maxTrials": 1})
        cluster.behaviour = quadratic
        cluster.create(healthy)
        cluster.wait_for(lambda: phase(cluster, "healthy") == "Succeeded", timeout=20)
        # Kopf posts Events from a background queue, which may still hold this one when the
        # operator stops: wait for it while it runs.
        cluster.wait_for(lambda: cluster.events("default", involved="broken"), timeout=20)
    status = cluster.get("hpotasks", "broken")["status"]
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")
    assert (valid["status"], valid["reason"], valid["message"]) == ("False", "InvalidSpec", expected)
    assert not trials(cluster, "broken")
    assert [e["reason"] for e in cluster.events("default", involved="broken")] == ["InvalidSpec"]


def test_api_server_failures_are_retried_without_duplicates(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    cluster.fail("POST", "/apis/batch/v1/namespaces/default/jobs", times=1)
    cluster.fail("PATCH", "/trials/lr-search-1/status", times=1)
    with operator():
        spec = {"budget": {"maxTrials": 4, "parallelTrials": 2}, "retainWorkloads": {"policy": "all"}}
        cluster.create(task_manifest(**spec))
        cluster.wait_for(lambda: phase(cluster, "lr-search") in DONE, timeout=40)
    assert phase(cluster, "lr-search") == "Succeeded"
    done = trials(cluster, "lr-search")
    assert [t["spec"]["index"] for t in done] == [0, 1, 2, 3]
    assert all(t["status"]["phase"] == "Succeeded" for t in done), [t["status"] for t in done]
    assert sorted(j["metadata"]["name"] for j in cluster.list("jobs")) == [f"lr-search-{i}" for i in range(4)]
    assert set(cluster.call(lambda: dict(cluster.emulator.server.faults)).values()) == {0}, "both failures happened"


def test_a_large_task_posts_a_bounded_number_of_events_about_its_trials(cluster: Kube, operator: RunOperator) -> None:
    """Like client-go's event recorder: a burst of Normal Events about trials, then a slow trickle.

    Warnings (a failed trial) and the Events about the task itself always go out."""
    from kubetune.handlers.operator import EVENT_BURST  # noqa: PLC0415

    def quick(pod: dict[str, Any]) -> PodScript:
        if float(arg(pod, "lr")) > 0.5:
            return PodScript([Log("diverged")], exit_code=1)
        return quadratic(pod)

    cluster.behaviour = quick
    manifest = task_manifest("many", budget={"maxTrials": 60, "parallelTrials": 10, "maxFailedTrials": 60})
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "many") in DONE, timeout=90)
        cluster.wait_for(
            lambda: "MaxTrialsReached" in [e["reason"] for e in cluster.events("default", involved="many")],
            timeout=10,
        )
    events = cluster.events("default", involved="many")
    failed = [t for t in trials(cluster, "many") if t["status"].get("phase") == "Failed"]
    normal_about_trials = [e for e in events if e["reason"] in ("TrialsCreated", "TrialSucceeded")]
    assert EVENT_BURST <= len(normal_about_trials) <= EVENT_BURST + 5, len(normal_about_trials)
    assert len([e for e in events if e["reason"] == "TrialFailed"]) == len(failed), "every Warning is posted"
    assert "MaxTrialsReached" in [e["reason"] for e in events], "the task's own Event is never dropped"


def test_keep_for_removes_every_finished_job_after_a_grace_period_and_the_results_stay(
    cluster: Kube, operator: RunOperator
) -> None:
    """``retainWorkloads: {policy: all, keepFor}``: each Job goes that long after its trial finished,
    by the TTL kubetune sets once the result is recorded; the Trials and the task keep the results."""
    cluster.behaviour = quadratic
    manifest = task_manifest(
        "ttl", budget={"maxTrials": 3, "parallelTrials": 3}, retainWorkloads={"policy": "all", "keepFor": "1s"}
    )
    manifest["spec"]["trialTemplate"]["spec"]["ttlSecondsAfterFinished"] = 0  # the template's own is never used
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: phase(cluster, "ttl") in DONE, timeout=30)
        # Those still there carry keepFor as their TTL (or none yet); the template's own 0 was never used.
        assert {j["spec"].get("ttlSecondsAfterFinished") for j in cluster.list("jobs")} <= {1, None}
        cluster.wait_for(lambda: not cluster.list("jobs"), timeout=20, message="the TTL controller removed the Jobs")
        # A step after the Jobs went must not take their trials for deleted ones. The finished task's
        # daemon is gone: a change of its spec brings it back for a step, which then finds no Job.
        cluster.patch("hpotasks", "ttl", {"spec": {"retainWorkloads": {"keepFor": "2s"}}})
        cluster.wait_for(
            lambda: (
                (task := cluster.get("hpotasks", "ttl"))["status"].get("observedGeneration")
                == task["metadata"]["generation"]
            ),
            timeout=20,
            message="a step after the spec change",
        )
    assert phase(cluster, "ttl") == "Succeeded"
    done = trials(cluster, "ttl")
    assert [t["status"]["phase"] for t in done] == ["Succeeded"] * 3
    assert all(t["status"]["objective"] is not None for t in done)
