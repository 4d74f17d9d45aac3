"""Search spaces written as Katib's SDK, Optuna and Ray Tune users write them.

``kubetune.search.loguniform(1e-4, 1e-1)``, ``int(1, 8)``, ``categorical(["relu", "tanh"])``:
each gives a :class:`Domain`, a parameter without its name. ``kubetune.tune`` takes a mapping of
names to domains (or to plain values, which are fixed) and writes the same ``spec.parameters``
entries an HPOTask manifest has, checked by the same model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..api import ParamValue

Number = float | int


@dataclass(frozen=True)
class Domain:
    """A hyperparameter's range or choices, as an HPOTask's ``spec.parameters`` entry without ``name``."""

    fields: Mapping[str, Any] = field(default_factory=dict)

    def to_manifest(self, name: str) -> dict[str, Any]:
        """The ``spec.parameters`` entry for the parameter ``name``."""
        return {"name": name, **self.fields}


def _range(kind: str, min: Number, max: Number, step: Number | None, log: bool) -> Domain:
    """A ``double`` or ``int`` range, with a log scale and a step where given."""
    fields: dict[str, Any] = {"type": kind, "min": min, "max": max}
    if log:
        fields["scale"] = "log"
    if step is not None:
        fields["step"] = step
    return Domain(fields)


def double(min: Number, max: Number, step: Number | None = None, *, log: bool = False) -> Domain:
    """A real number in [min, max] (Katib's ``search.double``); ``log``: equal weight per decade; ``step``: a grid."""
    return _range("double", min, max, step, log)


def uniform(low: Number, high: Number) -> Domain:
    """A real number drawn uniformly from [low, high] (Optuna's and Ray Tune's ``uniform``)."""
    return double(low, high)


def loguniform(low: Number, high: Number) -> Domain:
    """A real number in [low, high], equal weight per decade: learning rates, weight decays (low > 0)."""
    return double(low, high, log=True)


def quniform(low: Number, high: Number, q: Number) -> Domain:
    """A real number in [low, high] on the grid ``low + k * q`` (Ray Tune's ``quniform``)."""
    return double(low, high, step=q)


def normal(mean: float, sigma: float, *, low: Number | None = None, high: Number | None = None) -> Domain:
    """A real number drawn from a normal distribution, optionally truncated to [low, high]."""
    fields: dict[str, Any] = {"type": "double", "distribution": "normal", "mean": mean, "sigma": sigma}
    if low is not None:
        fields["min"] = low
    if high is not None:
        fields["max"] = high
    return Domain(fields)


def integer(min: int, max: int, step: int | None = None, *, log: bool = False) -> Domain:
    """A whole number in [min, max], both included (Katib's ``search.int``, Optuna's ``suggest_int``)."""
    return _range("int", min, max, step, log)


def randint(low: int, high: int) -> Domain:
    """A whole number in [low, high): the upper bound excluded, as in numpy's and Ray Tune's ``randint``."""
    return integer(low, high - 1)


def categorical(values: Sequence[ParamValue]) -> Domain:
    """One of ``values`` (strings, numbers or booleans), in the order grid search visits them."""
    if isinstance(values, str):  # categorical("relu") would be the choices "r", "e", "l", "u"
        raise TypeError(f"kubetune.search.categorical: values must be a list, got the string {values!r}")
    return Domain({"type": "categorical", "values": list(values)})


def choice(values: Sequence[ParamValue]) -> Domain:
    """One of ``values`` (Ray Tune's and hyperopt's name for :func:`categorical`)."""
    return categorical(values)


def parameters_manifest(space: Mapping[str, Domain | ParamValue]) -> list[dict[str, Any]]:
    """``spec.parameters`` for a mapping of names to domains; a plain value is a fixed parameter."""
    entries = []
    for name, domain in space.items():
        if isinstance(domain, Domain):
            entries.append(domain.to_manifest(name))
        else:
            kind = "categorical" if isinstance(domain, str | bool) else "int" if isinstance(domain, int) else "double"
            entries.append({"name": name, "type": kind, "value": domain})
    return entries
