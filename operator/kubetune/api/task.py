"""The HPOTask resource: what to search, how, within which budget, and how one trial runs."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, TypeVar

from pydantic import ConfigDict, Field, ValidationError, WithJsonSchema, model_validator

from .. import names
from . import regexp, rules
from .algorithms import (
    SETTINGS,
    AlgorithmName,
    Capabilities,
    GridSettings,
    flat_settings_schema,
    names_description,
    offering,
)
from .base import ApiModel, Duration, Loc, ParamValue, Timestamp, control_character, raise_problems
from .parameters import NAME_PATTERN, Distribution, Parameter, ParameterType
from .template import TrialTemplate

S = TypeVar("S", bound=ApiModel)

METRIC_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_./'-]*( [A-Za-z0-9_./'-]+)*$"
"""A metric name as trainers print it: words of letters, digits and ``_./'-``, single spaces
between them (LightGBM's ``valid_1 auc``, ``training's binary_logloss``)."""
KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_./-]*$"
"""A name the keyValue format can read: no spaces."""
TASK_NAME_PATTERN = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
"""A DNS-1123 label: task names become label values, Job names and (locally) directory names."""
GRID_POINTS = 100_000
"""The most values grid search lays out for one parameter (the maxTrials limit)."""
HYPERBAND_RANGE = 100_000
"""The largest ratio max / min of hyperband's resource parameter (the maxTrials limit)."""


class Direction(StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    def loss(self, value: float) -> float:
        """``value`` as a loss (lower is better): the one place where a direction is decided."""
        return value if self is Direction.MINIMIZE else -value

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return self.loss(a) < self.loss(b)

    def best(self, values: Iterable[float]) -> float:
        """The best of ``values`` (at least one)."""
        return min(values, key=self.loss)


class Aggregation(StrEnum):
    """How a reported series becomes the trial's objective value."""

    LAST = "last"
    MIN = "min"
    MAX = "max"
    MEAN = "mean"


def _cel(*rules: tuple[str, str, str]) -> dict[str, Any]:
    """``x-kubernetes-validations`` entries (CEL expression, message, field path) for a model's schema."""
    entries = [{"rule": r, "message": m, **({"fieldPath": f} if f else {})} for r, m, f in rules]
    return {"x-kubernetes-validations": entries}


class ObjectiveMetric(ApiModel):
    """One objective of a multi-objective task."""

    name: Annotated[str, Field(pattern=METRIC_NAME_PATTERN, max_length=128)]
    """Name of the metric the trial reports, e.g. ``val_accuracy``."""

    direction: Direction
    """minimize or maximize."""


class ConstraintMetric(ApiModel):
    """A bound a trial's metric must respect for the trial to count (be feasible)."""

    model_config = ConfigDict(
        json_schema_extra=_cel(("has(self.max) != has(self.min)", "give exactly one of max and min", ".max"))
    )

    metric: Annotated[str, Field(pattern=METRIC_NAME_PATTERN, max_length=128)]
    """Name of the metric the trial reports, e.g. ``model_mb``; aggregated as ``metricAggregations``
    says, else like the objective."""

    max: float | None = None
    """The trial is feasible only when the metric is at most this."""

    min: float | None = None
    """The trial is feasible only when the metric is at least this."""

    def violation(self, value: float | None) -> float:
        """By how much ``value`` breaks the bound (<= 0 when it holds, Optuna's convention); a
        missing or non-finite value breaks it by 1."""
        if value is None or not math.isfinite(value):
            return 1.0
        excess = value - self.max if self.max is not None else -math.inf
        shortfall = self.min - value if self.min is not None else -math.inf
        return max(excess, shortfall)

    @model_validator(mode="after")
    def _check(self) -> ConstraintMetric:
        if (self.max is None) == (self.min is None):
            raise_problems("ConstraintMetric", [(("max",), "give exactly one of max and min")])
        return self


class Objective(ApiModel):
    """The metric to optimize (``metric`` and ``direction``), or 2 to 4 of them (``metrics``), and how
    to read them."""

    # The API server refuses what the model refuses, with the same words.
    # The API server refuses what the model refuses, at the same field, in the same words.
    model_config = ConfigDict(
        json_schema_extra=_cel(
            ("has(self.metrics) || has(self.metric)", "is required (or give metrics, 2 to 4 objectives)", ".metric"),
            ("has(self.metrics) || has(self.direction)", "is required", ".direction"),
            (
                "!has(self.metrics) || (!has(self.metric) && !has(self.direction))",
                "replaces metric and direction: give either metrics or metric and direction",
                ".metrics",
            ),
            ("!has(self.metrics) || !has(self.goal)", "applies to a single objective only", ".goal"),
        )
    )

    metric: Annotated[str | None, Field(pattern=METRIC_NAME_PATTERN, max_length=128)] = None
    """Name of the metric the trial reports, e.g. ``val_accuracy``. Required unless ``metrics`` is given."""

    direction: Direction | None = None
    """minimize or maximize. Required with ``metric``."""

    metrics: Annotated[list[ObjectiveMetric] | None, Field(min_length=2, max_length=4)] = None
    """Multi-objective: 2 to 4 metrics, each with its direction, instead of ``metric`` and
    ``direction``. The task keeps the Pareto front (the trials no other trial beats on every
    metric) instead of one best trial."""

    constraints: Annotated[list[ConstraintMetric], Field(max_length=8)] = []
    """Bounds on reported metrics (``{metric: model_mb, max: 50}``): a trial that breaks one never
    becomes the best trial or a member of the front, and samplers that support constraints
    (tpe, nsga2, bayesian through Optuna) steer away from it."""

    goal: float | None = None
    """Stop the task as soon as a trial's objective reaches this value (<= when minimizing,
    >= when maximizing). Single objective only."""

    aggregation: Aggregation = Aggregation.LAST
    """How the series a trial reports becomes its objective: last (the final value), min, max
    or mean of all values."""

    additional_metrics: Annotated[
        list[Annotated[str, Field(pattern=METRIC_NAME_PATTERN, max_length=128)]], Field(max_length=16)
    ] = []
    """Other metrics to record for each trial (not optimized)."""

    metric_aggregations: dict[str, Aggregation] = {}
    """The aggregation of each additional or constraint metric that is not to be aggregated like the
    objective, e.g. ``{accuracy: max}`` while the objective ``loss`` uses ``min``."""

    @property
    def names(self) -> list[str]:
        """The optimized metrics, in order (one for a single objective)."""
        return [m.name for m in self.metrics] if self.metrics else [self.metric or ""]

    @property
    def directions(self) -> list[Direction]:
        """The direction of each optimized metric, in order."""
        return [m.direction for m in self.metrics] if self.metrics else [self.direction or Direction.MINIMIZE]

    @property
    def primary(self) -> str:
        """The first optimized metric: the one shown where there is room for one."""
        return self.names[0]

    @property
    def primary_direction(self) -> Direction:
        """The direction of :attr:`primary`."""
        return self.directions[0]

    @property
    def multi(self) -> bool:
        """True for a multi-objective task."""
        return bool(self.metrics)

    def loss(self, value: float) -> float:
        """The primary objective's ``value`` as a loss: lower is better, whatever the direction."""
        return self.primary_direction.loss(value)

    def losses(self, values: Sequence[float | None]) -> tuple[float | None, ...]:
        """Each objective's value (None: not reported) as a loss, in the order of :attr:`names`."""
        return tuple(None if v is None else d.loss(v) for v, d in zip(values, self.directions, strict=True))

    def aggregation_of(self, metric: str) -> Aggregation:
        """How the series of ``metric`` (an objective, a constraint or an additional metric) is aggregated."""
        if metric in self.names:
            return self.aggregation
        return self.metric_aggregations.get(metric, self.aggregation)

    @model_validator(mode="after")
    def _check(self) -> Objective:
        raise_problems("Objective", self._problems())
        return self

    def _problems(self) -> Iterator[tuple[Loc, str]]:
        if self.metrics:
            if self.metric is not None or self.direction is not None:
                yield ("metrics",), "replaces metric and direction: give either metrics or metric and direction"
            if self.goal is not None:
                yield ("goal",), "applies to a single objective only"
            seen: set[str] = set()
            for i, m in enumerate(self.metrics):
                if m.name in seen:
                    yield ("metrics", i, "name"), f"{m.name!r} is listed twice"
                seen.add(m.name)
        else:
            if self.metric is None:
                yield ("metric",), "is required (or give metrics, 2 to 4 objectives)"
            if self.direction is None:
                yield ("direction",), "is required"
        named = set(self.additional_metrics) | {c.metric for c in self.constraints}
        for name in self.metric_aggregations:
            if name not in named:
                yield ("metricAggregations", name), "names no additional or constraint metric"


class Algorithm(ApiModel):
    """The search algorithm and its settings."""

    # Derived from each algorithm's settings model (api/algorithms.py), the one home of its docs.
    name: Annotated[AlgorithmName, Field(description=names_description())] = AlgorithmName.AUTO

    seed: Annotated[int | None, Field(ge=0, le=2**32 - 1)] = None
    """Random seed; the same seed and trial history give the same suggestions. Default: derived
    from the task's name."""

    settings: Annotated[dict[str, ParamValue], WithJsonSchema(flat_settings_schema())] = {}
    """Settings of the chosen algorithm; each applies only to the algorithms its description names."""

    experiments: Annotated[list[dict[str, ParamValue]] | None, Field(min_length=1, max_length=10000)] = None
    """experiments: the assignments to run, in order, each mapping parameter names to values."""

    plugin: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=128)] = None
    """plugin: name of the search algorithm registered by a Python package under the
    ``kubetune.algorithms`` entry-point group."""

    plugin_settings: dict[str, ParamValue] | None = None
    """plugin: settings passed to the plugin as they are."""

    def settings_as(self, model: type[S]) -> S:
        """The settings as the algorithm's own model, defaults filled in (the spec was checked with it)."""
        return model.model_validate(self.settings)


class Budget(ApiModel):
    """How much the task may spend."""

    max_trials: Annotated[int, Field(ge=1, le=100000)] = 20
    """Trials to run in all, failed ones included. A trial stopped by force (suspend) before it
    reported the objective is not counted: after a resume, a new one runs in its place."""

    parallel_trials: Annotated[int, Field(ge=1, le=1000)] = 1
    """Trials running at the same time."""

    max_failed_trials: Annotated[int | None, Field(ge=0)] = None
    """Fail the task when more trials than this have failed. Default: no limit."""

    max_duration: Duration | None = None
    """Stop creating trials after this long (e.g. ``12h``); running trials are stopped too."""

    trial_timeout: Duration | None = None
    """A trial running longer than this (e.g. ``45m``) is stopped and counts as failed. On a
    cluster it is also the Job's ``activeDeadlineSeconds``, which counts from the Job's start
    (time waiting for a node included)."""

    patience: Annotated[int | None, Field(ge=1)] = None
    """Finish the task when this many trials in a row completed without improving the best."""

    deadline: Timestamp | None = None
    """Finish the task at this time, written as RFC 3339 (``2026-12-24T18:00:00Z``): no trial
    starts after it, and running trials are stopped."""

    max_trial_hours: Annotated[float | None, Field(gt=0)] = None
    """Finish the task when its trials have run this many hours in all (each trial's run time,
    summed over trials); running trials are stopped then."""

    max_gpu_hours: Annotated[float | None, Field(gt=0, alias="maxGPUHours")] = None
    """Finish the task when its trials have used this many GPU-hours: each trial's run time
    times the GPUs it requests, summed over trials; running trials are stopped then. GPUs are
    counted as a quota counts them: every ``VENDOR/gpu`` request (else limit) of each pod (the
    larger of its containers' sum and its largest init container), times the pods the workload
    runs (a Job's parallelism, at most its completions; each replica of other kinds)."""


class EarlyStoppingRule(StrEnum):
    MEDIAN = "median"
    KATIB_MEDIAN = "katibMedian"
    ASHA = "asha"


_ASHA = "(has(self.rule) && self.rule == 'asha')"
DEFAULT_REDUCTION_FACTOR = 3
MIN_RESOURCE_RUNGS = 2
"""asha's default first rung is maxResource / reductionFactor**this: the rungs below the full
training are then at a ninth and a third of it with reductionFactor 3 (docs/search.md)."""


class EarlyStopping(ApiModel):
    """Stop trials whose intermediate results are clearly worse than the others'."""

    model_config = ConfigDict(
        json_schema_extra=_cel(
            (f"!has(self.minResource) || {_ASHA}", "applies to the asha rule only", ".minResource"),
            (f"!has(self.reductionFactor) || {_ASHA}", "applies to the asha rule only", ".reductionFactor"),
            (f"!has(self.maxResource) || {_ASHA}", "applies to the asha rule only", ".maxResource"),
            (
                "!has(self.minResource) || !has(self.maxResource) || self.minResource < self.maxResource",
                "must be below maxResource",
                ".minResource",
            ),
            (f"!has(self.minTrials) || !{_ASHA}", "applies to the median rule only", ".minTrials"),
            (f"!has(self.startStep) || !{_ASHA}", "applies to the median rule only", ".startStep"),
        )
    )

    rule: EarlyStoppingRule = EarlyStoppingRule.MEDIAN
    """median: stop a trial when its best value so far is worse than the median of the other
    trials' running averages at the same step. katibMedian: Katib's medianstop, for migrated
    Experiments: a trial is judged once, when it has reported startStep values, and stopped if its
    best of them is worse than the mean of the averages over their first startStep values of the
    trials that had succeeded when it started (at least minTrials; with fewer it is never stopped).
    asha: asynchronous successive halving (Optuna's
    SuccessiveHalvingPruner): at steps minResource, minResource * reductionFactor, ... (the rungs),
    a trial goes on only while its value is in the best 1/reductionFactor of the values every
    trial had at that rung; no trial waits for a rung to fill. Single objective only."""

    min_trials: Annotated[int, Field(ge=1)] = 3
    """median and katibMedian: completed trials needed before any trial is stopped."""

    start_step: Annotated[int, Field(ge=0)] = 1
    """median: no trial is stopped before it reports this step. katibMedian: how many of its first
    values a trial is judged on (at least 1)."""

    min_resource: Annotated[int | None, Field(ge=1)] = None
    """asha: the step of the first rung (the step is the resource: an epoch, with
    ``metricsCollector.stepKey: epoch``). Default: maxResource / reductionFactor**2, rounded down,
    at least 1 (step 3 of 27 with reductionFactor 3), because the first epochs rank the final
    results poorly (docs/search.md)."""

    reduction_factor: Annotated[int | None, Field(ge=2, le=10)] = None
    """asha: each rung is this many times the previous one's step, and keeps the best 1/this of
    the trials that reach it. Default 3."""

    max_resource: Annotated[int | None, Field(ge=2)] = None
    """asha: the step at which a trial has trained in full (Ray Tune's max_t). No rung is at or
    beyond it, so a trial is never judged on its final report. Default: the highest step that a
    succeeded trial reported; until one trial has succeeded, asha stops none."""

    def asha_rungs(self, max_resource: int) -> tuple[int, int]:
        """The first rung's step and the reduction factor, with their defaults, below ``max_resource``."""
        factor = self.reduction_factor or DEFAULT_REDUCTION_FACTOR
        return self.min_resource or max(1, max_resource // factor**MIN_RESOURCE_RUNGS), factor

    @model_validator(mode="after")
    def _check(self) -> EarlyStopping:
        problems: list[tuple[Loc, str]] = []
        if self.rule is not EarlyStoppingRule.ASHA:
            problems += [
                ((key,), "applies to the asha rule only")
                for key, field in (
                    ("minResource", "min_resource"),
                    ("reductionFactor", "reduction_factor"),
                    ("maxResource", "max_resource"),
                )
                if getattr(self, field) is not None
            ]
        else:
            problems += [
                ((alias,), "applies to the median rule only")
                for field, alias in (("min_trials", "minTrials"), ("start_step", "startStep"))
                if field in self.model_fields_set
            ]
        if self.min_resource is not None and self.max_resource is not None and self.min_resource >= self.max_resource:
            problems.append((("minResource",), f"must be below maxResource ({self.max_resource})"))
        raise_problems("EarlyStopping", problems)
        return self


class WarmStart(ApiModel):
    """Earlier evaluations that seed the search: other tasks' trials, and points to evaluate first."""

    tasks: Annotated[
        list[Annotated[str, Field(pattern=f"^{TASK_NAME_PATTERN}$", max_length=63)]], Field(max_length=16)
    ] = []
    """Earlier HPOTasks whose finished trials feed this task's model without counting toward its
    budget: on a cluster, tasks in the same namespace; with ``kubetune run``, state directories
    next to this task's (same state root). A task whose parameters differ in names or types is
    skipped; a trial whose values fall outside this task's bounds is dropped; both are counted
    in ``status.warmStart``."""

    enqueue: Annotated[list[dict[str, ParamValue]], Field(max_length=1000)] = []
    """Assignments to evaluate first, in order, as this task's first trials (they count toward the
    budget); the algorithm takes over after them and learns from their results."""


class MetricsSource(StrEnum):
    LOGS = "logs"
    ANNOTATIONS = "annotations"
    FILE = "file"


class MetricsFormat(StrEnum):
    KEY_VALUE = "keyValue"
    JSON = "json"
    REGEX = "regex"
    TFEVENT = "tfevent"


class MetricPattern(ApiModel):
    """A regular expression that finds one metric in a log line."""

    metric: Annotated[str, Field(pattern=METRIC_NAME_PATTERN, max_length=128)]
    """The metric this expression reads."""

    regex: Annotated[str, Field(min_length=1, max_length=1024)]
    """A regular expression in RE2's syntax (Go's, as in Katib's filters; no backreferences or lookaround)
    with exactly one capture group: the value. Matched in time linear in the line."""


class MetricsCollector(ApiModel):
    """Where and how trial metrics are read."""

    source: MetricsSource = MetricsSource.LOGS
    """logs: the primary container's output; annotations: a JSON object in the pod annotation
    ``kubetune.io/metrics`` (or ``annotation``); file: a file the primary container writes
    (``path``), read when it ends (or while it runs: ``follow``), in ``format``."""

    path: Annotated[str | None, Field(pattern=r"^/[^\x00]*$", max_length=1024)] = None
    """For the file source: the file's absolute path in the primary container (also given to every
    container as ``KUBETUNE_METRICS_FILE``). On a cluster, without ``follow``, it is the container's
    termination message file, which the node truncates beyond 4096 bytes: write the final values there."""

    follow: bool = False
    """For the file source: read the file while the trial runs, as the trainer appends lines to it, not
    only when the primary container ends. On a cluster a native sidecar (an init container with
    ``restartPolicy: Always``, Kubernetes 1.29+) prints the file's lines, and the file's directory is an
    emptyDir shared with the primary container; the file has no size limit. Needed by earlyStopping."""

    format: MetricsFormat = MetricsFormat.KEY_VALUE
    """For logs: keyValue (``name=value`` pairs anywhere in a line), json (one JSON object per
    line) or regex (``patterns``). For the file source also tfevent: ``path`` is a directory of
    TensorFlow event files (``tf.summary`` writers'); each scalar is a metric named by its tag, after
    the subdirectory of ``path`` its file is in (``test/accuracy``), its step the event's. Needs
    ``follow`` and, where the files are read, the ``tfevent`` extra (the operator image has it)."""

    patterns: Annotated[list[MetricPattern], Field(max_length=32)] = []
    """For the regex format: one expression per metric."""

    step_key: Annotated[str | None, Field(pattern=KEY_PATTERN, max_length=128)] = None
    """The key whose value is the step of the values on the same line. Default: ``step``, else
    ``epoch``."""

    annotation: Annotated[str, Field(max_length=253)] = names.ANNOTATION_METRICS
    """For annotations: the pod annotation holding a JSON object of metrics."""

    def shared_directory(self) -> str | None:
        """The directory a followed file source shares with its sidecar: the file's, or the tfevent directory."""
        if self.path is None:
            return None
        path = PurePosixPath(self.path)
        return str(path if self.format is MetricsFormat.TFEVENT else path.parent)


class SuspendPolicy(StrEnum):
    GRACEFUL = "graceful"
    FORCE = "force"


class Stop(ApiModel):
    """A request to end the task for good, keeping its trials and results (``kubetune stop``)."""

    policy: SuspendPolicy = SuspendPolicy.GRACEFUL
    """graceful: trials not running yet are stopped, running ones finish; force: every trial
    is stopped at once."""


class RetainPolicy(StrEnum):
    BEST = "best"
    ALL = "all"
    NONE = "none"


class RetainWorkloads(ApiModel):
    """Which finished trials keep their workload (Job) and its pods; the Trial objects always stay."""

    policy: RetainPolicy = RetainPolicy.BEST
    """best: only the ``topK`` best succeeded trials keep theirs (to debug them); none: each is deleted
    once its Trial recorded the result (its log was read by then); all: none is deleted (they pile up)."""

    top_k: Annotated[int, Field(ge=0, le=1000)] = 3
    """With policy best: how many of the best trials keep their workload and pods."""

    keep_for: Duration | None = None
    """A grace period: each kept workload goes this long after its trial finished (Kubernetes' own
    ttlSecondsAfterFinished, which kubetune sets once the trial's result is recorded, so that it
    holds even after the task ended). With policy all: every finished trial's workload goes after
    it. Unset: the kept ones stay until the task is deleted. Kinds without a TTL field (TrainJob,
    RayJob, CEL-described kinds) keep theirs."""


class HPOTaskSpec(ApiModel):
    """What to search and how."""

    model_config = ConfigDict(json_schema_extra=rules.schema_extra(rules.SPEC_RULES))

    objective: Objective
    """The metric to optimize."""

    algorithm: Algorithm = Algorithm()
    """The search algorithm (default auto)."""

    parameters: Annotated[list[Parameter], Field(max_length=64)] = []
    """The search space: one entry per hyperparameter."""

    budget: Budget = Budget()
    """Trial counts, parallelism and time limits."""

    early_stopping: EarlyStopping | None = None
    """Stop clearly bad trials early. Default: no early stopping."""

    warm_start: WarmStart | None = None
    """Seed the search with earlier tasks' trials and with points to evaluate first."""

    metrics_collector: MetricsCollector = MetricsCollector()
    """Where trial metrics are read from (default: ``name=value`` lines in the logs)."""

    trial_template: TrialTemplate
    """The Job that runs one trial."""

    suspend: bool = False
    """Create no new trials while true; set back to false to resume."""

    suspend_policy: SuspendPolicy = SuspendPolicy.GRACEFUL
    """When suspended: graceful lets running trials finish, force stops them at once."""

    stop: Stop | None = None
    """End the task for good (``kubetune stop`` sets it): no new trial starts, and the task ends
    in phase Stopped with its trials and results kept. Unlike suspend, it cannot be undone;
    deleting the task is what removes everything."""

    retain_workloads: RetainWorkloads = RetainWorkloads()
    """On a cluster: which finished trials keep their Job and pods (default: the 3 best)."""

    def parameter(self, name: str) -> Parameter | None:
        """The parameter called ``name``, if any."""
        return next((p for p in self.parameters if p.name == name), None)

    def placeholder_values(self, params: dict[str, ParamValue]) -> dict[str, ParamValue]:
        """What ``${params.NAME}`` placeholders become in a trial with these (active) parameters:
        its values, and ``when.default`` for each conditional parameter it does not have."""
        defaults = {
            p.name: p.when.default
            for p in self.parameters
            if p.when is not None and p.when.default is not None and p.name not in params
        }
        return {**defaults, **params}

    @model_validator(mode="after")
    def _check(self) -> HPOTaskSpec:
        raise_problems("HPOTaskSpec", self._problems())
        return self

    def _problems(self) -> Iterator[tuple[Loc, str]]:
        yield from self._parameter_problems()
        yield from self._env_name_problems()
        yield from self._condition_problems()
        yield from self._algorithm_problems()
        yield from self._plugin_problems()
        yield from self._objective_problems()
        yield from self._collector_problems()
        able = self.able()
        if self.warm_start is not None:
            for i, point in enumerate(self.warm_start.enqueue):
                yield from self._assignment_problems(("warmStart", "enqueue", i), point)
            if able is not None and not able.warm_start:
                for key in ("tasks", "enqueue"):
                    if getattr(self.warm_start, key):
                        yield ("warmStart", key), f"does not apply to {self.algorithm.name}, which {able.why}"
        if able is not None and not able.conditions:
            for i, conditional in enumerate(self.parameters):
                if conditional.when is not None:
                    yield ("parameters", i, "when"), f"does not apply to {self.algorithm.name}, which {able.why}"
        known = {p.name for p in self.parameters}
        if self.algorithm.experiments:
            known |= {k for e in self.algorithm.experiments for k in e}
        for loc, name in self.trial_template.placeholders():
            parameter = self.parameter(name)
            if name not in known:
                yield loc, f"${{params.{name}}} names no parameter"
            elif parameter is not None and parameter.when is not None and parameter.when.default is None:
                yield (
                    loc,
                    f"${{params.{name}}} names a conditional parameter: give it parameters[].when.default, the "
                    "value the placeholder takes in trials where the condition does not hold",
                )
        yield from self.trial_template.stray_placeholders()

    def _condition_problems(self) -> Iterator[tuple[Loc, str]]:
        parents = {p.name: p.when.parameter for p in self.parameters if p.when is not None}
        for i, parameter in enumerate(self.parameters):
            when = parameter.when
            if when is None:
                continue
            loc: Loc = ("parameters", i, "when", "parameter")
            parent = self.parameter(when.parameter)
            if parent is None:
                yield loc, f"names no parameter: {when.parameter!r}"
                continue
            if parent.type is not ParameterType.CATEGORICAL or parent.fixed:
                yield loc, f"must name a searched categorical parameter, {when.parameter!r} is not one"
                continue
            for j, value in enumerate(when.in_):
                if value not in (parent.values or []):
                    yield ("parameters", i, "when", "in", j), f"{value!r} is not one of {parent.values}"
            path, node = [parameter.name], when.parameter  # a list: the message follows the conditions in order
            while node in parents:
                if node in path:
                    yield loc, f"makes a cycle of conditions: {' -> '.join([*path, node])}"
                    break
                path.append(node)
                node = parents[node]

    def able(self) -> Capabilities | None:
        """What the named algorithm can do with the settings given (None: the settings are wrong,
        which is reported on its own)."""
        settings = _valid(SETTINGS[self.algorithm.name], self.algorithm.settings)
        return settings.able() if settings is not None else None

    def _objective_problems(self) -> Iterator[tuple[Loc, str]]:
        if not self.objective.multi:
            return
        name = self.algorithm.name
        if not SETTINGS[name].capabilities.several_objectives:
            *others, last = offering(lambda c: c.several_objectives)
            yield (
                ("algorithm", "name"),
                f"{name} optimizes a single objective; with objective.metrics use {', '.join(others)} or {last}",
            )
        if self.early_stopping is not None:
            yield (
                ("earlyStopping", "rule"),
                f"{self.early_stopping.rule} compares one objective's intermediate values; it does not apply "
                "with objective.metrics",
            )
        if self.budget.patience is not None:
            yield ("budget", "patience"), "applies to a single objective only"

    def _parameter_problems(self) -> Iterator[tuple[Loc, str]]:
        seen: set[str] = set()
        for i, parameter in enumerate(self.parameters):
            if parameter.name in seen:
                yield (
                    ("parameters", i, "name"),
                    f"{parameter.name!r} is declared twice ({rules.UNIQUE_PARAMETER_NAMES.message})",
                )
            seen.add(parameter.name)
        searched = [p for p in self.parameters if not p.fixed]
        if not searched and self.algorithm.name is not AlgorithmName.EXPERIMENTS:
            yield ("parameters",), "must declare at least one parameter to search"

    def _env_name_problems(self) -> Iterator[tuple[Loc, str]]:
        # Each parameter reaches the trainer as KUBETUNE_PARAM_<NAME in capitals>: lr and LR would
        # share one variable, and one of them would silently win.
        named: list[tuple[Loc, str]] = [(("parameters", i, "name"), p.name) for i, p in enumerate(self.parameters)]
        if not self.parameters:  # the experiments' keys are the parameters
            named += [
                (("algorithm", "experiments", i, key), key)
                for i, experiment in enumerate(self.algorithm.experiments or [])
                for key in experiment
            ]
        owner: dict[str, str] = {}
        for loc, name in named:
            if not re.fullmatch(NAME_PATTERN, name):
                yield loc, f"{name!r} is not a parameter name (letters, digits and underscores)"
                continue
            env = names.ENV_PREFIX + name.upper()
            first = owner.setdefault(env, name)
            if first != name:
                yield loc, f"{name!r} and {first!r} would both be the environment variable {env}"

    def _plugin_problems(self) -> Iterator[tuple[Loc, str]]:
        # Checked here, not only when the task runs, so that `kubetune validate` and the operator's
        # admission (the same model) both say it at once.
        plugin = self.algorithm.plugin
        if self.algorithm.name is not AlgorithmName.PLUGIN or plugin is None:
            return
        if not entry_points(group=names.PLUGIN_ENTRY_POINTS, name=plugin):
            yield (
                ("algorithm", "plugin"),
                f"no search algorithm plugin {plugin!r} is installed here "
                f"(no entry point {plugin!r} in group {names.PLUGIN_ENTRY_POINTS!r})",
            )

    def _algorithm_problems(self) -> Iterator[tuple[Loc, str]]:
        algorithm = self.algorithm
        yield from _settings_problems(algorithm.name, algorithm.settings)
        if (algorithm.name is AlgorithmName.EXPERIMENTS) != (algorithm.experiments is not None):
            yield ("algorithm", "experiments"), "is required by, and only allowed with, the experiments algorithm"
        if (algorithm.name is AlgorithmName.PLUGIN) != (algorithm.plugin is not None):
            yield ("algorithm", "plugin"), "is required by, and only allowed with, the plugin algorithm"
        if algorithm.plugin_settings is not None and algorithm.name is not AlgorithmName.PLUGIN:
            yield ("algorithm", "pluginSettings"), "is only allowed with the plugin algorithm"
        if algorithm.name is AlgorithmName.GRID:
            yield from self._grid_problems()
        if SETTINGS[algorithm.name].capabilities.resource_parameter:
            yield from self._resource_problems()
        if algorithm.experiments:
            for i, experiment in enumerate(algorithm.experiments):
                yield from self._assignment_problems(("algorithm", "experiments", i), experiment)

    def _grid_problems(self) -> Iterator[tuple[Loc, str]]:
        for i, p in enumerate(self.parameters):
            step = p.step or (1.0 if p.type is ParameterType.INT else None)
            if p.fixed or p.type is ParameterType.CATEGORICAL or step is None or p.min is None or p.max is None:
                continue
            # Grid search lays out each axis in full: a billion-point axis would exhaust memory, and
            # more points than any budget can visit make the grid the first corner of the space.
            points = (p.max - p.min) / step + 1  # a float: it may be past any integer
            if points > GRID_POINTS:
                yield (
                    ("parameters", i, "step" if p.step else "max"),
                    f"gives {points:.6g} grid points, more than grid search can visit (at most {GRID_POINTS})",
                )
        settings = _valid(GridSettings, self.algorithm.settings)
        if settings is None or settings.points_per_dimension is not None:
            return  # bad settings are already reported
        for i, p in enumerate(self.parameters):
            if (
                p.type is ParameterType.DOUBLE
                and p.step is None
                and not p.fixed
                and p.distribution is Distribution.UNIFORM
            ):
                yield (
                    ("parameters", i, "step"),
                    "is required for grid search on a double range (or set algorithm.settings.pointsPerDimension)",
                )

    def _resource_problems(self) -> Iterator[tuple[Loc, str]]:
        """An algorithm that needs a resource parameter (multi-fidelity): the one its settings name."""
        loc: Loc = ("algorithm", "settings", "resourceParameter")
        algorithm = self.algorithm.name
        settings = _valid(SETTINGS[algorithm], self.algorithm.settings)
        if settings is None:
            return  # already reported
        name = getattr(settings, "resource_parameter", None)
        if name is None:
            yield loc, f"is required by {algorithm} (the parameter that is the trial budget, e.g. epochs)"
            return
        parameter = self.parameter(name)
        if parameter is None:
            yield loc, f"names no parameter: {name!r}"
        elif (
            parameter.type is ParameterType.CATEGORICAL
            or parameter.fixed
            or parameter.when is not None
            or parameter.base is not None
            or parameter.distribution is not Distribution.UNIFORM
        ):
            yield loc, f"must name an int or double range, {name!r} is not one"
        elif parameter.min is not None and parameter.min <= 0:
            yield (
                loc,
                f"must name a parameter whose min is > 0 (the smallest budget), {name!r} has min {parameter.min:g}",
            )
        elif (
            parameter.min is not None and parameter.max is not None and parameter.max > HYPERBAND_RANGE * parameter.min
        ):
            # The most exploratory bracket starts about max / min trials; beyond this no budget
            # finishes it, and planning the brackets alone would exhaust memory.
            yield (
                loc,
                f"must name a parameter whose max / min is at most {HYPERBAND_RANGE} ({algorithm}'s first bracket "
                f"starts about that many trials), {name!r} has {parameter.max / parameter.min:g}",
            )

    def _assignment_problems(self, loc: Loc, assignment: dict[str, ParamValue]) -> Iterator[tuple[Loc, str]]:
        """What is wrong with a given assignment (an experiment, an enqueued point)."""
        for key, value in assignment.items():
            if isinstance(value, str) and (char := control_character(value)):
                yield (*loc, key), f"must not contain a control character ({char}): it goes into argv and env"
        if not self.parameters:
            return
        declared = {p.name: p for p in self.parameters}
        for key in assignment:
            if key not in declared:
                yield (*loc, key), "names no parameter"
        for name, parameter in declared.items():
            active = parameter.when is None or assignment.get(parameter.when.parameter) in parameter.when.in_
            if name not in assignment and not parameter.fixed and active:
                yield (*loc,), f"gives no value for parameter {name!r}"
            elif name in assignment and (message := _misfit(parameter, assignment[name])):
                yield (*loc, name), message
            elif name in assignment and not active and parameter.when is not None:
                yield (*loc, name), f"is inactive here: its condition on {parameter.when.parameter!r} does not hold"

    def _collector_problems(self) -> Iterator[tuple[Loc, str]]:
        collector = self.metrics_collector
        if collector.source is MetricsSource.LOGS and collector.format is MetricsFormat.KEY_VALUE:
            named: list[tuple[Loc, str]] = (
                [(("objective", "metrics", i, "name"), m.name) for i, m in enumerate(self.objective.metrics or [])]
                if self.objective.multi
                else [(("objective", "metric"), self.objective.primary)]
            )
            named += [
                (("objective", "constraints", i, "metric"), c.metric) for i, c in enumerate(self.objective.constraints)
            ]
            named += [
                (("objective", "additionalMetrics", i), m) for i, m in enumerate(self.objective.additional_metrics)
            ]
            for place, name in named:
                if " " in name:
                    yield (
                        place,
                        f"{name!r} holds a space, which the keyValue format cannot read (it reads name=value); "
                        "set metricsCollector.format to json or regex",
                    )
        if (collector.source is MetricsSource.FILE) != (collector.path is not None):
            yield ("metricsCollector", "path"), "is required by, and only allowed with, the file source"
        known = self.trial_template.known()
        if collector.source is MetricsSource.FILE:
            if known is not None and (known.extra_containers or known.extra_strings):
                yield (
                    ("metricsCollector", "source"),
                    f"file is not available for a {known.kind}, whose primary pod runs no container of the template "
                    "(use logs)",
                )
            if self.early_stopping is not None and not collector.follow:
                yield (
                    ("metricsCollector", "follow"),
                    "must be true with earlyStopping: without it the file is read only when the trial ends, and "
                    "earlyStopping needs the metrics while it runs",
                )
            if collector.follow and collector.shared_directory() == "/":
                yield (
                    ("metricsCollector", "path"),
                    "must be in a directory other than / to be followed: that directory is shared with the sidecar",
                )
            if collector.format is MetricsFormat.TFEVENT and not collector.follow:
                yield (
                    ("metricsCollector", "follow"),
                    "must be true for the tfevent format: event files are read as they are written, never "
                    "from the termination message",
                )
        elif collector.follow:
            yield ("metricsCollector", "follow"), "is only for the file source"
        if collector.format is MetricsFormat.TFEVENT and collector.source is not MetricsSource.FILE:
            yield ("metricsCollector", "format"), "tfevent is only for the file source (a directory of event files)"
        if collector.format is MetricsFormat.REGEX and not collector.patterns:
            yield ("metricsCollector", "patterns"), "is required for the regex format"
        for i, pattern in enumerate(collector.patterns):
            loc: Loc = ("metricsCollector", "patterns", i, "regex")
            if problem := regexp.problem(pattern.regex):
                yield loc, problem
                continue
            groups = regexp.compile_pattern(pattern.regex).groups
            if groups != 1:
                yield loc, f"must have exactly one capture group, has {groups}"


def _valid(model: type[S], settings: dict[str, ParamValue]) -> S | None:
    """``settings`` as ``model``, or None when they do not fit it."""
    try:
        return model.model_validate(settings)
    except ValidationError:
        return None


def _settings_problems(name: AlgorithmName, settings: dict[str, ParamValue]) -> Iterator[tuple[Loc, str]]:
    """What the algorithm's own settings model finds wrong with ``settings``."""
    try:
        SETTINGS[name].model_validate(settings)
    except ValidationError as error:
        for problem in error.errors():
            loc: Loc = ("algorithm", "settings", *problem["loc"])
            if problem["type"] == "extra_forbidden":
                yield loc, f"does not apply to the {name} algorithm"
            else:
                yield loc, problem["msg"]


def _misfit(parameter: Parameter, value: ParamValue) -> str | None:
    """Why ``value`` is not a value ``parameter`` can take, or None."""
    if parameter.type is ParameterType.CATEGORICAL:
        return None if value in (parameter.values or []) else f"{value!r} is not one of {parameter.values}"
    if parameter.fixed:
        return None if value == parameter.value else f"must equal the fixed value {parameter.value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {value!r}"
    if parameter.type is ParameterType.INT and value != int(value):
        return f"must be an integer, got {value!r}"
    low = parameter.low if parameter.min is not None else -math.inf
    high = parameter.high if parameter.max is not None else math.inf
    if not low <= value <= high:
        return f"{value!r} is outside [{low:g}, {high:g}]"
    return None


# --- status ------------------------------------------------------------------------------------


class TaskPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    STOPPED = "Stopped"

    @property
    def finished(self) -> bool:
        """Whether the task is over: nothing will ever be created or run again."""
        return self in FINISHED_TASK_PHASES

    @classmethod
    def ended(cls, phase: object) -> bool:
        """Whether a phase as the API server returns it (a string, or absent) is a finished one."""
        return phase in FINISHED_TASK_PHASES


FINISHED_TASK_PHASES = frozenset({TaskPhase.SUCCEEDED, TaskPhase.FAILED, TaskPhase.STOPPED})
"""The phases a task never leaves by itself (only a spec change starts it again): the one list of them."""


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """A Kubernetes-style condition."""

    type: Annotated[str, Field(max_length=316)]
    """Valid, Running, Suspended, Succeeded, Failed, Stopped or Ready."""

    status: ConditionStatus
    """True, False or Unknown."""

    reason: Annotated[str, Field(max_length=1024)] = ""
    """One CamelCase word for machines, e.g. ``MaxTrialsReached``."""

    message: Annotated[str, Field(max_length=32768)] = ""
    """A sentence for people."""

    last_transition_time: Timestamp | None = None
    """When ``status`` last changed."""

    observed_generation: int | None = None
    """The spec generation the condition was computed from."""


class TrialCounts(ApiModel):
    """How many trials are in each phase."""

    total: int = 0
    """All trials there are (a Trial deleted by hand is no longer counted)."""
    created: int = 0
    """Trials ever created, deleted ones included: the next trial's index (indexes are never reused)."""
    pending: int = 0
    """Created, not yet running."""
    queued: int = 0
    """Waiting for a queue (Kueue) to admit their workloads."""
    running: int = 0
    """Running now."""
    succeeded: int = 0
    """Completed with an objective value."""
    failed: int = 0
    """Failed, timed out, or ended without the objective metric."""
    early_stopped: int = 0
    """Stopped early by the early-stopping rule or by hyperband."""
    stopped: int = 0
    """Stopped because the task finished, was stopped, or was suspended with force, maxTrials was
    lowered, or its Job was deleted."""


class BestTrial(ApiModel):
    """The best trial so far."""

    name: str
    """The Trial's name."""
    parameters: dict[str, ParamValue]
    """Its parameter values."""
    objective: float
    """Its objective value."""
    metrics: dict[str, float] | None = None
    """Its other metrics (``objective.additionalMetrics``, aggregated the same way as the
    objective); left out when there are none."""


MAX_FRONT = 20
"""Pareto-front members kept in a task's status; a larger front is thinned by crowding distance."""


class FrontMember(ApiModel):
    """A trial of the Pareto front: no other feasible trial is at least as good on every objective
    and better on one."""

    name: str
    """The Trial's name."""
    parameters: dict[str, ParamValue]
    """Its parameter values."""
    objectives: dict[str, float]
    """Its value of each objective metric."""
    metrics: dict[str, float] = {}
    """Its other metrics."""


class WarmStartSource(ApiModel):
    """What one earlier task contributed."""

    task: str
    """The earlier task's name."""
    imported: int = 0
    """Its finished trials that seed this task's model."""
    dropped: int = 0
    """Its trials left out: values outside this task's space, or no objective value."""
    message: str | None = None
    """Why the whole task was skipped, if it was (not found, other parameters)."""


class WarmStartStatus(ApiModel):
    """Where the earlier evaluations that seed the model came from."""

    imported: int = 0
    """Trials imported in all (they do not count toward maxTrials)."""
    dropped: int = 0
    """Trials of the sources left out in all."""
    sources: Annotated[list[WarmStartSource], Field(max_length=16)] = []
    """One entry per task in spec.warmStart.tasks."""


class HPOTaskStatus(ApiModel):
    """What the operator observed; bounded in size whatever the number of trials."""

    model_config = ConfigDict(extra="ignore")

    phase: TaskPhase = TaskPhase.PENDING
    """Pending, Running, Suspended, Succeeded, Failed or Stopped (by the user, for good)."""

    reason: str | None = None
    """Why the task is in this phase, one CamelCase word."""

    message: str | None = None
    """Why the task is in this phase, a sentence."""

    conditions: list[Condition] = []
    """Kubernetes-style conditions: Valid, Running, Suspended, Succeeded, Failed, Stopped, and Ready
    (``False`` with reason ``ReconcileError`` while the operator fails to reconcile the task)."""

    trials: TrialCounts = TrialCounts()
    """Trial counts by phase."""

    progress: str | None = None
    """Finished trials out of maxTrials, e.g. ``12/50``."""

    best_trial: BestTrial | None = None
    """The best feasible trial so far (single objective)."""

    pareto_front: Annotated[list[FrontMember], Field(max_length=MAX_FRONT)] = []
    """Multi-objective: the Pareto front of the feasible succeeded trials, at most 20 of them (a
    larger front keeps its extremes and then the members with the largest crowding distance, as
    NSGA-II does), in trial order."""

    front_size: int | None = None
    """Multi-objective: how many trials the whole Pareto front has (``paretoFront`` lists at most 20)."""

    warm_start: WarmStartStatus | None = None
    """How many earlier trials seed the model, and from which tasks."""

    algorithm: str | None = None
    """The algorithm that suggested the latest trials, with its backend where it has several:
    ``bayesian (optuna-gp)``, ``auto: bayesian (skopt)``, ``tpe``."""

    start_time: Timestamp | None = None
    """When the first trial was created."""

    completion_time: Timestamp | None = None
    """When the task finished."""

    observed_generation: int | None = None
    """The spec generation this status describes."""

    gpu_hours: float | None = None
    """GPU-hours the task's trials have used so far: each trial's requested GPUs (summed over its
    replicas) times the time it ran; time waiting in a queue is not counted."""


class ObjectMeta(ApiModel):
    """The standard Kubernetes object metadata; kubetune reads a few fields."""

    model_config = ConfigDict(extra="allow")

    name: Annotated[str | None, Field(max_length=253)] = None
    """Object name."""
    namespace: str | None = None
    """Object namespace."""
    uid: str | None = None
    """Object uid."""
    generation: int | None = None
    """Spec generation."""
    labels: dict[str, str] = {}
    """Labels."""
    annotations: dict[str, str] = {}
    """Annotations."""


class HPOTask(ApiModel):
    """A hyperparameter search: trials are created, run and compared until the budget is spent."""

    api_version: Literal["kubetune.io/v1alpha1"] = "kubetune.io/v1alpha1"
    """kubetune.io/v1alpha1"""
    kind: Literal["HPOTask"] = "HPOTask"
    """HPOTask"""
    metadata: ObjectMeta = ObjectMeta()
    """Standard object metadata."""
    spec: HPOTaskSpec
    """What to search and how."""
    status: HPOTaskStatus | None = None
    """Written by the operator."""

    @model_validator(mode="after")
    def _check_name(self) -> HPOTask:
        name = self.metadata.name
        if name is not None and not re.fullmatch(TASK_NAME_PATTERN, name):
            raise_problems(
                "HPOTask",
                [
                    (
                        ("metadata", "name"),
                        f"must be at most 63 lowercase letters, digits and '-', starting and ending with a letter "
                        f"or digit (it becomes a label value and part of every trial's name), got {name!r}",
                    )
                ],
            )
        return self
