"""kubetune trials as an Optuna study: what Optuna's plots and Optuna Dashboard are given."""

from __future__ import annotations

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState

from kubetune.api import HPOTask, Parameter, TrialPhase
from kubetune.executors.state import StateDir
from kubetune.results.study import distribution, to_study

from .conftest import TASK, toy_trial


def test_each_trial_keeps_its_state_values_parameters_and_series(toy_state: StateDir) -> None:
    study = to_study(toy_state.load_task(), toy_state.load_trials())
    assert study.direction is StudyDirection.MINIMIZE
    assert study.metric_names == ["loss"]
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == 10
    assert states.count(TrialState.PRUNED) == 2
    assert states.count(TrialState.FAIL) == 1 and states.count(TrialState.RUNNING) == 1
    assert study.best_trial.user_attrs["kubetune_trial"] == "toy-7"
    stopped = study.trials[10]
    assert stopped.user_attrs["kubetune_phase"] == "EarlyStopped" and stopped.user_attrs["reason"] == "MedianStop"
    assert sorted(stopped.intermediate_values) == [1, 2, 3]
    assert stopped.value is not None  # what it reached before it was stopped
    assert set(study.trials[0].params) == {"lr", "layers", "act"}
    assert "accuracy" in study.trials[0].user_attrs


def test_a_stopped_trial_is_not_a_failure_of_the_trainer() -> None:
    trial = toy_trial(0, TrialPhase.SUCCEEDED)
    assert trial.status is not None
    trial = trial.model_copy(update={"status": trial.status.model_copy(update={"phase": TrialPhase.STOPPED})})
    (converted,) = to_study(HPOTask.model_validate(TASK), [trial]).trials
    assert converted.state is TrialState.FAIL and converted.user_attrs["kubetune_phase"] == "Stopped"


def test_a_value_outside_the_current_space_is_kept_aside_not_dropped() -> None:
    trial = toy_trial(0, TrialPhase.SUCCEEDED)
    trial = trial.model_copy(update={"spec": trial.spec.model_copy(update={"parameters": {"lr": 5.0, "layers": 2}})})
    (converted,) = to_study(HPOTask.model_validate(TASK), [trial]).trials
    assert converted.params == {"layers": 2}
    assert converted.user_attrs["param_lr"] == 5.0


def test_parameters_map_onto_optunas_distributions() -> None:
    assert distribution(Parameter(name="a", type="int", min=1, max=10, step=4)) == IntDistribution(1, 9, step=4)
    assert distribution(Parameter(name="b", min=1e-4, max=1, scale="log")) == FloatDistribution(1e-4, 1, log=True)
    assert distribution(Parameter(name="c", min=0, max=1, step=0.3)) == FloatDistribution(0, 0.9, step=0.3)
    assert distribution(Parameter(name="d", base=10, min=-3, max=-1)) == FloatDistribution(1e-3, 0.1, log=True)
    assert distribution(Parameter(name="e", type="categorical", values=["x", 2])) == CategoricalDistribution(["x", 2])
    assert distribution(Parameter(name="f", value=3)) is None
