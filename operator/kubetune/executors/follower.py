"""The sidecar that follows a trial's metrics file (``metricsCollector.follow``), as rendering adds it to
the primary pod's template; what it runs is ``kubetune follow-file`` (executors/file_tail.py)."""

from __future__ import annotations

import os
import posixpath
from typing import Any

from .. import __version__, names
from ..api import MetricsCollector, MetricsFormat
from .file_tail import CHECK_FLAG

FOLLOWER_VOLUME = "kubetune-metrics"
"""The emptyDir holding a followed metrics file's directory."""


def follower_image() -> str:
    """The follower sidecar's image: the operator's setting (the chart gives its own image), else the release's."""
    return os.environ.get(names.ENV_FOLLOWER_IMAGE) or f"kubetune/operator:{__version__}"


def add_follower(pod: dict[str, Any], primary: dict[str, Any], collector: MetricsCollector) -> None:
    """A native sidecar (Kubernetes 1.29+) that prints the metrics file's lines; it is ready before the
    primary container starts, and the kubelet stops it once the main containers ended, so the trial never
    waits on it. The file's directory is the primary container's own volume if it mounts one there, else an
    emptyDir (which hides what the image has in that directory, as Katib's File collector does)."""
    path, directory = str(collector.path), str(collector.shared_directory())
    mounts = [m for m in primary.get("volumeMounts") or [] if isinstance(m, dict)]
    mounted = next((m for m in mounts if posixpath.normpath(str(m.get("mountPath"))) == directory), None)
    if mounted is None:
        mounted = {"name": FOLLOWER_VOLUME, "mountPath": directory}
        primary["volumeMounts"] = [*mounts, mounted]
        volumes = [
            v for v in pod.get("volumes") or [] if not (isinstance(v, dict) and v.get("name") == FOLLOWER_VOLUME)
        ]
        pod["volumes"] = [*volumes, {"name": FOLLOWER_VOLUME, "emptyDir": {}}]
    sidecar = {
        "name": names.FOLLOWER_CONTAINER,
        "image": follower_image(),
        "command": [
            "kubetune",
            "follow-file",
            path,
            *(["--format", collector.format.value] if collector.format is MetricsFormat.TFEVENT else []),
        ],
        "restartPolicy": "Always",
        # The kubelet starts the main containers once this passes: when the follower is ready to read the
        # file to its end on SIGTERM. Without it, a trainer that ends within a second could be over, and
        # the follower stopped, before the follower (a Python process) had started, and its values lost.
        "startupProbe": {
            "exec": {"command": ["kubetune", "follow-file", path, CHECK_FLAG]},
            "periodSeconds": 1,
            "timeoutSeconds": 10,
            "failureThreshold": 120,
        },
        "volumeMounts": [{"name": mounted["name"], "mountPath": directory, "readOnly": True}],
        # Reading a file twice a second takes little; a request keeps it schedulable under a LimitRange.
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
        # What the restricted Pod Security Standard asks of a container; the user's own stay as written.
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    others = [c for c in pod.get("initContainers") or [] if isinstance(c, dict) and c.get("name") != sidecar["name"]]
    pod["initContainers"] = [*others, sidecar]
