"""The search space: the one place that maps user values to model coordinates and the unit cube and back.

Each searched parameter becomes a :class:`Dimension` with three views of one value:

- the *user value*: a plain ``int``, ``float``, ``str`` or ``bool``, in bounds and on the step grid;
- the *model coordinate*, what a library's model sees (``Coordinate`` says which kind): a float on
  the warped axis (log, reverse_log) for continuous ranges, or an integer index for evenly spaced
  grids and for categories;
- the *unit coordinate* in [0, 1], for algorithms that work in a box (random, sobol, cma-es),
  where every grid point and category gets an equal share.

A normal or logNormal parameter's model coordinate is its quantile (the CDF of the value) between
the quantiles of min and max, and its unit coordinate is the same interval stretched to [0, 1]; the
inverse CDF maps back. A uniform draw of the unit cube (random, sobol, every algorithm's random
initial design) is then an exact draw of the distribution truncated to [min, max], and a model
searches where the distribution puts its mass: equal widths of its axis hold equal probability.

Fixed parameters are not dimensions: every decoded assignment carries them as written.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from scipy import stats

from ..api import Parameter, ParameterType, ParamValue, Scale
from ..api.parameters import Distribution
from ..errors import SearchError

DEFAULT_POINTS_PER_DIMENSION = 10
"""Grid points of a range that has neither a step nor a pointsPerDimension setting."""

_MISSING = object()
"""Stands for a parameter an assignment lacks; no dimension's values include it."""

_REVERSE_LOG_DECADES = 99.0
# reverse_log: ``max - value + (max - min) / 99`` is log-uniform, so the distance to max spans two
# decades: 0.9..0.999 searches ``1 - value`` log-uniformly over 0.001..0.1, as for momentum.


class Coordinate(StrEnum):
    """What a dimension's model coordinate is."""

    REAL = "real"
    """A float in ``[low, high]`` on the (possibly warped) axis; decoding snaps to the step grid."""
    ORDERED = "ordered"
    """An integer index ``0..size-1`` into evenly spaced values."""
    CATEGORY = "category"
    """An integer index ``0..size-1`` into unordered choices."""


def _clean(x: float, step: float) -> float:
    # min + k * step accumulates binary noise (0.1 + 3 * 0.1 = 0.4000000000000001): twelve
    # significant digits give the value the user expects, unless that moves it off the grid
    # (a min with more digits than that), where the raw sum is closer.
    rounded = float(f"{x:.12g}")
    return rounded if abs(rounded - x) <= step * 1e-9 else x


class Dimension(ABC):
    """One searched parameter."""

    name: str
    parameter: Parameter

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.parameter!r})"

    @property
    @abstractmethod
    def coordinate(self) -> Coordinate:
        """The kind of model coordinate."""

    @property
    @abstractmethod
    def bounds(self) -> tuple[float, float]:
        """Lowest and highest model coordinate (indices for ORDERED and CATEGORY)."""

    @property
    @abstractmethod
    def size(self) -> int | None:
        """How many distinct values the dimension has; None when continuous."""

    @abstractmethod
    def encode(self, value: ParamValue) -> float:
        """The model coordinate of a user value (an int index for ORDERED and CATEGORY)."""

    def encode_many(self, values: Sequence[object]) -> np.ndarray:
        """:meth:`encode` of each value as one float array, NaN where a value does not fit."""
        out = np.full(len(values), np.nan)
        for i, value in enumerate(values):
            with contextlib.suppress(SearchError):  # does not fit: stays NaN
                out[i] = self.encode(value)  # type: ignore[arg-type]
        return out

    @abstractmethod
    def decode(self, x: float) -> ParamValue:
        """The user value at a model coordinate, snapped to the grid and clipped to the bounds."""

    @abstractmethod
    def to_unit(self, value: ParamValue) -> float:
        """The unit coordinate of a user value, in [0, 1]."""

    @abstractmethod
    def from_unit(self, u: float) -> ParamValue:
        """The user value at a unit coordinate."""

    @abstractmethod
    def grid(self, points: int | None) -> list[ParamValue]:
        """The values grid search visits, in order."""

    @abstractmethod
    def contains(self, value: object) -> bool:
        """True when ``value`` is a value this dimension can produce (type, bounds, step, choices)."""


class CategoricalDimension(Dimension):
    """A parameter whose value is one of a list of choices."""

    def __init__(self, parameter: Parameter) -> None:
        assert parameter.values is not None
        self.name = parameter.name
        self.parameter = parameter
        self.values: tuple[ParamValue, ...] = tuple(parameter.values)

    @property
    def coordinate(self) -> Coordinate:
        """Always CATEGORY."""
        return Coordinate.CATEGORY

    @property
    def bounds(self) -> tuple[float, float]:
        """Indices of the first and last choice."""
        return 0.0, float(len(self.values) - 1)

    @property
    def size(self) -> int:
        """Number of choices."""
        return len(self.values)

    def _index(self, value: ParamValue) -> int:
        # 1 == True in Python; match on the type first so that [1, true] stay two choices.
        for i, choice in enumerate(self.values):
            if type(choice) is type(value) and choice == value:
                return i
        for i, choice in enumerate(self.values):
            if choice == value:
                return i
        raise SearchError(f"{value!r} is not one of the values of parameter {self.name!r}")

    def encode(self, value: ParamValue) -> float:
        """The index of the choice."""
        return self._index(value)

    def encode_many(self, values: Sequence[object]) -> np.ndarray:
        """Indices by one dictionary lookup per value (typed, as :meth:`_index` matches first)."""
        first: dict[tuple[type, object], int] = {}
        for i, choice in enumerate(self.values):
            first.setdefault((type(choice), choice), i)
        out = np.full(len(values), np.nan)
        for i, value in enumerate(values):
            index = first.get((type(value), value))
            if index is None:
                try:
                    index = self._index(value)  # type: ignore[arg-type]
                except (SearchError, TypeError):
                    continue
            out[i] = index
        return out

    def decode(self, x: float) -> ParamValue:
        """The choice at an index (rounded and clipped)."""
        return self.values[min(max(round(x), 0), len(self.values) - 1)]

    def to_unit(self, value: ParamValue) -> float:
        """The middle of the choice's share of [0, 1]."""
        return (self._index(value) + 0.5) / len(self.values)

    def from_unit(self, u: float) -> ParamValue:
        """The choice whose share of [0, 1] holds ``u``."""
        return self.values[min(max(int(u * len(self.values)), 0), len(self.values) - 1)]

    def grid(self, points: int | None) -> list[ParamValue]:
        """Every choice, in the declared order."""
        return list(self.values)

    def contains(self, value: object) -> bool:
        """True for one of the declared choices, with its declared type."""
        return any(type(choice) is type(value) and choice == value for choice in self.values)


class NumericDimension(Dimension):
    """An int or double range: linear, log or reverse_log scale, optional power base and step.

    Bounds and step apply to the *raw* number: the value itself, or the exponent with a power
    base. The model axis is the raw number warped by the scale (log for log, the log distance
    to max for reverse_log), so a model that is uniform on it is uniform per decade.
    """

    def __init__(self, parameter: Parameter) -> None:
        assert parameter.min is not None and parameter.max is not None
        self.name = parameter.name
        self.parameter = parameter
        self.is_int = parameter.type is ParameterType.INT
        self.base = parameter.base
        self.scale = parameter.scale
        self.min = float(parameter.min)
        self.max = float(parameter.max)
        step = parameter.step if parameter.step is not None else (1.0 if self.is_int else None)
        self.step: float | None = float(step) if step is not None else None
        if self.step is not None:
            # A tiny tolerance so that (1.0 - 0.1) / 0.1 = 8.999999999999998 still counts 9 steps.
            self.steps = math.floor((self.max - self.min) / self.step + 1e-9)
            self.top = min(_clean(self.min + self.steps * self.step, self.step), self.max)
        else:
            self.steps = 0
            self.top = self.max
        self._delta = (self.max - self.min) / _REVERSE_LOG_DECADES
        self._low_t, self._high_t = self._warp(self.min), self._warp(self.top)

    # --- raw number <-> model axis -----------------------------------------------------------

    def _warp(self, raw: float) -> float:
        if self.base is None and self.scale is Scale.LOG:
            return math.log(raw)
        if self.base is None and self.scale is Scale.REVERSE_LOG:
            return -math.log(self.max - raw + self._delta)
        return raw

    def _unwarp(self, t: float) -> float:
        if self.base is None and self.scale is Scale.LOG:
            return math.exp(t)
        if self.base is None and self.scale is Scale.REVERSE_LOG:
            return self.max + self._delta - math.exp(-t)
        return t

    # --- raw number <-> user value -----------------------------------------------------------

    def _raw_of(self, value: ParamValue) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SearchError(f"parameter {self.name!r} takes a number, got {value!r}")
        if self.base is not None:
            if value <= 0:
                raise SearchError(f"parameter {self.name!r} takes powers of {self.base:g}, got {value!r}")
            return math.log(value) / math.log(self.base)
        return float(value)

    def _snap(self, raw: float) -> float:
        """Clip a raw number to the range and round it to the step grid."""
        if self.step is None:
            return min(max(raw, self.min), self.max)
        k = min(max(round((raw - self.min) / self.step), 0), self.steps)
        return self._raw_at(k)

    def _raw_at(self, k: int) -> float:
        assert self.step is not None
        return self.min + k * self.step if self.is_int else _clean(self.min + k * self.step, self.step)

    def _value_of(self, raw: float) -> ParamValue:
        if self.is_int:
            return round(raw)
        if self.base is None:
            return _tidy(raw, self.min, self.max) if self.step is None else float(raw)
        low, high = sorted((self.base**self.min, self.base**self.max))
        return _tidy(self.base**raw, low, high)

    # --- the Dimension interface -------------------------------------------------------------

    @property
    def coordinate(self) -> Coordinate:
        """ORDERED for evenly spaced grids (linear or power steps), REAL otherwise."""
        linear = self.base is not None or self.scale is Scale.LINEAR
        return Coordinate.ORDERED if self.step is not None and linear else Coordinate.REAL

    @property
    def bounds(self) -> tuple[float, float]:
        """The warped range for REAL, the grid indices for ORDERED."""
        if self.coordinate is Coordinate.ORDERED:
            return 0.0, float(self.steps)
        return self._low_t, self._high_t

    @property
    def size(self) -> int | None:
        """Grid points on a stepped range; None for a continuous one."""
        return self.steps + 1 if self.step is not None else None

    def encode(self, value: ParamValue) -> float:
        """The grid index (ORDERED) or the warped raw number (REAL)."""
        raw = self._snap(self._raw_of(value))
        if self.coordinate is Coordinate.ORDERED:
            assert self.step is not None
            return min(max(round((raw - self.min) / self.step), 0), self.steps)
        return min(max(self._warp(raw), self._low_t), self._high_t)

    def encode_many(self, values: Sequence[object]) -> np.ndarray:
        """:meth:`encode` with numpy, for plain numbers; anything else value by value."""
        if self.base is not None or (self.step is not None and self.coordinate is Coordinate.REAL):
            return super().encode_many(values)  # power bases and stepped warped ranges: rare
        plain = [type(v) in (int, float) for v in values]
        raw = np.array([v if ok else np.nan for v, ok in zip(values, plain, strict=True)], dtype=float)
        if self.step is not None:  # ORDERED: the grid index, as _snap then encode compute it
            out = np.clip(np.round((raw - self.min) / self.step), 0, self.steps)
        else:
            raw = np.clip(raw, self.min, self.max)
            # math.log, not np.log: the coordinates must equal encode()'s to the last bit.
            if self.scale is Scale.LOG:
                raw = np.fromiter(map(math.log, raw), float, len(raw))
            elif self.scale is Scale.REVERSE_LOG:
                raw = -np.fromiter(map(math.log, self.max - raw + self._delta), float, len(raw))
            out = np.clip(raw, self._low_t, self._high_t)
        for i, ok in enumerate(plain):
            if not ok:  # numpy scalars, bools, strings, missing: encode() decides, one by one
                out[i] = super().encode_many([values[i]])[0]
        return out

    def decode(self, x: float) -> ParamValue:
        """The user value at a grid index or a warped raw number."""
        if self.coordinate is Coordinate.ORDERED:
            return self._value_of(self._raw_at(min(max(round(x), 0), self.steps)))
        t = min(max(float(x), self._low_t), self._high_t)
        return self._value_of(self._snap(self._unwarp(t)))

    def to_unit(self, value: ParamValue) -> float:
        """Grid points own equal shares of [0, 1]; a continuous range maps linearly on its axis."""
        x = self.encode(value)
        if self.coordinate is Coordinate.ORDERED:
            return (x + 0.5) / (self.steps + 1)
        return (x - self._low_t) / (self._high_t - self._low_t)

    def from_unit(self, u: float) -> ParamValue:
        """The user value at a unit coordinate."""
        u = min(max(float(u), 0.0), 1.0)
        if self.coordinate is Coordinate.ORDERED:
            return self.decode(min(int(u * (self.steps + 1)), self.steps))
        return self.decode(self._low_t + u * (self._high_t - self._low_t))

    def grid(self, points: int | None) -> list[ParamValue]:
        """Every step when a step is set (or an int range without pointsPerDimension); else
        ``points`` values evenly spaced on the model axis (log-spaced for log scale)."""
        explicit_step = self.parameter.step is not None
        if explicit_step or (self.is_int and points is None):
            return [self._value_of(self._raw_at(k)) for k in range(self.steps + 1)]
        n = points or DEFAULT_POINTS_PER_DIMENSION
        values: list[ParamValue] = []
        for t in np.linspace(self._low_t, self._high_t, n):
            value = self._value_of(self._snap(self._unwarp(float(t))))
            if value not in values:
                values.append(value)
        return values

    def contains(self, value: object) -> bool:
        """True for a plain int (int range) or float (double range), in bounds and on the grid."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.is_int != isinstance(value, int):
            return False
        raw = self._raw_of(value)
        tolerance = 1e-9 * max(1.0, abs(self.min), abs(self.max))
        if not self.min - tolerance <= raw <= self.top + tolerance:
            return False
        if self.step is None:
            return True
        k = (raw - self.min) / self.step
        return abs(k - round(k)) < 1e-6


_QUANTILE_EPSILON = 1e-9
"""Quantiles are kept this far from 0 and 1 (about six sigmas), where the inverse CDF is infinite;
the distribution drawn differs from the exact one on 2e-9 of its mass."""


class DistributionDimension(Dimension):
    """An int or double drawn from a normal or log-normal distribution, kept within min and max if given.

    Values beyond a bound are never drawn (the distribution is truncated there, not piled onto
    the bound: a pile would be the same value trial after trial, which random search avoids).
    The inverse CDF (scipy.stats' ``ppf``) turns a quantile into a value, then put on the step grid.
    """

    def __init__(self, parameter: Parameter) -> None:
        assert parameter.mean is not None and parameter.sigma is not None
        self.name = parameter.name
        self.parameter = parameter
        self.is_int = parameter.type is ParameterType.INT
        if parameter.distribution is Distribution.LOG_NORMAL:
            self.law = stats.lognorm(s=parameter.sigma, scale=math.exp(parameter.mean))
        else:
            self.law = stats.norm(loc=parameter.mean, scale=parameter.sigma)
        self.min = parameter.min
        self.max = parameter.max
        step = parameter.step if parameter.step is not None else (1.0 if self.is_int else None)
        self.step: float | None = float(step) if step is not None else None
        # The grid of a stepped parameter starts at min (at 0 without one, as hyperopt's qnormal).
        self.anchor = self.min if self.min is not None else 0.0
        low = max(_QUANTILE_EPSILON, float(self.law.cdf(self.min))) if self.min is not None else _QUANTILE_EPSILON
        high = (
            min(1 - _QUANTILE_EPSILON, float(self.law.cdf(self.max))) if self.max is not None else 1 - _QUANTILE_EPSILON
        )
        # A distribution whose mass lies almost wholly beyond a bound leaves no room between them.
        self._low_q, self._high_q = low, max(high, low + _QUANTILE_EPSILON)

    @property
    def coordinate(self) -> Coordinate:
        """Always REAL: the quantile."""
        return Coordinate.REAL

    @property
    def bounds(self) -> tuple[float, float]:
        """The quantiles of min and max (or close to 0 and 1 without them)."""
        return self._low_q, self._high_q

    @property
    def size(self) -> None:
        """None: listing the values would lose the distribution, so the dimension never counts as finite."""
        return None

    def _clip(self, raw: float) -> float:
        if self.min is not None:
            raw = max(raw, self.min)
        if self.max is not None:
            raw = min(raw, self.max)
        return raw

    def _snap(self, raw: float) -> float:
        raw = self._clip(raw)
        if self.step is None:
            return raw
        k = round((raw - self.anchor) / self.step)
        if self.max is not None:
            k = min(k, math.floor((self.max - self.anchor) / self.step + 1e-9))
        if self.min is not None:
            k = max(k, 0)
        return _clean(self.anchor + k * self.step, self.step)

    def _value_of(self, raw: float) -> ParamValue:
        if self.is_int:
            return round(raw)
        return float(f"{raw:.12g}") if self.step is None else raw

    def _number(self, value: ParamValue) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SearchError(f"parameter {self.name!r} takes a number, got {value!r}")
        return float(value)

    def encode(self, value: ParamValue) -> float:
        """The quantile of the value, within the bounds."""
        q = float(self.law.cdf(self._snap(self._number(value))))
        return min(max(q, self._low_q), self._high_q)

    def decode(self, x: float) -> ParamValue:
        """The value at a quantile: the inverse CDF, on the step grid, within min and max."""
        q = min(max(float(x), self._low_q), self._high_q)
        return self._value_of(self._snap(float(self.law.ppf(q))))

    def to_unit(self, value: ParamValue) -> float:
        """The value's quantile, as a fraction of the way from min's quantile to max's."""
        return (self.encode(value) - self._low_q) / (self._high_q - self._low_q)

    def from_unit(self, u: float) -> ParamValue:
        """The value at the fraction ``u`` of the way from min's quantile to max's."""
        u = min(max(float(u), 0.0), 1.0)
        return self.decode(self._low_q + u * (self._high_q - self._low_q))

    def grid(self, points: int | None) -> list[ParamValue]:
        """``points`` values at evenly spaced quantiles (the middles of equal-probability slices)."""
        n = points or DEFAULT_POINTS_PER_DIMENSION
        values: list[ParamValue] = []
        for k in range(n):
            value = self.decode(self._low_q + (k + 0.5) / n * (self._high_q - self._low_q))
            if value not in values:
                values.append(value)
        return values

    def contains(self, value: object) -> bool:
        """True for a plain int (int parameter) or float, within the bounds given and on the step grid."""
        if isinstance(value, bool) or not isinstance(value, int | float) or self.is_int != isinstance(value, int):
            return False
        raw = float(value)
        if not math.isfinite(raw) or self._clip(raw) != raw:
            return False
        if self.parameter.step is None:
            return True
        k = (raw - self.anchor) / self.parameter.step
        return abs(k - round(k)) < 1e-6


def dimension_of(parameter: Parameter) -> Dimension:
    """The dimension of one searched (not fixed) parameter."""
    if parameter.type is ParameterType.CATEGORICAL:
        return CategoricalDimension(parameter)
    if parameter.distribution is not Distribution.UNIFORM:
        return DistributionDimension(parameter)
    return NumericDimension(parameter)


@dataclass(frozen=True)
class SearchSpace:
    """The searched dimensions, in declaration order, and the fixed values.

    A conditional dimension (``when``) is *active* in an assignment when its parent is active and
    takes one of the listed values. Decoded and sampled assignments carry active parameters only.
    Where a model needs a full vector (:meth:`encode`, :meth:`to_unit`), an inactive dimension
    takes a constant stand-in (the first choice, the middle of a range), so that it neither moves
    the model nor tells apart two assignments that differ only in it.
    """

    dimensions: tuple[Dimension, ...]
    fixed: Mapping[str, ParamValue] = field(default_factory=dict)

    @classmethod
    def from_parameters(cls, parameters: Sequence[Parameter]) -> SearchSpace:
        """The space of a task's parameters; fixed ones are carried, never searched."""
        dimensions = tuple(dimension_of(p) for p in parameters if not p.fixed)
        fixed = {p.name: p.value for p in parameters if p.value is not None}
        return cls(dimensions, fixed)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the searched parameters."""
        return tuple(d.name for d in self.dimensions)

    @property
    def conditional(self) -> bool:
        """True when some dimension has a condition."""
        return any(d.parameter.when is not None for d in self.dimensions)

    def dimension(self, name: str) -> Dimension:
        """The searched dimension called ``name``."""
        for dimension in self.dimensions:
            if dimension.name == name:
                return dimension
        raise SearchError(f"no searched parameter is called {name!r}")

    def ordered(self) -> list[Dimension]:
        """The dimensions with every parent before its children (declaration order otherwise)."""
        placed: list[Dimension] = []
        names: set[str] = set()
        waiting = list(self.dimensions)
        while waiting:
            ready = [d for d in waiting if d.parameter.when is None or d.parameter.when.parameter in names]
            if not ready:  # a cycle or an unknown parent: validation refuses both, so keep the rest as is
                ready = waiting
            for d in ready:
                placed.append(d)
                names.add(d.name)
            waiting = [d for d in waiting if d.name not in names]
        return placed

    def is_active(self, dimension: Dimension, params: Mapping[str, ParamValue]) -> bool:
        """Whether ``dimension`` is sampled in an assignment with these (parent) values."""
        when = dimension.parameter.when
        seen: set[str] = set()
        while when is not None:
            if when.parameter in seen or when.parameter not in params:
                return False
            seen.add(when.parameter)
            value = params[when.parameter]
            if not any(type(v) is type(value) and v == value for v in when.in_):
                return False
            parent = next((d for d in self.dimensions if d.name == when.parameter), None)
            when = parent.parameter.when if parent is not None else None
        return True

    def active(self, params: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
        """``params`` without the searched parameters whose condition does not hold."""
        inactive = {d.name for d in self.dimensions if not self.is_active(d, params)}
        return {k: v for k, v in params.items() if k not in inactive}

    @property
    def size(self) -> int | None:
        """How many distinct assignments there are; None when an active dimension is continuous."""
        if not self.conditional:
            sizes = [d.size for d in self.dimensions]
            return math.prod(s for s in sizes if s is not None) if None not in sizes else None
        # Enumerate the parents' choices only; each combination multiplies the sizes of the others.
        parents = {d.parameter.when.parameter for d in self.dimensions if d.parameter.when is not None}
        heads = [d for d in self.dimensions if d.name in parents]
        total = 0
        seen: set[tuple[tuple[str, ParamValue], ...]] = set()
        for combination in itertools.product(*(d.grid(None) for d in heads)):
            chosen = self.active(dict(zip([d.name for d in heads], combination, strict=True)))
            key = tuple(sorted(chosen.items(), key=lambda kv: kv[0]))
            if key in seen:
                continue
            seen.add(key)
            sizes = [d.size for d in self.dimensions if d.name not in parents and self.is_active(d, chosen)]
            if None in sizes:
                return None
            total += math.prod(s for s in sizes if s is not None)
        return total

    def _complete(self, values: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
        return {**self.active(values), **self.fixed}

    def decode(self, coordinates: Sequence[float]) -> dict[str, ParamValue]:
        """The assignment at model coordinates (one per dimension), fixed values included."""
        return self._complete({d.name: d.decode(x) for d, x in zip(self.dimensions, coordinates, strict=True)})

    def _stand_in(self, dimension: Dimension) -> float:
        low, high = dimension.bounds
        if dimension.coordinate is Coordinate.REAL:
            return (low + high) / 2
        return float(round((low + high) / 2)) if dimension.coordinate is Coordinate.ORDERED else low

    def encode(self, params: Mapping[str, ParamValue]) -> tuple[float, ...] | None:
        """The model coordinates of an assignment (stand-ins for inactive dimensions); None when it
        lacks an active parameter or does not fit."""
        try:
            return tuple(
                d.encode(params[d.name]) if self.is_active(d, params) else self._stand_in(d) for d in self.dimensions
            )
        except (KeyError, SearchError):
            return None

    def encode_many(self, assignments: Sequence[Mapping[str, ParamValue]]) -> list[tuple[float, ...] | None]:
        """:meth:`encode` of many assignments, a dimension at a time with numpy: rebuilding a
        model from a long history converts every trial at every call."""
        if self.conditional:  # inactive dimensions take stand-ins, decided assignment by assignment
            return [self.encode(a) for a in assignments]
        columns = np.empty((len(assignments), len(self.dimensions)))
        for j, d in enumerate(self.dimensions):
            columns[:, j] = d.encode_many([a.get(d.name, _MISSING) for a in assignments])
        rows: list[list[float]] = columns.tolist()
        return [None if any(map(math.isnan, row)) else tuple(row) for row in rows]

    def from_unit(self, u: Sequence[float]) -> dict[str, ParamValue]:
        """The assignment at a point of the unit cube, fixed values included."""
        return self._complete({d.name: d.from_unit(x) for d, x in zip(self.dimensions, u, strict=True)})

    def to_unit(self, params: Mapping[str, ParamValue]) -> tuple[float, ...] | None:
        """The point of the unit cube of an assignment (0.5 for inactive dimensions); None when it
        lacks an active parameter or does not fit."""
        try:
            return tuple(d.to_unit(params[d.name]) if self.is_active(d, params) else 0.5 for d in self.dimensions)
        except (KeyError, SearchError):
            return None

    def key(self, params: Mapping[str, ParamValue]) -> tuple[float, ...] | None:
        """A hashable identity of an assignment: equal for assignments that snap to the same point."""
        return self.encode(params)

    def sample(self, rng: np.random.Generator) -> dict[str, ParamValue]:
        """One assignment drawn uniformly from the unit cube."""
        return self.from_unit(rng.random(len(self.dimensions)).tolist())

    def grid(self, points: int | None = None) -> Iterator[dict[str, ParamValue]]:
        """Every grid assignment in a stable order (the last parameter varies fastest); with
        conditions, each valid combination once (an inactive parameter's values are not multiplied in)."""
        axes = [d.grid(points) for d in self.dimensions]
        seen: set[tuple[float, ...] | None] = set()
        for combination in itertools.product(*axes):
            params = self._complete(dict(zip(self.names, combination, strict=True)))
            if self.conditional:
                key = self.key(params)
                if key in seen:
                    continue
                seen.add(key)
            yield params

    def grid_size(self, points: int | None = None) -> int:
        """How many assignments :meth:`grid` yields."""
        if self.conditional:
            return sum(1 for _ in self.grid(points))
        return math.prod(len(d.grid(points)) for d in self.dimensions)

    def contains(self, params: Mapping[str, ParamValue]) -> bool:
        """True when ``params`` names exactly the space's active parameters with values it can produce."""
        active = [d for d in self.dimensions if self.is_active(d, params)]
        if set(params) != {d.name for d in active} | set(self.fixed):
            return False
        fixed_ok = all(params[k] == v and type(params[k]) is type(v) for k, v in self.fixed.items())
        return fixed_ok and all(d.contains(params[d.name]) for d in active)


def _tidy(value: float, low: float, high: float) -> float:
    """``value`` to 12 significant digits, within [low, high]: exp(log(1e-4)) is 1.0000000000000009e-4,
    which is noise to a person reading the trial's parameters, and to no model."""
    return min(max(float(f"{value:.12g}"), low), high)
