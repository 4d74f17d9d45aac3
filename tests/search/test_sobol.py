"""sobol: one sequence, continued from where the history left off."""

from __future__ import annotations

import numpy as np

from kubetune.api import Parameter
from kubetune.search.base import Observation, TrialState
from kubetune.search.sobol import SobolSearch

from .helpers import request, space_of

SPACE = space_of(Parameter(name="x", min=0, max=1), Parameter(name="y", min=0, max=1))


def test_one_at_a_time_gives_the_same_points_as_one_batch() -> None:
    batch = [s.params for s in SobolSearch(SPACE).suggest(request(SPACE, count=6, seed=4)).suggestions]
    history: list[Observation] = []
    for _ in range(6):
        params = SobolSearch(SPACE).suggest(request(SPACE, history, seed=4)).suggestions[0].params
        history.append(Observation(len(history), params, TrialState.COMPLETE, 0.0))
    assert [o.params for o in history] == batch


def test_sobol_points_fill_the_square_evenly() -> None:
    points = SobolSearch(SPACE).suggest(request(SPACE, count=64)).suggestions
    xy = np.array([[p.params["x"], p.params["y"]] for p in points])
    quadrants = np.histogram2d(xy[:, 0], xy[:, 1], bins=2, range=[[0, 1], [0, 1]])[0]
    assert (quadrants == 16).all()
