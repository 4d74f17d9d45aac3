"""An in-process Kubernetes API emulator and the harness to run the real Kopf operator against it.

Start with `tests.kube.fixtures.kube` (a `Kube`) and `run_kopf`; see the module docstrings for details.
"""

from tests.kube.emulator import KubeEmulator
from tests.kube.errors import ApiError
from tests.kube.harness import (
    Kube,
    kopf_test_settings,
    load_crd,
    run_kopf,
    run_kopf_async,
    start_emulator,
)
from tests.kube.resources import ResourceType
from tests.kube.workloads import Annotate, AppendFile, Call, Log, PodScript, Sleep, WriteFile, pod_args, pod_env
from tests.waiting import WaitTimeout, await_for, wait_for

__all__ = [
    "Annotate",
    "ApiError",
    "AppendFile",
    "Call",
    "Kube",
    "KubeEmulator",
    "Log",
    "PodScript",
    "ResourceType",
    "Sleep",
    "WaitTimeout",
    "WriteFile",
    "await_for",
    "kopf_test_settings",
    "load_crd",
    "pod_args",
    "pod_env",
    "run_kopf",
    "run_kopf_async",
    "start_emulator",
    "wait_for",
]
