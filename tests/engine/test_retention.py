"""Which finished trials keep their Job and pods: ``retainWorkloads``."""

from __future__ import annotations

from kubetune.api import TrialPhase
from kubetune.engine.retention import released

from .conftest import MakeTask, finished_trials


def test_by_default_only_the_three_best_finished_trials_keep_their_workloads(make_task: MakeTask) -> None:
    task = make_task()
    trials = finished_trials(task, [0.5, 0.1, 0.9, 0.3, 0.2])
    ended = {t.metadata.name or "" for t in trials}
    # minimize: 0.1, 0.2 and 0.3 are kept; 0.5 and 0.9 go.
    assert released(task.spec, trials, ended) == [trials[0].metadata.name, trials[2].metadata.name]


def test_only_runs_that_still_exist_are_released(make_task: MakeTask) -> None:
    task = make_task(retainWorkloads={"policy": "none"})
    trials = finished_trials(task, [0.5, 0.1, 0.9])
    assert released(task.spec, trials, {trials[1].metadata.name or ""}) == [trials[1].metadata.name]


def test_failed_trials_release_their_workloads_and_all_keeps_everything(make_task: MakeTask) -> None:
    task = make_task(retainWorkloads={"policy": "best", "topK": 1})
    good = finished_trials(task, [0.4, 0.2])
    failed = finished_trials(task, [0.0], TrialPhase.FAILED)
    failed = [t.model_copy(update={"spec": t.spec.model_copy(update={"index": 2})}) for t in failed]
    failed = [t.model_copy(update={"metadata": t.metadata.model_copy(update={"name": "t1-2"})}) for t in failed]
    trials = [*good, *failed]
    ended = {t.metadata.name or "" for t in trials}
    assert released(task.spec, trials, ended) == [good[0].metadata.name, "t1-2"]
    keep_all = make_task(retainWorkloads={"policy": "all"})
    assert released(keep_all.spec, trials, ended) == []
