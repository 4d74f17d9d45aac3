"""Which suggester an HPOTask's ``algorithm`` names: built-in ones, and plugins by entry point."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

from .. import names
from ..api import Algorithm, AlgorithmName
from ..errors import SearchError
from .auto import Auto
from .base import Proposal, SearchRequest, Suggester, SuggesterFactory
from .bayesian import DEFAULT_HISTORY_WINDOW, Bayesian
from .cma_es import DEFAULT_SIGMA0, CmaEs
from .experiments import Experiments
from .grid import GridSearch
from .hyperband import DEFAULT_ETA, Hyperband
from .random_search import RandomSearch
from .sobol import SobolSearch
from .space import SearchSpace
from .tpe import TPE


def _bayesian(algorithm: Algorithm, space: SearchSpace) -> Suggester:
    s = algorithm.settings
    window = s.history_window or DEFAULT_HISTORY_WINDOW
    return Bayesian(space, s.n_initial_points, s.acquisition_function, window)


def _tpe(algorithm: Algorithm, space: SearchSpace) -> Suggester:
    s = algorithm.settings
    multivariate = s.multivariate if s.multivariate is not None else True
    constant_liar = s.constant_liar if s.constant_liar is not None else True
    return TPE(space, s.n_initial_points, multivariate, constant_liar)


def _cmaes(algorithm: Algorithm, space: SearchSpace) -> Suggester:
    s = algorithm.settings
    return CmaEs(space, s.sigma0 or DEFAULT_SIGMA0, s.population_size, s.n_initial_points or 0)


def _hyperband(algorithm: Algorithm, space: SearchSpace) -> Suggester:
    s = algorithm.settings
    if s.resource_parameter is None:
        raise SearchError("hyperband needs algorithm.settings.resourceParameter (the trial budget, e.g. epochs)")
    return Hyperband(space, s.resource_parameter, s.eta or DEFAULT_ETA)


def _experiments(algorithm: Algorithm, space: SearchSpace) -> Suggester:
    if not algorithm.experiments:
        raise SearchError("the experiments algorithm needs algorithm.experiments")
    return Experiments(space, algorithm.experiments)


def _plugin(algorithm: Algorithm, space: SearchSpace) -> Suggester:
    if algorithm.plugin is None:
        raise SearchError("the plugin algorithm needs algorithm.plugin")
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


_BUILDERS: dict[AlgorithmName, Callable[[Algorithm, SearchSpace], Suggester]] = {
    AlgorithmName.AUTO: lambda a, space: Auto(space),
    AlgorithmName.RANDOM: lambda a, space: RandomSearch(space),
    AlgorithmName.GRID: lambda a, space: GridSearch(space, a.settings.points_per_dimension),
    AlgorithmName.SOBOL: lambda a, space: SobolSearch(space, a.settings.scramble is not False),
    AlgorithmName.BAYESIAN: _bayesian,
    AlgorithmName.TPE: _tpe,
    AlgorithmName.CMAES: _cmaes,
    AlgorithmName.HYPERBAND: _hyperband,
    AlgorithmName.EXPERIMENTS: _experiments,
    AlgorithmName.PLUGIN: _plugin,
}


def create(algorithm: Algorithm, space: SearchSpace) -> Suggester:
    """The suggester for a task's algorithm; unset settings take the defaults their docs state."""
    return _BUILDERS[algorithm.name](algorithm, space)


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
