"""Fixtures of the chart tests: the chart rendered once per mode."""

from __future__ import annotations

from typing import Any

import pytest

from .chart import NAMESPACED, e2e_values, render


@pytest.fixture(scope="session")
def cluster_mode() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="session")
def namespaced_mode() -> list[dict[str, Any]]:
    return render(NAMESPACED)


@pytest.fixture(scope="session")
def e2e_mode() -> list[dict[str, Any]]:
    return render({**e2e_values(), "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}})
