"""bayesian: Gaussian-process Bayesian optimization on a bounded window of the history.

The only module that imports scikit-optimize. Two backends, chosen by the ``backend`` setting
and never by what happens to be installed (api/algorithms.py documents the default):

- skopt (the default): scikit-optimize's GP (acquisition EI, PI, LCB or gp_hedge), with pending
  trials told as constant lies (``cl_min``) and batches asked with the same strategy;
- optuna-gp: Optuna's GPSampler (log expected improvement, batches through its own handling of
  running trials), faster per suggestion; it needs torch, the ``gp`` extra.

Several objectives need optuna-gp (log expected hypervolume improvement; the API refuses skopt
with them). Constraints are modelled by optuna-gp (a GP per constraint weighs the acquisition by
the chance of feasibility); skopt ignores them, and the engine keeps infeasible trials from the best.

Either way the model is fitted on at most ``history_window`` completed trials (the best half
and the most recent rest), because a GP fit costs O(n^3): scikit-optimize takes ~17 s per
suggestion at 500 trials. Failed trials and trials without a metric are left out of the fit
(scikit-optimize has no notion of failure; Optuna's GPSampler ignores them too).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from skopt import Optimizer
from skopt.space import Categorical, Integer, Real
from skopt.utils import cook_estimator

from ..api import Acquisition, GPBackend, ParamValue
from ..api.algorithms import BayesianSettings
from ..errors import SearchError
from . import optuna_backend
from .base import Proposal, SearchRequest, Suggestion
from .history import Point, assigned_keys, completed_points, window
from .random_search import draw_distinct
from .seeding import call_seed
from .space import Coordinate, Dimension, SearchSpace

_DEFAULTS = BayesianSettings()
_RETRIES = 3
"""Asks per suggestion before a repeated assignment is replaced by a random distinct one."""

_GP_RESTARTS = 1
"""Restarts of the GP's hyperparameter fit: scikit-optimize's 2 cost a third more for no gain we
could measure on the benchmark functions."""
_ACQ_OPTIMIZER = {"n_points": 2000, "n_restarts_optimizer": 2}
"""Candidates scored, and how many of the best are polished by L-BFGS: scikit-optimize's defaults
(10000 and 5) dominate the time of a call and found no better points on the benchmark."""


def default_initial_points(space: SearchSpace) -> int:
    """Random trials before the model is used: twice the dimensions, between 5 and 10."""
    return min(10, max(5, 2 * len(space.dimensions)))


@dataclass(frozen=True)
class Bayesian:
    """GP Bayesian optimization; see the module docstring for the backends."""

    space: SearchSpace
    n_initial_points: int | None = _DEFAULTS.n_initial_points
    acquisition: Acquisition = _DEFAULTS.acquisition_function
    history_window: int = _DEFAULTS.history_window
    backend: GPBackend = _DEFAULTS.backend

    @classmethod
    def from_settings(cls, space: SearchSpace, settings: BayesianSettings) -> Bayesian:
        """The suggester a task's validated settings describe."""
        return cls(
            space, settings.n_initial_points, settings.acquisition_function, settings.history_window, settings.backend
        )

    def suggest(self, request: SearchRequest) -> Proposal:
        """Random points until ``n_initial_points`` trials completed, then the GP's choices."""
        ran = f"bayesian ({self.backend})"
        if self.backend is GPBackend.OPTUNA_GP and not optuna_backend.gp_available():
            raise SearchError(
                "the bayesian backend optuna-gp needs torch, which is not installed here "
                "(pip install 'kubetune[gp]', or set algorithm.settings.backend: skopt)"
            )
        n_initial = self.n_initial_points or default_initial_points(self.space)
        points = completed_points(self.space, request.history)
        if len(points) < n_initial:
            drawn = draw_distinct(self.space, request, request.count, "bayesian")
            return Proposal([Suggestion(p) for p in drawn], ran=ran)
        kept = window(points, self.history_window)
        seed = call_seed(request, "bayesian")
        if self.backend is GPBackend.OPTUNA_GP:
            kept_indices = {p.index for p in kept}
            if request.objectives > 1:
                # The window's "best half" means nothing for several objectives: keep the most recent.
                kept_indices = {o.index for o in request.history[-self.history_window :]}
            history = [o for o in request.history if o.index in kept_indices]
            spec = optuna_backend.SamplerSpec("gp", n_startup_trials=0)
            taken = assigned_keys(self.space, request)  # the whole history, not only the window
            params = optuna_backend.ask(
                self.space,
                history,
                request.pending,
                request.count,
                seed,
                spec,
                taken=taken,
                objectives=request.objectives,
            )
        elif request.objectives > 1:
            raise SearchError("bayesian with several objectives needs algorithm.settings.backend: optuna-gp")
        else:
            params = self._ask_skopt(request, kept, seed)
        return Proposal([Suggestion(p) for p in params], ran=ran)

    def _ask_skopt(self, request: SearchRequest, kept: list[Point], seed: int) -> list[dict[str, ParamValue]]:
        dims = [_skopt_dimension(d) for d in self.space.dimensions]
        x = [_skopt_point(self.space, p.coordinates) for p in kept]
        y = [p.value for p in kept]
        # Pending trials are told as lies at the best value so far (cl_min), which keeps the
        # batch from piling onto the acquisition maximum that a running trial already holds.
        lie = min(y)
        for trial in request.pending:
            coordinates = self.space.encode(trial.params)
            if coordinates is not None:
                x.append(_skopt_point(self.space, coordinates))
                y.append(lie)
        acquisition = self.acquisition
        estimator = cook_estimator("GP", space=dims, random_state=seed, n_restarts_optimizer=_GP_RESTARTS)
        with warnings.catch_warnings():
            # scikit-learn warns when a GP hyperparameter reaches its bound, and scikit-optimize
            # when a point is told twice (a discrete space, or a lie on a running trial's point):
            # both are expected here and change nothing about the answer.
            warnings.simplefilter("ignore")
            optimizer = Optimizer(
                dims,
                base_estimator=estimator,
                n_initial_points=0,
                acq_func=str(acquisition),
                acq_optimizer_kwargs=dict(_ACQ_OPTIMIZER),
                random_state=seed,
            )
            optimizer.tell(x, y)
            asked = optimizer.ask(n_points=request.count, strategy="cl_min") if request.count > 1 else [optimizer.ask()]
            return self._distinct(request, optimizer, asked, lie)

    def _distinct(
        self, request: SearchRequest, optimizer: Optimizer, asked: list[list[float]], lie: float
    ) -> list[dict[str, ParamValue]]:
        """The asked points, each one that repeats an assignment (after snapping to the space's
        grid, or from outside the window) asked again with the repeated point told as a lie."""
        taken = assigned_keys(self.space, request)
        out = []
        for point in asked:
            params = self.space.decode([float(v) for v in point])
            for _ in range(_RETRIES):
                if self.space.key(params) not in taken:
                    break
                optimizer.tell(_skopt_point(self.space, self.space.encode(params) or ()), lie)
                params = self.space.decode([float(v) for v in optimizer.ask()])
            else:
                if self.space.key(params) in taken:
                    params = draw_distinct(self.space, request, 1, "bayesian-duplicate", taken)[0]
            key = self.space.key(params)
            if key is not None:
                taken.add(key)
            out.append(params)
        return out


def _skopt_dimension(dimension: Dimension) -> Real | Integer | Categorical:
    low, high = dimension.bounds
    if dimension.coordinate is Coordinate.CATEGORY:
        return Categorical(list(range(int(high) + 1)))
    if dimension.coordinate is Coordinate.ORDERED:
        return Integer(int(low), int(high))
    return Real(low, high)


def _skopt_point(space: SearchSpace, coordinates: tuple[float, ...]) -> list[float | int]:
    return [
        x if d.coordinate is Coordinate.REAL else int(x) for d, x in zip(space.dimensions, coordinates, strict=True)
    ]
