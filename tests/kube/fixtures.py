"""pytest fixtures for operator tests. Use them from another test package with, in its conftest.py:

from tests.kube.fixtures import kube, kube_api  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import kubernetes
import pytest

from tests.kube.harness import Kube, start_emulator


@pytest.fixture
def kube() -> Iterator[Kube]:
    """A fresh emulator per test (namespaces "default" and "kube-system"), in a thread of its own."""
    with start_emulator() as handle:
        yield handle


@pytest.fixture
def kube_api(kube: Kube) -> kubernetes.client.ApiClient:
    """The official synchronous client, configured for the emulator."""
    return kube.api_client
