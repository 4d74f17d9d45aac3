"""Cross-field rules that the API server checks too: one message, a CEL twin of the model's check.

The models check every rule in Python (parameters.py, task.py) with the messages below; the CRD
carries the same rules as ``x-kubernetes-validations``, so that ``kubectl apply`` of ``min > max``
is refused at once, with the same words, instead of failing later as ``Failed/InvalidSpec``.
A rule's CEL sees ``self`` as the API server builds it: absent fields are absent (no defaults in
the CRD), numbers of ``type: number`` are doubles. tests/api/test_crd_rules.py evaluates every
expression with a CEL implementation and checks that it agrees with the model on generated
objects. Rules CEL cannot state (logarithms of a power base, control characters, an installed
plugin) stay in the models only.

A rule may read only fields that the API server gives a CEL type: it builds ``self``'s type from the
structural schema (``SchemaDeclType`` in k8s.io/apiserver's pkg/cel/common/schemas.go), where a
property with no ``type`` (``value``, the items of ``values``, ``when.in``; they hold strings or
numbers) is left out, and a rule that names it does not compile, so the CRD would be refused. So
no rule here can tell a fixed parameter from a searched one, or see the choices of a categorical
one: those rules (``values`` is required for a categorical parameter and only for one) stay in the
model, and the model checks a fixed parameter's other keys with the rules below as well
(:func:`checked_by_api_server`). tests/api/test_crd_rules.py checks every rule's fields against
the schema as the API server types it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import JsonValue

BOUND_LIMIT = 1e300
"""The largest magnitude of a bound, in user units. Every algorithm works on differences and
small multiples of the bounds (TPE's Parzen estimator returns NaN for 1e307..1.7e308, CMA-ES
asserts on an infinite range); 1e300 leaves them room, and no hyperparameter comes near it."""

INT_LIMIT = 2**53
"""The largest magnitude of an int bound: beyond it a float, which the models work in, no
longer holds every integer, so values would leave the step grid."""


@dataclass(frozen=True)
class Rule:
    """One check: where it reports, what it says, and the CEL expression that holds when it passes."""

    field: str
    message: str
    cel: str

    def crd(self) -> dict[str, JsonValue]:
        """The rule as an ``x-kubernetes-validations`` entry."""
        return {"rule": self.cel, "message": self.message, "fieldPath": f".{self.field}"}


def schema_extra(rules: Sequence[Rule]) -> dict[str, JsonValue]:
    """What a model adds to its JSON schema so that the CRD carries ``rules``."""
    return {"x-kubernetes-validations": [rule.crd() for rule in rules]}


# --- Parameter ---------------------------------------------------------------------------------
# Guards mirror the order of Parameter._searched_problems: a categorical parameter has its own
# rules, and the rules after "min < max" only run when it holds. None can read ``value`` or
# ``values`` (see above), so they hold for a fixed parameter too.

_CATEGORICAL = "has(self.type) && self.type == 'categorical'"
_INT = "has(self.type) && self.type == 'int'"
_SCALE = "(has(self.scale) ? self.scale : 'linear')"
_UNIFORM = "(!has(self.distribution) || self.distribution == 'uniform')"


def _within(bound: str, limit: float) -> str:
    return f"self.{bound} >= {-limit!r} && self.{bound} <= {limit!r}"


def _bound_ok(bound: str) -> str:
    """The bound passes the limit checks, which come first in the model."""
    return f"(has(self.base) || ({_INT} ? ({_within(bound, float(INT_LIMIT))}) : ({_within(bound, BOUND_LIMIT)})))"


# A uniform numeric range with both bounds within the limits: the model's
# range rules apply.
_RANGE = (
    f"!({_CATEGORICAL}) && {_UNIFORM} && has(self.min) && has(self.max) && {_bound_ok('min')} && {_bound_ok('max')}"
)
_ORDERED = f"{_RANGE} && self.min < self.max"
# A normal or logNormal parameter: its bounds are optional, and checked on their own.
_SHAPED = f"!({_CATEGORICAL}) && !{_UNIFORM}"

MIN_BELOW_MAX = Rule(
    "min",
    "must be less than max",
    f"!(({_RANGE}) || ({_SHAPED} && has(self.min) && has(self.max))) || self.min < self.max",
)
LOG_NEEDS_POSITIVE_MIN = Rule(
    "min", "must be > 0 for log scale", f"!({_ORDERED} && !has(self.base) && {_SCALE} == 'log') || self.min > 0.0"
)
REVERSE_LOG_NEEDS_POSITIVE_MAX = Rule(
    "max",
    "must be > 0 for reverse_log scale",
    f"!({_ORDERED} && !has(self.base) && {_SCALE} == 'reverse_log') || self.max > 0.0",
)
STEP_FITS = Rule("step", "must fit the range", f"!({_ORDERED} && has(self.step)) || self.step <= self.max - self.min")
BASE_NOT_ONE = Rule("base", "must not be 1", f"!({_ORDERED} && has(self.base)) || self.base != 1.0")
BASE_LINEAR = Rule(
    "scale",
    "must be linear with a power base",
    f"!({_ORDERED} && has(self.base)) || {_SCALE} == 'linear'",
)
BASE_DOUBLE_ONLY = Rule("base", "applies to double parameters only", f"!({_ORDERED} && has(self.base)) || !({_INT})")
INT_BOUND = {
    key: Rule(
        key,
        f"must be within ±2^53 ({INT_LIMIT}) for an int parameter",
        f"!({_UNIFORM} && {_INT} && has(self.{key}) && !has(self.base)) || ({_within(key, float(INT_LIMIT))})",
    )
    for key in ("min", "max")
}
DOUBLE_BOUND = {
    key: Rule(
        key,
        f"must be within ±{BOUND_LIMIT:g}",
        f"!({_UNIFORM} && !({_CATEGORICAL}) && !({_INT}) && has(self.{key}) && !has(self.base)) "
        f"|| ({_within(key, BOUND_LIMIT)})",
    )
    for key in ("min", "max")
}
_INT_RANGE = f"{_ORDERED} && {_INT} && !has(self.base)"
_INT64_SAFE = 9.2e18  # int() of a larger double is an error in CEL; every double that large is whole anyway
WHOLE = {
    key: Rule(
        key,
        "must be an integer for an int parameter",
        f"!((({_INT_RANGE}) || ({_SHAPED} && {_INT})) && has(self.{key}) && {_within(key, _INT64_SAFE)}) "
        f"|| self.{key} == double(int(self.{key}))",
    )
    for key in ("min", "max", "step")
}
NOT_FOR_CATEGORICAL = {
    key: Rule(key, "does not apply to a categorical parameter", f"!({_CATEGORICAL}) || !has(self.{key})")
    for key in ("min", "max", "base", "step", "mean", "sigma")
}
CATEGORICAL_DISTRIBUTION = Rule(
    "distribution", "does not apply to a categorical parameter", f"!({_CATEGORICAL}) || {_UNIFORM}"
)
CATEGORICAL_SCALE = Rule(
    "scale", "does not apply to a categorical parameter", f"!({_CATEGORICAL}) || {_SCALE} == 'linear'"
)

PARAMETER_RULES: tuple[Rule, ...] = (
    MIN_BELOW_MAX,
    LOG_NEEDS_POSITIVE_MIN,
    REVERSE_LOG_NEEDS_POSITIVE_MAX,
    STEP_FITS,
    BASE_NOT_ONE,
    BASE_LINEAR,
    BASE_DOUBLE_ONLY,
    *INT_BOUND.values(),
    *DOUBLE_BOUND.values(),
    *WHOLE.values(),
    *NOT_FOR_CATEGORICAL.values(),
    CATEGORICAL_DISTRIBUTION,
    CATEGORICAL_SCALE,
)
"""Every rule of one entry of ``spec.parameters``, in the CRD and in the model."""


def checked_by_api_server(where: tuple[str | int, ...], message: str) -> bool:
    """Whether the model's problem at ``where`` (in a parameter) is one that a CRD rule reports too."""
    return any(where == (rule.field,) and message.startswith(rule.message) for rule in PARAMETER_RULES)


# --- HPOTaskSpec -------------------------------------------------------------------------------

UNIQUE_PARAMETER_NAMES = Rule(
    "parameters",
    "must not declare a parameter name twice",
    "!has(self.parameters) || self.parameters.all(p, self.parameters.exists_one(q, q.name == p.name))",
)
SPEC_RULES: tuple[Rule, ...] = (UNIQUE_PARAMETER_NAMES,)
"""Rules across the entries of ``spec``."""
