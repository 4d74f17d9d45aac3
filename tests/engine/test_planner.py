"""The engine's decisions: what to create, what to stop, when the task is over, and why."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from kubetune.api import TaskPhase, Trial, TrialPhase
from kubetune.engine import RunFact, RunState, new_trial, observe, plan, stopped_status

from .conftest import T0, MakeTask, finished_trials, series, with_status


def test_first_step_fills_the_parallel_slots_with_deterministic_names(make_task: MakeTask) -> None:
    task = make_task()
    step = plan(task, [], T0)
    assert [t.metadata.name for t in step.create] == ["t1-0", "t1-1"]
    assert [t.spec.index for t in step.create] == [0, 1]
    assert step.status.phase is TaskPhase.RUNNING
    assert step.status.trials.pending == 2
    assert step.status.progress == "0/6"
    assert step.events[0].message == "Created t1-0, t1-1 (2/6)."


def test_the_same_inputs_give_the_same_plan(make_task: MakeTask) -> None:
    task = make_task()
    history = finished_trials(task, [0.5, 0.2])
    assert plan(task, history, T0) == plan(task, history, T0)


def test_a_repeated_step_never_creates_a_second_trial_for_an_index(make_task: MakeTask) -> None:
    task = make_task()
    first = plan(task, [], T0)
    again = plan(task.model_copy(update={"status": first.status}), list(first.create), T0)
    assert again.create == []
    assert again.status.trials.total == 2


def test_new_trials_continue_the_index_after_finished_ones(make_task: MakeTask) -> None:
    task = make_task()
    step = plan(task, finished_trials(task, [0.5, 0.2, 0.3]), T0)
    assert [t.spec.index for t in step.create] == [3, 4]


def test_max_trials_reached_finishes_with_the_best_trial(make_task: MakeTask) -> None:
    task = make_task()
    step = plan(task, finished_trials(task, [0.5, 0.2, 0.3, 0.9, 0.4, 0.25]), T0 + timedelta(hours=1))
    assert step.create == []
    assert step.finished
    assert step.status.phase is TaskPhase.SUCCEEDED
    assert step.status.reason == "MaxTrialsReached"
    assert step.status.best_trial is not None
    assert (step.status.best_trial.name, step.status.best_trial.objective) == ("t1-1", 0.2)
    assert step.status.progress == "6/6"
    assert step.status.completion_time == T0 + timedelta(hours=1)
    assert any(e.reason == "MaxTrialsReached" and "Best: t1-1 with loss=0.2" in e.message for e in step.events)


def test_the_best_trial_has_no_empty_metrics_without_additional_metrics(make_task: MakeTask) -> None:
    task = make_task()
    step = plan(task, finished_trials(task, [0.5, 0.2]), T0)
    assert step.status.best_trial is not None
    assert "metrics" not in step.status.best_trial.to_manifest()
    assert "metrics" not in step.status.to_manifest()["bestTrial"]

    task = make_task(objective={"metric": "loss", "direction": "minimize", "additionalMetrics": ["acc"]})
    trials = finished_trials(task, [0.5, 0.2])
    assert trials[1].status is not None
    trials[1] = trials[1].model_copy(
        update={
            "status": trials[1].status.model_copy(update={"metrics": [*trials[1].status.metrics, series("acc", [0.9])]})
        }
    )
    step = plan(task, trials, T0)
    assert step.status.best_trial is not None
    assert step.status.best_trial.to_manifest()["metrics"] == {"acc": 0.9}


def test_maximizing_picks_the_largest_value(make_task: MakeTask) -> None:
    task = make_task(objective={"metric": "loss", "direction": "maximize"})
    step = plan(task, finished_trials(task, [0.5, 0.2, 0.9]), T0)
    assert step.status.best_trial is not None
    assert step.status.best_trial.name == "t1-2"


def test_reaching_the_goal_stops_the_running_trials(make_task: MakeTask) -> None:
    task = make_task(objective={"metric": "loss", "direction": "minimize", "goal": 0.1})
    done = finished_trials(task, [0.5, 0.05])
    running = with_status(new_trial(task, 2, {"lr": 0.1, "layers": 2}), TrialPhase.RUNNING, [0.9])
    step = plan(task, [*done, running], T0)
    assert step.status.phase is TaskPhase.SUCCEEDED
    assert step.status.reason == "GoalReached"
    assert [(v.name, v.phase) for v in step.stop] == [("t1-2", TrialPhase.STOPPED)]
    assert step.create == []


def test_too_many_failures_fail_the_task(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 10, "parallelTrials": 2, "maxFailedTrials": 1})
    step = plan(task, finished_trials(task, [0.5, 0.5], TrialPhase.FAILED), T0)
    assert step.status.phase is TaskPhase.FAILED
    assert step.status.reason == "TooManyFailedTrials"
    assert step.create == []


def test_a_task_whose_every_trial_failed_fails(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 2, "parallelTrials": 2})
    step = plan(task, finished_trials(task, [0.5, 0.5], TrialPhase.FAILED), T0)
    assert step.status.phase is TaskPhase.FAILED
    assert step.status.reason == "NoTrialSucceeded"


def test_patience_ends_a_task_that_stopped_improving(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 20, "parallelTrials": 1, "patience": 3})
    assert not plan(task, finished_trials(task, [0.5, 0.1, 0.3, 0.4]), T0).finished
    step = plan(task, finished_trials(task, [0.5, 0.1, 0.3, 0.4, 0.2]), T0)
    assert step.status.reason == "NoImprovement"
    assert step.status.best_trial is not None and step.status.best_trial.objective == 0.1


def test_max_duration_stops_everything(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 20, "parallelTrials": 1, "maxDuration": "1h"})
    first = plan(task, [], T0)
    task = task.model_copy(update={"status": first.status})
    done = with_status(first.create[0], TrialPhase.SUCCEEDED, [0.4])
    running = with_status(new_trial(task, 1, {"lr": 0.1, "layers": 2}), TrialPhase.RUNNING, [0.9])
    assert plan(task, [done, running], T0 + timedelta(minutes=59)).wake_after == timedelta(minutes=1)
    step = plan(task, [done, running], T0 + timedelta(hours=1))
    assert step.status.phase is TaskPhase.SUCCEEDED
    assert step.status.reason == "MaxDurationReached"
    assert [(v.name, v.phase) for v in step.stop] == [("t1-1", TrialPhase.STOPPED)]
    # Running out of time before any trial reported a value is a failure.
    silent = with_status(new_trial(task, 1, {"lr": 0.1, "layers": 2}), TrialPhase.RUNNING)
    alone = plan(task, [silent], T0 + timedelta(hours=1))
    assert (alone.status.phase, alone.status.reason) == (TaskPhase.FAILED, "NoTrialSucceeded")


def test_a_trial_past_its_timeout_fails(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 4, "parallelTrials": 1, "trialTimeout": "10m"})
    running = with_status(new_trial(task, 0, {"lr": 0.1, "layers": 2}), TrialPhase.RUNNING, [0.9])
    assert plan(task, [running], T0 + timedelta(minutes=9)).stop == []
    step = plan(task, [running], T0 + timedelta(minutes=10))
    assert [(v.name, v.phase, v.reason) for v in step.stop] == [("t1-0", TrialPhase.FAILED, "TimedOut")]
    assert "10m" in step.stop[0].message
    # Its slot is given to a new trial in the same step.
    assert [t.spec.index for t in step.create] == [1]


def test_the_median_rule_stops_a_clearly_bad_trial_only(make_task: MakeTask) -> None:
    task = make_task(
        budget={"maxTrials": 10, "parallelTrials": 2},
        earlyStopping={"rule": "median", "minTrials": 3, "startStep": 2},
    )
    done = [
        with_status(new_trial(task, i, {"lr": 0.1, "layers": 1}), TrialPhase.SUCCEEDED, [1.0, 0.5, 0.3])
        for i in range(3)
    ]
    bad = with_status(new_trial(task, 3, {"lr": 0.9, "layers": 4}), TrialPhase.RUNNING, [2.0, 1.9])
    good = with_status(new_trial(task, 4, {"lr": 0.05, "layers": 2}), TrialPhase.RUNNING, [0.9, 0.45])
    step = plan(task, [*done, bad, good], T0)
    assert [(v.name, v.phase, v.reason) for v in step.stop] == [("t1-3", TrialPhase.EARLY_STOPPED, "MedianStop")]
    assert "worse than the median" in step.stop[0].message
    # Too early (before startStep) or too few completed trials: nobody is stopped.
    early = with_status(new_trial(task, 3, {"lr": 0.9, "layers": 4}), TrialPhase.RUNNING, [2.0])
    assert plan(task, [*done, early, good], T0).stop == []
    assert plan(task, [*done[:2], bad, good], T0).stop == []


def test_katibs_median_rule_judges_the_first_reports_against_the_mean_of_trials_done_before(
    make_task: MakeTask,
) -> None:
    # Katib's medianstop (pkg/earlystopping/v1beta1/medianstop/service.py): the mean over trials that
    # succeeded before this one of their averages over the first startStep reports; the trial's best
    # of its own first startStep reports is compared once.
    task = make_task(
        budget={"maxTrials": 10, "parallelTrials": 2},
        earlyStopping={"rule": "katibMedian", "minTrials": 3, "startStep": 2},
    )
    averages = [[1.0, 0.6], [1.2, 0.8], [3.0, 2.2]]  # first-two averages 0.8, 1.0, 2.6: mean 1.4, median 1.0
    done = [
        with_status(
            new_trial(task, i, {"lr": 0.1, "layers": 1}),
            TrialPhase.SUCCEEDED,
            [*values, 0.1],
            started=T0,
            finished=T0 + timedelta(minutes=i + 1),
        )
        for i, values in enumerate(averages)
    ]
    later = T0 + timedelta(minutes=10)
    # Best of its first two reports 1.2: worse than Katib's mean 1.4? No. (Worse than the median 1.0.)
    passes = with_status(
        new_trial(task, 3, {"lr": 0.2, "layers": 2}), TrialPhase.RUNNING, [1.3, 1.2, 5.0], started=later
    )
    fails = with_status(new_trial(task, 4, {"lr": 0.9, "layers": 4}), TrialPhase.RUNNING, [1.6, 1.5], started=later)
    step = plan(task, [*done, passes, fails], later)
    assert [(v.name, v.phase, v.reason) for v in step.stop] == [("t1-4", TrialPhase.EARLY_STOPPED, "MedianStop")]
    assert "the mean of 3 succeeded trials' averages over their first 2 reports" in step.stop[0].message
    # A later report, however bad, changes nothing: the check is on the first two.
    assert plan(task, [*done, passes], later).stop == []
    # A trial that started before the third trial succeeded has no rule, as in Katib.
    early = with_status(new_trial(task, 4, {"lr": 0.9, "layers": 4}), TrialPhase.RUNNING, [1.6, 1.5], started=T0)
    assert plan(task, [*done, early], later).stop == []
    # Too few reports yet: not judged.
    young = with_status(new_trial(task, 4, {"lr": 0.9, "layers": 4}), TrialPhase.RUNNING, [9.0], started=later)
    assert plan(task, [*done, young], later).stop == []


def test_graceful_suspend_creates_nothing_and_lets_trials_finish(make_task: MakeTask) -> None:
    task = make_task(suspend=True)
    running = with_status(new_trial(task, 0, {"lr": 0.1, "layers": 2}), TrialPhase.RUNNING, [0.9])
    step = plan(task, [running], T0)
    assert step.status.phase is TaskPhase.SUSPENDED
    assert step.create == [] and step.stop == []


def test_force_suspend_stops_running_trials(make_task: MakeTask) -> None:
    task = make_task(suspend=True, suspendPolicy="force")
    running = with_status(new_trial(task, 0, {"lr": 0.1, "layers": 2}), TrialPhase.RUNNING, [0.9])
    step = plan(task, [running], T0)
    assert step.status.phase is TaskPhase.SUSPENDED
    assert [(v.name, v.phase) for v in step.stop] == [("t1-0", TrialPhase.STOPPED)]


def test_trials_stopped_by_force_before_a_result_do_not_use_the_budget_after_a_resume(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 3, "parallelTrials": 3})
    done = with_status(new_trial(task, 0, {"lr": 0.1, "layers": 2}), TrialPhase.SUCCEEDED, [0.5])
    stopped = [with_status(new_trial(task, i, {"lr": 0.2, "layers": 2}), TrialPhase.STOPPED) for i in (1, 2)]
    stopped = [t.model_copy(update={"status": t.status.model_copy(update={"reason": "TaskStopped"})}) for t in stopped]
    step = plan(task, [done, *stopped], T0)
    assert [t.spec.index for t in step.create] == [3, 4], "two new trials in place of the two that never ended"
    ran = [with_status(t, TrialPhase.SUCCEEDED, [0.4]) for t in step.create]
    end = plan(task, [done, *stopped, *ran], T0).status
    assert (end.reason, end.progress) == ("MaxTrialsReached", "3/3")
    # A trial stopped by a rule (early stopping, timeout) or after it reported its objective counts.
    early = [with_status(t, TrialPhase.EARLY_STOPPED) for t in stopped]
    assert plan(task, [done, *early], T0).create == []


def test_pending_trials_near_the_end_of_the_budget_are_not_stopped(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 10, "parallelTrials": 8})
    done = [with_status(new_trial(task, i, {"lr": 0.1, "layers": 2}), TrialPhase.SUCCEEDED, [0.5]) for i in range(2)]
    pending = [new_trial(task, i, {"lr": 0.2, "layers": 2}) for i in range(2, 9)]  # 9 of 10: none is over budget
    assert plan(task, [*done, *pending], T0).stop == []


def test_an_exhausted_grid_finishes_the_task(make_task: MakeTask) -> None:
    task = make_task(
        algorithm={"name": "grid"},
        parameters=[{"name": "layers", "type": "int", "min": 1, "max": 3}],
        budget={"maxTrials": 10, "parallelTrials": 5},
    )
    first = plan(task, [], T0)
    assert sorted(t.spec.parameters["layers"] for t in first.create) == [1, 2, 3]
    done = [with_status(t, TrialPhase.SUCCEEDED, [float(i)]) for i, t in enumerate(first.create)]
    step = plan(task.model_copy(update={"status": first.status}), done, T0)
    assert step.create == []
    assert step.status.reason == "SearchSpaceExhausted"
    assert step.status.phase is TaskPhase.SUCCEEDED


def test_conditions_keep_their_transition_time_while_unchanged(make_task: MakeTask) -> None:
    task = make_task()
    first = plan(task, [], T0)
    later = plan(task.model_copy(update={"status": first.status}), list(first.create), T0 + timedelta(minutes=5))
    running = next(c for c in later.status.conditions if c.type == "Running")
    assert running.status == "True"
    assert running.last_transition_time == T0


def test_the_status_stays_small_with_two_thousand_trials(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 2000, "parallelTrials": 10})
    trials = finished_trials(task, [1.0 / (i + 1) for i in range(2000)])
    step = plan(task, trials, T0)
    size = len(json.dumps(step.status.to_manifest()))
    assert step.status.trials.succeeded == 2000
    assert size < 32 * 1024, size


def test_observe_turns_a_clean_exit_with_metrics_into_success(make_task: MakeTask) -> None:
    task = make_task(objective={"metric": "loss", "direction": "minimize", "aggregation": "min"})
    trial = new_trial(task, 0, {"lr": 0.1, "layers": 2})
    fact = RunFact(RunState.SUCCEEDED, {"loss": series("loss", [0.9, 0.2, 0.4])}, started_at=T0, finished_at=T0)
    status = observe(task.spec, trial, fact, T0)
    assert status.phase is TrialPhase.SUCCEEDED
    assert status.objective == 0.2


def test_observe_fails_a_trial_that_never_reported_its_objective(make_task: MakeTask) -> None:
    task = make_task()
    trial = new_trial(task, 0, {"lr": 0.1, "layers": 2})
    fact = RunFact(RunState.SUCCEEDED, {}, metrics_note="Read 0 values of no wanted metric from 3 lines.")
    status = observe(task.spec, trial, fact, T0)
    assert status.phase is TrialPhase.FAILED
    assert status.reason == "MetricsUnavailable"
    assert "without reporting loss" in (status.message or "")


def test_observe_never_changes_a_finished_trial(make_task: MakeTask) -> None:
    task = make_task()
    stopped = with_status(new_trial(task, 0, {"lr": 0.1, "layers": 2}), TrialPhase.EARLY_STOPPED, [0.9])
    fact = RunFact(RunState.FAILED, reason="ExitCode", detail="Killed by signal 15.")
    assert observe(task.spec, stopped, fact, T0) == stopped.status


def test_observe_reports_a_deadline_as_a_timeout(make_task: MakeTask) -> None:
    task = make_task()
    trial = new_trial(task, 0, {"lr": 0.1, "layers": 2})
    fact = RunFact(RunState.FAILED, reason="DeadlineExceeded", detail="Job was active longer than specified deadline")
    assert observe(task.spec, trial, fact, T0).reason == "TimedOut"


def test_a_plugin_that_fails_to_load_fails_the_task_and_stops_its_trials(
    make_task: MakeTask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Registered (so validation passes), but its module is gone: the engine finds out when it loads it.
    dist = tmp_path / "gone-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gone\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[kubetune.algorithms]\nnot-installed-anywhere = no_such_module_here:X\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    task = make_task(algorithm={"name": "plugin", "plugin": "not-installed-anywhere"})
    running = with_status(new_trial(task, 0, {"lr": 0.1, "layers": 2}), TrialPhase.RUNNING, [0.9])
    step = plan(task, [running], T0)
    assert (step.status.phase, step.status.reason) == (TaskPhase.FAILED, "SearchFailed")
    assert "not-installed-anywhere" in (step.status.message or "")
    assert [(v.name, v.phase) for v in step.stop] == [("t1-0", TrialPhase.STOPPED)]


def test_each_additional_metric_of_the_best_trial_is_aggregated_its_own_way(make_task: MakeTask) -> None:
    objective = {
        "metric": "loss",
        "direction": "minimize",
        "aggregation": "min",
        "additionalMetrics": ["accuracy", "seconds"],
        "metricAggregations": {"accuracy": "max", "seconds": "last"},
    }
    task = make_task(objective=objective, budget={"maxTrials": 1, "parallelTrials": 1})
    trial = with_status(new_trial(task, 0, {"lr": 0.01, "layers": 1}), TrialPhase.SUCCEEDED, [0.5, 0.2, 0.3])
    assert trial.status is not None
    reported = [*trial.status.metrics, series("accuracy", [0.7, 0.9, 0.8]), series("seconds", [10.0, 30.0, 20.0])]
    trial = trial.model_copy(update={"status": trial.status.model_copy(update={"metrics": reported, "objective": 0.2})})
    best = plan(task, [trial], T0 + timedelta(hours=1)).status.best_trial
    assert best is not None
    assert best.metrics == {"accuracy": 0.9, "seconds": 20.0}


def test_the_status_says_which_algorithm_and_backend_made_the_trials(make_task: MakeTask) -> None:
    bayesian = plan(make_task(algorithm={"name": "bayesian", "seed": 1}), [], T0)
    assert bayesian.status.algorithm == "bayesian (skopt)"
    optuna = make_task(algorithm={"name": "bayesian", "seed": 1, "settings": {"backend": "optuna-gp"}})
    assert plan(optuna, [], T0).status.algorithm == "bayesian (optuna-gp)"
    auto = plan(make_task(algorithm={"name": "auto", "seed": 1}), [], T0)
    assert auto.status.algorithm == "auto: bayesian (skopt)"
    task = make_task()
    first = plan(task, [], T0)
    assert first.status.algorithm == "random"
    # A step that asks for nothing keeps what the last one recorded.
    again = plan(task.model_copy(update={"status": first.status}), list(first.create), T0)
    assert again.create == [] and again.status.algorithm == "random"


def test_a_hyperband_rung_waiting_for_running_trials_says_so_in_the_status(make_task: MakeTask) -> None:
    task = make_task(
        algorithm={"name": "hyperband", "seed": 1, "settings": {"resourceParameter": "layers"}},
        budget={"maxTrials": 20, "parallelTrials": 20},
    )
    first = plan(task, [], T0)
    again = plan(task.model_copy(update={"status": first.status}), list(first.create), T0)
    assert again.create == []
    assert "waits for" in (again.status.message or "")


def test_lowering_max_trials_stops_the_trials_that_have_not_started_and_says_so(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 6, "parallelTrials": 6})
    done = finished_trials(task, [0.5])
    running = [with_status(new_trial(task, i, {"lr": 0.1, "layers": 1}), TrialPhase.RUNNING) for i in (1, 2)]
    waiting = [new_trial(task, i, {"lr": 0.1, "layers": 1}) for i in (3, 4, 5)]
    lowered = make_task(budget={"maxTrials": 2, "parallelTrials": 6})

    step = plan(lowered, [*done, *running, *waiting], T0)
    assert step.create == []
    assert [(v.name, v.phase, v.reason) for v in step.stop] == [
        (f"t1-{i}", TrialPhase.STOPPED, "MaxTrialsLowered") for i in (5, 4, 3)
    ], "only the trials that had not started, newest first"
    assert step.status.phase is TaskPhase.RUNNING
    assert step.status.message == (
        "2 trials active; maxTrials was lowered to 2 after 6 were created, and 3 that had not started were stopped."
    )
    assert step.status.progress == "4/6"

    after = {t.metadata.name: t for t in [*done, *running, *waiting]}
    for verdict in step.stop:  # recorded as the step loop records them
        trial = after[verdict.name]
        after[verdict.name] = trial.model_copy(update={"status": stopped_status(trial, verdict, T0)})
    again = plan(lowered.model_copy(update={"status": step.status}), list(after.values()), T0)
    assert again.stop == [] and again.create == [], "the stopped ones count as gone: a later step stops no more"
    for trial in running:
        after[trial.metadata.name] = with_status(trial, TrialPhase.SUCCEEDED, [0.3])
    end = plan(lowered.model_copy(update={"status": step.status}), list(after.values()), T0 + timedelta(hours=1))
    assert end.status.phase is TaskPhase.SUCCEEDED and end.status.reason == "MaxTrialsReached"
    assert end.status.message == (
        "All 6 trials finished; maxTrials was lowered to 2 after 6 were created, "
        "and 3 that had not started were stopped."
    )
    assert end.status.progress == "6/6"


def test_lowering_max_trials_to_what_is_running_stops_nothing(make_task: MakeTask) -> None:
    task = make_task(budget={"maxTrials": 6, "parallelTrials": 2})
    running = [with_status(new_trial(task, i, {"lr": 0.1, "layers": 1}), TrialPhase.RUNNING) for i in (0, 1, 2)]
    step = plan(make_task(budget={"maxTrials": 1, "parallelTrials": 2}), running, T0)
    assert step.stop == [] and step.create == []


def test_an_experiments_task_without_parameters_runs_each_listed_experiment_once(make_task: MakeTask) -> None:
    # IBM-style experiment lists declare no parameters: the experiments' keys are the parameters.
    task = make_task(
        algorithm={"name": "experiments", "experiments": [{"x": 1}, {"x": 2}, {"x": 3}]},
        parameters=[],
        budget={"maxTrials": 5, "parallelTrials": 1},
    )
    done: list[Trial] = []
    while True:
        step = plan(task.model_copy(update={"status": task.status}), done, T0)
        if not step.create:
            break
        task = task.model_copy(update={"status": step.status})
        done += [with_status(t, TrialPhase.SUCCEEDED, [float(t.spec.index)]) for t in step.create]
    assert [t.spec.parameters for t in done] == [{"x": 1}, {"x": 2}, {"x": 3}]
    assert step.status.phase is TaskPhase.SUCCEEDED
