"""Katib's trial conditions (GJSON paths, github.com/tidwall/gjson) as kubetune's CEL conditions.

Katib's trial controller reads a workload as finished when ``gjson.Get(object, condition)`` is an
object or a non-empty array (pkg/controller.v1beta1/trial/util/job_util.go). Katib documents one
shape of condition, and its examples use two:

- ``PATH.#(KEY=="VALUE")#|#(KEY=="VALUE")#``: the elements of the array at PATH that pass every
  query. Katib's default for a Job, ``status.conditions.#(type=="Complete")#|#(status=="True")#``,
  and Tekton's (``type=="Succeeded"``) are of this shape. A first query written ``#(...)``
  (GJSON's first match, an object) means the same here.
- ``PATH.[@this].#(KEY=="VALUE")#``: the object at PATH, wrapped in an array, which is non-empty
  when the object passes the query (Argo's ``status.[@this].#(phase=="Succeeded")#``).

Queries compare with ``==`` or ``!=`` to a string, a number, ``true``, ``false`` or ``null``. Any other
GJSON (modifiers, wildcards, plain paths, other operators) is refused, never guessed at.
"""

from __future__ import annotations

import json
import re

from ..api.template import CEL_VARIABLE

_KEY = r"[A-Za-z_][A-Za-z0-9_]*"
_VALUE = r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null'
_QUERY = re.compile(rf"#\(\s*({_KEY})\s*(==|!=)\s*({_VALUE})\s*\)(#?)")
_PATH = re.compile(rf"{_KEY}(?:\.{_KEY})*")
_ELEMENT = "x"
"""The name the translated condition gives each array element."""

SUPPORTED = 'PATH.#(KEY=="VALUE")# (more queries after |) or PATH.[@this].#(KEY=="VALUE")#'


class Untranslatable(ValueError):
    """A GJSON condition outside the forms Katib documents and uses; the message says why."""


def to_cel(condition: str) -> str:
    """The CEL expression over ``object`` that holds exactly when Katib's GJSON ``condition`` finds
    an object or a non-empty array in the workload."""
    text = condition.strip()
    path = _PATH.match(text)
    if path is None:
        raise Untranslatable(
            f"{condition!r} does not start with a path of field names; kubetune translates {SUPPORTED}"
        )
    rest = text[path.end() :]
    keys = path[0].split(".")
    wrapped = rest.startswith(".[@this].")
    if wrapped:
        rest = rest[len(".[@this]") :]
    if not rest.startswith(".#("):
        raise Untranslatable(f"{condition!r} has no #(...) query after its path; kubetune translates {SUPPORTED}")
    rest = rest[1:]
    tests: list[tuple[str, str, str]] = []
    while rest:
        query = _QUERY.match(rest)
        if query is None:
            raise Untranslatable(f"{condition!r}: {rest!r} is not a query kubetune translates ({SUPPORTED})")
        tests.append((query[1], query[2], query[3]))
        rest = rest[query.end() :]
        if rest:
            if not query[4] or not rest.startswith("|"):
                raise Untranslatable(
                    f"{condition!r}: queries must be chained with |, as in {SUPPORTED}; {rest!r} is not"
                )
            rest = rest[1:]
    target = ".".join((CEL_VARIABLE, *keys))
    if wrapped:
        return " && ".join(_test(target, key, op, value) for key, op, value in tests)
    each = " && ".join(_test(_ELEMENT, key, op, value) for key, op, value in tests)
    return f"has({target}) && {target}.exists({_ELEMENT}, {each})"


def _test(subject: str, key: str, op: str, value: str) -> str:
    """One GJSON query on one object: a missing key matches neither == nor != (GJSON skips it)."""
    literal = json.loads(value)
    if isinstance(literal, str):
        cel_value = "'" + literal.replace("\\", "\\\\").replace("'", "\\'") + "'"
    elif literal is None:
        cel_value = "null"
    elif isinstance(literal, bool):
        cel_value = "true" if literal else "false"
    else:  # GJSON compares numbers as numbers: an int field equals 3.0 as it equals 3
        return f"has({subject}.{key}) && double({subject}.{key}) {op} {float(literal)!r}"
    return f"has({subject}.{key}) && {subject}.{key} {op} {cel_value}"
