"""Which suggester an HPOTask's ``algorithm`` names: one entry per built-in algorithm, and plugins.

An entry pairs an algorithm's settings model (api/algorithms.py: its settings, defaults and
documentation, from which the API's validation and the CRD text are derived) with the code that
builds its suggester from those settings. Nothing else restates a default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from pydantic_core import to_jsonable_python

from .. import names
from ..api import Algorithm, AlgorithmName
from ..api import algorithms as a
from ..api.base import ApiModel
from ..errors import SearchError
from .auto import Auto
from .base import Proposal, SearchRequest, Suggester, SuggesterFactory
from .bayesian import Bayesian
from .cma_es import CmaEs
from .experiments import Experiments
from .grid import GridSearch
from .hyperband import Hyperband
from .nsga2 import NSGA2
from .random_search import RandomSearch
from .sobol import SobolSearch
from .space import SearchSpace
from .tpe import TPE

S = TypeVar("S", bound=ApiModel)


@dataclass(frozen=True)
class Entry(Generic[S]):
    """One algorithm: its settings model, and how its suggester is built from them."""

    settings: type[S]
    build: Callable[[S, SearchSpace, Algorithm], Suggester]

    def create(self, algorithm: Algorithm, space: SearchSpace) -> Suggester:
        """The suggester for ``algorithm``, its unset settings at their model's defaults."""
        return self.build(algorithm.settings_as(self.settings), space, algorithm)


# What each algorithm needs of a task (a resource parameter, experiments, a plugin's name) is
# checked once, by the HPOTask's validation from the declarations in api/algorithms.py: a spec that
# reaches here has it, and the asserts below only tell the type checker so.


def _hyperband(s: a.HyperbandSettings, space: SearchSpace, _: Algorithm) -> Suggester:
    assert s.resource_parameter is not None
    return Hyperband(space, s.resource_parameter, s.eta)


def _experiments(_: a.ExperimentsSettings, space: SearchSpace, algorithm: Algorithm) -> Suggester:
    assert algorithm.experiments
    return Experiments(space, algorithm.experiments)


def _plugin(_: a.PluginSettings, space: SearchSpace, algorithm: Algorithm) -> Suggester:
    assert algorithm.plugin is not None
    return _Guarded(algorithm.plugin, load_plugin(algorithm.plugin)(space, algorithm.plugin_settings or {}))


@dataclass(frozen=True)
class _Guarded:
    """A plugin's suggester, whose failures become one-line SearchErrors instead of tracebacks."""

    name: str
    inner: Suggester

    def suggest(self, request: SearchRequest) -> Proposal:
        try:
            return self.inner.suggest(request)
        except Exception as error:  # third-party code: anything can go wrong in it
            raise SearchError(f"search algorithm plugin {self.name!r} failed: {error}") from error


ENTRIES: dict[AlgorithmName, Entry[Any]] = {
    AlgorithmName.AUTO: Entry(a.AutoSettings, lambda s, space, _: Auto(space)),
    AlgorithmName.RANDOM: Entry(a.RandomSettings, lambda s, space, _: RandomSearch(space)),
    AlgorithmName.GRID: Entry(a.GridSettings, lambda s, space, _: GridSearch(space, s.points_per_dimension, s.order)),
    AlgorithmName.SOBOL: Entry(a.SobolSettings, lambda s, space, _: SobolSearch(space, s.scramble)),
    AlgorithmName.BAYESIAN: Entry(a.BayesianSettings, lambda s, space, _: Bayesian.from_settings(space, s)),
    AlgorithmName.TPE: Entry(
        a.TPESettings, lambda s, space, _: TPE(space, s.n_initial_points, s.multivariate, s.constant_liar)
    ),
    AlgorithmName.CMAES: Entry(
        a.CmaEsSettings, lambda s, space, _: CmaEs(space, s.sigma0, s.population_size, s.n_initial_points)
    ),
    AlgorithmName.HYPERBAND: Entry(a.HyperbandSettings, _hyperband),
    AlgorithmName.NSGA2: Entry(a.NSGA2Settings, lambda s, space, _: NSGA2(space, s.population_size)),
    AlgorithmName.EXPERIMENTS: Entry(a.ExperimentsSettings, _experiments),
    AlgorithmName.PLUGIN: Entry(a.PluginSettings, _plugin),
}
"""Every built-in algorithm; its settings model is the one the API validates it with."""


def create(algorithm: Algorithm, space: SearchSpace) -> Suggester:
    """The suggester for a task's algorithm; unset settings take the defaults their model states."""
    return ENTRIES[algorithm.name].create(algorithm, space)


@dataclass(frozen=True)
class Setting:
    """One setting of an algorithm, as its settings model states it."""

    name: str
    """As written in ``algorithm.settings`` (camelCase)."""
    type: str
    default: Any
    description: str


@dataclass(frozen=True)
class Listed:
    """An algorithm ``kubetune algorithms`` lists: a built-in one, or an installed plugin."""

    name: str
    kind: str
    """built-in, or plugin (then ``algorithm: {name: plugin, plugin: NAME}``)."""
    description: str
    settings: tuple[Setting, ...] = ()
    source: str = ""
    """For a plugin: its entry point (``module:object``)."""


def catalogue() -> list[Listed]:
    """Every built-in algorithm with its settings (from its model), then every installed plugin."""
    listed = [
        Listed(str(name), "built-in", a.describe(name), tuple(_settings(entry.settings)))
        for name, entry in ENTRIES.items()
        if name is not AlgorithmName.PLUGIN
    ]
    plugins = sorted(entry_points(group=names.PLUGIN_ENTRY_POINTS), key=lambda e: (e.name, e.value))
    for point in plugins:
        try:
            text = " ".join((point.load().__doc__ or "").split("\n\n")[0].split())
        except Exception as error:  # a plugin's import can fail in any way: list it, saying so
            text = f"fails to load: {error}"
        listed.append(Listed(point.name, "plugin", text or "(no description)", source=point.value))
    return listed


def _settings(model: type[ApiModel]) -> list[Setting]:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    found = []
    for field, info in model.model_fields.items():
        alias = info.alias or field
        prop = schema["properties"][alias]
        options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
        ref = options[0].get("$ref", "").split("/")[-1] if options else ""
        option = options[0] if options else {}
        kind = str(option.get("type", ""))
        if ref:
            kind = " | ".join(str(v) for v in schema["$defs"][ref].get("enum", [])) or ref
        low, high = option.get("minimum", option.get("exclusiveMinimum")), option.get("maximum")
        if low is not None or high is not None:
            kind += f" ({'' if low is None else low}..{'' if high is None else high})"
        text = " ".join((info.description or "").split())
        found.append(Setting(alias, kind, to_jsonable_python(info.default), text))
    return found


def load_plugin(name: str) -> SuggesterFactory:
    """The factory a package registered as ``name`` in the ``kubetune.algorithms`` entry-point group."""
    found = entry_points(group=names.PLUGIN_ENTRY_POINTS, name=name)
    if not found:
        raise SearchError(
            f"no search algorithm plugin {name!r} is installed "
            f"(no entry point {name!r} in group {names.PLUGIN_ENTRY_POINTS!r})"
        )
    entry_point = sorted(found, key=lambda e: e.value)[0]
    try:
        factory = entry_point.load()
    except Exception as error:  # a plugin's import can fail in any way; report it as one line
        raise SearchError(f"search algorithm plugin {name!r} ({entry_point.value}) failed to load: {error}") from error
    if not callable(factory):
        raise SearchError(f"search algorithm plugin {name!r} ({entry_point.value}) is not callable")
    return factory  # type: ignore[no-any-return]
