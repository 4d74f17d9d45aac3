"""The shape of the Katib ``Experiment`` fields that ``kubetune convert`` reads, checked before it reads them.

A pydantic model of each part of Katib's v1beta1 API that the conversion uses, with the types
Katib's CRD gives them: a list is a list (``additionalMetricNames: "acc"`` is refused, not read
as the three metrics a, c, c), a mapping is a mapping, a name is text. Fields the conversion does
not read are let through (``extra="allow"``): what kubetune cannot express is refused by the
conversion itself, naming the field. Katib writes numbers as strings (``min: "0.01"``), and
manifests often write them as numbers: both are taken where Katib takes a number.

Every problem is one line naming the Katib field (``spec.objective.additionalMetricNames: input
should be a valid list``), all of them at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic.alias_generators import to_camel

from ..api.loader import format_loc, problems_of
from ..errors import InvalidSpec, Problem


def _scalar(value: Any) -> str | int | float:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    raise ValueError(f"must be a number or a string, got {type(value).__name__}")


Scalar = Annotated[str | int | float, PlainValidator(_scalar)]
"""A Katib number or text: ``"0.01"`` as Katib writes it, or ``0.01``."""


class _Katib(BaseModel):
    """A part of Katib's API: camelCase, strict types (no text read as a list), other fields let through."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", strict=True)


class _Metadata(_Katib):
    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class _Setting(_Katib):
    name: str
    value: Scalar | None = None


class _MetricStrategy(_Katib):
    name: str
    value: str


class _Objective(_Katib):
    type: str | None = None
    objective_metric_name: str | None = None
    goal: Scalar | None = None
    additional_metric_names: list[str] | None = None
    metric_strategies: list[_MetricStrategy] | None = None


class _Algorithm(_Katib):
    algorithm_name: str | None = None
    algorithm_settings: list[_Setting] | None = None


class _FeasibleSpace(_Katib):
    min: Scalar | None = None
    max: Scalar | None = None
    step: Scalar | None = None
    values: list[Scalar] | None = Field(default=None, alias="list")
    distribution: str | None = None


class _Parameter(_Katib):
    name: str | None = None
    parameter_type: str | None = None
    feasible_space: _FeasibleSpace | None = None


class _FileSystemPath(_Katib):
    path: str | None = None
    format: str | None = None
    kind: str | None = None


class _Filter(_Katib):
    metrics_format: list[str] | None = None


class _Source(_Katib):
    file_system_path: _FileSystemPath | None = None
    filter: _Filter | None = None


class _Collector(_Katib):
    kind: str | None = None


class _MetricsCollectorSpec(_Katib):
    collector: _Collector | None = None
    source: _Source | None = None


class _ConfigMapRef(_Katib):
    config_map_name: str | None = None
    config_map_namespace: str | None = None
    template_path: str | None = None


class _TrialParameter(_Katib):
    name: str | None = None
    description: str | None = None
    reference: str | None = None


class _ObjectMeta(_Katib):
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class TrialSpec(_Katib):
    """The trial's Kubernetes object, as far as the conversion reads it (its kind's containers: :class:`Container`)."""

    api_version: str | None = None
    kind: str | None = None
    metadata: _ObjectMeta | None = None
    spec: dict[str, Any] | None = None


class _TrialTemplate(_Katib):
    trial_spec: TrialSpec | None = None
    config_map: _ConfigMapRef | None = None
    trial_parameters: list[_TrialParameter] | None = None
    primary_container_name: str | None = None
    primary_pod_labels: dict[str, str] | None = None
    success_condition: str | None = None
    failure_condition: str | None = None
    retain: bool | None = None


class _EarlyStopping(_Katib):
    algorithm_name: str | None = None
    algorithm_settings: list[_Setting] | None = None


class _ExperimentSpec(_Katib):
    objective: _Objective | None = None
    algorithm: _Algorithm | None = None
    parameters: list[_Parameter] | None = None
    parallel_trial_count: Scalar | None = None
    max_trial_count: Scalar | None = None
    max_failed_trial_count: Scalar | None = None
    metrics_collector_spec: _MetricsCollectorSpec | None = None
    trial_template: _TrialTemplate | None = None
    early_stopping: _EarlyStopping | None = None
    resume_policy: str | None = None


class Experiment(_Katib):
    """A Katib Experiment (kubeflow.org/v1beta1), the fields ``convert`` reads."""

    api_version: str | None = None
    kind: str | None = None
    metadata: _Metadata | None = None
    spec: _ExperimentSpec | None = None


class _EnvVar(_Katib):
    name: str
    value: str | None = None
    value_from: dict[str, Any] | None = None


class Container(_Katib):
    """A container of the trial's pods: where parameters go (command, args, env values)."""

    name: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[_EnvVar] | None = None


def check(model: type[BaseModel], obj: Any, where: str = "") -> None:
    """Raise InvalidSpec, one problem per field (named from ``where``), unless ``obj`` has the model's shape."""
    try:
        model.model_validate(obj)
    except ValidationError as error:
        problems = problems_of(error, model)
        raise InvalidSpec([_under(where, p) for p in problems]) from None


def check_containers(trial_spec: Mapping[str, Any], paths: Sequence[tuple[str | int, ...]], where: str) -> None:
    """Check the containers at ``paths`` in the trial spec; every problem of every one at once."""
    problems: list[Problem] = []
    for path in paths:
        node: Any = trial_spec
        for part in path:
            node = node[part]
        try:
            check(Container, node, f"{where}.{format_loc(path)}")
        except InvalidSpec as error:
            problems += error.problems
    if problems:
        raise InvalidSpec(problems)


def _under(where: str, problem: Problem) -> Problem:
    if not where:
        return problem
    return Problem(f"{where}.{problem.path}" if problem.path else where, problem.message)
