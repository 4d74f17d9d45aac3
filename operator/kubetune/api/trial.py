"""The Trial resource: one evaluation of one assignment, owned by its HPOTask."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from .base import ApiModel, ParamValue, Timestamp
from .task import ObjectMeta

MAX_SERIES_POINTS = 100
"""Points kept per metric series in a Trial's status; longer series are thinned evenly."""


class TrialSpec(ApiModel):
    """The assignment to evaluate; written once, when the trial is created."""

    task: Annotated[str, Field(max_length=253)]
    """Name of the HPOTask this trial belongs to."""

    index: Annotated[int, Field(ge=0)]
    """Position in the task: trial names are the task name and this index."""

    parameters: dict[str, ParamValue]
    """Parameter values of this trial."""

    resource: float | None = None
    """For hyperband: the budget of this trial (the value of the resource parameter)."""

    search_tags: dict[str, ParamValue] = {}
    """Bookkeeping of the algorithm that proposed the trial (e.g. hyperband bracket and rung)."""


class TrialPhase(StrEnum):
    PENDING = "Pending"
    QUEUED = "Queued"
    """Its workload waits, suspended, for a queue (Kueue) to admit it; it holds a parallel slot."""
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    EARLY_STOPPED = "EarlyStopped"
    STOPPED = "Stopped"

    @property
    def finished(self) -> bool:
        """True once the trial will never run again."""
        return self not in (TrialPhase.PENDING, TrialPhase.QUEUED, TrialPhase.RUNNING)


class MetricPoint(ApiModel):
    """One reported value."""

    step: int
    """The step (epoch, iteration) it was reported at."""
    value: float
    """The value."""


class MetricSeries(ApiModel):
    """The values a trial reported for one metric, thinned to at most 100 points."""

    name: str
    """Metric name."""
    points: Annotated[list[MetricPoint], Field(max_length=MAX_SERIES_POINTS)] = []
    """Reported values in step order (thinned evenly when there were more than 100)."""
    count: int = 0
    """How many values were reported in all."""
    last: float | None = None
    """The last value reported."""
    min: float | None = None
    """The smallest value reported."""
    max: float | None = None
    """The largest value reported."""
    mean: float | None = None
    """The mean of all values reported."""


class TrialStatus(ApiModel):
    """What happened to the trial."""

    model_config = ConfigDict(extra="ignore")

    phase: TrialPhase = TrialPhase.PENDING
    """Pending, Running, Succeeded, Failed, EarlyStopped or Stopped."""

    job_name: str | None = None
    """The Job that runs the trial."""

    gpus: int | None = None
    """GPUs its workload requests, summed over every replica's pods (``nvidia.com/gpu`` and any other
    ``*/gpu`` resource)."""

    objective: float | None = None
    """The objective value, aggregated as the task's objective says."""

    metrics: list[MetricSeries] = []
    """Series of the objective and the additional metrics."""

    reason: str | None = None
    """Why the trial is in this phase, one CamelCase word (e.g. ``MetricsUnavailable``)."""

    message: str | None = None
    """Why the trial is in this phase, a sentence."""

    start_time: Timestamp | None = None
    """When the trial started running."""

    completion_time: Timestamp | None = None
    """When the trial finished."""


class Trial(ApiModel):
    """One evaluation of one hyperparameter assignment."""

    api_version: Literal["kubetune.io/v1alpha1"] = "kubetune.io/v1alpha1"
    """kubetune.io/v1alpha1"""
    kind: Literal["Trial"] = "Trial"
    """Trial"""
    metadata: ObjectMeta = ObjectMeta()
    """Standard object metadata."""
    spec: TrialSpec
    """The assignment."""
    status: TrialStatus | None = None
    """Written by the operator."""
