"""Fixtures of the real-API-server tier: control planes per release, a fake GPU node, the install.

On a machine without the binaries the tier is not collected, and the run ends with one line
saying why and how to get them (controlplane.py; tests/conftest.py writes the line). A control
plane is started once per release for the whole run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import controlplane
from .cluster import Cluster
from .controlplane import ControlPlane

HERE = Path(__file__).resolve().parent
REASON = controlplane.missing()
VERSIONS = controlplane.versions()
TIME_LIMIT = 900
"""Seconds a test of this tier may take (pyproject's 300 elsewhere): the first test that needs a control
plane, or the cluster, also waits for it to start and for kubetune to be installed."""


# Without the binaries nothing here is collected, and the run's summary says so in one line.
collect_ignore_glob = ["test_*.py"] if REASON else []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Called with the whole run's tests. This tier's get the longer limit, and one xdist group: in a
    parallel run one worker runs them all, so that each control plane is started once, not once per
    worker. They go first: the longest group, started last, would leave the other workers idle."""
    tier = [item for item in items if item.path.is_relative_to(HERE)]
    for item in tier:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TIME_LIMIT))
        item.add_marker(pytest.mark.xdist_group("realcluster"))
    items[:] = tier + [item for item in items if not item.path.is_relative_to(HERE)]


@pytest.fixture(scope="session")
def _planes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ControlPlane]]:
    started: dict[str, ControlPlane] = {}
    yield started
    for plane in started.values():
        plane.stop()


def _plane(version: str, started: dict[str, ControlPlane], tmp_path_factory: pytest.TempPathFactory) -> ControlPlane:
    if version not in started:
        plane = ControlPlane(version, tmp_path_factory.mktemp(f"control-plane-{version}"))
        started[version] = plane
        plane.start()
    return started[version]


@pytest.fixture(scope="session", params=VERSIONS or ["none"])
def plane(
    request: pytest.FixtureRequest, _planes: dict[str, ControlPlane], tmp_path_factory: pytest.TempPathFactory
) -> ControlPlane:
    """A control plane of each release present, oldest first (1.30, the oldest the chart supports, and the newest)."""
    return _plane(str(request.param), _planes, tmp_path_factory)


@pytest.fixture(scope="session")
def cluster(_planes: dict[str, ControlPlane], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The newest release with a fake GPU node and kubetune installed from deploy/kubetune.yaml (the
    operator's Deployment scaled to 0: tests run the operator as a local process with its token)."""
    plane = _plane(VERSIONS[-1], _planes, tmp_path_factory)
    found = Cluster(plane, tmp_path_factory.mktemp("cluster"))
    found.start()
    yield found
    found.stop()


@pytest.fixture
def namespace(cluster: Cluster) -> str:
    """A new namespace for one test, with its default ServiceAccount."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.core.create_namespace({"metadata": {"name": name}})
    cluster.plane.wait_for_namespace_account(name)
    return name


@pytest.fixture
def operator(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, whose operator replicas (started by the test) are stopped after it."""
    yield cluster
    cluster.stop_operators()
