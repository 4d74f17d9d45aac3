"""Suggestion algorithms: the search space, the Suggester interface, one module per algorithm.

Also the helpers that write a search space in Python (``kubetune.search.loguniform(1e-4, 1e-1)``,
``int``, ``categorical``...), for ``kubetune.tune``: see :mod:`kubetune.search.domains`.
"""

from .domains import (
    Domain,
    categorical,
    choice,
    double,
    loguniform,
    normal,
    quniform,
    randint,
    uniform,
)
from .domains import integer as int

__all__ = [
    "Domain",
    "categorical",
    "choice",
    "double",
    "int",
    "loguniform",
    "normal",
    "quniform",
    "randint",
    "uniform",
]
