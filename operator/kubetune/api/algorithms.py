"""Each search algorithm's settings: one pydantic model per algorithm, the single home of its
settings, their defaults and their documentation.

The model's docstring says what the algorithm does; each field's docstring what the setting
means; the field's default is the default, and the CRD text says it from there. The search
registry (``search/registry.py``) pairs each model with the code that builds the algorithm;
the HPOTask's ``algorithm.settings`` is validated with the model of the algorithm it names, and
its CRD schema and description are derived from all of them (``flat_settings_schema``).

These models live in the API layer, below ``search``, because the API validates with them and
must not import the layers above it.
"""

from __future__ import annotations

import copy
from enum import StrEnum
from typing import Annotated, Any

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


class AutoSettings(ApiModel):
    """kubetune picks from the space and the budget: grid for a finite space no larger than
    maxTrials, else bayesian (with its default backend, skopt) up to 20 dimensions and 250
    completed trials, else tpe. With several objectives: bayesian (skopt's ParEGO) below 250
    completed trials, then nsga2."""


class RandomSettings(ApiModel):
    """Independent uniform draws, in each parameter's scale."""


class GridSettings(ApiModel):
    """Every combination of the parameters' values, each tried once."""

    points_per_dimension: Annotated[int | None, Field(ge=2, le=1000)] = None
    """How many evenly spaced points a double range without ``step`` is split into (without it,
    such a range needs a ``step``)."""


class SobolSettings(ApiModel):
    """A Sobol low-discrepancy sequence (scipy's qmc): evenly spread points, without a model."""

    scramble: bool = True
    """Randomize the sequence (scipy's scrambling), so that different seeds give different points."""


class BayesianSettings(ApiModel):
    """Gaussian-process Bayesian optimization, fitted on a bounded window of the history."""

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

    @model_validator(mode="after")
    def _check(self) -> BayesianSettings:
        if "acquisition_function" in self.model_fields_set and self.backend is not GPBackend.SKOPT:
            message = f"applies to the skopt backend only ({self.backend} uses log expected improvement)"
            raise_problems("BayesianSettings", [(("acquisitionFunction",), message)])
        return self


class TPESettings(ApiModel):
    """Optuna's Tree-structured Parzen Estimator, rebuilt from the history at every step."""

    n_initial_points: Annotated[int, Field(ge=1, le=1000)] = 10
    """Random trials before the model is used."""

    multivariate: bool = True
    """Model the parameters jointly rather than one by one."""

    constant_liar: bool = True
    """Count running trials as bad results, so that parallel trials explore different places."""


class CmaEsSettings(ApiModel):
    """CMA-ES (the cmaes library) over the numeric parameters; categorical ones are drawn at random."""

    n_initial_points: Annotated[int, Field(ge=0, le=1000)] = 0
    """Random trials before the first generation."""

    sigma0: Annotated[float, Field(gt=0, le=1)] = 0.2
    """Initial step size, as a fraction of each range."""

    population_size: Annotated[int | None, Field(ge=2, le=1000)] = None
    """Trials per generation. Default: 4 + 3 ln(number of numeric parameters), CMA-ES's own rule."""


class HyperbandSettings(ApiModel):
    """Hyperband: many trials on a small budget, the best of them promoted to larger ones."""

    resource_parameter: Annotated[str | None, Field(max_length=63)] = None
    """Required: the int or double parameter that is the trial's budget, e.g. ``epochs``; its min
    and max are the smallest and the largest budget a trial gets."""

    eta: Annotated[int, Field(ge=2, le=10)] = 3
    """Keep the best 1/eta of each rung and give them eta times the budget."""


class NSGA2Settings(ApiModel):
    """Optuna's NSGA-II genetic algorithm, for several objectives (and constraints): each generation
    is bred from the best of the trials so far, ranked by non-domination, then by crowding distance."""

    population_size: Annotated[int, Field(ge=2, le=1000)] = 50
    """Trials per generation."""


class ExperimentsSettings(ApiModel):
    """Run the assignments listed in ``experiments``, in order."""


class PluginSettings(ApiModel):
    """A search algorithm a Python package registers under the ``kubetune.algorithms`` entry-point
    group, named by ``plugin``; its settings are ``pluginSettings``."""


SETTINGS: dict[AlgorithmName, type[ApiModel]] = {
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
