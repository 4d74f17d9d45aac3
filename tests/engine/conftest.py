"""Building tasks and trials in a given state, for engine tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubetune.api import HPOTask, MetricPoint, MetricSeries, Trial, TrialPhase, TrialStatus, parse_task
from kubetune.engine import new_trial

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def task_manifest(**spec: Any) -> dict[str, Any]:
    """A small valid task; keyword arguments replace top-level spec fields."""
    base: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "algorithm": {"name": "random", "seed": 1},
        "parameters": [
            {"name": "lr", "type": "double", "min": 0.001, "max": 1.0, "scale": "log"},
            {"name": "layers", "type": "int", "min": 1, "max": 4},
        ],
        "budget": {"maxTrials": 6, "parallelTrials": 2},
        "trialTemplate": {
            "spec": {"template": {"spec": {"containers": [{"name": "t", "image": "x", "command": ["train"]}]}}}
        },
    }
    base.update(spec)
    return {"apiVersion": "kubetune.io/v1alpha1", "kind": "HPOTask", "metadata": {"name": "t1"}, "spec": base}


def series(name: str, values: Sequence[float]) -> MetricSeries:
    """A metric series reported at steps 1, 2, 3..."""
    return MetricSeries(
        name=name,
        points=[MetricPoint(step=i + 1, value=v) for i, v in enumerate(values)],
        count=len(values),
        last=values[-1] if values else None,
        min=min(values) if values else None,
        max=max(values) if values else None,
        mean=sum(values) / len(values) if values else None,
    )


def with_status(
    trial: Trial,
    phase: TrialPhase,
    values: Sequence[float] = (),
    *,
    started: datetime = T0,
    finished: datetime | None = None,
    metric: str = "loss",
) -> Trial:
    """``trial`` in ``phase``, having reported ``values`` of ``metric``."""
    done = phase.finished
    status = TrialStatus(
        phase=phase,
        metrics=[series(metric, values)] if values else [],
        objective=values[-1] if values and phase is TrialPhase.SUCCEEDED else None,
        start_time=started,
        completion_time=(finished or started + timedelta(minutes=1)) if done else None,
    )
    return trial.model_copy(update={"status": status})


MakeTask = Callable[..., HPOTask]


@pytest.fixture
def make_task() -> MakeTask:
    def make(**spec: Any) -> HPOTask:
        return parse_task(task_manifest(**spec))

    return make


def finished_trials(task: HPOTask, values: Sequence[float], phase: TrialPhase = TrialPhase.SUCCEEDED) -> list[Trial]:
    """Trials 0..n-1 that finished one minute apart with the given final losses."""
    return [
        with_status(
            new_trial(task, i, {"lr": 0.01 * (i + 1), "layers": 1}),
            phase,
            [v + 1, v],
            finished=T0 + timedelta(minutes=i + 1),
        )
        for i, v in enumerate(values)
    ]
