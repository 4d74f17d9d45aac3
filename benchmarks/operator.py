"""Benchmark of the operator at scale: the real operator process against the in-process API emulator.

The operator runs as ``kubetune operator``, a process of its own talking HTTP to the emulator of
tests/kube/ (an API server with a Job controller and a kubelet whose pods sleep a scripted time,
print their metric and exit). The emulator counts every request and answers lists and watches
with objects as large as a real API server's (managedFields included), so the figures are what
the operator asks of a cluster: requests per trial by verb and resource, reconcile time, the gap
from a Job finishing to the next trial's Job, how full the parallel slots stay, peak memory.

``--hostile`` runs trials that print what a careless trainer prints (a 300 MB line, 300 MB of
binary, a million metric lines) and reports the operator's peak memory while it reads them; then
tasks written to stall the operator for every tenant (a metric pattern that backtracks for hours
in Python's re, CEL conditions too costly to evaluate) beside a normal task, and reports how much
slower the normal task ran than alone (target: 2x at most) and the operator's peak memory.

It needs a checkout of the repository (the emulator lives with the tests, not in the package).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubetune import names
from kubetune.api.crd import all_crds

TARGETS = {"gap_p50": 0.2, "gap_p90": 0.5, "running_fraction": 0.9, "requests_per_trial": 10.0}
HOSTILE_LINE_BYTES = 300 * 1024 * 1024
HOSTILE_METRIC_LINES = 1_000_000


def _emulator() -> Any:
    """tests/kube from the checkout this runs in; a clear message where there is none."""
    checkout = Path.cwd()
    if (checkout / "tests" / "kube" / "__init__.py").is_file() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    try:
        # By name: the emulator is the checkout's test code, never a dependency of the package.
        return importlib.import_module("tests.kube")
    except ImportError:
        raise SystemExit(
            "kubetune bench operator: run it in a checkout of kubetune (it uses the API emulator in tests/kube/)"
        ) from None


@dataclass
class Timeline:
    """When each task's Jobs were created and finished, as the emulator committed them (monotonic seconds)."""

    created: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    finished: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def __call__(self, change: Any) -> None:
        if change.rt.plural != "jobs":
            return
        task = (change.obj["metadata"].get("labels") or {}).get(names.LABEL_TASK)
        if not task:
            return
        now = time.monotonic()
        if change.type == "ADDED":
            self.created[task].append(now)
        elif change.type == "MODIFIED" and _ended(change.obj) and not _ended(change.old or {}):
            self.finished[task].append(now)
        elif change.type == "DELETED" and not _ended(change.old or change.obj):
            self.finished[task].append(now)  # stopped before it ended: its slot is free all the same


def _ended(job: Mapping[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def gaps(created: Sequence[float], finished: Sequence[float], parallel: int) -> list[float]:
    """Seconds from each Job's end to the start of the Job that took its slot (the P-th next one)."""
    created, finished = sorted(created), sorted(finished)
    return [max(0.0, created[k + parallel] - end) for k, end in enumerate(finished) if k + parallel < len(created)]


def running_fraction(created: Sequence[float], finished: Sequence[float], parallel: int) -> float:
    """Mean number of Jobs running between the first start and the last end, as a fraction of ``parallel``."""
    if not created or not finished:
        return 0.0
    start, end = min(created), max(finished)
    events = sorted([(t, 1) for t in created] + [(t, -1) for t in finished])
    area, running, last = 0.0, 0, start
    for moment, delta in events:
        area += running * (moment - last)
        running, last = running + delta, moment
    return area / ((end - start) * parallel) if end > start else 0.0


def histogram_quantile(buckets: Sequence[tuple[float, float]], q: float) -> float:
    """Prometheus' histogram_quantile: linear within the bucket that holds the quantile."""
    total = buckets[-1][1] if buckets else 0.0
    if not total:
        return float("nan")
    rank, previous_bound, previous_count = q * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            inside = count - previous_count
            return previous_bound + (bound - previous_bound) * ((rank - previous_count) / inside if inside else 0)
        previous_bound, previous_count = bound, count
    return previous_bound


def _reconcile_buckets(port: int) -> list[tuple[float, float]]:
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    buckets = []
    for family in text_string_to_metric_families(text):
        if family.name == "kubetune_reconcile_duration_seconds":
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    buckets.append((float(sample.labels["le"]), sample.value))
    return sorted(buckets)


def _peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(found[1]) / 1024 if found else float("nan")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def task_manifest(name: str, trials: int, parallel: int, **spec: Any) -> dict[str, Any]:
    """A task whose trials are the emulator's scripted pods."""
    body: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "algorithm": {"name": "random", "seed": 1},
        "parameters": [
            {"name": "x", "type": "double", "min": 0.0, "max": 1.0},
            {"name": "y", "type": "double", "min": 0.0, "max": 1.0},
        ],
        "budget": {"maxTrials": trials, "parallelTrials": parallel},
        "trialTemplate": {
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "train",
                                "image": "registry.example.com/ml/trainer:1.0",
                                "command": ["python", "train.py"],
                                "args": ["--x=${params.x}", "--y=${params.y}"],
                                "resources": {"limits": {"nvidia.com/gpu": 1}},
                            }
                        ]
                    }
                },
            }
        },
        **spec,
    }
    return {"apiVersion": names.API_VERSION, "kind": names.TASK_KIND, "metadata": {"name": name}, "spec": body}


def _behaviour(kube: Any, seconds: float, spread: float, hostile: bool) -> Any:
    """What each trial's pod does: sleep, print its loss, exit 0 (or, hostile, flood its log first).

    Each trial runs ``seconds`` times a factor drawn uniformly from [1 - spread, 1 + spread], seeded
    by the trial's name (the same on every run). Real trials differ in length; trials of one exact
    length end in lockstep, in bursts of every parallel slot at once.
    """

    def trainer(pod: dict[str, Any]) -> Any:
        args = dict(a.lstrip("-").split("=", 1) for a in kube.pod_args(pod) if "=" in a)
        loss = (float(args.get("x", 0.5)) - 0.3) ** 2 + (float(args.get("y", 0.5)) - 0.6) ** 2
        trial = (pod["metadata"].get("labels") or {}).get(names.LABEL_TRIAL, "")
        factor = random.Random(trial).uniform(1 - spread, 1 + spread)
        steps: list[Any] = [kube.Sleep(seconds * factor)]
        if hostile:
            steps += _flood(kube, pod)
        return kube.PodScript([*steps, kube.Log(f"loss={loss:.6f}")])

    return trainer


def _flood(kube: Any, pod: dict[str, Any]) -> list[Any]:
    """One of three floods, by the pod's trial: a 300 MB line, 300 MB of binary, a million metric lines."""
    trial = (pod["metadata"].get("labels") or {}).get(names.LABEL_TRIAL, "")
    kind = int(trial.rsplit("-", 1)[-1] or 0) % 3
    if kind == 0:
        return [kube.Log("x" * HOSTILE_LINE_BYTES)]
    if kind == 1:
        # Bytes that are not UTF-8 (the emulator serves surrogate escapes as the raw bytes).
        return [kube.Log(bytes(range(128, 256)).decode("utf-8", "surrogateescape") * (HOSTILE_LINE_BYTES // 128))]
    return [kube.Log(f"step={i} loss={1.0 / (i + 1):.6f}") for i in range(HOSTILE_METRIC_LINES)]


@dataclass
class Result:
    """The figures of one run."""

    scenario: str
    tasks: int
    trials: int
    parallel: int
    trial_seconds: float
    trial_spread: float
    wall_seconds: float
    finished: bool
    requests: dict[str, float]
    requests_per_trial: float
    reconcile_p50: float
    reconcile_p90: float
    reconciles_per_trial: float
    """Reconciles the operator ran (every task together), per trial."""
    gap_p50: float
    gap_p90: float
    running_fraction: float
    peak_rss_mib: float
    object_bytes: dict[str, float]
    response_bytes: dict[str, int]
    server_seconds: float
    """Time the emulated API server spent answering the operator's requests (watch streams excluded)."""
    succeeded: int
    """Trials that ended Succeeded (their objective was read)."""

    def verdicts(self, rss_target: float) -> dict[str, bool]:
        if self.scenario == "hostile":  # its trials are slow on purpose: only memory is judged
            return {
                f"peak RSS < {rss_target:g} MiB": self.peak_rss_mib < rss_target,
                "every trial's objective read": self.succeeded == self.tasks * self.trials,
            }
        return {
            "gap p50 < 0.2 s": self.gap_p50 < TARGETS["gap_p50"],
            "gap p90 < 0.5 s": self.gap_p90 < TARGETS["gap_p90"],
            "running >= 90% of P": self.running_fraction >= TARGETS["running_fraction"],
            "<= 10 requests/trial": self.requests_per_trial <= TARGETS["requests_per_trial"],
            f"peak RSS < {rss_target:g} MiB": self.peak_rss_mib < rss_target,
        }


@contextlib.contextmanager
def _operator_process(
    kube_url: str, workdir: Path, metrics_port: int, extra_env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``kubetune operator`` against the emulator, with its log in ``workdir``; killed at the end."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": kube_url}}],
        "users": [{"name": "bench", "user": {"token": "bench"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "bench", "namespace": "default"}}],
        "current-context": "emulator",
    }
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "POD_NAMESPACE": "default", "POD_NAME": "bench-operator"}
    env.update(extra_env or {})
    env.pop("KUBERNETES_SERVICE_HOST", None)
    command = [str(Path(sys.executable).with_name("kubetune")), "operator", "--health-port", "0"]
    if os.environ.get("KUBETUNE_BENCH_OPERATOR_COMMAND"):  # e.g. the operator under a profiler
        command = [*os.environ["KUBETUNE_BENCH_OPERATOR_COMMAND"].split(), "operator", "--health-port", "0"]
    command += ["--metrics-port", str(metrics_port)]
    with (workdir / "operator.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_scenario(
    *,
    tasks: int,
    trials: int,
    parallel: int,
    trial_seconds: float,
    trial_spread: float = 0.0,
    hostile: bool = False,
    timeout: float = 1800.0,
    workdir: Path,
) -> Result:
    """Run ``tasks`` tasks of ``trials`` trials, ``parallel`` at a time, and measure the operator."""
    kube = _emulator()
    timeline = Timeline()
    metrics_port = _free_port()
    with kube.start_emulator(pod_start_delay=0.01) as cluster:
        cluster.behaviour = _behaviour(kube, trial_seconds, trial_spread, hostile)
        for crd in all_crds().values():
            cluster.install_crd(crd)
        cluster.call(cluster.emulator.store.listeners.append, timeline)
        with _operator_process(cluster.url, workdir, metrics_port) as process:
            cluster.wait_for(cluster.watches, timeout=60, message="the operator to watch")
            time.sleep(1.0)  # its indices filled (nothing to list yet) and leadership taken
            cluster.call(cluster.emulator.server.requests.clear)
            cluster.call(cluster.emulator.server.response_bytes.clear)
            started = time.monotonic()
            task_names = [f"bench-{i}" for i in range(tasks)]
            for name in task_names:
                cluster.create(task_manifest(name, trials, parallel))
            finished = _wait_done(cluster, task_names, timeout)
            wall = time.monotonic() - started
            if process.poll() is not None:
                raise SystemExit(f"the operator exited with {process.returncode}; see {workdir / 'operator.log'}")
            peak = _peak_rss_mib(process.pid)
            buckets = _reconcile_buckets(metrics_port)
            requests = Counter(cluster.call(lambda: dict(cluster.emulator.server.requests)))
            response_bytes = cluster.call(lambda: dict(cluster.emulator.server.response_bytes))
            served = cluster.call(lambda: sum(cluster.emulator.server.handling_seconds.values()))
            sizes = _object_bytes(cluster)
            succeeded = sum(
                ((t.get("status") or {}).get("phase") == "Succeeded") for t in cluster.list("trials", "default")
            )
    counted = {f"{verb} {resource}": n for (verb, resource), n in sorted(requests.items()) if verb != "watch"}
    return _result(
        "hostile" if hostile else "scale",
        (tasks, trials, parallel, trial_seconds, trial_spread),
        wall=wall,
        finished=finished,
        counted=counted,
        buckets=buckets,
        created=timeline.created,
        ended=timeline.finished,
        peak=peak,
        sizes=sizes,
        response_bytes={f"{v} {r}": n for (v, r), n in sorted(response_bytes.items())},
        served=served,
        succeeded=succeeded,
    )


def _result(
    scenario: str,
    plan: tuple[int, int, int, float, float],
    *,
    wall: float,
    finished: bool,
    counted: Mapping[str, int],
    buckets: Sequence[tuple[float, float]],
    created: Mapping[str, Sequence[float]],
    ended: Mapping[str, Sequence[float]],
    peak: float,
    sizes: dict[str, float],
    response_bytes: dict[str, int],
    served: float,
    succeeded: int,
) -> Result:
    """The figures of one run, from what was measured (by the emulator or by a real API server)."""
    tasks, trials, parallel, trial_seconds, trial_spread = plan
    total_trials = tasks * trials
    all_gaps = [g for t in created for g in gaps(sorted(created[t]), sorted(ended[t]), parallel)]
    fractions = [running_fraction(sorted(created[t]), sorted(ended[t]), parallel) for t in created]
    return Result(
        scenario=scenario,
        tasks=tasks,
        trials=trials,
        parallel=parallel,
        trial_seconds=trial_seconds,
        trial_spread=trial_spread,
        wall_seconds=round(wall, 1),
        finished=finished,
        requests={k: round(v / total_trials, 3) for k, v in counted.items()},
        requests_per_trial=round(sum(counted.values()) / total_trials, 2),
        reconcile_p50=round(histogram_quantile(buckets, 0.5), 4),
        reconcile_p90=round(histogram_quantile(buckets, 0.9), 4),
        reconciles_per_trial=round((buckets[-1][1] if buckets else 0.0) / total_trials, 2),
        gap_p50=round(_quantile(all_gaps, 0.5), 3),
        gap_p90=round(_quantile(all_gaps, 0.9), 3),
        running_fraction=round(statistics.fmean(fractions) if fractions else 0.0, 3),
        peak_rss_mib=round(peak, 1),
        object_bytes=sizes,
        response_bytes=response_bytes,
        server_seconds=round(served, 2),
        succeeded=succeeded,
    )


BAIT = "a" * 40 + "!"
"""A line ``^(a+)+$`` takes Python's re hours to give up on."""
SLOW_CEL = "object.spec.l.all(a, " + " && ".join(f"a != {-i}" for i in range(1, 13)) + ")"
"""Within the static cost limit (one comprehension), over the run-time budget on a 100,000-item list."""
NESTED_CEL = "!object.spec.l.all(a, object.spec.l.all(b, object.spec.l.all(c, true)))"
SWEEP_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "sweeps.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "sweeps", "singular": "sweep", "kind": "Sweep"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


def _sweep(name: str, condition: str, items: int) -> dict[str, Any]:
    """A task whose trials are Sweeps (a kind described by CEL) carrying a list of ``items`` integers."""
    body = task_manifest(name, 2, 2)
    pod = body["spec"]["trialTemplate"]["spec"]["template"]
    body["spec"]["trialTemplate"] = {
        "apiVersion": "example.com/v1",
        "kind": "Sweep",
        "successCondition": condition,
        "failureCondition": "has(object.status.phase) && object.status.phase == 'Failed'",
        "primaryPodLabels": {"example.com/role": "lead"},
        "spec": {"workers": [{"role": "lead", "template": pod}], "l": list(range(items))},
    }
    return body


@dataclass
class HostileInputs:
    """A normal task alone, then beside tasks that try to stall the operator."""

    alone_seconds: float
    beside_seconds: float
    finished: bool
    peak_rss_mib: float
    cel_worker_peak_rss_mib: float
    hostile_phases: dict[str, str]

    def verdicts(self) -> dict[str, bool]:
        return {
            "normal task beside hostile ones <= 2x its time alone": self.beside_seconds <= 2 * self.alone_seconds,
            "operator peak RSS < 300 MiB": self.peak_rss_mib < 300,
        }


def _children_peak_rss_mib(pid: int) -> float:
    """The largest peak resident memory among the process's live children (the CEL workers)."""
    peaks = [0.0]
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            text = status.read_text()
            if re.search(rf"^PPid:\s+{pid}$", text, re.MULTILINE):
                peaks.append(_peak_rss_mib(int(status.parent.name)))
    return max(peaks)


def _normal_task_seconds(
    cluster: Any, pid: int, trials: int, parallel: int, workers: float
) -> tuple[float, bool, float]:
    """How long the normal task took, whether it ended, and the CEL workers' peak RSS meanwhile."""
    started = time.monotonic()
    cluster.create(task_manifest("normal", trials, parallel))
    while time.monotonic() - started < 600:
        workers = max(workers, _children_peak_rss_mib(pid))
        if ((cluster.find("hpotasks", "normal") or {}).get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return round(time.monotonic() - started, 2), True, workers
        time.sleep(0.25)
    return round(time.monotonic() - started, 2), False, workers


def run_hostile_inputs(*, trials: int, parallel: int, trial_seconds: float, workdir: Path) -> HostileInputs:
    """The normal task's time alone and beside hostile tasks, each run against a fresh operator."""
    kube = _emulator()
    plain = _behaviour(kube, trial_seconds, 0.0, False)

    def trainer(pod: dict[str, Any]) -> Any:
        if (pod["metadata"].get("labels") or {}).get(names.LABEL_TASK) == "redos":
            return kube.PodScript([kube.Log(BAIT), kube.Log(BAIT), kube.Sleep(3600)])
        return plain(pod)

    env = {"KUBETUNE_WORKLOAD_KINDS": "Job.batch,Sweep.example.com"}
    seconds: list[float] = []
    for beside in (False, True):
        with kube.start_emulator(pod_start_delay=0.01) as cluster:
            cluster.behaviour = trainer
            for crd in [*all_crds().values(), SWEEP_CRD]:
                cluster.install_crd(crd)
            with _operator_process(cluster.url, workdir, _free_port(), env) as process:
                cluster.wait_for(cluster.watches, timeout=60, message="the operator to watch")
                time.sleep(1.0)
                if beside:
                    pattern = {"format": "regex", "patterns": [{"metric": "loss", "regex": "^(a+)+$"}]}
                    cluster.create(task_manifest("redos", 4, 4, metricsCollector=pattern))
                    cluster.create(_sweep("nested-cel", NESTED_CEL, 200))
                    cluster.create(_sweep("slow-cel", SLOW_CEL, 100_000))
                workers = 0.0
                for _ in range(8):  # the hostile trials start and their lines are read
                    workers = max(workers, _children_peak_rss_mib(process.pid))
                    time.sleep(0.25)
                took, finished, workers = _normal_task_seconds(cluster, process.pid, trials, parallel, workers)
                seconds.append(took)
                if process.poll() is not None:
                    raise SystemExit(f"the operator exited with {process.returncode}; see {workdir / 'operator.log'}")
                peak = _peak_rss_mib(process.pid)
                phases = {
                    t["metadata"]["name"]: "{phase} ({reason})".format_map(t.get("status") or {})
                    for t in cluster.list("hpotasks", "default")
                    if t["metadata"]["name"] != "normal"
                }
    return HostileInputs(seconds[0], seconds[1], finished, round(peak, 1), round(workers, 1), phases)


def _hostile_inputs_report(result: HostileInputs, trials: int, parallel: int) -> str:
    lines = [
        f"### hostile inputs: a normal task ({trials} trials, {parallel} parallel) beside a backtracking "
        "pattern and costly CEL conditions",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| normal task alone | {result.alone_seconds:g} s |",
        f"| normal task beside the hostile ones | {result.beside_seconds:g} s"
        f"{'' if result.finished else ' (timed out)'} |",
        f"| ratio | {result.beside_seconds / result.alone_seconds:.2f}x |",
        f"| operator peak RSS | {result.peak_rss_mib:g} MiB |",
        f"| CEL worker peak RSS (sampled; each is limited to 256 MiB of address space) | "
        f"{result.cel_worker_peak_rss_mib:g} MiB |",
        "| hostile tasks when the normal one ended | "
        + ", ".join(f"{k} {v}" for k, v in sorted(result.hostile_phases.items()))
        + " |",
        "",
        "Targets: " + ", ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in result.verdicts().items()),
        "",
    ]
    return "\n".join(lines)


def _wait_done(cluster: Any, task_names: Sequence[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            phases = [((cluster.find("hpotasks", n) or {}).get("status") or {}).get("phase") for n in task_names]
        except TimeoutError:  # the emulator's loop is busy serving a flood of log: ask again
            continue
        if all(p in ("Succeeded", "Failed") for p in phases):
            return True
        time.sleep(0.5)
    return False


def _object_bytes(cluster: Any) -> dict[str, float]:
    """Mean size of one stored object of each kind, as a list serves it (managedFields included)."""
    sizes: dict[str, float] = {}
    for kind in ("trials", "jobs", "pods"):
        items = cluster.list(kind, "default")
        if items:
            sizes[kind] = round(statistics.fmean(len(json.dumps(i)) for i in items))
    return sizes


def _report(results: Sequence[Result], rss_targets: Sequence[float]) -> str:
    lines = []
    for result, target in zip(results, rss_targets, strict=True):
        lines.append(
            f"### {result.scenario}: {result.tasks} x ({result.trials} trials, {result.parallel} parallel), "
            f"trials of {result.trial_seconds:g} s ± {result.trial_spread:.0%}"
        )
        lines.append("")
        lines.append("| figure | value |")
        lines.append("| --- | --- |")
        lines.append(f"| wall time | {result.wall_seconds:g} s{'' if result.finished else ' (timed out)'} |")
        lines.append(f"| API requests per trial (watch streams excluded) | {result.requests_per_trial:g} |")
        lines.append(f"| reconcile p50 / p90 | {result.reconcile_p50:g} s / {result.reconcile_p90:g} s |")
        lines.append(f"| reconciles per trial | {result.reconciles_per_trial:g} |")
        lines.append(
            f"| gap Job finished -> next Job created, p50 / p90 | {result.gap_p50:g} s / {result.gap_p90:g} s |"
        )
        lines.append(f"| mean running / parallelTrials | {result.running_fraction:.0%} |")
        lines.append(f"| operator peak RSS | {result.peak_rss_mib:g} MiB |")
        lines.append(f"| API server time answering the operator | {result.server_seconds:g} s |")
        lines.append(f"| trials succeeded | {result.succeeded} of {result.tasks * result.trials} |")
        sizes = ", ".join(f"{k} {v:g} B" for k, v in result.object_bytes.items())
        lines.append(f"| mean object size served (managedFields included) | {sizes} |")
        lines.append("")
        lines.append("Requests per trial by verb and resource: " + ", ".join(
            f"{k} {v:g}" for k, v in sorted(result.requests.items(), key=lambda kv: -kv[1])
        ))  # fmt: skip
        lines.append("")
        verdicts = result.verdicts(target)
        lines.append("Targets: " + ", ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in verdicts.items()))
        lines.append("")
    return "\n".join(lines)


OPERATOR_USER = "system:serviceaccount:kubetune-system:kubetune"
"""Who the operator is on the real tier (the chart's ServiceAccount), whose requests the audit log counts."""
REAL_NAMESPACE = "bench"


def _real_tier() -> tuple[Any, Any]:
    """tests/realcluster's control plane and cluster, by name (test code, like the emulator)."""
    try:
        return (
            importlib.import_module("tests.realcluster.controlplane"),
            importlib.import_module("tests.realcluster.cluster"),
        )
    except ModuleNotFoundError as error:
        raise SystemExit(
            "kubetune bench operator --real-api-server: run it in a checkout of kubetune (it uses tests/realcluster/)"
        ) from error


class JobTimes:
    """When each task's Jobs were created and finished, as a watch on the real API server sees them."""

    def __init__(self, cluster: Any, namespace: str) -> None:
        self.created: dict[str, list[float]] = defaultdict(list)
        self.finished: dict[str, list[float]] = defaultdict(list)
        self._seen: set[str] = set()
        self._done: set[str] = set()
        self.stop = cluster.watch_jobs(namespace, self._saw)

    def _saw(self, job: Mapping[str, Any]) -> None:
        uid, task = job["metadata"]["uid"], job["metadata"]["labels"][names.LABEL_TASK]
        now = time.monotonic()
        if uid not in self._seen:
            self._seen.add(uid)
            self.created[task].append(now)
        if uid not in self._done and _ended(job):
            self._done.add(uid)
            self.finished[task].append(now)


def _audited_requests(path: Path, offset: int) -> tuple[Counter[tuple[str, str]], float]:
    """The operator's requests after ``offset`` bytes of the audit log, by verb and resource, and the
    time the API server took over them (watch streams excluded, as in the emulator's count)."""
    from datetime import datetime  # noqa: PLC0415

    counted: Counter[tuple[str, str]] = Counter()
    seconds = 0.0
    with path.open("rb") as log:
        log.seek(offset)
        for line in log:
            event = json.loads(line)
            if (event.get("user") or {}).get("username") != OPERATOR_USER or event.get("verb") == "watch":
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            counted[(event["verb"], resource)] += 1
            received = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
            answered = datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00"))
            seconds += (answered - received).total_seconds()
    return counted, seconds


def _wait_to_lead(cluster: Any, identity: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cluster.lease_holder() == identity:
            return
        time.sleep(0.5)
    raise SystemExit(f"the operator did not take the Lease in {seconds:g} s")


def _wait_real(cluster: Any, operator: Any, task_names: Sequence[str], deadline: float) -> bool:
    while time.monotonic() < deadline:
        phases = [(cluster.task(REAL_NAMESPACE, n).get("status") or {}).get("phase") for n in task_names]
        if all(p in ("Succeeded", "Failed") for p in phases):
            return True
        if not operator.alive():
            raise SystemExit(f"the operator exited; see {operator.log}")
        time.sleep(0.5)
    return False


def run_real_scenario(
    *,
    tasks: int,
    trials: int,
    parallel: int,
    trial_seconds: float,
    trial_spread: float,
    workdir: Path,
    timeout: float = 1800.0,
) -> Result:
    """The scenario of ``run_scenario`` against a real API server: the same figures, counted by the API
    server's audit log (requests), a watch (Job times) and /proc (the operator's peak RSS)."""
    controlplane, realcluster = _real_tier()
    why = controlplane.missing()
    if why:
        raise SystemExit(f"kubetune bench operator --real-api-server: {why}")
    plane = controlplane.ControlPlane(controlplane.versions()[-1], workdir / "plane", audited=(OPERATOR_USER,))
    fake = importlib.import_module("tests.realcluster.fake_node")

    def trainer(pod: Mapping[str, Any], container: Mapping[str, Any]) -> Any:
        args = dict(str(a).lstrip("-").split("=", 1) for a in container.get("args") or [] if "=" in str(a))
        loss = (float(args.get("x", 0.5)) - 0.3) ** 2 + (float(args.get("y", 0.5)) - 0.6) ** 2
        trial = (pod["metadata"].get("labels") or {}).get(names.LABEL_TRIAL, "")
        factor = random.Random(trial).uniform(1 - trial_spread, 1 + trial_spread)
        return fake.Script(lines=(f"loss={loss:.6f}",), interval=trial_seconds * factor)

    metrics_port = _free_port()
    cluster = None
    try:
        plane.start()
        cluster = realcluster.Cluster(plane, workdir / "cluster")
        cluster.start()
        cluster.scripts[REAL_NAMESPACE] = trainer
        cluster.core.create_namespace({"metadata": {"name": REAL_NAMESPACE}})
        plane.wait_for_namespace_account(REAL_NAMESPACE)
        times = JobTimes(cluster, REAL_NAMESPACE)
        operator = cluster.start_operator(metrics_port=metrics_port)
        _wait_to_lead(cluster, operator.name)
        time.sleep(1.0)  # its indices filled and leadership taken, as in the emulator's run
        offset = plane.audit_log.stat().st_size if plane.audit_log.exists() else 0
        started = time.monotonic()
        task_names = [f"bench-{i}" for i in range(tasks)]
        for name in task_names:
            cluster.custom.create_namespaced_custom_object(
                names.GROUP, names.VERSION, REAL_NAMESPACE, names.TASK_PLURAL, task_manifest(name, trials, parallel)
            )
        finished = _wait_real(cluster, operator, task_names, started + timeout)
        wall = time.monotonic() - started
        peak = _peak_rss_mib(operator.process.pid)
        buckets = _reconcile_buckets(metrics_port)
        times.stop()
        requests, served = _audited_requests(plane.audit_log, offset)
        listed = cluster.objects(REAL_NAMESPACE)
    finally:
        if cluster is not None:
            cluster.stop()
        plane.stop()
    return _result(
        "real API server",
        (tasks, trials, parallel, trial_seconds, trial_spread),
        wall=wall,
        finished=finished,
        counted={f"{verb} {resource}": n for (verb, resource), n in sorted(requests.items())},
        buckets=buckets,
        created=times.created,
        ended=times.finished,
        peak=peak,
        sizes={k: round(statistics.fmean(len(json.dumps(i)) for i in v)) for k, v in listed.items() if v},
        response_bytes={},
        served=served,
        succeeded=sum(((t.get("status") or {}).get("phase") == "Succeeded") for t in listed["trials"]),
    )


def run(args: argparse.Namespace) -> int:
    """``kubetune bench operator``: the scenarios asked for, their figures, and whether the targets hold."""
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    if args.hostile and args.real_api_server:
        raise SystemExit("kubetune bench operator: --hostile runs against the emulator only")
    if args.hostile:
        plans = [(args.tasks or 1, args.trials or 4, args.parallel or 4, args.trial_seconds, True, 300.0)]
    elif args.trials:
        target = 256.0 if (args.tasks or 1) == 1 else 384.0
        plans = [(args.tasks or 1, args.trials, args.parallel or 10, args.trial_seconds, False, target)]
    elif args.quick:
        plans = [(1, 200, 20, args.trial_seconds, False, 256.0)]
    else:
        plans = [(1, 2000, 50, args.trial_seconds, False, 256.0), (10, 200, 10, args.trial_seconds, False, 384.0)]
    results, targets = [], []
    for tasks, trials, parallel, seconds, hostile, target in plans:
        with tempfile.TemporaryDirectory(prefix="kubetune-bench-operator-") as tmp:
            print(f"bench operator: {tasks} x ({trials}, {parallel}), trials of {seconds:g} s ...", flush=True)
            if args.real_api_server:
                result = run_real_scenario(
                    tasks=tasks,
                    trials=trials,
                    parallel=parallel,
                    trial_seconds=seconds,
                    trial_spread=args.trial_spread,
                    workdir=Path(tmp),
                )
                results.append(result)
                targets.append(target)
                continue
            result = run_scenario(
                tasks=tasks,
                trials=trials,
                parallel=parallel,
                trial_seconds=seconds,
                trial_spread=0.0 if hostile else args.trial_spread,
                hostile=hostile,
                workdir=Path(tmp),
            )
            if args.keep_log:
                (output / f"operator-{result.scenario}-{tasks}x{trials}.log").write_bytes(
                    (Path(tmp) / "operator.log").read_bytes()
                )
        results.append(result)
        targets.append(target)
    report = _report(results, targets)
    inputs_met = True
    if args.hostile:
        with tempfile.TemporaryDirectory(prefix="kubetune-bench-operator-") as tmp:
            print("bench operator: hostile inputs (regex, CEL) beside a normal task ...", flush=True)
            inputs = run_hostile_inputs(trials=20, parallel=4, trial_seconds=args.trial_seconds, workdir=Path(tmp))
        report += "\n" + _hostile_inputs_report(inputs, 20, 4)
        inputs_met = all(inputs.verdicts().values()) and inputs.finished
    print(report)
    (output / "operator.md").write_text(report + "\n")
    (output / "operator.json").write_text(json.dumps([r.__dict__ for r in results], indent=1) + "\n")
    met = all(all(r.verdicts(t).values()) and r.finished for r, t in zip(results, targets, strict=True))
    return 0 if met and inputs_met else 1
