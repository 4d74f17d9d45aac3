"""The search space as users write it: one entry per hyperparameter."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from . import rules
from .base import ApiModel, Loc, ParamValue, control_character, raise_problems
from .rules import BOUND_LIMIT, INT_LIMIT

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""Parameter names are identifiers, so that ``${params.NAME}`` and environment variables work."""


class ParameterType(StrEnum):
    DOUBLE = "double"
    INT = "int"
    CATEGORICAL = "categorical"


class Scale(StrEnum):
    LINEAR = "linear"
    LOG = "log"
    REVERSE_LOG = "reverse_log"


class Distribution(StrEnum):
    UNIFORM = "uniform"
    NORMAL = "normal"
    LOG_NORMAL = "logNormal"


class When(ApiModel):
    """The condition under which a parameter is active: another (categorical) parameter's value."""

    parameter: Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]
    """The categorical parameter this one depends on, e.g. ``optimizer``."""

    in_: Annotated[list[ParamValue], Field(alias="in", min_length=1)]
    """The parent's values for which this parameter is sampled and passed to the trial, e.g. ``[sgd]``."""

    default: ParamValue | None = None
    """What a ``${params.NAME}`` placeholder of this parameter becomes in a trial where the condition
    does not hold. Required when the trial template uses such a placeholder; the parameters file and
    the ``KUBETUNE_PARAM_*`` variables carry active parameters only."""


class Parameter(ApiModel):
    """One hyperparameter: a numeric range, a list of values, or a fixed value."""

    model_config = ConfigDict(json_schema_extra=rules.schema_extra(rules.PARAMETER_RULES))

    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]
    """Name used in ``${params.NAME}`` placeholders, in the ``KUBETUNE_PARAM_NAME`` environment
    variable and in the parameters JSON file. Letters, digits and underscores."""

    type: ParameterType = ParameterType.DOUBLE
    """double (a real number), int (an integer) or categorical (one of ``values``)."""

    min: float | None = None
    """Lower bound, inclusive (for double and int). With ``base``, the lowest exponent."""

    max: float | None = None
    """Upper bound, inclusive (for double and int). With ``base``, the highest exponent."""

    scale: Scale = Scale.LINEAR
    """How the range is searched: linear, log (equal weight per decade; min must be > 0) or
    reverse_log (dense near max, as for momentum 0.9..0.999; max must be > 0)."""

    base: Annotated[float | None, Field(gt=0)] = None
    """Power base: the value is ``base ** x`` for ``x`` in [min, max] (``base: 10, min: -5,
    max: -1`` gives 1e-5..1e-1). ``step`` then applies to the exponent."""

    step: Annotated[float | None, Field(gt=0)] = None
    """Quantization: values are ``min + k * step``. Int parameters default to 1."""

    distribution: Distribution = Distribution.UNIFORM
    """How values are drawn: uniform over the range (on the axis ``scale`` says), normal (``mean``,
    ``sigma``) or logNormal (the value's natural log is normal with ``mean`` and ``sigma``). With
    normal and logNormal, ``min`` and ``max`` are optional; given, no value beyond them is drawn (the
    distribution is truncated to them)."""

    mean: float | None = None
    """normal: the mean; logNormal: the mean of the value's natural log."""

    sigma: Annotated[float | None, Field(gt=0)] = None
    """normal: the standard deviation; logNormal: the standard deviation of the value's natural log."""

    values: Annotated[list[ParamValue] | None, Field(min_length=1)] = None
    """For categorical: the choices, strings or numbers, in the order grid search visits them."""

    value: ParamValue | None = None
    """A fixed value: the parameter is not searched, every trial gets this value. A range left
    beside it (to search again later) is ignored, but must still be a valid one."""

    when: When | None = None
    """Search this parameter only when another, categorical parameter takes one of the given
    values (``{parameter: optimizer, in: [sgd]}``); otherwise the trial does not get it at all."""

    @property
    def fixed(self) -> bool:
        """True when the parameter has a fixed value and is not searched."""
        return self.value is not None

    @property
    def low(self) -> float:
        """The smallest value in user units (``base ** min`` with a power base)."""
        assert self.min is not None
        return self.base**self.min if self.base else self.min

    @property
    def high(self) -> float:
        """The largest value in user units."""
        assert self.max is not None
        return self.base**self.max if self.base else self.max

    @model_validator(mode="after")
    def _check(self) -> Parameter:
        raise_problems("Parameter", self._problems())
        return self

    def _problems(self) -> list[tuple[Loc, str]]:
        if self.value is None:
            return self._searched_problems()
        problems = self._fixed_problems()
        if self.when is not None:
            problems.append((("when",), "does not apply to a fixed parameter"))
        # The API server cannot read ``value`` (api/rules.py), so the CRD's rules hold for a fixed
        # parameter's other keys too (`value: 3` next to `min: 5, max: 1`): the model says so first,
        # so that `kubectl apply` never refuses what `kubetune validate` accepted.
        problems += [p for p in self._searched_problems() if rules.checked_by_api_server(*p)]
        return problems

    def _searched_problems(self) -> list[tuple[Loc, str]]:
        if self.type is ParameterType.CATEGORICAL:
            return self._categorical_problems()
        if self.distribution is not Distribution.UNIFORM:
            return self._distribution_problems()
        problems = self._range_problems()
        for key in ("mean", "sigma"):
            if getattr(self, key) is not None:
                problems.append(((key,), "applies to the normal and logNormal distributions only"))
        return problems

    def _fixed_problems(self) -> list[tuple[Loc, str]]:
        value = self.value
        if isinstance(value, str) and (char := control_character(value)):
            return [(("value",), f"must not contain a control character ({char}): it goes into argv and env")]
        if self.type is ParameterType.INT and (isinstance(value, bool) or not isinstance(value, int)):
            return [(("value",), f"must be an integer for an int parameter, got {value!r}")]
        if self.type is ParameterType.DOUBLE and (isinstance(value, bool) or not isinstance(value, int | float)):
            return [(("value",), f"must be a number for a double parameter, got {value!r}")]
        if self.values is not None and value not in self.values:
            return [(("value",), "must be one of values")]
        return []

    def _categorical_problems(self) -> list[tuple[Loc, str]]:
        problems: list[tuple[Loc, str]] = []
        if not self.values:
            problems.append((("values",), "is required for a categorical parameter"))
        elif len({(type(v), v) for v in self.values}) != len(self.values):
            problems.append((("values",), "must not repeat a value"))
        for i, v in enumerate(self.values or []):
            if isinstance(v, str) and (char := control_character(v)):
                problems.append(
                    (("values", i), f"must not contain a control character ({char}): it goes into argv and env")
                )
        for key in ("min", "max", "base", "step", "mean", "sigma"):
            if getattr(self, key) is not None:
                problems.append(((key,), f"{rules.NOT_FOR_CATEGORICAL[key].message}; list the choices in values"))
        if self.distribution is not Distribution.UNIFORM:
            problems.append((("distribution",), rules.CATEGORICAL_DISTRIBUTION.message))
        if self.scale is not Scale.LINEAR:
            problems.append((("scale",), rules.CATEGORICAL_SCALE.message))
        return problems

    def _range_problems(self) -> list[tuple[Loc, str]]:
        # Values that do not belong do not hide the range's own problems, as they do not in the CRD.
        misplaced: list[tuple[Loc, str]] = []
        if self.values is not None:
            misplaced.append((("values",), f"applies to categorical parameters only (this one is {self.type})"))
        return misplaced + self._interval_problems()

    def _interval_problems(self) -> list[tuple[Loc, str]]:
        problems: list[tuple[Loc, str]] = []
        for key in ("min", "max"):
            bound = getattr(self, key)
            if bound is None:
                problems.append(((key,), f"is required for a {self.type} parameter"))
            elif not math.isfinite(bound):
                problems.append(((key,), "must be a finite number"))
            elif self.type is ParameterType.INT and self.base is None and abs(bound) > INT_LIMIT:
                problems.append(((key,), f"{rules.INT_BOUND[key].message}, got {bound:g}"))
            elif self.base is None and abs(bound) > BOUND_LIMIT:
                problems.append(((key,), f"{rules.DOUBLE_BOUND[key].message}, got {bound:g}"))
        if problems:
            return problems
        assert self.min is not None and self.max is not None
        if self.min >= self.max:
            return [(("min",), f"{rules.MIN_BELOW_MAX.message} ({self.min:g} >= {self.max:g})")]
        if self.base is not None:
            problems += self._power_problems()
        elif self.scale is Scale.LOG and self.min <= 0:
            problems.append((("min",), rules.LOG_NEEDS_POSITIVE_MIN.message))
        elif self.scale is Scale.REVERSE_LOG and self.max <= 0:
            problems.append((("max",), rules.REVERSE_LOG_NEEDS_POSITIVE_MAX.message))
        if self.type is ParameterType.INT and self.base is None:
            for key in ("min", "max"):
                if getattr(self, key) != int(getattr(self, key)):
                    problems.append(((key,), rules.WHOLE[key].message))
            if self.step is not None and self.step != int(self.step):
                problems.append((("step",), rules.WHOLE["step"].message))
        if self.step is not None and self.step > self.max - self.min:
            message = rules.STEP_FITS.message
            problems.append((("step",), f"{message}: {self.step:g} > max - min = {self.max - self.min:g}"))
        elif self.step is not None and not (self.max - self.min) / self.step <= INT_LIMIT:
            # Grid indices are counted in floats: past 2^53 steps (or an infinite count) they are not exact.
            steps = (self.max - self.min) / self.step
            problems.append((("step",), f"is too small for the range: {steps:.3g} steps, at most 2^53"))
        return problems

    def _power_problems(self) -> list[tuple[Loc, str]]:
        assert self.base is not None
        problems: list[tuple[Loc, str]] = []
        if self.base == 1:
            problems.append((("base",), rules.BASE_NOT_ONE.message))
        if self.scale is not Scale.LINEAR:
            problems.append((("scale",), f"{rules.BASE_LINEAR.message} (the exponent is searched linearly)"))
        if self.type is ParameterType.INT:
            problems.append((("base",), rules.BASE_DOUBLE_ONLY.message))
        if self.base != 1:
            # base ** bound in logarithms, so that a huge power is reported rather than overflowing.
            for key in ("min", "max"):
                magnitude = getattr(self, key) * math.log10(self.base)
                if abs(magnitude) > math.log10(BOUND_LIMIT):
                    problems.append(
                        ((key,), f"gives base ** {key} = 1e{magnitude:.0f}, outside 1e-300..1e300 (as a value)")
                    )
        return problems

    def _spread_problems(self, mean: float, sigma: float) -> list[tuple[Loc, str]]:
        # Values are drawn up to about six sigmas from the mean (search.space keeps quantiles 1e-9
        # from 0 and 1); ten sigmas must stay where every algorithm and the value itself are
        # finite (math.exp(710), the logNormal scale, overflows), and exact for an int.
        limit = float(INT_LIMIT) if self.type is ParameterType.INT else BOUND_LIMIT
        if self.distribution is Distribution.LOG_NORMAL:
            limit, what = math.log(limit), "the value's log"
        else:
            what = "the value"
        if not abs(mean) + 10 * sigma <= limit:
            return [(("sigma",), f"puts {what} beyond ±{limit:.4g} within ten sigmas of the mean (|mean| + 10 sigma)")]
        return []

    def _distribution_problems(self) -> list[tuple[Loc, str]]:
        problems: list[tuple[Loc, str]] = []
        for key in ("mean", "sigma"):
            if getattr(self, key) is None:
                problems.append(((key,), f"is required by the {self.distribution} distribution"))
        if self.mean is not None and not math.isfinite(self.mean):
            problems.append((("mean",), "must be a finite number"))
        elif self.mean is not None and self.sigma is not None:
            problems += self._spread_problems(self.mean, self.sigma)
        for key in ("base", "values"):
            if getattr(self, key) is not None:
                problems.append(((key,), f"does not apply to the {self.distribution} distribution"))
        if self.scale is not Scale.LINEAR:
            problems.append(
                (("scale",), f"must be linear with the {self.distribution} distribution (it sets the shape)")
            )
        for key in ("min", "max"):
            bound = getattr(self, key)
            if bound is not None and not math.isfinite(bound):
                problems.append(((key,), "must be a finite number"))
            elif bound is not None and self.type is ParameterType.INT and bound != int(bound):
                problems.append(((key,), rules.WHOLE[key].message))
        if self.min is not None and self.max is not None and self.min >= self.max:
            problems.append((("min",), f"{rules.MIN_BELOW_MAX.message} ({self.min:g} >= {self.max:g})"))
        if self.distribution is Distribution.LOG_NORMAL:
            for key in ("min", "max"):
                bound = getattr(self, key)
                if bound is not None and bound <= 0:
                    problems.append(((key,), "must be > 0 for the logNormal distribution (its values are positive)"))
        if self.step is not None and self.type is ParameterType.INT and self.step != int(self.step):
            problems.append((("step",), rules.WHOLE["step"].message))
        return problems
