"""Run an HPOTask on this machine: each trial is a local process, the state a directory.

The executor decides nothing: ``engine.step`` reads what it sees (running, exit code, metrics read
from the output), tells it which trials to record, start and stop, and in which order. This module
adds only the waiting between two steps.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Protocol

from .. import engine, names
from ..api import (
    HPOTask,
    HPOTaskStatus,
    MetricsFormat,
    MetricsSource,
    SuspendPolicy,
    TaskPhase,
    Trial,
    TrialTemplate,
    kinds,
)
from ..api.loader import format_loc
from ..errors import InvalidSpec, KubetuneError, Problem
from ..metrics import LogScanner, wanted_metrics
from . import clock, reaping
from .event_files import EventDirTail
from .file_tail import FileTail
from .state import StateDir, atomic_write, cannot_write
from .templating import expand, literal, parameter_env, parameters_json, render_container, substitute

MAX_LOG_BYTES = 64 * 1024 * 1024
"""A trial's log file stops growing here (its metrics are still read): a runaway trial cannot fill the disk."""
STOP_GRACE = 5.0
"""Seconds between SIGTERM and SIGKILL when a trial is stopped (trials stopped together share them)."""
OUTPUT_WAKE = 0.2
"""Shortest interval between two wake-ups of the runner caused by a trial's output (its exit always wakes it)."""
EXIT_DRAIN = 0.5
"""Seconds a trial's output is still read after its main process exited (children may hold the pipe)."""
FOLLOW_SECONDS = 0.2
"""How often a followed metrics file is read while its trial runs."""
_INTERPRETERS = {"python", "python3"}


class Reporter(Protocol):
    """Where the local runner tells a person what happens (a live display, or plain lines)."""

    def event(self, event: engine.Event) -> None:
        """Something happened (a trial started, finished, was stopped; the task ended)."""

    def progress(self, status: HPOTaskStatus, trials: Sequence[Trial]) -> None:
        """The task's status after a step."""


def trial_command(task: HPOTask, trial: Trial) -> list[str]:
    """The argv of a trial: the primary container's command and args, placeholders substituted.

    ``python`` or ``python3`` as the program means the interpreter running kubetune, so an example
    written for a container image runs unchanged in a virtual environment.
    """
    template = task.spec.trial_template
    known = template.known()
    entrypoint = kinds.at(template.spec, known.extra_strings[0]) if known and known.extra_strings else None
    if isinstance(entrypoint, str):  # a RayJob: its entrypoint is the driver, run with a local Ray
        argv = shlex.split(substitute(entrypoint, task.spec.placeholder_values(trial.spec.parameters)))
        if not argv:
            raise InvalidSpec([Problem("spec.trialTemplate.spec.entrypoint", "is empty")])
        if argv[0] in _INTERPRETERS:
            argv[0] = sys.executable
        return argv
    containers = template.containers()
    if not containers:  # Argo's templates, Tekton's steps: only their controller knows how they run
        raise InvalidSpec(
            [
                Problem(
                    "spec.trialTemplate.kind",
                    f"kubetune run runs a pod template's container, and a {template.kind}'s controller makes "
                    "its pods: run this task on a cluster",
                )
            ]
        )
    container = template.primary()
    rendered = render_container(container, task.spec.placeholder_values(trial.spec.parameters))
    argv = [*rendered.get("command", []), *rendered.get("args", [])]
    if not rendered.get("command"):
        index = containers.index(container)
        where = _primary_loc(template)
        loc = format_loc(("spec", "trialTemplate", "spec", *where, index, "command"))
        raise InvalidSpec([Problem(loc, "is required to run trials locally (the image's entrypoint is unknown here)")])
    if argv[0] in _INTERPRETERS:
        argv[0] = sys.executable
    return argv


def _primary_loc(template: TrialTemplate) -> tuple[str | int, ...]:
    """Where the primary replica's containers are in the template's spec."""
    known = template.known()
    if known is not None and known.extra_containers:
        return known.extra_containers[0]
    loc = known.primary(template.spec) if known is not None else None
    if loc is None:
        found = template.pod_specs()
        loc = found[0][0] if found else ()
    return (*loc, "containers")


def local_metrics_file(params_file: Path) -> Path:
    """Where a trial run by ``kubetune run`` writes its metrics file when it follows KUBETUNE_METRICS_FILE."""
    return params_file.with_suffix(".metrics")


def metrics_file(task: HPOTask, params_file: Path) -> Path | None:
    """The file source's file for one local trial: the trial's own one if the trainer wrote it there
    (KUBETUNE_METRICS_FILE), else ``path`` as configured (relative to the trial's working directory)."""
    collector = task.spec.metrics_collector
    if collector.source is not MetricsSource.FILE or collector.path is None:
        return None
    own = local_metrics_file(params_file)
    return own if own.exists() else Path(collector.path)


def trial_environment(task: HPOTask, trial: Trial, params_file: Path) -> dict[str, str]:
    """This process's environment, the one-node environment of its kind, kubetune's variables, then the
    container's literal env values, ``$(VAR)`` expanded from the variables before them as a kubelet does."""
    env = dict(os.environ)
    known = task.spec.trial_template.known()
    declared = dict(known.one_node_env if known is not None else {})
    declared.update(
        parameter_env(trial.spec.parameters, trial.spec.task, trial.metadata.name or "", trial.spec.resource)
    )
    declared[names.ENV_PARAMS_FILE] = str(params_file)
    if metrics_file(task, params_file) is not None:
        declared[names.ENV_METRICS_FILE] = str(local_metrics_file(params_file))
    # Parameter values are written as the cluster writes them (``literal``), so expanding gives them back.
    shown = task.spec.placeholder_values(trial.spec.parameters)
    rendered = render_container(task.spec.trial_template.primary(), shown, literal)
    for item in rendered.get("env", []):
        name, value = item.get("name"), item.get("value")
        if isinstance(name, str) and isinstance(value, str) and name not in declared:
            declared[name] = expand(value, declared)
    env.update(declared)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _start_ticks(pid: int) -> str | None:
    """The kernel's start time of a process, to tell it from a later process with the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass
class _Run:
    """A live trial process, the thread that copies its output, and what was read from it."""

    process: subprocess.Popen[bytes]
    scanner: LogScanner
    metrics_file: Callable[[], Path | None]
    """The metrics file to read when the process ends (the file source), or None: its output."""
    log: IO[bytes] | None
    """The log file, until a write to it fails."""
    log_path: Path
    mark: str
    """The value of ``reaping.MARK`` in its environment."""
    started: datetime
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None
    exit_code: int | None = None
    finished: datetime | None = None
    written: int = 0
    woke: float = 0.0
    """When new output last woke the runner (monotonic seconds)."""
    tail: bytes = b""
    """The last output, for the message of a failed trial."""
    kill_at: float | None = None
    """When a stopped trial gets SIGKILL (monotonic seconds); None while it is not being stopped."""
    followed: list[FileTail | EventDirTail] = field(default_factory=list)
    """The metrics files read while the trial runs (the file source with ``follow``)."""
    said: set[str] = field(default_factory=set)
    """Problems of the followed files already told (each once)."""
    followed_at: float = 0.0
    """When they were last read (monotonic seconds)."""

    def exited(self) -> bool:
        """Whether the process exited and its output was read to the end."""
        with self.lock:
            return self.exit_code is not None

    def fact(self) -> engine.RunFact:
        with self.lock:
            done = self.exit_code is not None
            reading = self.scanner.finish() if done else self.scanner.reading()
        if not done:
            return engine.RunFact(engine.RunState.RUNNING, reading.series, started_at=self.started)
        ok = self.exit_code == 0
        code = self.exit_code
        detail = f"Killed by signal {-code}." if code is not None and code < 0 else f"Exited with code {code}."
        if not ok:
            detail = engine.with_last_output(detail, self.tail, f"full log: {self.log_path}")
        return engine.RunFact(
            engine.RunState.SUCCEEDED if ok else engine.RunState.FAILED,
            reading.series,
            started_at=self.started,
            finished_at=self.finished,
            reason="" if ok else "ExitCode",
            detail="" if ok else detail,
            metrics_note=reading.summary(),
        )


class LocalExecutor:
    """Carries out the engine's plans for one task with local processes."""

    def __init__(
        self,
        task: HPOTask,
        state: StateDir,
        reporter: Reporter,
        *,
        workdir: Path | None = None,
        now: Callable[[], datetime] = clock,
    ) -> None:
        self.task = task
        self.state = state
        self.reporter = reporter
        self.workdir = workdir or Path.cwd()
        self.now = now
        self._runs: dict[str, _Run] = {}
        self._trials: dict[str, Trial] = {}
        self._failed_starts: dict[str, engine.RunFact] = {}
        self._warm: list[engine.WarmSource] = []
        self._wake = threading.Event()
        self._token = f"{os.getpid()}-{secrets.token_hex(4)}"
        """Marks this runner's trial processes (with the trial's name), so strays are told from other children."""
        self._fatal: KubetuneError | None = None
        """An error of an output thread (a full disk) that ends the run."""
        self._strays: dict[int, str] = {}
        """Processes that left a live trial's session (pid -> mark), seen alive: still ours to reap once they exit."""
        self._strays_lock = threading.Lock()
        self._strays_seen = 0.0

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> HPOTaskStatus:
        """Work until the task is finished; return its final status. Safe to call again after a crash."""
        self.state.adopt(self.task)
        self._stop_orphans()
        status = self.state.load_status()
        self._trials = {t.metadata.name or "": t for t in self.state.load_trials()}
        self._warm = self._warm_sources()
        with reaping.child_subreaper():
            return self._loop(status)

    def _loop(self, status: HPOTaskStatus | None) -> HPOTaskStatus:
        try:
            while True:
                self._wake.clear()
                self._take_stop_request()
                step = engine.step(self, self.task.model_copy(update={"status": status}), self.now())
                status = step.plan.status
                for event in step.events:
                    self.reporter.event(event)
                self.reporter.progress(status, list(self._trials.values()))
                if step.plan.finished and not self._runs:
                    return status
                if status.phase is TaskPhase.SUSPENDED and not self._runs:
                    return status  # nothing will change until the manifest says suspend: false
                wait = step.plan.wake_after.total_seconds() if step.plan.wake_after is not None else 1.0
                self._wake.wait(timeout=min(max(wait, 0.01), 1.0))
                if self._fatal is not None:
                    raise self._fatal
                self._note_strays()
        finally:
            self._stop_all()

    def _take_stop_request(self) -> None:
        """Honour ``kubetune stop``: it leaves its request in the state directory, as this run holds the lock.

        A later, stronger request wins: ``stop --force`` after a graceful ``stop`` stops the running
        trials at once. A weaker one (graceful after force) changes nothing."""
        stop, current = self.state.stop_request(), self.task.spec.stop
        if stop is None or (current is not None and (current.policy is SuspendPolicy.FORCE or stop == current)):
            return
        self.task = self.task.model_copy(update={"spec": self.task.spec.model_copy(update={"stop": stop})})
        how = (
            "stopping the running trials now"
            if stop.policy is SuspendPolicy.FORCE
            else "running trials finish, no new trial starts (kubetune stop --force stops them now)"
        )
        self.reporter.event(engine.Event("StopRequested", f"kubetune stop ({stop.policy}): {how}."))

    # --- the executor, as engine.step uses it -----------------------------------------------

    def read(self) -> engine.World:
        """The recorded trials, the facts of the running processes and of the starts that failed."""
        facts = {name: run.fact() for name, run in self._runs.items()}
        facts |= self._failed_starts
        self._failed_starts = {}
        return engine.World(list(self._trials.values()), facts, frozenset(self._runs), self._warm)

    def _warm_sources(self) -> list[engine.WarmSource]:
        """The earlier tasks of ``spec.warmStart.tasks``: state directories next to this one, read
        once when the run starts (a source still running adds nothing after that)."""
        sources = []
        for name in self.task.spec.warm_start.tasks if self.task.spec.warm_start else []:
            other = StateDir(self.state.root.parent / name)
            if not (other.root / "task.yaml").exists():
                sources.append(engine.WarmSource(name, None))
                continue
            sources.append(engine.WarmSource(name, other.load_task().spec, other.load_trials()))
        return sources

    def record_trial(self, trial: Trial) -> Trial:
        """Write the trial's file; once a finished trial is recorded, its exited process is let go."""
        name = trial.metadata.name or ""
        self._trials[name] = trial
        self.state.save_trial(trial)
        run = self._runs.get(name)
        if run is not None and not engine.is_active(trial) and run.exited():
            self._finish(name)  # its end is on disk now, so the record of its process can go
        return trial

    def start(self, trial: Trial) -> None:
        """Start the trial's process (a failure to start is reported by the next read)."""
        name = trial.metadata.name or ""
        if name not in self._runs and name not in self._failed_starts:
            self._start(trial)

    def stop(self, trial: Trial) -> None:
        """Stop the trial's process group: SIGTERM now, SIGKILL after the grace period; does not wait.

        Trials stopped in one step are signalled together and share the grace period. The run is
        let go once its process has exited (a later step calls this again for a finished trial).
        """
        name = trial.metadata.name or ""
        run = self._runs.get(name)
        if run is not None and run.exited():
            self._finish(name)
        elif run is not None:
            self._terminate(run)

    def record_status(self, status: HPOTaskStatus) -> None:
        """Write the task's status file."""
        self.state.save_status(status)

    # --- processes --------------------------------------------------------------------------

    def _start(self, trial: Trial) -> None:
        name = trial.metadata.name or ""
        argv = trial_command(self.task, trial)
        params_file = self.state.params_path(name)
        atomic_write(params_file, parameters_json(trial.spec.parameters))
        own = local_metrics_file(params_file)  # a trial run again starts afresh
        if own.is_dir():  # a tfevent directory
            shutil.rmtree(own)
        else:
            own.unlink(missing_ok=True)
        collector = self.task.spec.metrics_collector
        if collector.source is MetricsSource.FILE and collector.format is MetricsFormat.TFEVENT:
            # Made before the trainer starts, as its emptyDir is on a cluster: a directory, so that
            # kubetune.report leaves it to the event files rather than appending its lines there.
            own.mkdir(parents=True)
        log_path = self.state.log_path(name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("wb", buffering=0)  # a restarted trial starts a fresh log; unbuffered: each write is one
        mark = f"{self._token}/{name}"
        env = trial_environment(self.task, trial, params_file) | {reaping.MARK: mark}
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                start_new_session=True,  # its own process group, so stopping it stops its children too
            )
        except OSError as error:
            detail = f"Cannot start {argv[0]}: {error.strerror or error}."
            log.write(f"kubetune: {detail}\n".encode())
            log.close()
            now = self.now()
            self._failed_starts[name] = engine.RunFact(
                engine.RunState.FAILED, started_at=now, finished_at=now, reason="StartFailed", detail=detail
            )
            self._wake.set()
            return
        self.state.record_run(name, {"pid": process.pid, "start": _start_ticks(process.pid)})
        scanner = LogScanner(self.task.spec.metrics_collector, wanted_metrics(self.task.spec.objective))
        run = _Run(process, scanner, partial(metrics_file, self.task, params_file), log, log_path, mark, self.now())
        collector = self.task.spec.metrics_collector
        if collector.follow and collector.path is not None:
            # The trial's own file, and the configured path from its current end: a file left by an
            # earlier trial is not this one's.
            own, configured = local_metrics_file(params_file), Path(collector.path)
            if collector.format is MetricsFormat.TFEVENT:
                run.followed = [EventDirTail(own), EventDirTail.from_now(configured)]
            else:
                run.followed = [FileTail(own), FileTail.from_end(configured)]
        run.thread = threading.Thread(target=self._pump, args=(run,), name=f"pump-{name}", daemon=True)
        self._runs[name] = run
        run.thread.start()

    def _pump(self, run: _Run) -> None:
        """Copy a trial's output to its log and its metrics scanner until it exits.

        The trial ends when its main process does: a background child that still holds the
        output pipe gets a moment to finish writing, then it is killed with the process group,
        and so is whatever left the group (see ``reaping``). A stopped trial gets SIGKILL here
        when its grace period ends.
        """
        stream = run.process.stdout
        assert stream is not None
        fd = stream.fileno()
        deadline: float | None = None
        while deadline is None or time.monotonic() < deadline:
            if run.kill_at is not None and time.monotonic() >= run.kill_at:
                _signal_group(run.process.pid, signal.SIGKILL)
            ready, _, _ = select.select([fd], [], [], 0.1)
            if run.followed and time.monotonic() - run.followed_at >= FOLLOW_SECONDS:
                self._read_followed(run, final=False)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self._record(run, chunk)
            elif deadline is None and run.process.poll() is not None:
                deadline = time.monotonic() + EXIT_DRAIN
        stream.close()
        code = run.process.wait()
        if run.followed:
            self._read_followed(run, final=True)
        elif (path := run.metrics_file()) is not None:  # read directly, once the trainer is done with it
            with run.lock:
                try:
                    run.scanner.feed(path.read_bytes())
                except OSError as error:
                    run.scanner.feed(f"kubetune: cannot read the metrics file {path}: {error.strerror}\n".encode())
        _signal_group(run.process.pid, signal.SIGKILL)  # nothing of a finished trial keeps running
        with self._strays_lock:
            seen = [pid for pid, mark in self._strays.items() if mark == run.mark]
            for pid in seen:
                del self._strays[pid]
        reaping.kill_and_reap({*reaping.strays({run.mark}, {run.process.pid}, ()), *seen})
        if run.log is not None:
            run.log.close()
        with run.lock:
            run.exit_code, run.finished = code, self.now()
        self._wake.set()

    def _read_followed(self, run: _Run, *, final: bool) -> None:
        run.followed_at = time.monotonic()
        found = False
        for tail in run.followed:
            for piece in tail.pieces(final=final):  # bounded pieces, each fed before the next is read
                found = True
                with run.lock:
                    run.scanner.feed(piece)
            problem = tail.problem if isinstance(tail, FileTail) else None
            if problem and problem not in run.said:  # once, in the trial's output as a problem of the file
                run.said.add(problem)
                with run.lock:
                    run.scanner.feed(f"kubetune: {problem}\n".encode())
        if found and not final:
            self._wake.set()  # new values for the median rule

    def _record(self, run: _Run, chunk: bytes) -> None:
        if run.written < MAX_LOG_BYTES and run.log is not None:
            try:
                run.log.write(chunk[: MAX_LOG_BYTES - run.written])
            except OSError as error:  # a full disk: the run ends (in the main thread) with one line
                run.log.close()
                run.log = None
                with contextlib.suppress(OSError):
                    run.log_path.unlink()  # a truncated log would pass for the whole output
                self._fatal = self._fatal or cannot_write(run.log_path, error)
                self._wake.set()
            run.written += len(chunk)
        with run.lock:
            if self.task.spec.metrics_collector.source is not MetricsSource.FILE:
                run.scanner.feed(chunk)
            run.tail = (run.tail + chunk)[-engine.LAST_OUTPUT_BYTES * 4 :]
        # New metrics matter to the median rule, but a chatty trainer must not make the runner
        # recompute and rewrite the trial's state for every line: wake at most every OUTPUT_WAKE s.
        if time.monotonic() - run.woke >= OUTPUT_WAKE:
            run.woke = time.monotonic()
            self._wake.set()

    def _finish(self, name: str) -> None:
        run = self._runs.pop(name)
        if run.thread is not None:
            run.thread.join()
        self.state.forget_run(name)

    def _terminate(self, run: _Run) -> None:
        """SIGTERM to the trial's process group; its output thread sends SIGKILL when the grace period ends."""
        if run.kill_at is None:
            run.kill_at = time.monotonic() + STOP_GRACE
            _signal_group(run.process.pid, signal.SIGTERM)

    def _stop_all(self) -> None:
        """Leave no process behind when the runner ends (done, interrupted or failing): stop all, then wait once."""
        for run in self._runs.values():
            self._terminate(run)
        for name in list(self._runs):
            self._finish(name)
        # Strays of trials that ended earlier were reaped then; this catches what reached us since.
        marks = {f"{self._token}/{name}" for name in self._trials}
        reaping.kill_and_reap({*reaping.strays(marks, (), ()), *self._strays})

    def _note_strays(self) -> None:
        """Remember, about once a second, the processes that left a live trial's session.

        Alive, their environment names their trial; once exited, a zombie shows nothing of it.
        Remembered, one that exits before its trial does is still reaped when the trial ends.
        """
        if time.monotonic() - self._strays_seen < 1.0 or not self._runs:
            return
        self._strays_seen = time.monotonic()
        runs = list(self._runs.values())
        marks = {run.mark for run in runs}
        found = reaping.marked_children(marks, {run.process.pid for run in runs})
        with self._strays_lock:
            self._strays.update(found)

    def _stop_orphans(self) -> None:
        """Kill processes an earlier, crashed ``kubetune run`` left running."""
        for name, info in self.state.recorded_runs():
            pid = info.get("pid")
            if isinstance(pid, int) and info.get("start") is not None and _start_ticks(pid) == info["start"]:
                _signal_group(pid, signal.SIGKILL)
            self.state.forget_run(name)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
