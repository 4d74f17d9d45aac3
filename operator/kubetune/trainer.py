"""``kubetune.report``: what a trainer calls to report its metrics, read by every collector kubetune has.

Cheap to import in a trial image: the standard library and ``kubetune.names`` only. The Kubernetes
client is imported only when the pod's annotation is written (see :func:`report`).
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any

from . import names

MAX_ANNOTATION_POINTS = 200
"""Points per metric kept in the pod's annotation (the latest ones): an annotation holds the whole
story each time it is written, and all of a pod's annotations together may not pass 256 KiB."""

_lock = threading.Lock()
_story: dict[str, list[dict[str, float | int]]] = {}
"""What this process reported, for the annotation (which is replaced whole at each write)."""
_said: set[str] = set()
"""Problems with the annotation already told on stderr (each once)."""


def report(*, step: int | None = None, **metrics: float) -> None:
    """Report metric values, e.g. ``kubetune.report(loss=0.41, accuracy=0.9, step=3)``.

    Writes one line that every metrics collector of kubetune reads, whatever the task's
    ``metricsCollector.format`` (keyValue, json, regex, tfevent's logs): to standard output, and to
    ``KUBETUNE_METRICS_FILE`` when the task's collector reads a file. On a cluster, with
    ``KUBETUNE_POD_NAME`` set from the downward API, it also writes the pod's metrics annotation
    (for ``source: annotations``; it needs the kubernetes package and the RBAC rule in docs/python-api.md).

    ``step`` is a whole number >= 0 (None: the values are in report order). NaN and infinite values are
    written and then ignored by the readers, as any other non-finite value is.
    """
    values = {name: _number(name, value) for name, value in metrics.items()}
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ValueError(f"kubetune.report: step must be a whole number >= 0, got {step!r}")
    if not values:
        raise TypeError("kubetune.report: give at least one metric, e.g. kubetune.report(loss=0.41)")
    line = report_line(values, step)
    print(line, flush=True)
    target = os.environ.get(names.ENV_METRICS_FILE)
    if target and not Path(target).is_dir():  # a tfevent directory holds event files only
        with open(target, "a", encoding="utf-8") as out:
            out.write(line + "\n")
    if os.environ.get(names.ENV_POD_NAME):
        _annotate(values, step)


def report_line(metrics: dict[str, float], step: int | None = None) -> str:
    """The line :func:`report` writes (``@kubetune {"metrics": {...}, "step": 3}``)."""
    body: dict[str, Any] = {"metrics": metrics}
    if step is not None:
        body["step"] = step
    return names.REPORT_PREFIX + json.dumps(body, separators=(",", ":"))


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            number = float(value)  # type: ignore[arg-type]  # numpy scalars, tensors with __float__
        except (TypeError, ValueError):
            raise TypeError(f"kubetune.report: {name} must be a number, got {value!r}") from None
        return number
    return float(value)


def _annotate(values: dict[str, float], step: int | None) -> None:
    """Replace the pod's metrics annotation with everything reported so far; a failure is told once, not raised."""
    with _lock:
        for name, value in values.items():
            if not math.isfinite(value):
                continue  # JSON has no NaN: the annotation would be refused as invalid
            points = _story.setdefault(name, [])
            points.append({"value": value} if step is None else {"step": step, "value": value})
            del points[:-MAX_ANNOTATION_POINTS]
        text = json.dumps(_story, separators=(",", ":"))
    try:
        _patch_pod(os.environ.get(names.ENV_METRICS_ANNOTATION) or names.ANNOTATION_METRICS, text)
    except Exception as error:  # training must go on; the logs still carry the values
        problem = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        if problem not in _said:
            _said.add(problem)
            print(f"kubetune.report: could not write the pod's metrics annotation ({problem})", file=sys.stderr)


def _patch_pod(annotation: str, text: str) -> None:
    try:
        from kubernetes import client, config  # noqa: PLC0415 - only where the annotation is written
    except ImportError:
        raise RuntimeError("the kubernetes package is not installed in this image (pip install kubernetes)") from None
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
    else:  # outside a pod (a test, a debugging session): the user's kubeconfig
        config.load_kube_config()
    account = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    namespace = os.environ.get(names.ENV_POD_NAMESPACE) or (
        account.read_text().strip() if account.exists() else "default"
    )
    body = {"metadata": {"annotations": {annotation: text}}}
    client.CoreV1Api().patch_namespaced_pod(os.environ[names.ENV_POD_NAME], namespace, body)
