"""The operator's watch cache: what it keeps of each object, and which task status writes it holds back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubetune.api import BestTrial, HPOTaskStatus, TaskPhase, TrialCounts, load_task
from kubetune.engine import new_trial
from kubetune.executors.cache import Expectations, strip_pod, strip_workload
from kubetune.executors.facts import pod_attempt
from kubetune.executors.workload import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["random.yaml", "jobset.yaml", "pytorchjob-ddp.yaml", "kueue.yaml", "rayjob.yaml"]


def rendered(example: str) -> tuple[Any, dict[str, Any]]:
    task = load_task(ROOT / "examples" / example)
    template = task.spec.trial_template
    workload = REGISTRY[(template.api_version, template.kind)]
    values = {p.name: p.low if p.min is not None else (p.values or [None])[0] for p in task.spec.parameters}
    obj = workload.render(task, "ml", new_trial(task, 0, values), "uid-0")
    obj["metadata"] |= {"uid": "w-1", "resourceVersion": "7", "creationTimestamp": "2026-01-01T00:00:00Z"}
    obj["metadata"]["managedFields"] = [{"manager": "kubetune", "fieldsV1": {"f:spec": {}}}]
    return workload, obj


@pytest.mark.parametrize("example", EXAMPLES)
def test_a_cached_workload_keeps_no_pod_template_and_answers_as_the_whole_object(example: str) -> None:
    workload, obj = rendered(example)
    path = workload.shape.suspend
    for suspended in (False, True):
        if path is not None:
            node = obj["spec"]
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = suspended
        kept = strip_workload(obj)
        assert workload.queued(kept) == workload.queued(obj)
        assert workload.finished(kept) == workload.finished(obj)
        assert workload.shape.primary(kept["spec"]) == workload.shape.primary(obj["spec"])
    text = json.dumps(kept)
    assert '"containers"' not in text and "managedFields" not in text
    assert len(text) < len(json.dumps(obj)) / 2 or example == "random.yaml"
    if example == "jobset.yaml":
        names = [r["name"] for r in kept["spec"]["replicatedJobs"]]
        assert names == [r["name"] for r in obj["spec"]["replicatedJobs"]], "the leader is found by the first"


def test_a_cached_pod_keeps_what_finds_its_trial_and_its_metrics() -> None:
    pod = {
        "metadata": {
            "name": "p-0",
            "namespace": "ml",
            "uid": "p",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"jobset.sigs.k8s.io/job-index": "0", "kubetune.io/trial": "t-0"},
            "annotations": {"batch.kubernetes.io/job-completion-index": "0"},
            "ownerReferences": [{"uid": "j", "kind": "Job", "name": "t-0", "apiVersion": "batch/v1"}],
            "managedFields": [{"manager": "kubelet"}],
        },
        "spec": {"containers": [{"name": "train", "image": "x"}]},
        "status": {
            "phase": "Succeeded",
            "startTime": "2026-01-01T00:00:01Z",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {
                    "name": "train",
                    "restartCount": 1,
                    "image": "x",
                    "state": {"terminated": {"exitCode": 0, "message": '{"loss": 0.5}', "reason": "Completed"}},
                    "lastState": {"terminated": {"exitCode": 3, "message": ""}},
                }
            ],
        },
    }
    kept = strip_pod(pod)
    meta = kept["metadata"]
    assert meta["labels"] == pod["metadata"]["labels"]
    assert meta["annotations"] == pod["metadata"]["annotations"]
    assert meta["ownerReferences"] == [{"uid": "j", "kind": "Job", "name": "t-0"}]
    assert "spec" not in kept and "managedFields" not in meta
    [container] = kept["status"]["containerStatuses"]
    assert container["state"]["terminated"] == {"exitCode": 0, "message": '{"loss": 0.5}'}
    assert container["lastState"]["terminated"] == {"exitCode": 3, "message": ""}


def test_a_cached_pod_keeps_how_often_its_metrics_file_follower_restarted() -> None:
    """A restarted follower prints the file again from its start: its log is read afresh."""
    follower = {"name": "kubetune-metrics", "restartCount": 2, "image": "x", "state": {"running": {}}}
    pod = {
        "metadata": {"name": "p-0", "namespace": "ml", "uid": "p"},
        "status": {"phase": "Running", "containerStatuses": [], "initContainerStatuses": [follower]},
    }
    kept = strip_pod(pod)
    assert kept["status"]["initContainerStatuses"] == [{"name": "kubetune-metrics", "restartCount": 2}]
    assert pod_attempt(kept, "kubetune-metrics") == ("p", 2)


def status(**changes: Any) -> HPOTaskStatus:
    base = HPOTaskStatus(phase=TaskPhase.RUNNING, trials=TrialCounts(created=5, running=2), progress="3/10")
    return base.model_copy(update=changes)


def test_a_status_whose_news_are_only_progress_waits_and_one_with_news_is_written_at_once() -> None:
    expectations = Expectations()
    expectations.wrote_status("1", status())
    best = BestTrial(name="t-1", objective=0.5, parameters={})
    progress = status(progress="4/10", gpu_hours=1.5, best_trial=best, trials=TrialCounts(created=5, succeeded=4))
    assert expectations.may_defer(progress, 60.0)
    assert not expectations.may_defer(status(phase=TaskPhase.SUCCEEDED), 60.0)
    assert not expectations.may_defer(status(trials=TrialCounts(created=6)), 60.0), "an index is taken: at once"
    assert not expectations.may_defer(progress, 0.0), "nothing waits longer than the interval"
