"""Evaluate the CEL that kubetune ships (CRD rules, the chart's admission policy) with cel-python.

cel-python is a CEL implementation, not the API server: the conversion of an object into CEL
values below follows Kubernetes' rules for structural schemas (a ``type: number`` field is a
double even when the JSON holds an integer; fields left out are absent, so ``has()`` is false),
and the walk evaluates each rule at its schema node with ``self`` bound to the object there.
Kubernetes' own CEL libraries (the authorizer, for one) are the API server's: tests pass their
stand-ins as ``functions``.

cel-python does not type-check a rule against the schema, and the API server does: ``untyped_reads``
finds what its compiler would call an undefined field, from the types it gives the schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from celpy.celparser import CELParser
from lark import Token, Tree

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


# --- The CEL types the API server gives a structural schema ------------------------------------


@dataclass(frozen=True)
class DeclType:
    """A CEL type as the API server declares it for a schema: an object's fields, a list's or map's
    element; scalars and ``dyn`` (x-kubernetes-int-or-string) have neither."""

    kind: str
    fields: Mapping[str, DeclType] | None = None
    element: DeclType | None = None


_DYN = DeclType("dyn")
_SCALARS = {"string", "boolean", "number", "integer"}
# k8s.io/apiserver pkg/cel/escaping.go: names that are CEL keywords are read as __name__.
_RESERVED = {
    *("true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if"),
    *("import", "let", "loop", "package", "namespace", "return", "var", "void", "while"),
}
_ESCAPES = {"__": "__underscores__", ".": "__dot__", "-": "__dash__", "/": "__slash__"}


def cel_name(name: str) -> str | None:
    """The name a rule reads a property by (pkg/cel/escaping.go Escape), or None: not readable."""
    if not name or name[0].isdigit() or not re.fullmatch(r"[A-Za-z0-9_./-]+", name):
        return None
    if name in _RESERVED:
        return f"__{name}__"
    return re.sub(r"__|[-./]", lambda m: _ESCAPES[m.group()], name)


def _with_type_and_object_meta(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The root of a resource: apiVersion, kind, metadata.name and metadata.generateName are always there."""
    string = {"type": "string"}
    meta = {"type": "object", "properties": {"name": string, "generateName": string}}
    return {
        **schema,
        "properties": {**schema.get("properties", {}), "apiVersion": string, "kind": string, "metadata": meta},
    }


def decl_type(schema: Mapping[str, Any], resource_root: bool = False) -> DeclType | None:
    """The CEL type of values of ``schema``, or None where rules cannot see them.

    A mirror of SchemaDeclType (k8s.io/apiserver pkg/cel/common/schemas.go, which
    k8s.io/apiextensions-apiserver's pkg/apiserver/schema/cel/model calls for a CRD): a schema with
    no ``type`` (x-kubernetes-preserve-unknown-fields alone) has none, nor has a list or map of
    such; an object lists only its properties that have one; int-or-string is ``dyn``.
    """
    if schema.get("x-kubernetes-int-or-string"):
        return _DYN
    if resource_root:
        schema = _with_type_and_object_meta(schema)
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        if not isinstance(items, Mapping):
            return None
        element = decl_type(items, bool(items.get("x-kubernetes-embedded-resource")))
        return None if element is None else DeclType("list", element=element)
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            element = decl_type(extra, bool(extra.get("x-kubernetes-embedded-resource")))
            return None if element is None else DeclType("map", element=element)
        fields = {}
        for name, prop in schema.get("properties", {}).items():
            typed, escaped = decl_type(prop, bool(prop.get("x-kubernetes-embedded-resource"))), cel_name(name)
            if typed is not None and escaped is not None:
                fields[escaped] = typed
        return DeclType("object", fields=fields)
    return DeclType(kind) if kind in _SCALARS else None


_MACROS = {"all", "exists", "exists_one", "map", "filter"}


def _reads(node: Tree[Token] | Token, scope: Mapping[str, DeclType], found: list[str]) -> DeclType | None:
    """The type of ``node`` where it is known; every selection of an undeclared field goes to ``found``."""
    if isinstance(node, Token):
        return None
    children = node.children
    if node.data == "ident":
        return scope.get(str(children[0]))
    if node.data == "member_dot":
        base, name = _reads(children[0], scope, found), str(children[1])
        if base is not None and base.kind == "object":
            assert base.fields is not None
            if name not in base.fields:
                found.append(name)
            return base.fields.get(name)
        return base.element if base is not None and base.kind == "map" else None
    if node.data == "member_index":
        base = _reads(children[0], scope, found)
        _reads(children[1], scope, found)
        return base.element if base is not None and base.kind in ("list", "map") else None
    if node.data == "member_dot_arg":
        base, method = _reads(children[0], scope, found), str(children[1])
        args = children[2].children if len(children) > 2 and isinstance(children[2], Tree) else []
        if method in _MACROS and args and base is not None and base.kind in ("list", "map"):
            # A macro's first argument names each element of a list, each key of a map.
            assert isinstance(args[0], Tree) and base.element is not None
            variable = next(iter(args[0].scan_values(lambda v: isinstance(v, Token))))
            scope = {**scope, str(variable): base.element if base.kind == "list" else DeclType("string")}
            args = args[1:]
        for arg in args:
            _reads(arg, scope, found)
        return None
    kinds = [_reads(child, scope, found) for child in children]
    return kinds[0] if len(children) == 1 else None


def untyped_reads(rule: str, typed: DeclType) -> list[str]:
    """The fields ``rule`` reads from ``self`` or ``oldSelf`` (of type ``typed``) that the API server
    does not declare: its compiler refuses the rule with "undefined field" for each."""
    found: list[str] = []
    _reads(CELParser().parse(rule), {"self": typed, "oldSelf": typed}, found)
    return found


def schema_rules(
    schema: Mapping[str, Any], path: str = "", root: bool = True
) -> Iterator[tuple[str, str, DeclType | None]]:
    """(where, rule, the type of ``self`` there) for every x-kubernetes-validations rule in ``schema``."""
    embedded = root or bool(schema.get("x-kubernetes-embedded-resource"))
    for rule in schema.get("x-kubernetes-validations", []):
        yield path or ".", rule["rule"], decl_type(schema, embedded)
    for name, prop in schema.get("properties", {}).items():
        yield from schema_rules(prop, f"{path}.{name}", root=False)
    for key, suffix in (("items", "[*]"), ("additionalProperties", ".*")):
        if isinstance(schema.get(key), Mapping):
            yield from schema_rules(schema[key], path + suffix, root=False)
