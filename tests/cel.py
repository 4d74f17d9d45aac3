"""Evaluate the CEL that kubetune ships (CRD rules, the chart's admission policy) with cel-python.

cel-python is a CEL implementation, not the API server: the conversion of an object into CEL
values below follows Kubernetes' rules for structural schemas (a ``type: number`` field is a
double even when the JSON holds an integer; fields left out are absent, so ``has()`` is false),
and the walk evaluates each rule at its schema node with ``self`` bound to the object there.
Kubernetes' own CEL libraries (the authorizer, for one) are the API server's: tests pass their
stand-ins as ``functions``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import celpy
from celpy import celtypes

_ENV = celpy.Environment()
_PROGRAMS: dict[tuple[str, int], Any] = {}


def to_cel(value: Any, schema: Mapping[str, Any] | None = None) -> Any:
    """A JSON value as a CEL value, typed by its schema where it has one."""
    kind = (schema or {}).get("type")
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int | float):
        if kind == "number" or isinstance(value, float):
            return celtypes.DoubleType(value)
        return celtypes.IntType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, list):
        items = (schema or {}).get("items")
        return celtypes.ListType([to_cel(v, items) for v in value])
    if isinstance(value, Mapping):
        properties = (schema or {}).get("properties", {})
        extra = (schema or {}).get("additionalProperties")
        return celtypes.MapType(
            {
                celtypes.StringType(k): to_cel(v, properties.get(k, extra if isinstance(extra, dict) else None))
                for k, v in value.items()
            }
        )
    if value is None:
        return None
    raise TypeError(f"not a JSON value: {value!r}")


def evaluate(expression: str, activation: Mapping[str, Any], functions: Mapping[str, Any] | None = None) -> Any:
    """The value of a CEL expression; compiled once (per set of extra functions)."""
    key = (expression, id(functions))
    if key not in _PROGRAMS:
        _PROGRAMS[key] = _ENV.program(_ENV.compile(expression), functions=dict(functions or {}))
    return _PROGRAMS[key].evaluate(dict(activation))


def rule_failures(obj: Any, schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, message) of every rule in ``schema`` that ``obj`` breaks, as the API server reports them."""
    for rule in schema.get("x-kubernetes-validations", []):
        # An evaluation error raises: a rule that cannot be evaluated is a bug, not a verdict.
        if evaluate(rule["rule"], {"self": to_cel(obj, schema)}) != celtypes.BoolType(True):
            yield path + rule.get("fieldPath", ""), rule["message"]
    if isinstance(obj, Mapping):
        for key, sub in schema.get("properties", {}).items():
            if key in obj:
                yield from rule_failures(obj[key], sub, f"{path}.{key}")
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(obj):
            yield from rule_failures(item, schema["items"], f"{path}[{i}]")
