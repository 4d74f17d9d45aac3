"""values.yaml is documented, and values.schema.json makes Helm reject values that cannot work."""

from __future__ import annotations

import json
import re
from typing import Any

import helm_python
import pytest
import yaml

from .chart import CHART, render

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": "two"},
        {"replicaCount": -1},
        {"replicas": 2},
        {"image": {"repository": "kubetune/operator", "pullPolicy": "IfNotPresent", "registry": "x"}},
        {"image": {"pullPolicy": "Sometimes"}},
        {"image": {"digest": "latest"}},
        {"watchNamespaces": "team-a"},
        {"watchNamespaces": ["Team_A"]},
        {"watchNamespaces": ["team-a", "team-a"]},
        {"logFormat": "xml"},
        {"verbose": "yes"},
        {"healthPort": 0},
        {"metricsPort": 70000},
        {"serviceMonitor": {"interval": "often"}},
        {"podDisruptionBudget": {"minAvailable": "half"}},
        {"resources": {"requests": {"memory": "lots"}}},
        {"resources": {"limits": {"cpu": "1"}, "claims": []}},
        {"tmpSizeLimit": "big"},
        {"serviceAccount": {"annotations": {"a": 1}}},
    ],
    ids=lambda values: json.dumps(values, separators=(",", ":")),
)
def test_schema_rejects_wrong_values(values: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        render(values)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"healthPort": 9090, "metricsPort": 9090}, "healthPort and metricsPort must differ"),
        ({"serviceMonitor": {"enabled": True}, "service": {"enabled": False}}, "serviceMonitor.enabled needs"),
    ],
)
def test_templates_reject_values_that_contradict_each_other(values: dict[str, Any], reason: str) -> None:
    with pytest.raises(helm_python.HelmRenderError, match=re.escape(reason)):
        render(values)


def test_schema_accepts_the_defaults_and_valid_alternatives() -> None:
    render(
        {
            "replicaCount": 3,
            "image": {"digest": "sha256:" + "a" * 64},
            "podDisruptionBudget": {"enabled": True, "minAvailable": "50%"},
            "resources": {"requests": {"cpu": 0.5, "memory": "300M"}, "limits": {"memory": "1Gi"}},
            "serviceMonitor": {"enabled": True, "interval": "1m30s", "scrapeTimeout": "10s"},
        }
    )


def _value_paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path != "resources":
            paths.extend(_value_paths(value, f"{path}."))
        else:
            paths.append(path)
    return paths


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        if sub.get("additionalProperties") is False and path != "resources":
            paths.extend(_schema_paths(sub, f"{path}."))
        else:
            paths.append(path)
    return paths


def test_schema_describes_exactly_the_values_in_values_yaml() -> None:
    # `global` is the one key Helm may pass down from a parent chart.
    assert sorted(_schema_paths(SCHEMA)) == sorted(["global", *_value_paths(VALUES)])


def test_schema_closes_every_object_it_describes() -> None:
    def open_objects(schema: dict[str, Any], path: str) -> list[str]:
        found = []
        if "properties" in schema and schema.get("additionalProperties") is not False:
            found.append(path or "(root)")
        for key, sub in schema.get("properties", {}).items():
            found.extend(open_objects(sub, f"{path}.{key}"))
        return found

    assert open_objects(SCHEMA, "") == []


def test_every_value_has_a_comment_that_starts_with_its_key() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    values = set(_value_paths(VALUES))
    commented = set()
    stack: list[tuple[int, str]] = []
    for number, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z][A-Za-z0-9]*):", line)
        if not match:
            continue
        indent, key = len(match.group(1)), match.group(2)
        stack = [(i, k) for i, k in stack if i < indent] + [(indent, key)]
        path = ".".join(k for _, k in stack)
        start = number
        while start > 0 and lines[start - 1].strip().startswith("#"):
            start -= 1
        if start < number and lines[start].strip().startswith(f"# {path} "):
            commented.add(path)

    assert sorted(values - commented) == []
