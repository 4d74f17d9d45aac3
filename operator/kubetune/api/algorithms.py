"""Each search algorithm's settings: one pydantic model per algorithm, the single home of its
settings, their defaults and their documentation.

The model's docstring says what the algorithm does; each field's docstring what the setting
means; the field's default is the default, and the CRD text says it from there. The search
registry (``search/registry.py``) pairs each model with the code that builds the algorithm;
the HPOTask's ``algorithm.settings`` is validated with the model of the algorithm it names, and
its CRD schema and description are derived from all of them (``flat_settings_schema``).

Each model also declares what its algorithm can do (:class:`Capabilities`, its ``capabilities``),
as Optuna's samplers state their own limits: the HPOTask's validation reads the declarations, and
nothing else lists which algorithm supports what.

These models live in the API layer, below ``search``, because the API validates with them and
must not import the layers above it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import Field, model_validator

from .base import ApiModel, raise_problems


class AlgorithmName(StrEnum):
    AUTO = "auto"
    RANDOM = "random"
    GRID = "grid"
    SOBOL = "sobol"
    BAYESIAN = "bayesian"
    TPE = "tpe"
    CMAES = "cmaes"
    HYPERBAND = "hyperband"
    NSGA2 = "nsga2"
    EXPERIMENTS = "experiments"
    PLUGIN = "plugin"


class Acquisition(StrEnum):
    EI = "EI"
    PI = "PI"
    LCB = "LCB"
    GP_HEDGE = "gp_hedge"


class GPBackend(StrEnum):
    """The library that fits bayesian's Gaussian process."""

    OPTUNA_GP = "optuna-gp"
    SKOPT = "skopt"


@dataclass(frozen=True)
class Capabilities:
    """What a search algorithm can do with a task; validation refuses a task that asks for more."""

    several_objectives: bool = True
    """It optimizes 2 to 4 objectives at once (``objective.metrics``); else one only."""
    resource_parameter: bool = False
    """It needs ``settings.resourceParameter``: the parameter that is each trial's budget (multi-fidelity)."""
    warm_start: bool = True
    """It accepts ``warmStart`` (trials of earlier tasks, enqueued points) into its history."""
    constraints: bool = False
    """It steers away from trials that break ``objective.constraints`` (every algorithm keeps such a
    trial from becoming the best; these ones also learn from it)."""
    conditions: bool = True
    """It searches conditional parameters (``parameters[].when``)."""
    offered: bool = True
    """A search kubetune offers for any task, named in messages that suggest another algorithm
    (not experiments, which runs listed points, nor a plugin, which is the user's own)."""
    why: str = ""
    """Why it lacks what it lacks, for the messages that refuse a task."""


class AlgorithmSettings(ApiModel):
    """The settings of one search algorithm, and what the algorithm can do."""

    capabilities: ClassVar[Capabilities] = Capabilities()

    def able(self) -> Capabilities:
        """What the algorithm can do with these settings (by default, whatever the settings)."""
        return self.capabilities


class AutoSettings(AlgorithmSettings):
    """kubetune picks from the space and the budget: grid for a finite space no larger than
    maxTrials, else bayesian (with its default backend, skopt) up to 20 dimensions and 250
    completed trials, else tpe. With several objectives: bayesian (skopt's ParEGO) below 250
    completed trials, then nsga2."""


class RandomSettings(AlgorithmSettings):
    """Independent uniform draws, in each parameter's scale."""


class GridOrder(StrEnum):
    """The order grid search visits its points in."""

    SEQUENTIAL = "sequential"
    RANDOM = "random"


class GridSettings(AlgorithmSettings):
    """Every combination of the parameters' values, each tried once."""

    points_per_dimension: Annotated[int | None, Field(ge=2, le=1000)] = None
    """How many evenly spaced points a double range without ``step`` is split into (without it,
    such a range needs a ``step``)."""

    order: GridOrder = GridOrder.SEQUENTIAL
    """The order the points are visited in: sequential (the last parameter varies fastest) or
    random (an order fixed by the task's seed, as Katib's grid, Optuna's GridSampler, picks a
    random unvisited point), so that a budget smaller than the grid samples all of it."""


class SobolSettings(AlgorithmSettings):
    """A Sobol low-discrepancy sequence (scipy's qmc): evenly spread points, without a model."""

    scramble: bool = True
    """Randomize the sequence (scipy's scrambling), so that different seeds give different points."""


class BayesianSettings(AlgorithmSettings):
    """Gaussian-process Bayesian optimization, fitted on a bounded window of the history."""

    capabilities: ClassVar[Capabilities] = Capabilities(constraints=True)

    backend: GPBackend = GPBackend.SKOPT
    """skopt (scikit-optimize's GP, with a choice of acquisition function) or optuna-gp (Optuna's
    GPSampler with log expected improvement, faster per suggestion; it needs torch: ``pip install
    'kubetune[gp]'``, or an operator image built with ``--build-arg EXTRAS=gp``). The same
    everywhere: what is installed never changes the algorithm."""

    n_initial_points: Annotated[int | None, Field(ge=1, le=1000)] = None
    """Random trials before the model is used. Default: twice the number of parameters, at
    least 5 and at most 10."""

    acquisition_function: Acquisition = Acquisition.GP_HEDGE
    """With the skopt backend: EI, PI, LCB or gp_hedge (a portfolio of the three)."""

    history_window: Annotated[int, Field(ge=10, le=100000)] = 100
    """Fit the Gaussian process on at most this many trials (the best half and the most recent),
    so that a suggestion stays fast on long tasks."""

    def able(self) -> Capabilities:
        """With skopt, constraints only keep a trial from being the best (several objectives are
        searched by ParEGO, a random scalarisation per suggestion)."""
        if self.backend is GPBackend.OPTUNA_GP:
            return self.capabilities
        return Capabilities(constraints=False)

    @model_validator(mode="after")
    def _check(self) -> BayesianSettings:
        if "acquisition_function" in self.model_fields_set and self.backend is not GPBackend.SKOPT:
            message = f"applies to the skopt backend only ({self.backend} uses log expected improvement)"
            raise_problems("BayesianSettings", [(("acquisitionFunction",), message)])
        return self


class TPESettings(AlgorithmSettings):
    """Optuna's Tree-structured Parzen Estimator, rebuilt from the history at every step."""

    capabilities: ClassVar[Capabilities] = Capabilities(constraints=True)

    n_initial_points: Annotated[int, Field(ge=1, le=1000)] = 10
    """Random trials before the model is used."""

    multivariate: bool = True
    """Model the parameters jointly rather than one by one."""

    constant_liar: bool = True
    """Count running trials as bad results, so that parallel trials explore different places."""


class CmaEsSettings(AlgorithmSettings):
    """CMA-ES (the cmaes library) over the numeric parameters; categorical ones are drawn at random."""

    capabilities: ClassVar[Capabilities] = Capabilities(several_objectives=False)

    n_initial_points: Annotated[int, Field(ge=0, le=1000)] = 0
    """Random trials before the first generation."""

    sigma0: Annotated[float, Field(gt=0, le=1)] = 0.2
    """Initial step size, as a fraction of each range."""

    population_size: Annotated[int | None, Field(ge=2, le=1000)] = None
    """Trials per generation. Default: 4 + 3 ln(number of numeric parameters), CMA-ES's own rule."""


class HyperbandSettings(AlgorithmSettings):
    """Hyperband: many trials on a small budget, the best of them promoted to larger ones."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        several_objectives=False,
        resource_parameter=True,
        warm_start=False,
        why="plans every trial and its budget from its own brackets",
    )

    resource_parameter: Annotated[str | None, Field(max_length=63)] = None
    """Required: the int or double parameter that is the trial's budget, e.g. ``epochs``; its min
    and max are the smallest and the largest budget a trial gets."""

    eta: Annotated[float, Field(ge=2, le=10)] = 3
    """Keep the best 1/eta of each rung and give them eta times the budget; need not be whole
    (IBM's experiments use 2.027)."""


class NSGA2Settings(AlgorithmSettings):
    """Optuna's NSGA-II genetic algorithm, for several objectives (and constraints): each generation
    is bred from the best of the trials so far, ranked by non-domination, then by crowding distance."""

    capabilities: ClassVar[Capabilities] = Capabilities(constraints=True)

    population_size: Annotated[int, Field(ge=2, le=1000)] = 50
    """Trials per generation."""


class ExperimentsSettings(AlgorithmSettings):
    """Run the assignments listed in ``experiments``, in order."""

    capabilities: ClassVar[Capabilities] = Capabilities(offered=False)


class PluginSettings(AlgorithmSettings):
    """A search algorithm a Python package registers under the ``kubetune.algorithms`` entry-point
    group, named by ``plugin``; its settings are ``pluginSettings``."""

    capabilities: ClassVar[Capabilities] = Capabilities(constraints=True, offered=False)


SETTINGS: dict[AlgorithmName, type[AlgorithmSettings]] = {
    AlgorithmName.AUTO: AutoSettings,
    AlgorithmName.RANDOM: RandomSettings,
    AlgorithmName.GRID: GridSettings,
    AlgorithmName.SOBOL: SobolSettings,
    AlgorithmName.BAYESIAN: BayesianSettings,
    AlgorithmName.TPE: TPESettings,
    AlgorithmName.CMAES: CmaEsSettings,
    AlgorithmName.HYPERBAND: HyperbandSettings,
    AlgorithmName.NSGA2: NSGA2Settings,
    AlgorithmName.EXPERIMENTS: ExperimentsSettings,
    AlgorithmName.PLUGIN: PluginSettings,
}
"""The settings model of every algorithm; ``search.registry`` has one entry for each."""


def offering(capable: Callable[[Capabilities], bool]) -> list[AlgorithmName]:
    """The algorithms kubetune offers for any task that can do something (``capable`` of their
    declarations, whatever their settings), in the order of :class:`AlgorithmName`."""
    return [n for n, m in SETTINGS.items() if m.capabilities.offered and capable(m.capabilities)]


def describe(name: AlgorithmName) -> str:
    """An algorithm's one-paragraph documentation, from its settings model."""
    return " ".join((SETTINGS[name].__doc__ or "").split())


def names_description() -> str:
    """The description of ``algorithm.name``: every algorithm with its documentation."""
    return "The search algorithm (default auto). " + " ".join(f"{n}: {describe(n)}" for n in AlgorithmName)


def setting_description(name: AlgorithmName, field: str) -> str:
    """One algorithm's text for one of its settings (by Python name), with the default it really has."""
    info = SETTINGS[name].model_fields[field]
    text = " ".join((info.description or "").split())
    if info.default is not None:
        default = str(info.default).lower() if isinstance(info.default, bool) else str(info.default)
        text = f"{text.rstrip('.')} (default {default})."
    return f"{name}: {text}"


def flat_settings_schema() -> dict[str, Any]:
    """The JSON schema of ``algorithm.settings``: every algorithm's settings in one object.

    A setting several algorithms share (``nInitialPoints``) gets each one's text and default,
    and the widest bounds; the model of the algorithm a task names checks the exact ones.
    """
    properties: dict[str, dict[str, Any]] = {}
    texts: dict[str, list[str]] = {}
    for name, model in SETTINGS.items():
        schema = model.model_json_schema(by_alias=True, mode="validation")
        defs = schema.get("$defs", {})
        for field, info in model.model_fields.items():
            alias = info.alias or field
            prop = _not_null(_inline(schema["properties"][alias], defs))
            prop.pop("default", None)
            prop.pop("description", None)
            prop.pop("title", None)
            properties[alias] = _widest(properties[alias], prop) if alias in properties else prop
            texts.setdefault(alias, []).append(setting_description(name, field))
    for alias, prop in properties.items():
        prop["description"] = " ".join(texts[alias])
    return {
        "type": "object",
        "description": "Settings of the chosen algorithm; each applies to the algorithms its description names.",
        "properties": dict(sorted(properties.items())),
    }


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` as ``X``: an unset setting is simply absent."""
    options = [o for o in prop.get("anyOf", []) if o.get("type") != "null"]
    if len(options) == 1:
        return {**{k: v for k, v in prop.items() if k != "anyOf"}, **options[0]}
    return prop


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(copy.deepcopy(defs[node["$ref"].split("/")[-1]]), defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _widest(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One schema that admits what either of two schemas of the same setting admits."""
    if _strip_bounds(a) != _strip_bounds(b):
        raise TypeError(f"two algorithms give one setting different types: {a} and {b}")
    merged: dict[str, Any] = _merge_bounds(a, b)
    return merged


def _strip_bounds(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_bounds(v) for k, v in node.items() if k not in ("minimum", "maximum")}
    if isinstance(node, list):
        return [_strip_bounds(v) for v in node]
    return node


def _merge_bounds(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = {}
        for key, value in a.items():
            if key in ("minimum", "maximum") and key not in b:
                continue  # one side is unbounded there
            if key == "minimum":
                out[key] = min(value, b[key])
            elif key == "maximum":
                out[key] = max(value, b[key])
            else:
                out[key] = _merge_bounds(value, b[key])
        return out
    if isinstance(a, list) and isinstance(b, list):
        return [_merge_bounds(x, y) for x, y in zip(a, b, strict=True)]
    return a
