"""``kubetune.tune``: a Python function as the trial, searched locally or on a cluster.

The function's source is shipped in the task's manifest, as Katib's ``tune()`` ships it: the trial
runs ``python -c LOADER SOURCE`` (the source base64-encoded, so that neither ``${params.X}``
substitution nor Kubernetes' ``$(VAR)`` expansion can touch it, and no shell is involved).
Parameters reach the function from the trial's parameters file, never from its command line.

So the function must be self-contained: it imports what it uses in its body, and reads no variable
of the notebook. In the trial image (on a cluster) there must be Python 3 and whatever the function
imports; kubetune itself only if the function calls ``kubetune.report`` (returning the metrics
needs nothing). A function given as ``"package.module:function"`` is imported instead (and called
with the parameters by name): it must be importable in the image, or locally from the working directory.

Locally, the task is run by the same engine as ``kubetune run``, in the same state directory
(``.kubetune/NAME``), so ``kubetune list``, ``trials NAME``, ``best NAME`` and ``report NAME`` work
afterwards; on a cluster (``namespace=`` or ``image=`` given) an HPOTask is created.
"""

from __future__ import annotations

import base64
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import names
from .api import HPOTask, ParamValue, Trial, parse_task
from .display import PlainReporter, best_document
from .engine import objective_of
from .errors import InvalidSpec, Problem, StateError
from .executors.local import LocalExecutor
from .executors.state import StateDir
from .metrics import aggregate
from .results.source import LocalSource
from .search.domains import Domain, parameters_manifest

LOADER = (
    "import base64,sys;"
    "exec(compile(base64.b64decode(sys.argv[1]).decode('utf-8'),'<kubetune objective>','exec'),{'__name__':'__main__'})"
)
"""The trial's program: decodes and runs the script that follows it as its one argument."""

_MAIN = """

def _kubetune_main():
    import json, os
    with open(os.environ[{params_env!r}], encoding="utf-8") as f:
        params = json.load(f)
    result = {call}
    if result is None:
        return  # the function reported with kubetune.report
    metrics = result if isinstance(result, dict) else {{{metric!r}: result}}
    values = {{str(k): float(v) for k, v in metrics.items()}}
    print({prefix!r} + json.dumps({{"metrics": values}}), flush=True)


_kubetune_main()
"""


def objective_script(objective: Callable[..., Any] | str, parameters: Sequence[str], metric: str) -> str:
    """The Python script a trial runs: the function (its source, or an import), then a call with the parameters."""
    if isinstance(objective, str):
        module, _, function = objective.partition(":")
        if not all(part.isidentifier() for part in module.split(".")) or not function.isidentifier():
            raise InvalidSpec(
                [Problem("objective", f"must be a function or 'package.module:function', got {objective!r}")]
            )
        head, name, takes_dict = (
            f"from {module} import {function} as _kubetune_objective\n",
            "_kubetune_objective",
            False,
        )
    else:
        head, name = _source(objective), objective.__name__
        takes_dict = _takes_dict(objective, parameters)
    call = f"{name}(params)" if takes_dict else f"{name}(**params)"
    main = _MAIN.format(params_env=names.ENV_PARAMS_FILE, call=call, metric=metric, prefix=names.REPORT_PREFIX)
    return head + main


def _source(objective: Callable[..., Any]) -> str:
    name = getattr(objective, "__name__", "")
    if not inspect.isfunction(objective) or name == "<lambda>":
        raise InvalidSpec(
            [Problem("objective", "must be a function defined with def (its source is what the trial runs)")]
        )
    free = objective.__code__.co_freevars
    if free:
        raise InvalidSpec(
            [
                Problem(
                    "objective", f"uses variables of the function around it ({', '.join(free)}); define it at top level"
                )
            ]
        )
    try:
        source = textwrap.dedent(inspect.getsource(objective))
    except (OSError, TypeError) as error:
        raise InvalidSpec([Problem("objective", f"its source cannot be read ({error})")]) from None
    # Annotations stay text: `x: np.ndarray` or `-> Any` need no import in the trial.
    return "from __future__ import annotations\n\n" + source


def _takes_dict(objective: Callable[..., Any], parameters: Sequence[str]) -> bool:
    """Whether the function takes the parameters as one dict (Katib's and Ray Tune's way) rather than by name."""
    listed = inspect.signature(objective).parameters
    given = set(parameters)
    named = {n for n, p in listed.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    required = {n for n in named if listed[n].default is inspect.Parameter.empty}
    any_name = any(p.kind is p.VAR_KEYWORD for p in listed.values())
    if given and (given <= named or any_name) and required <= given:
        return False  # def f(lr, layers=2) or def f(**params)
    one_dict = (len(required) == 1 and not required & given) or (not required and len(named) == 1)
    if one_dict:
        return True  # def f(params), def f(config=None)
    problems = [f"{', '.join(sorted(required - given))} not among the parameters"] if required - given else []
    if not any_name and given - named:
        problems.append(f"no argument for {', '.join(sorted(given - named))}")
    detail = "; ".join(problems)
    raise InvalidSpec(
        [Problem("objective", f"takes neither one dict of parameters nor the parameters by name ({detail})")]
    )


def task_manifest(
    objective: Callable[..., Any] | str,
    parameters: Mapping[str, Domain | ParamValue],
    objective_metric: str,
    direction: str,
    *,
    name: str,
    max_trials: int,
    parallel: int,
    algorithm: str,
    settings: Mapping[str, Any] | None = None,
    seed: int | None = None,
    goal: float | None = None,
    additional_metrics: Sequence[str] = (),
    max_failed: int | None = None,
    trial_timeout: str | None = None,
    image: str | None = None,
    resources: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The HPOTask manifest ``tune`` runs: the same one a user could write, and ``kubetune validate`` checks."""
    script = objective_script(objective, list(parameters), objective_metric)
    container: dict[str, Any] = {
        "name": "trial",
        "image": image or f"python:{sys.version_info.major}.{sys.version_info.minor}-slim",
        "command": ["python", "-c", LOADER, base64.b64encode(script.encode()).decode()],
    }
    if resources:
        container["resources"] = dict(resources)
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    budget: dict[str, Any] = {"maxTrials": max_trials, "parallelTrials": parallel}
    if max_failed is not None:
        budget["maxFailedTrials"] = max_failed
    if trial_timeout is not None:
        budget["trialTimeout"] = trial_timeout
    objective_spec: dict[str, Any] = {"metric": objective_metric, "direction": direction}
    if goal is not None:
        objective_spec["goal"] = goal
    if additional_metrics:
        objective_spec["additionalMetrics"] = list(additional_metrics)
    algorithm_spec: dict[str, Any] = {"name": algorithm}
    if seed is not None:
        algorithm_spec["seed"] = seed
    if settings:
        algorithm_spec["settings"] = dict(settings)
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.TASK_KIND,
        "metadata": {"name": name},
        "spec": {
            "objective": objective_spec,
            "algorithm": algorithm_spec,
            "parameters": parameters_manifest(parameters),
            "budget": budget,
            "trialTemplate": {
                "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}
            },
        },
    }


def task_name(objective: Callable[..., Any] | str) -> str:
    """A task name from the function's name: ``train_mnist`` -> ``train-mnist``."""
    raw = objective.rpartition(":")[2] if isinstance(objective, str) else getattr(objective, "__name__", "objective")
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")[:50]
    return name or "objective"


class _Quiet:
    """A reporter that says nothing (``tune(..., verbose=False)``)."""

    def event(self, event: object) -> None:
        """Say nothing."""

    def progress(self, status: object, trials: object) -> None:
        """Say nothing."""


@dataclass
class TuneResult:
    """What ``tune`` started: its task, best trial and trials, read again at each access."""

    name: str
    namespace: str | None = None
    """The task's namespace on a cluster; None for a local task."""
    state_dir: Path | None = None
    """The local task's state directory (``kubetune trials DIR`` reads it); None on a cluster."""
    context: str | None = None

    def _client(self) -> Any:
        from .client import Client  # noqa: PLC0415 - the kubernetes client loads only for cluster tasks

        return Client(self.namespace, context=self.context)

    @property
    def task(self) -> HPOTask:
        """The HPOTask, with its current status."""
        if self.state_dir is not None:
            return LocalSource(StateDir(self.state_dir)).load_task()
        task: HPOTask = self._client().get(self.name)
        return task

    def trial_objects(self) -> list[Trial]:
        """The Trial objects, in index order."""
        if self.state_dir is not None:
            return LocalSource(StateDir(self.state_dir)).load_trials()
        trials: list[Trial] = self._client().trials(self.name)
        return trials

    @property
    def best(self) -> dict[str, Any] | None:
        """The best trial (name, objective, parameters, metrics) as ``kubetune best`` prints it; None before any."""
        return best_document(self.task.status)

    @property
    def best_parameters(self) -> dict[str, ParamValue] | None:
        """The best trial's parameters (None before any trial succeeded)."""
        best = self.best
        return None if best is None or "parameters" not in best else dict(best["parameters"])

    @property
    def trials(self) -> Any:
        """One row per trial (trial, index, phase, objective, ``params_NAME``, ``metrics_NAME``): a pandas
        DataFrame when pandas is installed, else a list of dicts."""
        rows = trial_records(self.task, self.trial_objects())
        try:
            import pandas  # noqa: PLC0415 - optional
        except ImportError:
            return rows
        return pandas.DataFrame(rows)

    def wait(self, timeout: float | None = None) -> TuneResult:
        """Wait until the task has finished (a local task already has); return this result."""
        if self.state_dir is None:
            self._client().wait(self.name, timeout=timeout)
        return self


def trial_records(task: HPOTask, trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """The trials as flat records: the columns of ``TuneResult.trials``."""
    rows = []
    for trial in trials:
        status = trial.status
        series = {s.name: s for s in status.metrics} if status is not None else {}
        row: dict[str, Any] = {
            "trial": trial.metadata.name,
            "index": trial.spec.index,
            "phase": str(status.phase) if status is not None else "Pending",
            "objective": objective_of(task.spec, series) if series else None,
        }
        row.update({f"params_{k}": v for k, v in trial.spec.parameters.items()})
        row.update(
            {f"metrics_{k}": aggregate(s, task.spec.objective.aggregation_of(k)) for k, s in sorted(series.items())}
        )
        rows.append(row)
    return rows


def tune(
    objective: Callable[..., Any] | str,
    parameters: Mapping[str, Domain | ParamValue],
    objective_metric: str = "objective",
    direction: str = "minimize",
    *,
    name: str | None = None,
    max_trials: int = 10,
    parallel: int = 1,
    algorithm: str = "random",
    settings: Mapping[str, Any] | None = None,
    seed: int | None = None,
    goal: float | None = None,
    additional_metrics: Sequence[str] = (),
    max_failed: int | None = None,
    trial_timeout: str | None = None,
    namespace: str | None = None,
    image: str | None = None,
    context: str | None = None,
    resources: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    workdir: str | Path | None = None,
    restart: bool = False,
    verbose: bool = True,
) -> TuneResult:
    """Search ``parameters`` for the best value of ``objective_metric``, each trial a call of ``objective``.

    ``objective`` takes the parameters by name (``def f(lr, layers)``) or as one dict (``def f(params)``),
    and returns the objective's value, or a dict of metrics, or None after calling ``kubetune.report``.
    ``parameters`` maps names to ``kubetune.search`` domains (``loguniform(1e-4, 1e-1)``) or fixed values.

    Locally (no ``namespace`` nor ``image``) the trials run as processes here, and ``tune`` returns when
    the search is over; run again with the same ``name`` it continues the saved search (``restart``:
    start over, the old state moved aside). With ``namespace`` or ``image`` it creates the HPOTask on
    the cluster of the kubeconfig (``context``) and returns at once: ``.wait()`` waits for the end.
    """
    task_name_ = name or task_name(objective)
    manifest = task_manifest(
        objective,
        parameters,
        objective_metric,
        direction,
        name=task_name_,
        max_trials=max_trials,
        parallel=parallel,
        algorithm=algorithm,
        settings=settings,
        seed=seed,
        goal=goal,
        additional_metrics=additional_metrics,
        max_failed=max_failed,
        trial_timeout=trial_timeout,
        image=image,
        resources=resources,
        env=env,
    )
    task = parse_task(manifest)
    if namespace is not None or image is not None:
        from .client import Client  # noqa: PLC0415 - the kubernetes client loads only for cluster tasks

        client = Client(namespace, context=context)
        client.create(manifest)
        return TuneResult(task_name_, client.namespace, context=context)
    base = Path(workdir) if workdir is not None else Path.cwd()
    state = StateDir.default(task_name_, base)
    with state:
        _take_changes(state, task, restart=restart)
        reporter = PlainReporter() if verbose else _Quiet()
        LocalExecutor(task, state, reporter, workdir=base).run()
    return TuneResult(task_name_, state_dir=state.root)


def _take_changes(state: StateDir, task: HPOTask, *, restart: bool) -> None:
    """Continue a saved search of the same task; refuse one that measured something else (or set it aside)."""
    changes = state.spec_changes(task)
    if changes is None:
        return
    if restart:
        state.set_aside(datetime.now(UTC))
        return
    if changes.defining:
        fields = ", ".join(f"spec.{f}" for f in changes.defining)
        raise StateError(
            f"{task.metadata.name}: {fields} changed since the search saved in {state.root}; "
            "give another name=, or restart=True (the old state is moved aside)"
        )
