"""CEL (the Common Expression Language, as Kubernetes uses it) for the success and failure conditions
of a workload kind kubetune has no built-in knowledge of; evaluated with cel-python, imported only here."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import celpy
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.celtypes import BoolType

VARIABLE = "object"
"""The name an expression gives the workload object."""


@lru_cache(maxsize=256)
def _program(text: str) -> celpy.Runner:
    env = celpy.Environment()
    return env.program(env.compile(text))


def compile_problem(text: str) -> str | None:
    """Why ``text`` is not a CEL expression, in one line, or None."""
    try:
        _program(text)
    except CELParseError as error:
        return f"is not a valid CEL expression: it does not parse at line {error.line}, column {error.column}"
    except Exception as error:  # cel-python's other compile-time errors
        return f"is not a valid CEL expression: {str(error).strip().splitlines()[0] if str(error).strip() else error!r}"
    return None


def holds(text: str, obj: Mapping[str, Any]) -> bool:
    """Whether the expression is true of ``obj``; a field it reads that is absent makes it false.

    A condition over ``object.status`` cannot be true before the controller wrote a status, so an
    evaluation error (a missing field) means "not yet", as ``has()`` would.
    """
    try:
        result = _program(text).evaluate({VARIABLE: json_to_cel(dict(obj))})
    except Exception:  # celpy.CELEvalError, or an error value it raises as one
        return False
    return isinstance(result, BoolType) and bool(result)
