"""The state directory of a local task: the durable truth of ``kubetune run``.

Layout of ``.kubetune/<task>/``::

    task.yaml            the manifest the task was started from (its name must not change)
    status.json          the task's status (HPOTaskStatus)
    trials/<name>.json   one Trial object per trial, spec and status
    logs/<name>.log      what the trial printed
    params/<name>.json   the parameters file the trial reads
    runs/<name>.json     the process of a live run (pid, start time), to stop it after a crash
    .lock                held while a ``kubetune run`` works here

Every file is written whole to a temporary name, flushed to disk, then renamed over the old one,
so a crash at any moment leaves either the old or the new version, never half of one.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import yaml
from pydantic import ValidationError

from ..api import HPOTask, HPOTaskStatus, Trial
from ..errors import StateError

_T = TypeVar("_T")


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers only ever see a whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
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
        return cls((base or Path.cwd()) / ".kubetune" / task_name)

    def __enter__(self) -> StateDir:
        self.root.mkdir(parents=True, exist_ok=True)
        lock = (self.root / ".lock").open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise StateError(f"{self.root}: another `kubetune run` is working on this task") from None
        self._lock = lock
        return self

    def __exit__(self, *_: object) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # --- the task ---------------------------------------------------------------------------

    def adopt(self, task: HPOTask) -> None:
        """Record ``task`` as this directory's task; refuse a directory that holds another task."""
        path = self.root / "task.yaml"
        if path.exists():
            known: Any = self._read(path, yaml.safe_load)
            name = known.get("metadata", {}).get("name") if isinstance(known, dict) else None
            if name != task.metadata.name:
                raise StateError(f"{self.root}: holds task {name!r}, not {task.metadata.name!r}")
        atomic_write(path, yaml.safe_dump(task.model_copy(update={"status": None}).to_manifest(), sort_keys=False))

    def load_task(self) -> HPOTask:
        """The task this directory was started from, with its last recorded status."""
        path = self.root / "task.yaml"
        if not path.exists():
            raise StateError(f"{self.root}: not a kubetune state directory (no task.yaml)")
        task = self._read(path, lambda text: HPOTask.model_validate(yaml.safe_load(text)))
        return task.model_copy(update={"status": self.load_status()})

    def load_status(self) -> HPOTaskStatus | None:
        """The last recorded task status, if any."""
        path = self.root / "status.json"
        return self._read(path, HPOTaskStatus.model_validate_json) if path.exists() else None

    def save_status(self, status: HPOTaskStatus) -> None:
        """Record the task's status."""
        atomic_write(self.root / "status.json", status.model_dump_json(by_alias=True, exclude_none=True, indent=2))

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
