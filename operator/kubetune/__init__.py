"""kubetune: hyperparameter search on Kubernetes, and on one machine with the same manifest.

For trainers, ``kubetune.report(loss=0.4, step=3)``; for notebooks, ``kubetune.tune(...)`` and
``kubetune.Client``, with search spaces from ``kubetune.search`` (``loguniform``, ``int``, ...).
Only ``report`` is loaded with the package: a trial image imports kubetune for nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .trainer import report

if TYPE_CHECKING:
    from . import search
    from .client import Client
    from .tuning import TuneResult, tune

__version__ = "0.1.0"

__all__ = ["Client", "TuneResult", "__version__", "report", "search", "tune"]

_LAZY = {"tune": "tuning", "TuneResult": "tuning", "Client": "client"}


def __getattr__(name: str) -> Any:
    """Load ``tune``, ``TuneResult``, ``Client`` and ``search`` on first use (they need pydantic, numpy...)."""
    if name == "search":
        return importlib.import_module(".search", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'kubetune' has no attribute {name!r}")
