"""CustomResourceDefinitions generated from the pydantic models.

pydantic writes JSON Schema 2020-12; the Kubernetes API server wants a *structural* OpenAPI v3
schema. The translation is mechanical: inline ``$ref``, turn ``Optional[X]`` into ``X`` (a
missing field is how Kubernetes spells null), drop titles and unsupported formats, write
exclusive bounds the OpenAPI 3.0 way, and keep values of mixed scalar types with
``x-kubernetes-preserve-unknown-fields`` (pydantic still checks them).
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from .. import names
from .task import HPOTask
from .trial import Trial

Schema = dict[str, Any]

# Formats the API server understands; others ("duration", "uri"...) are dropped.
_FORMATS = {"int32", "int64", "float", "double", "byte", "date", "date-time", "password"}
_SCALARS = {"boolean", "integer", "number", "string"}
_DROPPED = {"title", "default", "discriminator", "examples", "$defs", "readOnly", "writeOnly"}


def openapi_schema(model: type[BaseModel]) -> Schema:
    """The structural OpenAPI v3 schema of ``model``, as a CRD version carries it."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    return _convert(raw, defs)


def _convert(node: Schema, defs: dict[str, Schema]) -> Schema:
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].split("/")[-1]])
        # A field's own description beats the referenced model's.
        target.update({k: v for k, v in node.items() if k != "$ref"})
        return _convert(target, defs)
    if "anyOf" in node:
        return _convert(_collapse(node), defs)
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "description":
            out[key] = " ".join(value.replace("``", "`").split())
        elif key == "format":
            if value in _FORMATS:
                out[key] = value
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = _convert(value, defs)
        elif key == "additionalProperties":
            continue  # booleans: unknown fields are pruned by the API server and rejected by pydantic
        else:
            out[key] = value
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _collapse(node: Schema) -> Schema:
    """Fold ``anyOf`` into one schema: drop the null branch, merge numeric ones, keep mixed scalars."""
    branches = [b for b in node["anyOf"] if b.get("type") != "null"]
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    types = {b.get("type") for b in branches}
    if len(branches) == 1:
        return {**branches[0], **rest}
    if types == {"integer", "number"}:
        merged = {k: v for b in branches for k, v in b.items()}
        return {**merged, **rest, "type": "number"}
    if types <= _SCALARS:
        return {**rest, "x-kubernetes-preserve-unknown-fields": True}
    raise ValueError(f"cannot express this union in a structural schema: {node}")


def _crd(
    model: type[BaseModel],
    kind: str,
    plural: str,
    singular: str,
    short_names: tuple[str, ...],
    columns: list[Schema],
) -> Schema:
    schema = openapi_schema(model)
    schema["properties"]["metadata"] = {"type": "object"}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{names.GROUP}"},
        "spec": {
            "group": names.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                **({"shortNames": list(short_names)} if short_names else {}),
                "categories": [names.CATEGORY],
            },
            "versions": [
                {
                    "name": names.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def _column(name: str, path: str, type_: str, description: str, priority: int = 0) -> Schema:
    column: Schema = {"name": name, "type": type_, "jsonPath": path, "description": description}
    if priority:
        column["priority"] = priority
    return column


def task_crd() -> Schema:
    """The HPOTask CustomResourceDefinition."""
    return _crd(
        HPOTask,
        names.TASK_KIND,
        names.TASK_PLURAL,
        names.TASK_SINGULAR,
        names.TASK_SHORT_NAMES,
        [
            _column("Phase", ".status.phase", "string", "Phase of the task"),
            _column("Best", ".status.bestTrial.objective", "number", "Best objective value so far"),
            _column("Front", ".status.frontSize", "integer", "Trials on the Pareto front (multi-objective)"),
            _column("Trials", ".status.progress", "string", "Finished trials out of maxTrials"),
            _column("Running", ".status.trials.running", "integer", "Trials running now"),
            _column("Queued", ".status.trials.queued", "integer", "Trials waiting for Kueue to admit them"),
            _column("Metric", ".spec.objective.metric", "string", "Objective metric", priority=1),
            _column("Algorithm", ".spec.algorithm.name", "string", "Search algorithm", priority=1),
            _column("Age", ".metadata.creationTimestamp", "date", "Time since creation"),
        ],
    )


def trial_crd() -> Schema:
    """The Trial CustomResourceDefinition."""
    return _crd(
        Trial,
        names.TRIAL_KIND,
        names.TRIAL_PLURAL,
        names.TRIAL_SINGULAR,
        (),
        [
            _column("Task", ".spec.task", "string", "The HPOTask of this trial"),
            _column("Phase", ".status.phase", "string", "Phase of the trial"),
            _column("Objective", ".status.objective", "number", "Objective value"),
            _column("Reason", ".status.reason", "string", "Why the trial is in this phase", priority=1),
            _column("Age", ".metadata.creationTimestamp", "date", "Time since creation"),
        ],
    )


def all_crds() -> dict[str, Schema]:
    """Every CRD kubetune installs, by file name."""
    return {
        f"{names.GROUP}_{names.TASK_PLURAL}.yaml": task_crd(),
        f"{names.GROUP}_{names.TRIAL_PLURAL}.yaml": trial_crd(),
    }
