"""Helpers for the chart tests: render the chart with Helm's engine, validate the objects."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kubetune"

# Kubernetes versions the rendered objects are validated against: the chart's kubeVersion floor and
# the newest version kubernetes-validate ships schemas for.
KUBE_VERSIONS = ("1.29", kubernetes_validate.utils.major_minor(kubernetes_validate.utils.latest_version()))

# Kinds that are not Kubernetes' own, so kubernetes-validate has no schema for them.
FOREIGN_KINDS = {"ServiceMonitor"}

# Kinds the chart renders only for newer clusters (the template checks .Capabilities.KubeVersion;
# the offline renderer reports a recent version), so older schemas cannot know them.
NEWER_KINDS = {"ValidatingAdmissionPolicy": (1, 30), "ValidatingAdmissionPolicyBinding": (1, 30)}

NAMESPACED = {"watchNamespaces": ["team-a", "team-b"]}


def _load_renderer() -> ModuleType:
    """deploy/render.py, the one place that renders the chart (the tests and `make deploy` share it)."""
    spec = importlib.util.spec_from_file_location("kubetune_chart_render", ROOT / "deploy" / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


renderer = _load_renderer()


def render(values: dict[str, Any] | None = None, namespace: str = "kubetune-system") -> list[dict[str, Any]]:
    """The chart's objects rendered by Helm's engine with ``values``."""
    return [manifest.obj for manifest in renderer.render(values, namespace=namespace)]


def of_kind(objects: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def one(objects: Iterable[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def e2e_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((ROOT / "e2e" / "values.yaml").read_text())
    return values


def validation_problems(objects: Iterable[dict[str, Any]], version: str) -> list[str]:
    """Every way ``objects`` break Kubernetes' own (strict) schemas for ``version``."""
    problems = []
    major_minor = tuple(int(part) for part in version.split(".")[:2])
    for obj in objects:
        if obj["kind"] in FOREIGN_KINDS or major_minor < NEWER_KINDS.get(obj["kind"], (0, 0)):
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {where}: {error.message}")
        except kubernetes_validate.utils.SchemaNotFoundError as error:
            problems.append(error.message)
    return problems
