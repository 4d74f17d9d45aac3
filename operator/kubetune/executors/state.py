"""The state directory of a local task: the durable truth of ``kubetune run``.

Layout of ``.kubetune/<task>/``::

    task.yaml            the manifest of the last run (its name must not change)
    spec.sha256          the hash of that manifest's spec, to notice a changed manifest
    status.json          the task's status (HPOTaskStatus)
    trials/<name>.json   one Trial object per trial, spec and status
    logs/<name>.log      what the trial printed
    params/<name>.json   the parameters file the trial reads
    runs/<name>.json     the process of a live run (pid, start time), to stop it after a crash
    stop.json            a stop asked for by ``kubetune stop`` (its policy), read by the runner at each step

and, beside it, ``.kubetune/.<task>.lock``: held while a ``kubetune run`` works on the task or a
``kubetune delete`` removes it. It lives outside the directory so that removing the directory
never removes the lock that guards it (a run that started mid-delete would otherwise take a fresh
lock and carry on with half the files). A delete first renames the directory aside, so that no
reader ever sees it half removed.

Every file is written whole to a temporary name, flushed to disk, then renamed over the old one,
so a crash at any moment leaves either the old or the new version, never half of one. A write
that fails (a full disk) removes its temporary file and names the file it was writing.

A manifest may change between two runs of a task. A budget, template or early-stopping change is
taken (the run says so in one line); a change to what the trials so far measured (the search
space, the objective, the algorithm) is refused unless the user allows it (see ``spec_changes``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import yaml
from pydantic import ValidationError

from ..api import HPOTask, HPOTaskSpec, HPOTaskStatus, Stop, Trial, kubeyaml
from ..errors import StateError

_T = TypeVar("_T")


STATE_ROOT = ".kubetune"
"""The directory, under the one ``kubetune run`` runs in, that holds each local task's state directory."""
DEFINING = ("parameters", "objective", "algorithm")
"""Spec fields that give the trials so far their meaning: changing one needs --allow-changes or --restart."""
CONTROLS = ("suspend", "suspendPolicy", "stop")
"""Spec fields meant to change between runs: taken without a word."""


def cannot_write(path: Path, error: OSError) -> StateError:
    """The one line a failed write (a full disk, a read-only directory) ends the run with."""
    reason = error.strerror or str(error)
    return StateError(f"{path}: cannot write ({reason}); make room, then run the same command again to continue")


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers only ever see a whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise cannot_write(path, error) from None
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class StateDir:
    """One task's state directory; only one process may hold it at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock: IO[str] | None = None

    @classmethod
    def default(cls, task_name: str, base: Path | None = None) -> StateDir:
        """``.kubetune/<task>`` under ``base`` (default: the current directory)."""
        return cls((base or Path.cwd()) / STATE_ROOT / task_name)

    @property
    def lock_path(self) -> Path:
        """The lock file, beside the directory it guards (never removed: a waiting process may hold it open)."""
        return self.root.with_name(f".{self.root.name}.lock")

    def __enter__(self) -> StateDir:
        self.root.parent.mkdir(parents=True, exist_ok=True)
        lock = self.lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise StateError(
                f"{self.root}: another kubetune command (`kubetune run` or `kubetune delete`) is working on this task"
            ) from None
        self._lock = lock
        for leftover in self.root.glob("**/.*.tmp"):  # a write cut short by a crash: its file is intact
            leftover.unlink(missing_ok=True)
        (self.root / ".lock").unlink(missing_ok=True)  # where an older kubetune kept its lock
        return self

    def remove(self) -> None:
        """Delete the whole state directory (hold the lock): renamed aside first, so that it is never seen half gone."""
        if not self.root.is_dir():
            raise StateError(f"{self.root}: no such state directory (deleted already?)")
        aside = self.root.with_name(f".{self.root.name}.deleting-{os.getpid()}")
        self.root.rename(aside)
        try:
            shutil.rmtree(aside)
        except OSError as error:
            raise StateError(
                f"{self.root}: deleted, but removing its files in {aside} failed ({error.strerror or error}); "
                "remove that directory by hand"
            ) from None

    def set_aside(self, now: datetime) -> Path:
        """Move the whole state directory away (for ``--restart``); return where it went."""
        aside = self.root.with_name(f"{self.root.name}.replaced-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}")
        self.root.rename(aside)
        return aside

    def __exit__(self, *_: object) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # --- the task ---------------------------------------------------------------------------

    def adopt(self, task: HPOTask) -> None:
        """Record ``task`` as this directory's task; refuse a directory that holds another task."""
        path = self.root / "task.yaml"
        if path.exists():
            known: Any = self._read(path, _manifest)
            name = known.get("metadata", {}).get("name") if isinstance(known, dict) else None
            if name != task.metadata.name:
                raise StateError(f"{self.root}: holds task {name!r}, not {task.metadata.name!r}")
        atomic_write(path, kubeyaml.dump(task.model_copy(update={"status": None}).to_manifest()))
        atomic_write(self.root / "spec.sha256", spec_hash(task.spec) + "\n")

    def spec_changes(self, task: HPOTask) -> SpecChanges | None:
        """How ``task``'s spec differs from the last run's; None when this directory holds no task yet."""
        path = self.root / "task.yaml"
        if not path.exists():
            return None
        recorded = self.root / "spec.sha256"
        if recorded.exists() and recorded.read_text(encoding="utf-8").strip() == spec_hash(task.spec):
            return SpecChanges()
        return spec_changes(self.load_task().spec, task.spec)

    def load_task(self) -> HPOTask:
        """The task this directory was started from, with its last recorded status."""
        path = self.root / "task.yaml"
        if not path.exists():
            raise StateError(
                f"{self.root}: not a kubetune state directory (no task.yaml); `kubetune run` keeps a task's state "
                f"in {STATE_ROOT}/TASK under the directory it ran in: run from there, or give --state-dir DIR"
            )
        task = self._read(path, lambda text: HPOTask.model_validate(_manifest(text)))
        return task.model_copy(update={"status": self.load_status()})

    def load_status(self) -> HPOTaskStatus | None:
        """The last recorded task status, if any."""
        path = self.root / "status.json"
        return self._read(path, HPOTaskStatus.model_validate_json) if path.exists() else None

    def save_status(self, status: HPOTaskStatus) -> None:
        """Record the task's status."""
        atomic_write(self.root / "status.json", status.model_dump_json(by_alias=True, exclude_none=True, indent=2))

    def request_stop(self, stop: Stop) -> None:
        """Ask for the task to be stopped for good; needs no lock, so that a running ``kubetune run`` gets it."""
        atomic_write(self.root / "stop.json", stop.model_dump_json(by_alias=True))

    def stop_request(self) -> Stop | None:
        """The stop ``kubetune stop`` asked for, if any."""
        path = self.root / "stop.json"
        return self._read(path, Stop.model_validate_json) if path.exists() else None

    # --- trials -----------------------------------------------------------------------------

    def load_trials(self) -> list[Trial]:
        """Every recorded trial, in index order."""
        directory = self.root / "trials"
        if not directory.is_dir():
            return []
        trials = [self._read(path, Trial.model_validate_json) for path in sorted(directory.glob("*.json"))]
        return sorted(trials, key=lambda t: t.spec.index)

    def save_trial(self, trial: Trial) -> None:
        """Record a trial (spec and status)."""
        text = trial.model_dump_json(by_alias=True, exclude_none=True, indent=2)
        atomic_write(self.root / "trials" / f"{trial.metadata.name}.json", text)

    def log_path(self, name: str) -> Path:
        """Where a trial's output goes."""
        return self.root / "logs" / f"{name}.log"

    def params_path(self, name: str) -> Path:
        """The parameters file of a trial."""
        return self.root / "params" / f"{name}.json"

    # --- live runs --------------------------------------------------------------------------

    def record_run(self, name: str, info: dict[str, Any]) -> None:
        """Remember a started process, so that a later run can stop it after a crash."""
        atomic_write(self.root / "runs" / f"{name}.json", json.dumps(info))

    def forget_run(self, name: str) -> None:
        """The process of ``name`` is gone."""
        (self.root / "runs" / f"{name}.json").unlink(missing_ok=True)

    def recorded_runs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Processes recorded by an earlier ``kubetune run`` that may still be alive."""
        directory = self.root / "runs"
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
            try:
                yield path.stem, json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                path.unlink(missing_ok=True)

    def _read(self, path: Path, parse: Callable[[str], _T]) -> _T:
        try:
            return parse(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, ValidationError, yaml.YAMLError) as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise StateError(f"{path}: unreadable ({first}); move it away to start over") from None


def _manifest(text: str) -> Any:
    """The manifest in ``task.yaml``, read as every manifest is (kubectl's types, kubetune's limits)."""
    documents = kubeyaml.load_documents(text)
    return documents[0].obj if documents else None


def _spec_document(spec: HPOTaskSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def spec_hash(spec: HPOTaskSpec) -> str:
    """The SHA-256 of the spec as this version reads it (defaults filled in, keys sorted)."""
    return hashlib.sha256(json.dumps(_spec_document(spec), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class SpecChanges:
    """The top-level spec fields (as the manifest names them) that changed since the last run."""

    defining: tuple[str, ...] = ()
    """Changes to what the trials so far measured: refused unless allowed."""
    budget: tuple[str, ...] = ()
    """Budget fields, each as ``maxTrials 6 -> 10``."""
    other: tuple[str, ...] = ()
    """Other changes (template, early stopping, metrics collector): they apply to the trials to come."""


def spec_changes(old: HPOTaskSpec, new: HPOTaskSpec) -> SpecChanges:
    """Compare two specs field by field; the controls (``suspend``) are not changes."""
    before, after = _spec_document(old), _spec_document(new)
    changed = [k for k in sorted(before.keys() | after.keys()) if before.get(k) != after.get(k) and k not in CONTROLS]
    old_budget, new_budget = before.get("budget", {}), after.get("budget", {})
    budget = tuple(
        f"{key} {old_budget.get(key, 'unset')} -> {new_budget.get(key, 'unset')}"
        for key in sorted(old_budget.keys() | new_budget.keys())
        if old_budget.get(key) != new_budget.get(key)
    )
    return SpecChanges(
        defining=tuple(k for k in DEFINING if k in changed),
        budget=budget,
        other=tuple(k for k in changed if k not in DEFINING and k != "budget"),
    )
