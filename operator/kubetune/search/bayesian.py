"""bayesian: Gaussian-process Bayesian optimization on a bounded window of the history.

The only module that imports scikit-optimize. Two backends, chosen by the ``backend`` setting
and never by what happens to be installed (api/algorithms.py documents the default):

- skopt (the default): scikit-optimize's GP (acquisition EI, PI, LCB or gp_hedge); running
  trials and the earlier members of a batch enter as a kriging believer with the kernel fitted on
  finished trials only (see :meth:`Bayesian._ask_believer`, and docs/search.md for the evidence);
- optuna-gp: Optuna's GPSampler (log expected improvement, batches through its own handling of
  running trials), faster per suggestion; it needs torch, the ``gp`` extra.

With several objectives, skopt runs ParEGO (Knowles, 2006): each suggestion draws a random weight
vector and fits the GP to the augmented Chebyshev scalarisation of the normalised objectives under
it (:func:`parego_points`), so that successive suggestions aim at different parts of the front;
optuna-gp uses log expected hypervolume improvement. Constraints are modelled by optuna-gp (a GP
per constraint weighs the acquisition by the chance of feasibility); skopt ignores them, and the
engine keeps infeasible trials from the best.

Either way the model is fitted on at most ``history_window`` completed trials (the best half
and the most recent rest), because a GP fit costs O(n^3): scikit-optimize takes ~17 s per
suggestion at 500 trials. Failed trials and trials without a metric are left out of the fit
(scikit-optimize has no notion of failure; Optuna's GPSampler ignores them too).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from skopt import Optimizer
from skopt.learning import GaussianProcessRegressor
from skopt.learning.gaussian_process.kernels import Kernel, Sum, WhiteKernel
from skopt.space import Categorical, Integer, Real
from skopt.utils import cook_estimator

from ..api import Acquisition, GPBackend, ParamValue
from ..api.algorithms import BayesianSettings
from ..errors import SearchError
from . import optuna_backend
from .base import Observation, Pending, Proposal, SearchRequest, Suggestion, TrialState
from .history import Point, assigned_keys, completed_points, window
from .random_search import draw_distinct
from .seeding import call_rng, call_seed
from .space import Coordinate, Dimension, SearchSpace

_DEFAULTS = BayesianSettings()
_RETRIES = 3
"""Asks per suggestion before a repeated assignment is replaced by a random distinct one."""

GP_RESTARTS = 2
"""Restarts of the GP's hyperparameter fit: scikit-optimize's default."""
ACQ_OPTIMIZER = {"n_points": 10000, "n_restarts_optimizer": 5}
"""Candidates scored, and how many of the best are polished by L-BFGS: scikit-optimize's defaults.
A cut to 2,000 and 2 (with 1 GP restart) halved the time of a suggestion and lost about a decade of
regret at 50 evaluations on Branin and the mixed space (docs/search.md)."""
ACQ_FUNC_KWARGS: dict[str, float] = {}
"""scikit-optimize's acquisition parameters (xi of EI and PI, kappa of LCB): its defaults."""
NOISE: str | float = "gaussian"
"""The GP's noise model: scikit-optimize's "gaussian" estimates a noise level."""
PENDING_STRATEGY = "believer"
"""How running trials enter the model: "believer" (:meth:`Bayesian._ask_believer`), or a constant
lie at the best, mean or worst finished value ("cl_min", "cl_mean", "cl_max") with the kernel refitted
on the lies, as scikit-optimize's own batches do. Only the benchmark's ablation (benchmarks/ablation.py)
sets another than "believer": the constant lies taught the GP length scales the objective does not
have, and lost up to 1.6 decades of regret with 4 trials running (docs/search.md)."""
PAREGO_RHO = 0.05
"""The weight of the sum in ParEGO's augmented Chebyshev scalarisation (Knowles, 2006): enough to
tell apart points that tie on the weighted maximum, small enough to keep the maximum in charge."""


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
        if request.objectives > 1 and self.backend is GPBackend.SKOPT:
            points = parego_points(self.space, request.history, call_rng(request, "parego"))
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
        else:
            params = self._ask_skopt(request, kept, seed)
        return Proposal([Suggestion(p) for p in params], ran=ran)

    def _ask_skopt(self, request: SearchRequest, kept: list[Point], seed: int) -> list[dict[str, ParamValue]]:
        dims = [_skopt_dimension(d) for d in self.space.dimensions]
        x = [_skopt_point(self.space, p.coordinates) for p in kept]
        y = [p.value for p in kept]
        encoded = (self.space.encode(t.params) for t in request.pending)
        running = [_skopt_point(self.space, c) for c in encoded if c is not None]
        with warnings.catch_warnings():
            # scikit-learn warns when a GP hyperparameter reaches its bound, and scikit-optimize
            # when a point is told twice (a discrete space, or a lie on a running trial's point):
            # both are expected here and change nothing about the answer.
            warnings.simplefilter("ignore")
            if PENDING_STRATEGY == "believer":
                return self._ask_believer(request, dims, x, y, running, seed)
            lie = {"cl_min": min(y), "cl_max": max(y), "cl_mean": sum(y) / len(y)}[PENDING_STRATEGY]
            optimizer = self._optimizer(dims, _estimator(dims, seed), seed)
            optimizer.tell(x + running, y + [lie] * len(running))
            asked = (
                optimizer.ask(n_points=request.count, strategy=PENDING_STRATEGY)
                if request.count > 1
                else [optimizer.ask()]
            )
            return self._distinct(request, optimizer, asked, lie)

    def _optimizer(self, dims: list[Real | Integer | Categorical], estimator: object, seed: int) -> Optimizer:
        return Optimizer(
            dims,
            base_estimator=estimator,
            n_initial_points=0,
            acq_func=str(self.acquisition),
            acq_optimizer_kwargs=dict(ACQ_OPTIMIZER),
            acq_func_kwargs=dict(ACQ_FUNC_KWARGS),
            random_state=seed,
        )

    def _ask_believer(
        self,
        request: SearchRequest,
        dims: list[Real | Integer | Categorical],
        x: list[list[float | int]],
        y: list[float],
        running: list[list[float | int]],
        seed: int,
    ) -> list[dict[str, ParamValue]]:
        """Kriging believer with the kernel fitted on completed trials only: a running trial is
        told at the model's own prediction there, so it lowers the uncertainty around itself
        without claiming a result, and the lies never bend the kernel's length scales."""
        fitted = _estimator(dims, seed)
        probe = self._optimizer(dims, fitted, seed)
        fitted.fit(probe.space.transform(x), y)
        kernel, noise = _without_noise(fitted.kernel_), fitted.noise_
        out: list[dict[str, ParamValue]] = []
        for _ in range(request.count):
            told = running + [_skopt_point(self.space, self.space.encode(p) or ()) for p in out]
            lies = list(fitted.predict(probe.space.transform(told))) if told else []
            estimator = GaussianProcessRegressor(kernel=kernel, normalize_y=True, noise=noise or None, optimizer=None)
            optimizer = self._optimizer(dims, estimator, seed)
            optimizer.tell(x + told, y + [float(v) for v in lies])
            chosen = [Pending(-1 - i, p) for i, p in enumerate(out)]
            sub = replace(request, count=1, pending=[*request.pending, *chosen])
            out += self._distinct(sub, optimizer, [optimizer.ask()], min(y))
        return out

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


def parego_points(space: SearchSpace, history: Sequence[Observation], rng: np.random.Generator) -> list[Point]:
    """The completed trials with every objective, each valued by ParEGO's augmented Chebyshev
    scalarisation under one weight vector drawn uniformly from the simplex: each objective is
    scaled to [0, 1] over these trials, and a trial's value is the largest weighted objective plus
    ``PAREGO_RHO`` times their weighted sum. Minimising it for every weight finds every point of
    the front, convex or not; a new weight at each suggestion spreads the suggestions along it."""
    rows = [
        (o, o.values)
        for o in history
        if o.state is TrialState.COMPLETE and o.values and all(v is not None and math.isfinite(v) for v in o.values)
    ]
    encoded = [(space.encode(o.params), values) for o, values in rows]
    kept = [(o.index, c, values) for (o, _), (c, values) in zip(rows, encoded, strict=True) if c is not None]
    if not kept:
        return []
    losses = np.array([values for _, _, values in kept], dtype=float)
    low, high = losses.min(axis=0), losses.max(axis=0)
    scaled = (losses - low) / np.where(high > low, high - low, 1.0)
    weights = rng.dirichlet(np.ones(losses.shape[1]))
    weighted = scaled * weights
    values = weighted.max(axis=1) + PAREGO_RHO * weighted.sum(axis=1)
    return [Point(index, c, float(v)) for (index, c, _), v in zip(kept, values, strict=True)]


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


def _estimator(dims: list[Real | Integer | Categorical], seed: int) -> GaussianProcessRegressor:
    return cook_estimator("GP", space=dims, random_state=seed, n_restarts_optimizer=GP_RESTARTS, noise=NOISE)


def _without_noise(kernel: Kernel) -> Kernel:
    """The fitted kernel less the white-noise term that scikit-optimize adds for the fit."""
    if isinstance(kernel, Sum) and isinstance(kernel.k2, WhiteKernel):
        return kernel.k1
    return kernel
