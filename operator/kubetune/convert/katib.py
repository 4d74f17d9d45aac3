"""A Katib ``Experiment`` (kubeflow.org/v1beta1) as an HPOTask, with every change of meaning noted.

:func:`convert` returns the HPOTask manifest and the notes: each names the Katib field, says what
changed, and is placed at the kubetune field it concerns (a YAML comment there, a line on
stderr). Whatever has no kubetune equivalent is refused with one :class:`~kubetune.errors.Problem`
naming the Katib field. Where Katib's default differs from kubetune's, the output says Katib's
value explicitly, so that the task searches as the Experiment did.

Trial kinds are a table (:data:`TRIAL_KINDS`): a kind kubetune can run is one entry that turns
the Katib ``trialSpec`` into a trial template.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from .. import names
from ..api import kinds, kubeyaml
from ..api.task import MetricsFormat
from ..errors import InvalidSpec, Problem
from . import gjson
from .experiment import Experiment, TrialSpec, check, check_containers

Path = tuple[str | int, ...]
"""A place in the HPOTask being written, e.g. ``("spec", "budget", "maxFailedTrials")``."""

MAX_TRIALS_UNLIMITED = 100000
"""kubetune's largest maxTrials: how a Katib Experiment without maxTrialCount is written."""

KATIB_PARALLEL_TRIALS = 3
KATIB_DEFAULT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
"""Katib's StdOut and File text filter when the Experiment gives none
(pkg/metricscollector/v1beta1/common/const.go, DefaultFilter)."""
_KATIB_NAME = re.compile(r"[\w|-]+")
"""A metric name Katib's default filter can read: its name group, whole."""
KATIB_METRICS_FILE = "/var/log/katib/metrics.log"
KATIB_TFEVENT_DIR = "/var/log/katib/tfevent/"
"""The File and TensorFlowEvent collectors' default paths (pkg/apis/controller/common/v1beta1/common_types.go)."""
KATIB_MEDIAN_MIN_TRIALS = 3
KATIB_MEDIAN_START_STEP = 4

_TRIAL_PARAMETER = re.compile(r"\$\{trialParameters\.([^}]*)\}")
_TRIAL_SPEC_META = re.compile(
    r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Labels|Annotations)(?:\[([^\]]+)\])?\}$"
)
_DOWNWARD = {"Name": f"metadata.labels['{names.LABEL_TRIAL}']", "Namespace": "metadata.namespace"}
"""Katib metadata references that the pod reads from the downward API: the trial's name is the
``kubetune.io/trial`` label of its pod."""


class Refused(InvalidSpec):
    """The Experiment uses something kubetune cannot express; the one problem names the Katib field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__([Problem(where, message)])


@dataclass(frozen=True)
class Note:
    """Why a field reads as it does: ``katib`` is the Katib field, ``at`` the kubetune place."""

    at: Path
    katib: str
    message: str
    changed: bool = True
    """True when something is lost or changed in meaning (a line on stderr too); False when the
    field only writes out what Katib did by default (a comment)."""


@dataclass
class Conversion:
    """The HPOTask manifest (plain data) and the notes to put in it."""

    manifest: dict[str, Any]
    notes: list[Note] = field(default_factory=list)

    def note(self, at: Path, katib: str, message: str, *, changed: bool = True) -> None:
        """Record why the field at ``at`` reads as it does."""
        self.notes.append(Note(at, katib, message, changed))


# --- trial kinds --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialKind:
    """How a Katib trialSpec of one kind becomes kubetune's trial template."""

    containers: Callable[[Mapping[str, Any]], list[Path]]
    """Where the kind's containers are in a trialSpec: their command, args and env values are
    where kubetune puts parameters (and the downward API the trial's name)."""
    template: Callable[[Mapping[str, Any]], dict[str, Any]]
    """The ``trialTemplate.spec`` made of the trialSpec (placeholders already replaced)."""
    conditions: tuple[str, str]
    """Katib's default success and failure conditions for the kind: kubetune reads the same
    outcome from the workload's status, so only other conditions are a change of meaning."""


def pod_containers(trial_spec: Mapping[str, Any], pod_spec: Path) -> list[Path]:
    """The paths of the init containers and containers of the pod spec at ``pod_spec``."""
    node: Any = trial_spec
    for part in pod_spec:
        node = node.get(part) if isinstance(node, Mapping) else None
    paths: list[Path] = []
    for key in ("initContainers", "containers"):
        listed = node.get(key) if isinstance(node, Mapping) else None
        paths += [(*pod_spec, key, i) for i in range(len(listed) if isinstance(listed, list) else 0)]
    return paths


def _job_containers(trial_spec: Mapping[str, Any]) -> list[Path]:
    return pod_containers(trial_spec, ("spec", "template", "spec"))


def _job_spec(trial_spec: Mapping[str, Any]) -> dict[str, Any]:
    spec = trial_spec.get("spec")
    return dict(spec) if isinstance(spec, Mapping) else {}


def _replica_containers(trial_spec: Mapping[str, Any]) -> list[Path]:
    """Every container of every replica: each PodSpec in the spec (JobSet, Training Operator, RayJob)."""
    spec = trial_spec.get("spec")
    found = kinds.pod_specs(spec) if isinstance(spec, Mapping) else []
    return [path for loc, _ in found for path in pod_containers(trial_spec, ("spec", *loc))]


def _controller_containers(trial_spec: Mapping[str, Any]) -> list[Path]:
    """A kind kubetune does not know: its pod templates' containers, and the containers its controller
    makes pods of (Argo's templates, Tekton's steps), as kubetune fills them in."""
    spec = trial_spec.get("spec")
    objects = kinds.container_objects(spec) if isinstance(spec, Mapping) else []
    return [*_replica_containers(trial_spec), *(("spec", *loc) for loc, _ in objects)]


def _trainer_container(trial_spec: Mapping[str, Any]) -> list[Path]:
    """A TrainJob's trainer, which has command, args and env as a container does."""
    spec = trial_spec.get("spec")
    return [("spec", "trainer")] if isinstance(spec, Mapping) and isinstance(spec.get("trainer"), Mapping) else []


def _conditions(kind: kinds.Kind) -> tuple[str, str]:
    """Katib's GJSON conditions for a kind whose status has a success and a failure condition type."""
    assert kind.conditions is not None
    success, failure = kind.conditions
    return (
        f'status.conditions.#(type=="{success}")#|#(status=="True")#',
        f'status.conditions.#(type=="{failure}")#|#(status=="True")#',
    )


def _trial_kind(
    kind: kinds.Kind, containers: Callable[[Mapping[str, Any]], list[Path]]
) -> tuple[tuple[str, str], TrialKind]:
    return (kind.api_version, kind.kind), TrialKind(containers, _job_spec, _conditions(kind))


TRIAL_KINDS: Mapping[tuple[str, str], TrialKind] = dict(
    [
        _trial_kind(kinds.JOB, _job_containers),
        *(_trial_kind(k, _replica_containers) for k in (kinds.PYTORCHJOB, kinds.TFJOB, kinds.MPIJOB, kinds.XGBOOSTJOB)),
        _trial_kind(kinds.JOBSET, _replica_containers),
        _trial_kind(kinds.TRAINJOB, _trainer_container),
    ]
)
"""Katib trial kinds kubetune runs, by (apiVersion, kind)."""


# --- the conversion -----------------------------------------------------------------------------


def identifier(name: str) -> str:
    """A Katib parameter name as a kubetune one: ``num-epochs`` -> ``num_epochs``."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return f"_{out}" if not out or out[0].isdigit() else out


def convert(experiment: Any, configmaps: Sequence[Mapping[str, Any]] = ()) -> Conversion:
    """The HPOTask of a Katib Experiment; ``configmaps`` hold trial templates it refers to."""
    if not isinstance(experiment, Mapping) or experiment.get("kind") != "Experiment":
        kind = experiment.get("kind") if isinstance(experiment, Mapping) else type(experiment).__name__
        raise Refused("kind", f"must be a Katib Experiment, got {kind!r}")
    api_version = experiment.get("apiVersion")
    if api_version == "kubeflow.org/v1alpha3":
        # Katib's v1alpha3 API (pkg/apis/controller/experiments/v1alpha3 in Katib before v0.11) writes
        # the trial as a Go template (trialTemplate.goTemplate, with {{.HyperParameters}} loops),
        # which has no one-to-one translation: refuse it, naming what Katib itself migrated.
        raise Refused(
            "apiVersion",
            "kubeflow.org/v1alpha3 is Katib's older API: its trialTemplate.goTemplate (a Go template) does not "
            "convert; rewrite the Experiment as kubeflow.org/v1beta1 (trialTemplate.trialSpec with trialParameters)",
        )
    if api_version != "kubeflow.org/v1beta1":
        raise Refused("apiVersion", f"must be kubeflow.org/v1beta1 (a Katib Experiment), got {api_version!r}")
    check(Experiment, experiment)  # every field read below has the type Katib gives it, or one line says not
    spec = experiment.get("spec")
    if not isinstance(spec, Mapping):
        raise Refused("spec", "is required")
    return _Converter(experiment, spec, configmaps).run()


class _Converter:
    def __init__(self, experiment: Mapping[str, Any], spec: Mapping[str, Any], configmaps: Sequence[Mapping[str, Any]]):
        self.experiment = experiment
        self.spec = spec
        self.configmaps = configmaps
        self.out = Conversion({"apiVersion": names.API_VERSION, "kind": names.TASK_KIND})
        self.param_names: dict[str, str] = {}
        """Katib parameter name -> kubetune parameter name."""
        self.hyperband: dict[str, str] | None = None
        """Hyperband's Katib settings, applied once the parameters are converted."""
        self.resource: str | None = None
        """The kubetune name of hyperband's resource parameter."""
        self.cmaes_sigma: str | None = None
        """Katib's cmaes ``sigma`` setting, applied once the parameters' ranges are known."""

    def run(self) -> Conversion:
        if "nasConfig" in self.spec:
            raise Refused("spec.nasConfig", "neural architecture search has no kubetune equivalent")
        for key in self.spec:
            if key not in _SPEC_FIELDS:
                raise Refused(f"spec.{key}", "is not a Katib v1beta1 Experiment field that kubetune knows")
        self.out.manifest["metadata"] = self._metadata()
        task: dict[str, Any] = {}
        self.out.manifest["spec"] = task
        task["objective"] = self._objective()
        task["algorithm"] = self._algorithm()
        task["parameters"] = self._parameters()
        self._hyperband_bounds(task)
        self._algorithm_space(task)
        self._fix_single_values(task)
        task["budget"] = self._budget()
        if "earlyStopping" in self.spec:
            task["earlyStopping"] = self._early_stopping()
        collector = self._collector()
        if collector:
            task["metricsCollector"] = collector
        task["trialTemplate"] = self._trial_template()
        self._retain(task)
        policy = self.spec.get("resumePolicy") or "Never"
        if policy == "Never":
            # Katib's default (experiment_defaults.go, DefaultResumePolicy): the Experiment cannot restart.
            self.out.note(
                ("spec", "budget", "maxTrials"),
                "spec.resumePolicy",
                f"Never{'' if 'resumePolicy' in self.spec else ' (Katib default)'}: a finished Katib Experiment "
                "cannot be restarted, but a finished HPOTask resumes when maxTrials is raised",
            )
        else:
            self.out.note(
                ("spec", "budget", "maxTrials"),
                "spec.resumePolicy",
                f"{policy} is dropped: a finished HPOTask resumes when maxTrials is raised, and its trials' "
                "state lives in the API server",
            )
        return self.out

    def _retain(self, task: dict[str, Any]) -> None:
        """Katib deletes a finished trial's workload unless trialTemplate.retain is true."""
        template = self.spec.get("trialTemplate")
        retain = template.get("retain") if isinstance(template, Mapping) else None
        if retain is True:
            task["retainWorkloads"] = {"policy": "all"}
            self.out.note(
                ("spec", "retainWorkloads", "policy"),
                "spec.trialTemplate.retain",
                "true: every finished trial keeps its workload and pods, as in Katib",
                changed=False,
            )
        else:
            self.out.note(
                ("spec", "trialTemplate"),
                "spec.trialTemplate.retain",
                "false (Katib default): Katib deletes each finished trial's workload; kubetune's default keeps the "
                "3 best trials' workloads (retainWorkloads.policy best), and deletes the others",
                changed=False,
            )

    # --- metadata and objective ---

    def _metadata(self) -> dict[str, Any]:
        meta = self.experiment.get("metadata")
        if not isinstance(meta, Mapping) or not meta.get("name"):
            raise Refused("metadata.name", "is required")
        out = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if meta.get(k)}
        return out

    def _objective(self) -> dict[str, Any]:
        objective = self.spec.get("objective")
        if not isinstance(objective, Mapping):
            raise Refused("spec.objective", "is required")
        direction = objective.get("type")
        if direction not in ("minimize", "maximize"):
            raise Refused("spec.objective.type", f"must be minimize or maximize, got {direction!r}")
        metric = objective.get("objectiveMetricName")
        if not isinstance(metric, str) or not metric:
            raise Refused("spec.objective.objectiveMetricName", "is required")
        out: dict[str, Any] = {"metric": metric, "direction": direction}
        if objective.get("goal") is not None:
            out["goal"] = _number(objective["goal"], "spec.objective.goal")
        additional = [str(m) for m in objective.get("additionalMetricNames") or []]
        # Katib aggregates every metric by min when minimizing and max when maximizing, unless
        # metricStrategies says otherwise; kubetune's default is the last value.
        default = "min" if direction == "minimize" else "max"
        strategies: dict[str, str] = {}
        for i, item in enumerate(objective.get("metricStrategies") or []):
            where = f"spec.objective.metricStrategies[{i}]"
            value = str(item.get("value", "")) if isinstance(item, Mapping) else ""
            if value not in ("min", "max", "latest"):
                raise Refused(f"{where}.value", f"must be min, max or latest, got {value!r}")
            strategies[str(item.get("name"))] = "last" if value == "latest" else value
        for name in strategies:
            if name != metric and name not in additional:
                raise Refused(
                    "spec.objective.metricStrategies", f"names a metric the objective does not record: {name!r}"
                )
        out["aggregation"] = strategies.get(metric, default)
        if additional:
            out["additionalMetrics"] = additional
            out["metricAggregations"] = {m: strategies.get(m, default) for m in additional}
        defaulted = [m for m in (metric, *additional) if m not in strategies]
        if defaulted:
            self.out.note(
                ("spec", "objective", "aggregation"),
                "spec.objective.type",
                f"Katib's default, written out: a metric without a metricStrategy ({', '.join(defaulted)}) "
                f"is reduced by {default} (kubetune's own default is the last value)",
                changed=False,
            )
        return out

    # --- algorithm ---

    def _algorithm(self) -> dict[str, Any]:
        algorithm = self.spec.get("algorithm")
        if not isinstance(algorithm, Mapping) or not algorithm.get("algorithmName"):
            raise Refused("spec.algorithm.algorithmName", "is required")
        name = str(algorithm["algorithmName"])
        settings: dict[str, str] = {}
        for i, item in enumerate(algorithm.get("algorithmSettings") or []):
            if not isinstance(item, Mapping) or "name" not in item:
                raise Refused(f"spec.algorithm.algorithmSettings[{i}]", "must have a name and a value")
            settings[str(item["name"])] = str(item.get("value", ""))
        rule = _ALGORITHMS.get(name)
        if rule is None:
            why = _UNSUPPORTED_ALGORITHMS.get(name, "is not a Katib algorithm kubetune knows")
            raise Refused("spec.algorithm.algorithmName", f"{name}: {why}")
        out: dict[str, Any] = {"name": rule.name}
        if "random_state" in settings:
            out["seed"] = int(_number(settings.pop("random_state"), "spec.algorithm.algorithmSettings[random_state]"))
        if name == "hyperband":
            self.hyperband = settings  # its settings become the resource parameter's, once parameters exist
            return out
        kubetune_settings: dict[str, Any] = dict(rule.defaults)
        if name == "tpe":
            # hyperopt/base_service.py passes n_startup_jobs = current_request_number, the trials asked
            # for at once: the parallel count on the first call. Only the first batch is random.
            kubetune_settings["nInitialPoints"] = min(max(self._parallel(), 1), 1000)  # tpe's bounds
        if rule.explain:
            at: Path = ("spec", "algorithm", "name")
            self.out.note(at, "spec.algorithm.algorithmName", f"{name}: {rule.explain}", changed=False)
        if rule.differs:
            self.out.note(("spec", "algorithm", "name"), "spec.algorithm.algorithmName", f"{name}: {rule.differs}")
        if name == "cmaes" and "sigma" in settings:
            sigma = settings.pop("sigma")
            # goptuna cmaes/sampler.go takes it only when > 0; else its own default.
            if _number(sigma, "spec.algorithm.algorithmSettings[sigma]") > 0:
                self.cmaes_sigma = sigma
        for key, raw in settings.items():
            where = f"spec.algorithm.algorithmSettings[{key}]"
            if key in rule.settings:
                target, parse = rule.settings[key]
                value = parse(raw, where)
                if value is not None:
                    kubetune_settings[target] = value
            elif key in rule.ignored:
                self.out.note(("spec", "algorithm", "name"), where, f"{raw!r} is dropped: {rule.ignored[key]}")
            elif key in rule.refused:
                raise Refused(where, f"Katib's {name} refuses it too ({rule.refused[key]})")
            else:
                raise Refused(where, f"is not a setting of Katib's {name} that kubetune knows")
        if kubetune_settings:
            out["settings"] = kubetune_settings
        return out

    def _parallel(self) -> int:
        """The Experiment's parallelTrialCount, or Katib's default."""
        parallel = self.spec.get("parallelTrialCount")
        return KATIB_PARALLEL_TRIALS if parallel is None else int(_number(parallel, "spec.parallelTrialCount"))

    def _hyperband_bounds(self, task: dict[str, Any]) -> None:
        settings = self.hyperband
        if settings is None:
            return
        for key in settings:
            if key not in ("resource_name", "r_l", "eta"):
                raise Refused(f"spec.algorithm.algorithmSettings[{key}]", "is not a hyperband setting kubetune knows")
        where = "spec.algorithm.algorithmSettings"
        if "resource_name" not in settings or "r_l" not in settings:
            raise Refused(where, "hyperband needs r_l and resource_name")
        katib_name = settings["resource_name"]
        name = self.param_names.get(katib_name)
        if name is None:
            raise Refused(f"{where}[resource_name]", f"names no parameter: {katib_name!r}")
        r_l = _number(settings["r_l"], f"{where}[r_l]")
        eta = int(_number(settings.get("eta", "3"), f"{where}[eta]"))
        eta = eta if eta > 0 else 3
        if r_l < 1:
            raise Refused(f"{where}[r_l]", f"must be at least 1, got {r_l:g}")
        if not 2 <= eta <= 10:
            raise Refused(f"{where}[eta]", f"kubetune's hyperband takes eta from 2 to 10, got {eta}")
        # Katib's s_max = floor(log_eta(r_l)); the smallest budget is r_l * eta^-s_max.
        s_max = int(math.log(r_l) / math.log(eta) + 1e-9)
        if s_max == 0:
            raise Refused(
                f"{where}[r_l]", f"must be at least eta ({eta}): with r_l={r_l:g} every trial gets one budget"
            )
        smallest = _tidy(r_l * eta**-s_max)
        index = next(i for i, p in enumerate(task["parameters"]) if p["name"] == name)
        parameter = task["parameters"][index]
        if parameter.get("type") not in ("int", "double") or "distribution" in parameter:
            raise Refused(f"{where}[resource_name]", f"must name an int or double parameter, {katib_name!r} is not one")
        task["algorithm"]["settings"] = {"resourceParameter": name, "eta": eta}
        self.resource = name
        was = f"{parameter.get('min')}..{parameter.get('max')}"
        if parameter.get("type") == "int":
            parameter["min"], parameter["max"] = max(1, math.floor(smallest)), int(r_l)
        else:
            parameter["min"], parameter["max"] = smallest, r_l
        parameter.pop("step", None)
        self.out.note(
            ("spec", "parameters", index, "min"),
            f"{where}[r_l]",
            f"Katib's hyperband gives trials budgets from r_l * eta^-s_max to r_l (r_l={r_l:g}, eta={eta}), "
            f"whatever the feasibleSpace ({was}); kubetune reads them from the resource parameter's bounds",
            changed=False,
        )
        katib_total = _hyperband_trials(s_max, eta, math.ceil)
        kubetune_total = _hyperband_trials(s_max, eta, math.floor)
        self.out.note(
            ("spec", "algorithm", "settings"),
            "spec.algorithm.algorithmName",
            f"hyperband: Katib (pkg/suggestion/v1beta1/hyperband/service.py) promotes ceil(n_i / eta) trials "
            f"to each next rung and runs one bracket after another; kubetune promotes floor(n / eta^i) and starts "
            f"the next bracket while one waits: {kubetune_total} trials in all where Katib runs {katib_total} "
            f"(r_l={r_l:g}, eta={eta})",
        )

    def _algorithm_space(self, task: dict[str, Any]) -> None:
        """Each Katib algorithm reads a parameter's range its own way: write the range it searches."""
        name = str(self.spec["algorithm"]["algorithmName"])
        for i, parameter in enumerate(task["parameters"]):
            if parameter.get("type") not in ("int", "double") or parameter.get("min") == parameter.get("max"):
                continue
            where = f"spec.parameters[{i}].feasibleSpace"
            if name == "bayesianoptimization":
                self._skopt_range(i, parameter, where)
            elif name in ("cmaes", "sobol"):
                self._goptuna_range(i, parameter, where, name)
            elif name in ("multivariate-tpe", "grid") and parameter.get("distribution"):
                self.out.note(
                    ("spec", "parameters", i, "distribution"),
                    f"{where}.distribution",
                    f"Katib's {name} (Optuna, {_OPTUNA}) refuses {parameter['distribution']} and fails the "
                    "Experiment; kubetune draws from it",
                )
        if name == "cmaes":
            self._cmaes_sigma(task)

    def _skopt_range(self, i: int, parameter: dict[str, Any], where: str) -> None:
        """skopt/base_service.py: a double is Real(min, max, "log-uniform"), an int Integer(min, max):
        Katib's distribution and step are ignored."""
        dropped = [k for k in ("step", "distribution") if k in parameter]
        was_log = parameter.get("scale") == "log"
        for key in ("step", "scale", "distribution", "mean", "sigma"):
            parameter.pop(key, None)
        at: Path = ("spec", "parameters", i, "min")
        if parameter["type"] == "double" and parameter["min"] > 0:
            parameter["scale"] = "log"
            at = ("spec", "parameters", i, "scale")
            what = "every double is searched log-uniform"
            if was_log and not dropped:
                self.out.note(at, where, f"Katib's bayesianoptimization ({_SKOPT}): {what}", changed=False)
                return
        elif parameter["type"] == "double":
            self.out.note(
                at,
                where,
                f"Katib's bayesianoptimization ({_SKOPT}) searches every double log-uniform, which fails for a "
                "range that holds 0 or less (the Experiment fails in Katib); kubetune searches it linearly",
            )
            return
        else:
            what = "an int is searched uniformly"
            if not dropped and not was_log:
                return
        lost = f", its {' and '.join(dropped)} ignored" if dropped else ""
        scale = ", its logUniform ignored" if was_log and parameter["type"] == "int" else ""
        self.out.note(at, where, f"Katib's bayesianoptimization ({_SKOPT}): {what}{lost}{scale}; written so")

    def _goptuna_range(self, i: int, parameter: dict[str, Any], where: str, name: str) -> None:
        """goptuna/converter.go: a double or int is a uniform range (with its step); the distribution
        (logUniform, normal, logNormal) is never read."""
        distribution = "logUniform" if parameter.get("scale") == "log" else parameter.get("distribution")
        if distribution is None:
            return
        for key in ("scale", "distribution", "mean", "sigma"):
            parameter.pop(key, None)
        self.out.note(
            ("spec", "parameters", i, "min"),
            f"{where}.distribution",
            f"{distribution} is ignored by Katib's {name} ({_GOPTUNA} makes every range uniform): written as a "
            "linear range, as Katib searches it",
        )

    def _cmaes_sigma(self, task: dict[str, Any]) -> None:
        """goptuna cmaes/sampler.go: sigma0 is absolute, min over the parameters of (max - min) / 6,
        or the ``sigma`` setting; kubetune's sigma0 is a fraction of every range (one number)."""
        widths = [
            float(p["max"]) - float(p["min"])
            for p in task["parameters"]
            if p.get("type") in ("int", "double") and "min" in p and p["max"] != p["min"]
        ]
        if not widths:
            return
        narrowest = min(widths)
        where = "spec.algorithm.algorithmSettings[sigma]"
        if self.cmaes_sigma is None:
            absolute, told = narrowest / 6, "unset: goptuna's sigma0 is min over the parameters of (max - min) / 6"
        else:
            absolute, told = _number(self.cmaes_sigma, where), f"{self.cmaes_sigma}: an absolute step"
        fraction = _tidy(min(max(absolute / narrowest, 1e-6), 1.0))
        task["algorithm"].setdefault("settings", {})["sigma0"] = fraction
        same = all(math.isclose(w, narrowest) for w in widths)
        if same:
            self.out.note(
                ("spec", "algorithm", "settings", "sigma0"),
                where,
                f"{told}; every range has the same width, so kubetune's sigma0 (a fraction of each range) is "
                f"{fraction:g}, the same step",
                changed=False,
            )
        else:
            self.out.note(
                ("spec", "algorithm", "settings", "sigma0"),
                where,
                f"{told}; kubetune's sigma0 is a fraction of each range: {fraction:g} is Katib's step on the "
                "narrowest parameter, and larger than Katib's, relative to the range, on the wider ones",
            )

    def _fix_single_values(self, task: dict[str, Any]) -> None:
        """A range whose min equals its max has one value: kubetune writes that as a fixed value."""
        for i, parameter in enumerate(task["parameters"]):
            if parameter["name"] != self.resource and "min" in parameter and parameter["min"] == parameter.get("max"):
                value = parameter["min"]
                for key in ("min", "max", "step", "scale", "distribution", "mean", "sigma"):
                    parameter.pop(key, None)
                parameter["value"] = value
                self.out.note(
                    ("spec", "parameters", i, "value"),
                    f"spec.parameters[{i}].feasibleSpace",
                    "min equals max: kubetune writes a one-value range as a fixed value",
                    changed=False,
                )

    # --- parameters ---

    def _parameters(self) -> list[dict[str, Any]]:
        parameters = self.spec.get("parameters")
        if not isinstance(parameters, list) or not parameters:
            raise Refused("spec.parameters", "must list at least one parameter")
        out = []
        for i, item in enumerate(parameters):
            out.append(self._parameter(i, item))
        seen: dict[str, str] = {}
        for katib, name in self.param_names.items():
            if name in seen:
                raise Refused("spec.parameters", f"{seen[name]!r} and {katib!r} both become the identifier {name!r}")
            seen[name] = katib
        return out

    def _parameter(self, i: int, item: Any) -> dict[str, Any]:
        where = f"spec.parameters[{i}]"
        if not isinstance(item, Mapping) or not item.get("name"):
            raise Refused(f"{where}.name", "is required")
        katib_name = str(item["name"])
        name = identifier(katib_name)
        self.param_names[katib_name] = name
        out: dict[str, Any] = {"name": name}
        if name != katib_name:
            self.out.note(
                ("spec", "parameters", i, "name"),
                f"{where}.name",
                f"{katib_name!r} becomes {name!r}: kubetune's parameter names are identifiers "
                f"(${{params.{name}}}, {names.ENV_PREFIX}{name.upper()})",
            )
        kind = item.get("parameterType")
        space = item.get("feasibleSpace") or {}
        if not isinstance(space, Mapping):
            raise Refused(f"{where}.feasibleSpace", "must be a mapping")
        if kind in ("categorical", "discrete"):
            values = space.get("list")
            if not isinstance(values, list) or not values:
                raise Refused(f"{where}.feasibleSpace.list", "is required")
            out["type"] = "categorical"
            if kind == "discrete":
                out["values"] = [_number(v, f"{where}.feasibleSpace.list") for v in values]
                self.out.note(
                    ("spec", "parameters", i, "type"),
                    f"{where}.parameterType",
                    "discrete becomes categorical: the same values, searched as unordered choices",
                )
            else:
                out["values"] = [str(v) for v in values]
            return out
        if kind not in ("double", "int"):
            raise Refused(f"{where}.parameterType", f"must be double, int, discrete or categorical, got {kind!r}")
        out["type"] = kind
        bounds = {k: _number(space[k], f"{where}.feasibleSpace.{k}") for k in ("min", "max", "step") if k in space}
        for key in ("min", "max"):
            if key not in bounds:
                raise Refused(f"{where}.feasibleSpace.{key}", f"is required for a {kind} parameter")
        if kind == "int":
            bounds = {k: int(v) if float(v).is_integer() else v for k, v in bounds.items()}
        low, high = bounds["min"], bounds["max"]
        if high < low:
            raise Refused(f"{where}.feasibleSpace.max", f"must be at least min ({low:g}), got {high:g}")
        distribution = space.get("distribution") or "uniform"
        if distribution in ("normal", "logNormal"):
            self._normal(i, out, distribution, bounds)
        elif distribution == "logUniform":
            out.update(bounds, scale="log")
        elif distribution == "uniform":
            out.update(bounds)
        else:
            raise Refused(f"{where}.feasibleSpace.distribution", f"unknown distribution {distribution!r}")
        return out

    def _normal(self, i: int, out: dict[str, Any], distribution: str, bounds: Mapping[str, int | float]) -> None:
        """A normal or logNormal range: Katib's hyperopt centres it in the range, 99.7% of it inside."""
        where = f"spec.parameters[{i}]"
        low, high = bounds["min"], bounds["max"]
        if distribution == "logNormal":
            if low <= 0:
                raise Refused(f"{where}.feasibleSpace.min", "must be > 0 for the logNormal distribution")
            a, b = math.log(low), math.log(high)
        else:
            a, b = low, high
        out.update(distribution=distribution, mean=_tidy((a + b) / 2), sigma=_tidy((b - a) / 6), **bounds)
        if self.spec["algorithm"]["algorithmName"] in _IGNORE_DISTRIBUTION:
            return  # written as the range the algorithm searches, with its own note (_algorithm_space)
        self.out.note(
            ("spec", "parameters", i, "distribution"),
            f"{where}.feasibleSpace.distribution",
            f"{distribution}: mean and sigma as Katib's hyperopt (tpe, random) derives them from min and max; "
            "kubetune draws no value beyond min or max (the distribution truncated to them), Katib's may "
            "fall outside",
        )

    # --- budget and early stopping ---

    def _budget(self) -> dict[str, Any]:
        budget: dict[str, Any] = {}
        at: Path = ("spec", "budget")
        if "maxTrialCount" in self.spec:
            budget["maxTrials"] = int(_number(self.spec["maxTrialCount"], "spec.maxTrialCount"))
        else:
            budget["maxTrials"] = MAX_TRIALS_UNLIMITED
            self.out.note(
                (*at, "maxTrials"),
                "spec.maxTrialCount",
                f"unset (no limit in Katib): {MAX_TRIALS_UNLIMITED} is kubetune's largest trial count",
            )
        parallel = self.spec.get("parallelTrialCount")
        if parallel is not None:
            budget["parallelTrials"] = int(_number(parallel, "spec.parallelTrialCount"))
        else:
            budget["parallelTrials"] = KATIB_PARALLEL_TRIALS
            self.out.note(
                (*at, "parallelTrials"),
                "spec.parallelTrialCount",
                f"unset: Katib's default is {KATIB_PARALLEL_TRIALS} (kubetune's is 1)",
                changed=False,
            )
        if "maxFailedTrialCount" in self.spec:
            failed = int(_number(self.spec["maxFailedTrialCount"], "spec.maxFailedTrialCount"))
            # Katib fails when failed >= N and at least one failed; kubetune when failed > maxFailedTrials.
            budget["maxFailedTrials"] = max(failed - 1, 0)
            self.out.note(
                (*at, "maxFailedTrials"),
                "spec.maxFailedTrialCount",
                f"{failed}: Katib fails the Experiment once {max(failed, 1)} trial{'s have' if failed > 1 else ' has'} "
                "failed, kubetune once more than maxFailedTrials have",
                changed=False,
            )
        return budget

    def _early_stopping(self) -> dict[str, Any]:
        early = self.spec["earlyStopping"]
        where = "spec.earlyStopping"
        if not isinstance(early, Mapping) or early.get("algorithmName") != "medianstop":
            name = early.get("algorithmName") if isinstance(early, Mapping) else early
            raise Refused(
                f"{where}.algorithmName", f"kubetune's early stopping rule is median (medianstop), got {name!r}"
            )
        settings = {
            str(s.get("name")): s.get("value") for s in early.get("algorithmSettings") or [] if isinstance(s, Mapping)
        }
        out: dict[str, Any] = {
            "rule": "katibMedian",
            "minTrials": KATIB_MEDIAN_MIN_TRIALS,
            "startStep": KATIB_MEDIAN_START_STEP,
        }
        for key, value in settings.items():
            at = f"{where}.algorithmSettings[{key}]"
            if key == "min_trials_required":
                out["minTrials"] = int(_number(value, at))
            elif key == "start_step":
                out["startStep"] = int(_number(value, at))
            else:
                raise Refused(at, "is not a medianstop setting kubetune knows")
        self.out.note(
            ("spec", "earlyStopping", "rule"),
            f"{where}.algorithmName",
            "medianstop is kubetune's katibMedian rule, read in pkg/earlystopping/v1beta1/medianstop/service.py "
            "and Katib's metrics collector: a trial is judged once on its first start_step reports, against the "
            "mean of the succeeded trials' averages over theirs; those trials are the ones done when the trial "
            "started (Katib: when it was created), and a stop comes at the operator's next step, not at the report",
            changed=False,
        )
        missing = [k for k in ("min_trials_required", "start_step") if k not in settings]
        if missing:
            self.out.note(
                ("spec", "earlyStopping", "rule"),
                f"{where}.algorithmSettings",
                f"Katib's medianstop defaults written out: min_trials_required {KATIB_MEDIAN_MIN_TRIALS}, "
                f"start_step {KATIB_MEDIAN_START_STEP}",
                changed=False,
            )
        return out

    # --- metrics collector ---

    def _collector(self) -> dict[str, Any]:
        collector_spec = self.spec.get("metricsCollectorSpec") or {}
        collector = collector_spec.get("collector") or {}
        kind = collector.get("kind", "StdOut")
        where = "spec.metricsCollectorSpec.collector.kind"
        if kind == "Push":
            return self._push(where)
        if kind not in ("StdOut", "File", "TensorFlowEvent"):
            raise Refused(where, _UNSUPPORTED_COLLECTORS.get(kind, f"{kind} has no kubetune equivalent"))
        source = collector_spec.get("source") or {}
        out: dict[str, Any] = {}
        if kind == "TensorFlowEvent":
            return self._event_files(source)
        if kind == "File":
            out = self._file_source(source)
            if out.get("format") == MetricsFormat.JSON.value:
                return out
        metrics = [self.out.manifest["spec"]["objective"]["metric"]]
        metrics += self.out.manifest["spec"]["objective"].get("additionalMetrics", [])
        formats = (source.get("filter") or {}).get("metricsFormat") or []
        if not formats:
            return self._default_filter(out, metrics)
        patterns = []
        for i, text in enumerate(formats):
            for metric in metrics:
                patterns.append({"metric": metric, "regex": _per_metric(text, metric, f"{where}[{i}]")})
        return {**out, "format": MetricsFormat.REGEX.value, "patterns": patterns}

    def _default_filter(self, out: dict[str, Any], metrics: Sequence[str]) -> dict[str, Any]:
        """Katib's default filter, which reads ``name=value`` and nothing else: kubetune's keyValue format
        also reads ``name: value``, so a Keras line (``loss: 0.29 - accuracy: 0.91``) would give values
        that Katib never records."""
        unreadable = [m for m in metrics if not _KATIB_NAME.fullmatch(m)]
        if unreadable:
            # Katib never records such a metric from text; the keyValue format is left for validate to judge.
            self.out.note(
                ("spec", "objective", "metric"),
                "spec.metricsCollectorSpec.source.filter",
                f"unset: Katib's default filter ({KATIB_DEFAULT_FILTER}) never reads a metric named "
                f"{', '.join(map(repr, unreadable))}; kubetune's keyValue format is written instead",
            )
            return out
        patterns = [{"metric": m, "regex": _per_metric(KATIB_DEFAULT_FILTER, m, "filter")} for m in metrics]
        self.out.note(
            ("spec", "metricsCollector", "patterns"),
            "spec.metricsCollectorSpec.source.filter",
            f"unset: Katib's default filter, {KATIB_DEFAULT_FILTER} (pkg/metricscollector/v1beta1/common/const.go), "
            "written per metric: it reads name=value only, not the name: value that kubetune's keyValue "
            "format also reads",
            changed=False,
        )
        return {**out, "format": MetricsFormat.REGEX.value, "patterns": patterns}

    def _push(self, where: str) -> dict[str, Any]:
        """Katib's Push collector (``katib.report_metrics``, what its Python SDK writes): ``kubetune.report``."""
        self.out.note(
            ("spec", "metricsCollector", "source"),
            where,
            "Push: kubetune has no metrics service to push to; in the trainer, replace "
            "kubeflow.katib.report_metrics({...}) with kubetune.report(**{...}) (pip install kubetune in the image): "
            "it prints a line that every metrics collector reads",
        )
        return {"source": "logs"}

    def _event_files(self, source: Mapping[str, Any]) -> dict[str, Any]:
        """Katib's TensorFlowEvent collector: a followed directory of event files."""
        where = "spec.metricsCollectorSpec.source.fileSystemPath"
        file_path = source.get("fileSystemPath") or {}
        path = file_path.get("path") if isinstance(file_path, Mapping) else None
        if path is None:
            path = KATIB_TFEVENT_DIR
            self.out.note(
                ("spec", "metricsCollector", "path"),
                f"{where}.path",
                f"unset: Katib's default, {KATIB_TFEVENT_DIR} (common_types.go, DefaultTensorflowEventDirPath)",
                changed=False,
            )
        if not isinstance(path, str) or not path.startswith("/") or path.rstrip("/") == "":
            raise Refused(f"{where}.path", "the TensorFlowEvent collector needs the absolute path of a directory")
        self.out.note(
            ("spec", "metricsCollector", "format"),
            f"{where}.path",
            "kubetune names each scalar by its tag, after the subdirectory of the path its event file is in "
            "(test/accuracy); Katib also takes a tag that starts with the metric's name, in any subdirectory",
        )
        return {"source": "file", "path": path.rstrip("/"), "format": MetricsFormat.TFEVENT.value, "follow": True}

    def _file_source(self, source: Mapping[str, Any]) -> dict[str, Any]:
        """Katib's File collector as kubetune's file source (the file is read when the trainer ends)."""
        where = "spec.metricsCollectorSpec.source.fileSystemPath"
        file_path = source.get("fileSystemPath") or {}
        path = file_path.get("path") if isinstance(file_path, Mapping) else None
        if path is None:
            path = KATIB_METRICS_FILE
            self.out.note(
                ("spec", "metricsCollector", "path"),
                f"{where}.path",
                f"unset: Katib's default, {KATIB_METRICS_FILE} (common_types.go, DefaultFilePath)",
                changed=False,
            )
        if not isinstance(path, str) or not path.startswith("/"):
            raise Refused(f"{where}.path", "the File collector needs an absolute file path")
        out: dict[str, Any] = {"source": "file", "path": path}
        if "earlyStopping" in self.spec:
            # The median rule needs values while trials run: follow the file as Katib's sidecar does.
            out["follow"] = True
            self.out.note(
                ("spec", "metricsCollector", "follow"),
                "spec.earlyStopping",
                "needs the metrics while the trial runs: a sidecar follows the file, as Katib's does "
                "(Kubernetes 1.29+)",
                changed=False,
            )
        else:
            self.out.note(
                ("spec", "metricsCollector", "path"),
                f"{where}.path",
                "is read when the primary container ends (its termination message, at most 4096 bytes), not "
                "while it runs as Katib's sidecar does: write the final values there, or set follow: true "
                "(a sidecar, Kubernetes 1.29+)",
            )
        if file_path.get("format") == "JSON":
            out["format"] = MetricsFormat.JSON.value
        return out

    # --- trial template ---

    def _trial_template(self) -> dict[str, Any]:
        template = self.spec.get("trialTemplate")
        where = "spec.trialTemplate"
        if not isinstance(template, Mapping):
            raise Refused(where, "is required")
        trial_spec = template.get("trialSpec")
        if trial_spec is None and "configMap" in template:
            trial_spec = self._from_configmap(template["configMap"])
            spec_where = f"{where}.configMap"
        else:
            spec_where = f"{where}.trialSpec"
        if not isinstance(trial_spec, Mapping):
            raise Refused(f"{where}.trialSpec", "is required (or configMap)")
        if spec_where != f"{where}.trialSpec":  # the Experiment's own trialSpec was checked with it
            check(TrialSpec, trial_spec, spec_where)
        api_version, kind = str(trial_spec.get("apiVersion")), str(trial_spec.get("kind"))
        trial_kind = TRIAL_KINDS.get((api_version, kind))
        custom: dict[str, Any] = {}
        if trial_kind is None:
            if "/" not in api_version or not kind:
                raise Refused(f"{spec_where}.apiVersion", "and kind are required: the trial's kind")
            custom = self._custom_kind(template, kind, api_version)
            trial_kind = TrialKind(_controller_containers, _job_spec, ("", ""))
        check_containers(trial_spec, trial_kind.containers(trial_spec), spec_where)
        if template.get("trialParameters") is None:
            # validator.go (pkg/webhook/v1beta1/experiment/validator) refuses this before anything else.
            raise Refused(f"{where}.trialParameters", "is required (Katib's admission webhook refuses it missing too)")
        references = self._references(template.get("trialParameters") or [], trial_spec)
        self._check_used(template.get("trialParameters") or [], trial_spec)
        rendered = _Placeholders(references, spec_where, trial_kind.containers(trial_spec)).render(trial_spec)
        downward = sorted(name for name, r in references.items() if r.downward is not None)
        if downward:
            self.out.note(
                ("spec", "trialTemplate", "spec"),
                f"{where}.trialParameters",
                f"{', '.join(downward)} come from the downward API (the pod's {names.LABEL_TRIAL} label and "
                f"namespace), which `kubetune run` does not have: there, {names.ENV_TRIAL_NAME} names the trial",
            )
        out: dict[str, Any] = {}
        meta = trial_spec.get("metadata") or {}
        kept = {k: dict(meta[k]) for k in ("labels", "annotations") if meta.get(k)}
        if kept:
            out["metadata"] = kept
        if (api_version, kind) != ("batch/v1", "Job"):
            out = {"apiVersion": api_version, "kind": kind, **out}
        out["spec"] = trial_kind.template(rendered)
        if custom:
            out.update(custom)
            if template.get("primaryContainerName"):
                out["primaryContainer"] = template["primaryContainerName"]
            return out
        if template.get("primaryPodLabels"):
            self.out.note(
                ("spec", "trialTemplate", "spec"),
                f"{where}.primaryPodLabels",
                f"is dropped: kubetune knows the {kind}'s primary pod (docs/workloads.md)",
                changed=False,
            )
        if template.get("primaryContainerName"):
            out["primaryContainer"] = template["primaryContainerName"]
        for key, default in zip(("successCondition", "failureCondition"), trial_kind.conditions, strict=True):
            if template.get(key) and template[key] != default:
                self.out.note(
                    ("spec", "trialTemplate", "spec"),
                    f"{where}.{key}",
                    f"{template[key]!r} is dropped: kubetune reads the {kind}'s own outcome",
                )
        return out

    def _custom_kind(self, template: Mapping[str, Any], kind: str, api_version: str) -> dict[str, Any]:
        """A kind kubetune has no built-in knowledge of: Katib's GJSON conditions as CEL, its primary pod labels."""
        where = "spec.trialTemplate"
        out: dict[str, Any] = {}
        for key in ("successCondition", "failureCondition"):
            text = template.get(key)
            if not isinstance(text, str) or not text.strip():
                raise Refused(f"{where}.{key}", f"is required for a {kind}: Katib has no default for the kind")
            try:
                out[key] = gjson.to_cel(text)
            except gjson.Untranslatable as error:
                raise Refused(f"{where}.{key}", str(error)) from None
        labels = template.get("primaryPodLabels")
        if not isinstance(labels, Mapping) or not labels:
            raise Refused(
                f"{where}.primaryPodLabels", f"is required for a {kind}: the labels of the pod whose log holds metrics"
            )
        out["primaryPodLabels"] = {str(k): str(v) for k, v in labels.items()}
        self.out.note(
            ("spec", "trialTemplate", "successCondition"),
            f"{where}.successCondition",
            "Katib's GJSON conditions, written in CEL: each holds when Katib's would find an object or a "
            "non-empty array",
            changed=False,
        )
        group = api_version.rpartition("/")[0]
        self.out.note(
            ("spec", "trialTemplate", "kind"),
            f"{where}.trialSpec.kind",
            f"the operator runs a {kind} once the chart's workloadKinds lists it ({{group: {group}, kind: {kind}, "
            "resource: its plural, podSpecs: where the admission policy finds its pod specs, docs/security.md}), "
            "which also grants it access; kubetune run cannot run it",
            changed=False,
        )
        return out

    def _check_used(self, trial_parameters: Sequence[Any], trial_spec: Mapping[str, Any]) -> None:
        """Katib's webhook refuses a trialParameter that the trial template never uses: so does convert."""
        text = json.dumps(trial_spec)
        for i, item in enumerate(trial_parameters):
            name = str(item.get("name")) if isinstance(item, Mapping) else ""
            if f"${{trialParameters.{name}}}" not in text:
                raise Refused(
                    f"spec.trialTemplate.trialParameters[{i}].name",
                    f"{name}: the trial template never uses ${{trialParameters.{name}}} (Katib refuses this too)",
                )

    def _from_configmap(self, ref: Any) -> Any:
        where = "spec.trialTemplate.configMap"
        if not isinstance(ref, Mapping):
            raise Refused(where, "must be a mapping")
        name, namespace, path = ref.get("configMapName"), ref.get("configMapNamespace"), ref.get("templatePath")
        for cm in self.configmaps:
            meta = cm.get("metadata") or {}
            if meta.get("name") != name or (namespace and meta.get("namespace", namespace) != namespace):
                continue
            data = cm.get("data") or {}
            if not isinstance(data, Mapping) or path not in data:
                raise Refused(f"{where}.templatePath", f"ConfigMap {name} holds no {path!r}")
            if not isinstance(data[path], str):
                raise Refused(f"{where}.templatePath", f"{path} in ConfigMap {name} must be text (YAML)")
            return _template_document(data[path], f"{where}.templatePath", f"{path} in ConfigMap {name}")
        raise Refused(
            where,
            f"the trial template is in ConfigMap {namespace or ''}{'/' if namespace else ''}{name}; "
            "give its manifest with --configmap FILE",
        )

    def _references(self, trial_parameters: Any, trial_spec: Mapping[str, Any]) -> dict[str, _Reference]:
        out: dict[str, _Reference] = {}
        for i, item in enumerate(trial_parameters):
            where = f"spec.trialTemplate.trialParameters[{i}]"
            if not isinstance(item, Mapping) or not item.get("name"):
                raise Refused(f"{where}.name", "is required")
            if not item.get("reference"):
                raise Refused(f"{where}.reference", "is required (Katib's admission webhook refuses it missing too)")
            reference = str(item["reference"])
            if reference in self.param_names:
                out[str(item["name"])] = _Reference(param=self.param_names[reference])
                continue
            meta = _TRIAL_SPEC_META.match(reference)
            if meta is None:
                raise Refused(f"{where}.reference", f"names no parameter: {reference!r}")
            field_name, key = meta[1], meta[2]
            if field_name in _DOWNWARD:
                out[str(item["name"])] = _Reference(downward=_DOWNWARD[field_name])
            elif field_name in ("Kind", "APIVersion"):
                literal = trial_spec.get("kind" if field_name == "Kind" else "apiVersion")
                out[str(item["name"])] = _Reference(literal=str(literal))
            else:
                values = (trial_spec.get("metadata") or {}).get(field_name.lower()) or {}
                if key is None or key not in values:
                    raise Refused(
                        f"{where}.reference", f"{reference}: the trialSpec sets no such {field_name[:-1].lower()}"
                    )
                out[str(item["name"])] = _Reference(literal=str(values[key]))
        return out


@dataclass(frozen=True)
class _Reference:
    """What a Katib trialParameter stands for: a parameter, a downward API field or a fixed text."""

    param: str | None = None
    downward: str | None = None
    literal: str | None = None


class _Placeholders:
    """Replaces ``${trialParameters.NAME}`` in a trialSpec; refuses any it cannot express."""

    def __init__(self, references: Mapping[str, _Reference], where: str, containers: Sequence[Path]) -> None:
        self.references = references
        self.where = where
        self.containers = containers

    def render(self, trial_spec: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = _walk(trial_spec, (), self._text)
        for path in self.containers:
            parent: Any = out
            for part in path[:-1]:
                parent = parent[part]
            if isinstance(parent[path[-1]], dict):
                parent[path[-1]] = self._container(parent[path[-1]], path)
        return out

    def _reference(self, name: str, loc: Path) -> _Reference:
        if name not in self.references:
            raise Refused(f"{self.where}.{_dotted(loc)}", f"${{trialParameters.{name}}} names no trialParameter")
        return self.references[name]

    def _text(self, text: str, loc: Path) -> str:
        """Outside a container's command, args and env: only fixed texts can be written in."""

        def literal(match: re.Match[str]) -> str:
            reference = self._reference(match[1], loc)
            if reference.literal is None:
                raise Refused(
                    f"{self.where}.{_dotted(loc)}",
                    f"{match[0]}: kubetune replaces parameters only in a container's command, args and env values",
                )
            return reference.literal

        for container in self.containers:
            n = len(container)
            if len(loc) > n and loc[:n] == container and loc[n] in ("command", "args", "env"):
                return text  # done per container, where the downward API can be used
        return _TRIAL_PARAMETER.sub(literal, text)

    def _container(self, container: dict[str, Any], loc: Path) -> dict[str, Any]:
        downward: dict[str, str] = {}  # environment variable -> field path

        def replace(match: re.Match[str]) -> str:
            reference = self._reference(match[1], loc)
            if reference.param is not None:
                return f"${{params.{reference.param}}}"
            if reference.literal is not None:
                return reference.literal
            assert reference.downward is not None
            variable = "KATIB_" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", identifier(match[1])).upper()
            downward[variable] = reference.downward
            return f"$({variable})"

        out = dict(container)
        for key in ("command", "args"):
            if isinstance(out.get(key), list):
                out[key] = [_TRIAL_PARAMETER.sub(replace, str(v)) for v in out[key]]
        env = []
        for item in out.get("env") or []:
            value = item.get("value") if isinstance(item, Mapping) else None
            whole = _TRIAL_PARAMETER.fullmatch(value) if isinstance(value, str) else None
            reference = self._reference(whole[1], (*loc, "env")) if whole else None
            if reference is not None and reference.downward is not None:
                env.append({"name": item["name"], "valueFrom": {"fieldRef": {"fieldPath": reference.downward}}})
            elif isinstance(value, str):
                env.append({**item, "value": _TRIAL_PARAMETER.sub(replace, value)})
            else:
                env.append(item)
        # Variables referred to as $(NAME) must come first: Kubernetes expands only earlier ones.
        first = [{"name": v, "valueFrom": {"fieldRef": {"fieldPath": p}}} for v, p in downward.items()]
        if first or env:
            out["env"] = first + env
        return out


def _template_document(text: str, where: str, what: str) -> Any:
    """The one YAML document of a ConfigMap's trial template, read as kubectl reads a manifest: within
    the same limits on size, nesting and aliases (the text comes from a file the user was given)."""
    try:
        documents = kubeyaml.load_documents(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise Refused(where, f"{what} is not valid YAML{at}: {problem}") from None
    if len(documents) != 1:
        raise Refused(where, f"{what} must hold one YAML document, holds {len(documents)}")
    return documents[0].obj


def _walk(node: Any, loc: Path, text: Callable[[str, Path], str]) -> Any:
    if isinstance(node, str):
        return text(node, loc)
    if isinstance(node, Mapping):
        return {k: _walk(v, (*loc, str(k)), text) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, (*loc, i), text) for i, v in enumerate(node)]
    return node


def _dotted(loc: Path) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _hyperband_trials(s_max: int, eta: int, rounding: Callable[[float], int]) -> int:
    """Trials in all of hyperband's brackets when each rung keeps ``rounding(previous / eta)``:
    ceil is Katib's rule (hyperband/service.py, _make_child_bracket), floor of n / eta^i kubetune's."""
    total = 0
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) * eta**s / (s + 1))
        size = n
        for i in range(s + 1):
            total += size if rounding is math.ceil else n // eta**i
            size = math.ceil(math.ceil(n * eta**-i) / eta)
    return total


def _tidy(value: float) -> float:
    """Twelve significant digits: (0.01 + 0.05) / 2 is 0.030000000000000002, noise to a reader."""
    return float(f"{value:.12g}")


def _number(value: Any, where: str) -> int | float:
    """A Katib number (written as a string) as an int when written as one, else a float."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Refused(where, f"must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise Refused(where, f"must be a finite number, got {value!r}")
    return int(number) if number.is_integer() and "." not in str(value) and "e" not in str(value).lower() else number


def _groups(regex: str) -> Iterator[tuple[int, int, int]]:
    """(start, end, depth) of each capturing group of ``regex``, in order of their opening."""
    stack: list[tuple[int, bool]] = []
    i, in_class = 0, False
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if regex[i + 1 : i + 2] == "]":
                i += 1
        elif char == "(":
            stack.append((i, regex[i + 1 : i + 2] != "?"))
        elif char == ")" and stack:
            start, capturing = stack.pop()
            if capturing:
                yield start, i + 1, len(stack)
        i += 1


def _per_metric(regex: str, metric: str, where: str) -> str:
    """Katib's two-group filter (name, value) as one kubetune pattern for ``metric``: the name group
    becomes the literal name, the value group the one capture group."""
    try:
        re.compile(regex)
    except re.error as error:
        raise Refused(where, f"is not a valid regular expression: {error}") from None
    outer = sorted((s, e) for s, e, depth in _groups(regex) if depth == 0)
    if len(outer) != 2:
        raise Refused(where, f"must have two top-level groups (the metric's name and value), has {len(outer)}")
    (name_start, name_end), (value_start, value_end) = outer
    value = regex[value_start + 1 : value_end - 1]
    inner = sorted((s for s, _, _ in _groups(value)), reverse=True)
    for start in inner:
        value = f"{value[:start]}(?:{value[start + 1 :]}"
    # Katib matches the filter leftmost-first and then compares the name, so a name group of one
    # character class takes the whole word: `val_loss=1` is never `loss`. The literal name needs the
    # same left edge (RE2 has no lookbehind: the character before it is matched instead).
    word = _WORD_GROUP.fullmatch(regex[name_start + 1 : name_end - 1])
    edge = f"(?:^|[^{word[1] or word[2]}])" if word and name_start == 0 else ""
    body = f"{regex[:name_start]}(?:{re.escape(metric)}){regex[name_end:value_start]}({value}){regex[value_end:]}"
    return edge + body


_WORD_GROUP = re.compile(r"\[([^\]\[^][^\]\[]*)\]\+|(\\w)\+")
r"""A name group that is one character class repeated (``[\w|-]+``, ``\w+``): its inside, or ``\w``."""


@dataclass(frozen=True)
class _Algorithm:
    name: str
    settings: Mapping[str, tuple[str, Callable[[str, str], Any]]] = field(default_factory=dict)
    """Katib setting -> (kubetune setting, parse)."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Settings written even when the Experiment leaves them out, because Katib's default differs."""
    ignored: Mapping[str, str] = field(default_factory=dict)
    """Katib settings with no kubetune equivalent, and why that is acceptable."""
    refused: Mapping[str, str] = field(default_factory=dict)
    """Settings Katib's own validation refuses for the algorithm, and where it does."""
    explain: str = ""
    """What the written settings reproduce of Katib's algorithm, read in Katib's source (a comment)."""
    differs: str = ""
    """What still searches differently from Katib (a comment and a line on stderr)."""


def _int(raw: str, where: str) -> int:
    return int(_number(raw, where))


def _acquisition(raw: str, where: str) -> str | None:
    if raw in ("EI", "PI", "LCB", "gp_hedge"):
        return raw
    raise Refused(where, f"kubetune's bayesian takes EI, PI, LCB or gp_hedge, got {raw!r}")


def _estimator(raw: str, where: str) -> None:
    if raw != "GP":
        raise Refused(where, f"kubetune's bayesian is a Gaussian process (GP), got {raw!r}")


_HYPEROPT = "pkg/suggestion/v1beta1/hyperopt"
_OPTUNA = "pkg/suggestion/v1beta1/optuna/base_service.py"
_SKOPT = "pkg/suggestion/v1beta1/skopt/base_service.py"
_GOPTUNA = "pkg/suggestion/v1beta1/goptuna/converter.go"

_IGNORE_DISTRIBUTION = frozenset({"bayesianoptimization", "cmaes", "sobol"})
"""Katib algorithms that never read a parameter's distribution (skopt, goptuna)."""

_ALGORITHMS: Mapping[str, _Algorithm] = {
    "random": _Algorithm(
        "random",
        explain=f"Katib's random is hyperopt's rand.suggest ({_HYPEROPT}/base_service.py): independent draws "
        "from each parameter's distribution, as kubetune's random makes",
    ),
    "grid": _Algorithm(
        "grid",
        defaults={"order": "random"},
        explain=f"Katib's grid is Optuna's GridSampler ({_OPTUNA}), which picks a random unvisited grid point for "
        "each trial; order random visits the grid in a random order fixed by the seed (the same kind of "
        "order, not Optuna's sequence of it)",
    ),
    "sobol": _Algorithm(
        "sobol",
        defaults={"scramble": False},
        explain=f"Katib's sobol is goptuna's ({_GOPTUNA}, goptuna sobol/sampler.go): an unscrambled Sobol' "
        "sequence without a seed; kubetune's is scipy's, unscrambled too",
    ),
    "tpe": _Algorithm(
        "tpe",
        defaults={"multivariate": False},
        ignored={
            "gamma": "kubetune's tpe (Optuna's) splits good from bad trials by its own rule",
            "prior_weight": "Optuna's prior weight is kept at its default (1.0, as hyperopt's)",
            "n_EI_candidates": "Optuna's candidate count is kept at its default (24, as hyperopt's)",
        },
        refused={
            "n_startup_jobs": f"{_HYPEROPT}/service.py: unknown setting; its random start is the parallel count",
            "n_startup_trials": f"{_HYPEROPT}/service.py: unknown setting; its random start is the parallel count",
        },
        explain=f"Katib's tpe is hyperopt's ({_HYPEROPT}/base_service.py): one model per parameter, and "
        "n_startup_jobs is the number of trials asked for at once, the parallel count, so only the first "
        "parallel batch is random",
        differs="kubetune's tpe is Optuna's TPESampler, not hyperopt's: its split of good and bad trials "
        "(gamma) follows Optuna's rule (10% of trials, at most 25) where hyperopt's keeps 25%, and running "
        "trials count as bad ones (constantLiar) where Katib's hyperopt ignores them",
    ),
    "multivariate-tpe": _Algorithm(
        "tpe",
        {"n_startup_trials": ("nInitialPoints", _int)},
        {"multivariate": True, "nInitialPoints": 10},
        {"n_ei_candidates": "Optuna's candidate count is kept at its default"},
        explain=f"Katib's multivariate-tpe is Optuna's TPESampler ({_OPTUNA}) with multivariate and "
        "constant_liar, as kubetune's tpe; Optuna's default n_startup_trials is 10",
    ),
    "cmaes": _Algorithm(
        "cmaes",
        {},
        {},
        {"restart_strategy": "kubetune's cmaes does not restart with a larger population"},
        explain=f"Katib's cmaes is goptuna's ({_GOPTUNA}): no random start (nInitialPoints 0, kubetune's default)",
    ),
    "bayesianoptimization": _Algorithm(
        "bayesian",
        {
            "n_initial_points": ("nInitialPoints", _int),
            "acq_func": ("acquisitionFunction", _acquisition),
            "base_estimator": ("", _estimator),
        },
        {"backend": "skopt", "nInitialPoints": 10},
        {"acq_optimizer": "kubetune optimizes the acquisition its own way"},
        explain=f"Katib's bayesianoptimization is scikit-optimize's Optimizer ({_SKOPT}) with a GP, "
        "n_initial_points 10 and acq_func gp_hedge, as kubetune's bayesian (backend skopt)",
    ),
    "hyperband": _Algorithm("hyperband", {}, {}, {}),
}
"""Katib algorithm -> kubetune's, with how each setting carries over."""

_SPEC_FIELDS = frozenset(
    {
        "objective",
        "algorithm",
        "parameters",
        "parallelTrialCount",
        "maxTrialCount",
        "maxFailedTrialCount",
        "metricsCollectorSpec",
        "trialTemplate",
        "earlyStopping",
        "resumePolicy",
        "nasConfig",
    }
)

_UNSUPPORTED_ALGORITHMS = {
    "pbt": "population-based training has no kubetune equivalent",
    "enas": "neural architecture search has no kubetune equivalent",
    "darts": "neural architecture search has no kubetune equivalent",
}

_UNSUPPORTED_COLLECTORS = {
    "PrometheusMetric": "PrometheusMetric: kubetune does not scrape trials; print the metrics instead",
    "Custom": "Custom: kubetune runs no collector sidecar; print the metrics instead",
    "None": "None: kubetune needs the metrics; print them",
}
