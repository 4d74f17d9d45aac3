"""CEL (the Common Expression Language, as Kubernetes uses it) for the success and failure conditions
of a workload kind kubetune has no built-in knowledge of; parsed and evaluated with cel-python,
imported only here.

An expression is checked before it is ever evaluated, as the API server checks a CRD's rules:

- its names: ``object`` (the workload) and the variables its macros bind are the only names it
  may use, besides CEL's type names; ``obj.status`` or a bare ``Failed`` is refused;
- its estimated cost (:func:`estimated_cost`): a static bound on the steps an evaluation takes
  over the largest object the API server stores, refused above :data:`COST_LIMIT`. Like
  Kubernetes' estimator it multiplies the sizes of the lists a comprehension walks, so
  comprehensions nested over the object's lists are refused, and it charges for the data that
  concatenation and conversions create, so a ``map`` that copies a large string per item is too.

At run time every evaluation is further bounded in time and memory (executors/cel_sandbox.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import celpy
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.celtypes import BoolType
from celpy.evaluation import CELEvalError
from lark import Token, Tree

VARIABLE = "object"
"""The name an expression gives the workload object."""

MAX_OBJECT_BYTES = 1536 * 1024
"""The largest object etcd stores by default (``--max-request-bytes``, 1.5 MiB): the bound on every
string or list an expression reads from the object."""
MAX_LIST_ITEMS = MAX_OBJECT_BYTES // 2
"""The most items a list of the object can have (the shortest JSON item, ``0,``, takes 2 bytes)."""
COST_LIMIT = 100_000_000
"""The most estimated steps an expression may take: one comprehension over a list of the object,
with a body of over a hundred steps, fits; two nested ones do not."""
_BYTES_PER_STEP = 64
"""Creating data (concatenating, converting) costs one step per this many bytes made."""

TYPE_NAMES = frozenset({"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"})
"""CEL's type names, which an expression may use as values (``type(x) == string``)."""
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# Functions and methods whose result is new data as large as their input.
_MAKERS = frozenset(
    {"string", "bytes", "replace", "split", "join", "lowerAscii", "upperAscii", "trim", "substring", "format"}
)


@lru_cache(maxsize=256)
def _program(text: str) -> celpy.Runner:
    env = celpy.Environment()
    return env.program(env.compile(text))


@lru_cache(maxsize=256)
def _tree(text: str) -> Tree[Token]:
    tree: Tree[Token] = celpy.Environment().compile(text)
    return tree


def compile_problem(text: str) -> str | None:
    """Why ``text`` is not a CEL condition kubetune will evaluate, in one line, or None."""
    try:
        _program(text)
        tree = _tree(text)
    except CELParseError as error:
        return f"is not a valid CEL expression: it does not parse at line {error.line}, column {error.column}"
    except RecursionError:
        return "is not a valid CEL expression: it nests too deeply"
    except Exception as error:  # cel-python's other compile-time errors
        return f"is not a valid CEL expression: {str(error).strip().splitlines()[0] if str(error).strip() else error!r}"
    try:
        unknown = next(unknown_names(tree), None)
        cost = estimated_cost(tree)
    except RecursionError:
        return "is not a valid CEL expression: it nests too deeply"
    if unknown is not None:
        hint = f"a string is quoted ('{unknown}')" if unknown[:1].isupper() else "the workload is `object`"
        return (
            f"uses {unknown}, a name CEL does not know here: {hint}, as in "
            f"object.status.phase == 'Succeeded' (only `object` and the variables of macros are defined)"
        )
    if cost > COST_LIMIT:
        return (
            f"is too costly to evaluate: its estimated cost is {cost:.2g} steps, over the limit of {COST_LIMIT:.0e} "
            f"(a list of the object may have {MAX_LIST_ITEMS:,} items and a string {MAX_OBJECT_BYTES:,} "
            "characters: do not nest comprehensions over them, nor copy large values in one)"
        )
    return None


# ----- names


def _ident(node: Tree[Token]) -> str:
    return str(node.children[0])


def _macro_variable(node: Tree[Token]) -> str | None:
    """The variable a macro call (``list.all(x, ...)``) binds, or None for any other method call."""
    _, method, args = [*node.children, None][:3]
    if str(method) not in _MACROS or not isinstance(args, Tree) or len(args.children) != 2:
        return None
    found = _bare_ident(args.children[0])
    return found


def _bare_ident(node: Any) -> str | None:
    """The name when ``node`` is an expression that is only an identifier."""
    while isinstance(node, Tree) and len(node.children) == 1 and node.data != "ident":
        node = node.children[0]
    return _ident(node) if isinstance(node, Tree) and node.data == "ident" else None


def unknown_names(tree: Tree[Token], bound: frozenset[str] = frozenset()) -> Iterator[str]:
    """Every identifier ``tree`` uses that is neither ``object``, a type name, nor a macro's variable."""
    if tree.data == "ident":
        name = _ident(tree)
        if name != VARIABLE and name not in TYPE_NAMES and name not in bound:
            yield name
        return
    if tree.data in {"dot_ident", "dot_ident_arg", "member_object"}:
        yield "." + str(tree.children[0]) if tree.data != "member_object" else "a message type"
        return
    if tree.data == "member_dot_arg" and (variable := _macro_variable(tree)) is not None:
        target, _, args = tree.children
        yield from unknown_names(target, bound) if isinstance(target, Tree) else iter(())
        assert isinstance(args, Tree)
        yield from unknown_names(args.children[1], bound | {variable})  # type: ignore[arg-type]
        return
    for child in tree.children:
        if isinstance(child, Tree):
            yield from unknown_names(child, bound)


# ----- cost


@dataclass(frozen=True)
class _Estimate:
    """Steps to evaluate an expression, and how large its value can be (items or characters)."""

    cost: float
    size: float


def estimated_cost(tree: Tree[Token]) -> float:
    """An upper bound on the steps an evaluation of ``tree`` takes over any object etcd can store."""
    return _estimate(tree, {}).cost


def _estimate(node: Any, bound: Mapping[str, float]) -> _Estimate:
    if isinstance(node, Token):
        text = str(node)
        return _Estimate(1, max(len(text) - 2, 1) if node.type in ("STRING_LIT", "MLSTRING_LIT", "BYTES_LIT") else 1)
    if not isinstance(node, Tree):
        return _Estimate(0, 0)
    kind = node.data
    if kind == "ident":
        name = _ident(node)
        return _Estimate(1, MAX_OBJECT_BYTES if name == VARIABLE else bound.get(name, 1))
    if kind == "member_dot_arg":
        return _method(node, bound)
    if kind == "ident_arg":
        function, args = [*node.children, None][:2]
        inner = [_estimate(a, bound) for a in (args.children if isinstance(args, Tree) else [])]
        size = max((e.size for e in inner), default=1)
        makes = str(function) in _MAKERS
        made = size / _BYTES_PER_STEP if makes else 0
        return _Estimate(1 + sum(e.cost for e in inner) + made, size if makes else 1)
    parts = [_estimate(c, bound) for c in node.children if c is not None]
    # The grammar wraps every operand in a chain of one-child rules (expr, conditionalor, ...): only
    # a node that combines values is a step.
    cost = (1 if len(parts) > 1 else 0) + sum(p.cost for p in parts)
    if kind in ("member_dot", "member_index"):
        return _Estimate(cost, parts[0].size)
    first = node.children[0] if node.children else None
    concatenates = isinstance(first, Tree) and first.data == "addition_add"
    if concatenates and not any(_is_number(c) for c in node.children):  # `a + 1` adds: it makes no new data
        size = parts[0].size + parts[1].size  # a concatenation makes a value as large as both
        return _Estimate(cost + size / _BYTES_PER_STEP, size)
    if kind in ("list_lit", "map_lit", "exprlist", "mapinits"):
        return _Estimate(cost, sum(p.size for p in parts) or 1)
    if kind == "expr" and len(parts) == 3:  # a ? b : c
        return _Estimate(cost, max(parts[1].size, parts[2].size))
    if len(parts) == 1:
        return _Estimate(cost, parts[0].size)
    return _Estimate(cost, max((p.size for p in parts), default=1))


def _is_number(node: Any) -> bool:
    """Whether ``node`` is only a number literal (through the grammar's chain of one-child rules)."""
    while isinstance(node, Tree) and len(node.children) == 1:
        node = node.children[0]
    return isinstance(node, Token) and node.type in ("INT_LIT", "UINT_LIT", "FLOAT_LIT")


def _method(node: Tree[Token], bound: Mapping[str, float]) -> _Estimate:
    target, method, args = [*node.children, None][:3]
    base = _estimate(target, bound)
    variable = _macro_variable(node)
    if variable is not None:
        assert isinstance(args, Tree)
        items = min(base.size, MAX_LIST_ITEMS)
        # An item of a list of the object is as large as the object allows; of a literal, small.
        item = MAX_OBJECT_BYTES if base.size >= MAX_LIST_ITEMS else 1
        body = _estimate(args.children[1], {**bound, variable: item})
        size = items * body.size if str(method) == "map" else base.size
        return _Estimate(base.cost + items * (1 + body.cost), size)
    inner = [_estimate(a, bound) for a in (args.children if isinstance(args, Tree) else [])]
    made = str(method) in _MAKERS
    size = max([base.size, *(e.size for e in inner)]) if made else 1
    return _Estimate(1 + base.cost + sum(e.cost for e in inner) + (size / _BYTES_PER_STEP if made else 0), size)


# ----- evaluation


class Absent(Exception):
    """The expression read a field the object does not have (yet)."""


def evaluate(text: str, obj: Mapping[str, Any]) -> bool:
    """Whether the condition holds of ``obj``, in this process (the sandbox's worker calls it).

    Raises :class:`Absent` when it reads a field the object lacks (a condition over
    ``object.status`` before the controller wrote one: "not yet", as ``has()`` would say), and
    ``ValueError`` with a one-line reason for any other error, or a value that is not a bool.
    """
    try:
        result = _program(text).evaluate({VARIABLE: json_to_cel(dict(obj))})
    except CELEvalError as error:
        cause = error.args[1] if len(error.args) > 1 else None
        message = str(error.args[0]) if error.args else str(error)
        if cause is KeyError or (cause is TypeError and message.startswith("None with type")):
            raise Absent(message) from None
        raise ValueError(" ".join(message.split())[:300]) from None
    if not isinstance(result, BoolType):
        raise ValueError(f"its value is a {type(result).__name__}, not true or false")
    return bool(result)


def holds(text: str, obj: Mapping[str, Any]) -> bool:
    """Whether the condition holds of ``obj``, evaluated in this process (a field it reads that is
    absent makes it false; other errors raise ``ValueError``). The operator evaluates conditions
    through executors/cel_sandbox.py instead, within a time and memory budget."""
    try:
        return evaluate(text, obj)
    except Absent:
        return False
