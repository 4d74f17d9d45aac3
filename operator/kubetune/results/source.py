"""Where a task and its trials are read from, behind one small interface.

``trials``, ``best``, ``report`` and ``dashboard`` take a TASK argument and read it through a
:class:`TrialSource`: a local state directory (``kubetune run``'s, :class:`LocalSource`), or a
task on a cluster (``hpo/NAME``: its HPOTask and Trial objects, ``results.cluster.ClusterSource``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..api import HPOTask, Trial
from ..api.loader import load_task
from ..errors import InvalidSpec, Problem, StateError
from ..executors.state import STATE_ROOT, StateDir

if TYPE_CHECKING:
    from .cluster import ClusterSource


class TrialSource(Protocol):
    """Reads one task and its trials; read-only, and cheap enough to call again for a refresh."""

    @property
    def label(self) -> str:
        """How messages name the source (a directory, or ``hpo/NAME``)."""
        ...

    def load_task(self) -> HPOTask:
        """The task's manifest with its last recorded status."""
        ...

    def load_trials(self) -> list[Trial]:
        """Every trial of the task, in index order."""
        ...


ARCHIVED = ("logs", "params")
"""What ``kubetune archive`` removes from a local task's state directory."""


@dataclass(frozen=True)
class LocalSource:
    """A task run by ``kubetune run``: its state directory."""

    state: StateDir

    @property
    def label(self) -> str:
        """The state directory."""
        return str(self.state.root)

    def load_task(self) -> HPOTask:
        """The task and its status, from ``task.yaml`` and ``status.json``."""
        return self.state.load_task()

    def load_trials(self) -> list[Trial]:
        """The trials, from ``trials/*.json``."""
        return self.state.load_trials()

    def delete(self) -> None:
        """Remove the state directory; refuses while a ``kubetune run`` holds it."""
        with self.state:  # the lock: never pull the directory from under a running task
            self.state.remove()

    def archive(self) -> int:
        """Drop what only a running or debugged task needs (the trials' logs and parameter files),
        keeping the task, its status and every trial's parameters and metrics; return the bytes freed.
        Refuses while a ``kubetune run`` holds the task."""
        freed = 0
        with self.state:
            for name in ARCHIVED:
                folder = self.state.root / name
                if folder.is_dir():
                    freed += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
                    shutil.rmtree(folder)
        return freed


UNNAMED = "is required (it names the state directory and the trials)"
"""Why a task needs ``metadata.name``, which ``run`` and ``validate`` both say."""


def manifest_task(path: Path) -> HPOTask:
    """A manifest's task, which must be named (the name is the state directory's)."""
    try:
        task = load_task(path)
    except InvalidSpec as error:  # name the file: the problems only know their place inside it
        raise InvalidSpec(
            [Problem(f"{path}: {p.path}" if p.path else str(path), p.message) for p in error.problems]
        ) from None
    if not task.metadata.name:
        raise InvalidSpec([Problem(f"{path}: metadata.name", UNNAMED)])
    return task


def local_state(task: str | None, state_dir: str | None = None, base: Path | None = None) -> StateDir:
    """The state directory TASK names: a manifest, a state directory, or a task name under ``.kubetune/``."""
    base = base or Path.cwd()
    if state_dir:
        return StateDir(Path(state_dir))
    if not task:
        raise StateError("give a TASK (a manifest, a state directory or a task name) or --state-dir DIR")
    path = Path(task)
    if path.is_dir():
        return StateDir(path)
    if path.is_file() or path.suffix in (".yaml", ".yml", ".json"):  # a missing manifest says "cannot read"
        name = manifest_task(path).metadata.name or ""
        here, beside = StateDir.default(name, base), StateDir.default(name, path.resolve().parent)
        # Run from the manifest's directory (the usual way), the state is found from anywhere.
        found = not (here.root / "task.yaml").exists() and (beside.root / "task.yaml").exists()
        return beside if found else here
    named = base / STATE_ROOT / task
    if "/" not in task and named.is_dir():
        return StateDir(named)
    raise StateError(f"{task}: no such manifest, state directory or local task (see `kubetune list`)")


PREFIXES = ("hpo/", "hpotask/", "hpotasks/", "hpotask.kubetune.io/", "hpotasks.kubetune.io/")
"""How kubectl users name an HPOTask: ``hpo/NAME`` and its long forms."""


def cluster_task_name(task: str | None, *, bare: bool = False) -> str | None:
    """NAME when TASK names a cluster task: ``hpo/NAME`` (or a longer kubectl form), or with ``bare``,
    a plain name that is no file or directory here (as ``kubectl kubetune best NAME`` gives it)."""
    if not task:
        return None
    for prefix in PREFIXES:
        if task.startswith(prefix) and len(task) > len(prefix):
            return task[len(prefix) :]
    if bare and "/" not in task and not Path(task).exists() and Path(task).suffix not in (".yaml", ".yml", ".json"):
        return task
    return None


def open_source(
    task: str | None,
    state_dir: str | None = None,
    *,
    namespace: str | None = None,
    context: str | None = None,
    cluster: bool = False,
) -> LocalSource | ClusterSource:
    """The source TASK names; its task must be readable (one line says why not).

    ``hpo/NAME`` is a task on the cluster of the kubeconfig's context (or ``context``); so is a
    plain NAME when ``namespace`` or ``context`` is given, or ``cluster`` says bare names are
    cluster tasks (the kubectl plugin). Anything else is a local task.
    """
    name = None if state_dir else cluster_task_name(task, bare=cluster or bool(namespace or context))
    if name is not None:
        from .cluster import ClusterSource  # noqa: PLC0415 - the kubernetes client loads only for cluster tasks

        source: LocalSource | ClusterSource = ClusterSource.connect(name, namespace, context)
    else:
        if namespace or context:
            raise StateError(f"{task}: -n/--namespace and --context apply to a cluster task (hpo/NAME) only")
        source = LocalSource(local_state(task, state_dir))
    source.load_task()
    return source


def local_tasks(base: Path | None = None) -> list[LocalSource]:
    """Every local task's state directory under ``base/.kubetune``, by name."""
    root = (base or Path.cwd()) / STATE_ROOT
    # A hidden directory is one being deleted (StateDir.remove), and TASK.replaced-TIME the old state
    # that `run --restart` set aside: neither is a task.
    entries = root.iterdir() if root.is_dir() else iter(())
    found = sorted(
        p for p in entries if not p.name.startswith(".") and ".replaced-" not in p.name and (p / "task.yaml").is_file()
    )
    return [LocalSource(StateDir(path)) for path in found]
