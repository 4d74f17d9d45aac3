"""The chart passes `helm lint --strict`, run by Helm's own Go library (no helm binary needed)."""

from __future__ import annotations

from typing import Any

import helm_python
import pytest

from .chart import CHART, KUBE_VERSIONS, NAMESPACED, e2e_values

INFO = 1  # helm lint severities: 1 info, 2 warning, 3 error


@pytest.mark.parametrize(
    "values",
    [None, NAMESPACED, e2e_values()],
    ids=["cluster-wide", "namespaced", "e2e-values"],
)
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_chart_lints_without_warnings(values: dict[str, Any] | None, kube_version: str) -> None:
    report = helm_python.lint(CHART, values, strict=True, kube_version=f"v{kube_version}.0")

    problems = [m for m in report["messages"] if m["severity"] > INFO]
    assert problems == []
    assert report["errors"] == []
    assert report["total_charts_linted"] == 1


def test_lint_reports_values_that_break_the_schema() -> None:
    report = helm_python.lint(CHART, {"replicaCount": "two"}, strict=True)

    assert any("/replicaCount" in error for error in report["errors"])
