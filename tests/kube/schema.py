"""Structural-schema handling of custom resources: pruning, defaulting and validation, as on a real API server.

Pruning matters most to an operator: a real server silently drops status fields the CRD does not declare,
so an emulator that kept them would let a test pass that fails on a cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonschema

Schema = Mapping[str, Any]


def prune(value: Any, schema: Schema | None) -> Any:
    """Drop object fields the schema does not declare (unless x-kubernetes-preserve-unknown-fields)."""
    if schema is None:
        return value
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        if schema.get("x-kubernetes-embedded-resource"):
            properties = {
                "apiVersion": {},
                "kind": {},
                "metadata": {"x-kubernetes-preserve-unknown-fields": True},
                **(properties or {}),
            }
        result = {}
        for key, item in value.items():
            if properties is not None and key in properties:
                result[key] = prune(item, properties[key])
            elif isinstance(additional, Mapping):
                result[key] = prune(item, additional)
            elif preserve or additional is True:
                result[key] = item
        return result
    if isinstance(value, list):
        return [prune(item, schema.get("items")) for item in value]
    return value


def apply_defaults(value: Any, schema: Schema | None) -> Any:
    """Fill `default:` values of absent properties, recursively, as the API server does on create and update."""
    if schema is None:
        return value
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = apply_defaults(value[key], sub)
        additional = schema.get("additionalProperties")
        if isinstance(additional, Mapping):
            for key in value:
                value[key] = apply_defaults(value[key], additional)
    elif isinstance(value, list):
        return [apply_defaults(item, schema.get("items")) for item in value]
    return value


def to_json_schema(schema: Any) -> Any:
    """OpenAPI v3 (as CRDs use it) to JSON Schema: `nullable`, int-or-string, and no x-kubernetes-* keys."""
    if isinstance(schema, list):
        return [to_json_schema(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key in {"nullable", "format", "description", "example", "externalDocs"}:
            continue
        if key in {"properties", "patternProperties"}:
            result[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        else:
            result[key] = to_json_schema(value)
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if schema.get("nullable") and "type" in result:
        result["type"] = [result["type"], "null"]
    return result


def validation_errors(obj: Mapping[str, Any], schema: Schema) -> list[tuple[str, str]]:
    """(field path, message) for every violation; metadata is checked by the API server itself, not the CRD."""
    json_schema = to_json_schema(schema)
    json_schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    validator = jsonschema.Draft7Validator(json_schema)
    errors = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
        errors.append((path or "<root>", error.message))
    return errors
