"""The ``kubetune`` command: run, validate, convert, crds, operator, and the results (trials, best, report, ...)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib
import json
import os
import shlex
import signal
import sys
import time
import webbrowser
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from . import __version__
from .api import HPOTask, Stop, SuspendPolicy, TaskPhase, crd, kubeyaml
from .api.loader import load_objects, parse_task, read_documents
from .errors import InvalidSpec, KubetuneError, Problem, StateError, UsageError
from .executors import event_files, file_tail
from .executors.state import STATE_ROOT, StateDir
from .results.source import (
    UNNAMED,
    LocalSource,
    TrialSource,
    cluster_task_name,
    local_state,
    local_tasks,
    manifest_task,
    open_source,
)

EXIT_BAD_INPUT = 2
DESCRIPTION = (
    "Hyperparameter search: run an HPOTask on this machine (trials as local processes) or as the "
    "Kubernetes operator, and look at its results."
)


def _print_problems(path: str, error: InvalidSpec) -> None:
    for problem in error.problems:
        print(f"{path}: {problem}", file=sys.stderr)


def _named_task(path: str) -> HPOTask:
    return manifest_task(Path(path))


def _source(args: argparse.Namespace, task: str | None = None) -> TrialSource:
    """The task TASK (or --state-dir, or hpo/NAME on a cluster) names, which must exist."""
    return open_source(
        task or args.file,
        getattr(args, "state_dir", None),
        namespace=getattr(args, "namespace", None),
        context=getattr(args, "context", None),
        cluster=getattr(args, "plugin", False),
    )


def _run(args: argparse.Namespace) -> int:
    from .display import LiveReporter, PlainReporter, best_document, printable  # noqa: PLC0415
    from .executors.local import LocalExecutor  # noqa: PLC0415 - keeps `kubetune validate` fast

    try:
        task = _named_task(args.file)
    except InvalidSpec as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_BAD_INPUT
    state = StateDir(Path(args.state_dir)) if args.state_dir else StateDir.default(task.metadata.name or "")
    workdir = Path(args.workdir) if args.workdir else Path.cwd()
    live = sys.stdout.isatty() and not args.plain
    signal.signal(signal.SIGTERM, _interrupt)  # like Ctrl-C: stop the trials, keep the state
    again = _task_argument(args)
    # Everything is read under the lock: a `kubetune delete` (or another run) cannot change it meanwhile.
    with state:
        if args.restart and (state.root / "task.yaml").exists():
            aside = state.set_aside(datetime.now(UTC))
            print(f"kubetune: --restart: the old state of {task.metadata.name} is now in {aside} (delete it at will)")
        earlier = state.load_trials() if (state.root / "task.yaml").exists() else []
        _announce(args, task, state, earlier, again)
        _take_changes(task, state, len(earlier), allow=args.allow_changes)
        if live:
            with LiveReporter(task) as reporter:
                status = LocalExecutor(task, state, reporter, workdir=workdir).run()
        else:
            status = LocalExecutor(task, state, PlainReporter(), workdir=workdir).run()
    print(f"{task.metadata.name}: {status.phase} ({status.reason}): {printable(status.message or '')}")
    if status.phase is TaskPhase.SUSPENDED:
        print("set spec.suspend to false and run the same command again to continue")
    if status.phase is TaskPhase.STOPPED:
        print(f"stopped for good; its trials and results are kept (kubetune delete {again} removes them)")
    best = best_document(status)
    if best is not None:
        print("Pareto front:" if "paretoFront" in best else "best trial:")
        print(json.dumps(best, indent=2))
    print(
        "next:\n"
        f"  kubetune trials {again}            the trials, best first\n"
        f"  kubetune best {again}              the best trial (or the Pareto front) as JSON\n"
        f"  kubetune report {again} --open     plots of the search, in the browser\n"
        f"  each trial's output is in {_shown(state.root / 'logs')}/TRIAL.log"
    )
    return 1 if status.phase is TaskPhase.FAILED else 0


def _announce(args: argparse.Namespace, task: HPOTask, state: StateDir, earlier: list[Any], again: str) -> None:
    """Say whether the run continues a saved state or starts one, and where it is."""
    if earlier:
        print(
            f"kubetune: reusing the saved state of {task.metadata.name} in {state.root} ({len(earlier)} trials so far);"
            f" to start over: kubetune delete {again}",
            flush=True,
        )
        return
    print(f"kubetune: running {task.metadata.name} locally, state in {state.root}", flush=True)
    beside = StateDir.default(task.metadata.name or "", Path(args.file).resolve().parent)
    if not args.state_dir and beside.root != state.root.resolve() and (beside.root / "task.yaml").exists():
        hint = f"add --state-dir {shlex.quote(str(beside.root))}"
        print(f"kubetune: {beside.root} holds an earlier run of this task; to continue it, {hint}")


def _take_changes(task: HPOTask, state: StateDir, count: int, *, allow: bool) -> None:
    """Say in one line how the manifest changed since the last run; refuse a change to what was measured."""
    changes = state.spec_changes(task)
    if changes is None:
        return
    fields = ", ".join(f"spec.{name}" for name in changes.defining)
    if changes.defining and not allow:
        raise StateError(
            f"{task.metadata.name}: {fields} changed since the last run, so its {count} trials measured something "
            "else; choose: a new metadata.name (a new task), --restart (start over; the old state is moved aside), "
            "or --allow-changes (keep the trials; those outside the new search space are left out of the "
            "algorithm's history)"
        )
    if changes.defining:
        from .engine import objective_of  # noqa: PLC0415 - keeps `kubetune validate` fast
        from .search.space import SearchSpace  # noqa: PLC0415

        space = SearchSpace.from_parameters(task.spec.parameters)
        trials = state.load_trials()
        outside = sum(not space.contains(t.spec.parameters) for t in trials)
        reread = ""
        if "objective" in changes.defining:  # each trial's objective, re-read from its recorded series
            for trial in trials:
                if trial.status is not None and trial.status.phase.finished:
                    value = objective_of(task.spec, {s.name: s for s in trial.status.metrics})
                    state.save_trial(
                        trial.model_copy(update={"status": trial.status.model_copy(update={"objective": value})})
                    )
            reread = "; each trial's objective is re-read from the metrics it recorded"
        print(
            f"kubetune: {fields} changed (--allow-changes): {outside} of {count} trials lie outside the new search "
            f"space and are kept but left out of the algorithm's history{reread}"
        )
    if changes.budget:
        print(f"kubetune: the budget changed ({', '.join(changes.budget)}); continuing with the {count} trials so far")
    if changes.other:
        listed = ", ".join(f"spec.{name}" for name in changes.other)
        print(f"kubetune: {listed} changed since the last run; the trials to come use the new one")


def _shown(path: Path) -> Path:
    """``path`` relative to the current directory when it lies below it (shorter to read and to type)."""
    return path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path


def _task_argument(args: argparse.Namespace) -> str:
    """How to name this task to the other commands, as the user named it to ``run``."""
    return f"--state-dir {shlex.quote(args.state_dir)}" if args.state_dir else shlex.quote(args.file)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _trials(args: argparse.Namespace) -> int:
    from .display import all_series_rows, series_rows, trial_rows, write_trials  # noqa: PLC0415

    source = _source(args)
    task, trials = source.load_task(), source.load_trials()
    if args.metric and not args.series:
        raise UsageError("--metric goes with --series (the metric whose values to print)")
    if args.series and not args.trial:  # one metric, every trial: a table of trial, step, value
        metric = args.metric or task.spec.objective.primary
        header, rows = all_series_rows(trials, metric)
        title = f"{len(rows)} values of {metric} from {len({r[0] for r in rows})} trials"
        write_trials(args.output, header, rows, len(rows), 0, None, sys.stdout, title=title, keep=header)
        return 0
    if args.trial:
        found = [t for t in trials if t.metadata.name == args.trial or str(t.spec.index) == args.trial]
        if not found:
            raise UsageError(f"--trial {args.trial}: no such trial in {source.label} ({len(trials)} trials)")
        trials = found
        if args.series:
            header, rows = series_rows(found[0], args.metric)
            title = f"{len(rows)} values of {found[0].metadata.name}"
            write_trials(args.output, header, rows, len(rows), 0, None, sys.stdout, title=title, wide=args.wide)
            return 0
    table = trial_rows(
        task,
        trials,
        include_failed=args.include_failed or bool(args.trial),
        top=args.top,
        offset=args.offset,
        limit=args.limit,
        sort_by=args.sort_by,
        reverse=args.reverse,
    )
    write_trials(
        args.output,
        table.header,
        table.rows,
        table.total,
        args.offset,
        args.limit,
        sys.stdout,
        title=table.title(),
        extra={"trials": table.trials, "hidden": table.hidden},
        keep=table.keep,
        drop_order=table.drop_order,
        wide=args.wide,
    )
    return 0


def _best(args: argparse.Namespace) -> int:
    from .display import best_document, best_of_all, task_times  # noqa: PLC0415

    source = _source(args)
    task = source.load_task()
    wider = args.include_stopped or args.include_failed
    if wider and task.spec.objective.multi:
        raise UsageError(
            "--include-stopped and --include-failed apply to a single objective; with several, best prints the "
            "Pareto front"
        )
    started, ran, left = task_times(task, datetime.now(UTC))
    # For a person at a terminal: a script reading the JSON gets nothing else (`best | jq` stays quiet).
    if task.status is not None and started != "-" and sys.stderr.isatty():
        limit = "" if left == "-" else f", time limit: {left}" + ("" if left == "ended" else " left")
        print(
            f"kubetune: {task.metadata.name}: {task.status.phase}, started {started}, ran {ran}{limit}", file=sys.stderr
        )
    best = None if wider else best_document(task.status)
    if best is None and not task.spec.objective.multi:
        # With no trial succeeded (a time limit stopped them all, say), the trials that reported values answer.
        best = best_of_all(task, source.load_trials(), include_failed=args.include_failed)
        if best is not None:
            kind = {
                "Succeeded": "a succeeded",
                "EarlyStopped": "an early-stopped",
                "Stopped": "a stopped",
                "Failed": "a failed",
            }
            note = "" if wider else " (no trial succeeded; this one reported the objective before it was stopped)"
            print(f"kubetune: the best is {kind.get(best['phase'], 'a')} trial, {best['name']}{note}", file=sys.stderr)
    if best is None:
        what = "reported the objective" if wider else "succeeded"
        print(f"kubetune: no trial has {what} yet", file=sys.stderr)
        return 1
    print(json.dumps(best, indent=2))
    return 0


def _report(args: argparse.Namespace) -> int:
    from .results.html import render  # noqa: PLC0415 - plotly and Optuna's plots load only here

    source = _source(args)
    task, trials = source.load_task(), source.load_trials()
    out = Path(args.output or f"{task.metadata.name}-report.html")
    out.write_text(render(task, trials), encoding="utf-8")
    print(f"wrote {out} ({len(trials)} trials of {task.metadata.name})")
    if args.open and not webbrowser.open(out.resolve().as_uri()):
        print(f"kubetune: no web browser was found here to open it; open {out} in one (or set $BROWSER)")
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from .results.dashboard import Dashboard, serve  # noqa: PLC0415

    dashboard = Dashboard([_source(args, task) for task in args.tasks], allowed_hosts=args.allow_host or ())

    def ready(url: str) -> None:
        studies = ", ".join(dashboard.studies)
        print(f"kubetune: Optuna Dashboard for {studies} at {url} (read-only, refreshed every {args.refresh:g} s)")
        print("press Ctrl-C to stop", flush=True)

    serve(dashboard, host=args.host, port=args.port, refresh=args.refresh, ready=ready)
    return 0


def _list(args: argparse.Namespace) -> int:
    from .display import task_rows, write_trials  # noqa: PLC0415

    base = Path(args.dir) if args.dir else None
    header, rows = task_rows([(source.load_task(), source.label) for source in local_tasks(base)])
    if not rows and args.output == "table":
        print(f"kubetune: no local tasks under {(base or Path.cwd()) / STATE_ROOT}", file=sys.stderr)
        return 0
    write_trials(
        args.output,
        header,
        rows,
        len(rows),
        0,
        None,
        sys.stdout,
        title=f"{len(rows)} local tasks",
        keep=("task", "phase", "best"),
        drop_order=("state", "started", "running", "time_left", "ran", "best_trial"),
    )
    return 0


def _delete(args: argparse.Namespace) -> int:
    named = list(args.tasks) or [None]  # no TASK: --state-dir names it
    for name in named:
        if cluster_task_name(name, bare=args.plugin) is not None:
            raise UsageError(f"{name}: delete works on local tasks only (on a cluster: kubectl delete hpo/NAME)")
    # Every name is checked before anything is deleted: a typo in the third does not leave two deleted.
    sources = [LocalSource(local_state(name, args.state_dir)) for name in named]
    for source in sources:
        source.load_task()
    counts = [len(source.load_trials()) for source in sources]
    listed = ", ".join(f"{source.label} ({count} trials)" for source, count in zip(sources, counts, strict=True))
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"not deleting {listed} without --yes (there is no terminal to ask)")
        answer = input(f"delete {listed}, their logs and results? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("kubetune: nothing deleted")
            return 1
    for source, count in zip(sources, counts, strict=True):
        source.delete()
        print(f"deleted {source.label} ({count} trials)")
    return 0


WAIT_CODES = {TaskPhase.SUCCEEDED: 0, TaskPhase.FAILED: 1, TaskPhase.STOPPED: 3, TaskPhase.SUSPENDED: 4}
"""``kubetune wait``'s exit code for the phase the task ended in (124: the --timeout passed first)."""
WAIT_TIMED_OUT = 124


def _wait(args: argparse.Namespace) -> int:
    source = _source(args)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    while True:
        task = source.load_task()
        status = task.status
        # Suspended ends the wait too: nothing changes until someone resumes the task.
        if status is not None and status.phase in WAIT_CODES:
            print(f"{task.metadata.name}: {status.phase} ({status.reason}): {status.message or ''}")
            return WAIT_CODES[status.phase]
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            phase = status.phase if status else "Pending"
            print(f"kubetune: {task.metadata.name} is still {phase} after {args.timeout:g} s", file=sys.stderr)
            return WAIT_TIMED_OUT
        time.sleep(args.poll if left is None else min(args.poll, left))


def _archive(args: argparse.Namespace) -> int:
    named = list(args.tasks) or [None]
    for name in named:
        if cluster_task_name(name, bare=args.plugin) is not None:
            raise UsageError(
                f"{name}: archive works on local tasks only (on a cluster, spec.retainWorkloads decides which "
                "finished trials keep their workloads; the Trial objects keep the results)"
            )
    sources = [LocalSource(local_state(name, args.state_dir)) for name in named]
    for source in sources:  # all checked first: an unfinished one archives nothing
        status = source.load_task().status
        if status is None or not status.phase.finished:
            phase = status.phase if status is not None else "Pending"
            raise UsageError(f"{source.label} is {phase}, not finished: archive it once it has ended")
    for source in sources:
        freed = source.archive()
        print(f"archived {source.label}: its trials' logs are removed ({freed / 1e6:.1f} MB), its results kept")
    return 0


def _stop(args: argparse.Namespace) -> int:
    source = _source(args)
    task = source.load_task()
    stop = Stop(policy=SuspendPolicy.FORCE if args.force else SuspendPolicy.GRACEFUL)
    status = task.status
    if status is not None and status.phase.finished:
        print(f"kubetune: {source.label} has already finished ({status.phase}, {status.reason}); nothing to stop")
        return 0
    how = "running trials are stopped now" if args.force else "running trials finish, no new trial starts"
    if isinstance(source, LocalSource):
        return _stop_local(source, task, stop, how)
    from .results.cluster import ClusterSource  # noqa: PLC0415 - loaded already, for a cluster task

    assert isinstance(source, ClusterSource)
    source.request_stop(stop)
    print(f"kubetune: set spec.stop on {source.label} ({stop.policy}: {how}); the operator ends it as Stopped")
    return 0


def _stop_local(source: LocalSource, task: HPOTask, stop: Stop, how: str) -> int:
    """Leave the request for a running ``kubetune run``; with none running, end the task here and now."""
    from .display import PlainReporter, printable  # noqa: PLC0415
    from .executors.local import LocalExecutor  # noqa: PLC0415

    state = source.state
    state.request_stop(stop)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(state)
        except StateError:  # the lock: a `kubetune run` works on it, and reads the request at its next step
            print(f"kubetune: asked the `kubetune run` of {task.metadata.name} to stop ({stop.policy}: {how})")
            return 0
        # Nothing runs without a runner, so the recorded unfinished trials are simply stopped.
        forced = task.spec.model_copy(update={"stop": Stop(policy=SuspendPolicy.FORCE)})
        status = LocalExecutor(task.model_copy(update={"spec": forced, "status": None}), state, PlainReporter()).run()
    print(f"{task.metadata.name}: {status.phase} ({status.reason}): {printable(status.message or '')}")
    return 0


def _algorithms(args: argparse.Namespace) -> int:
    import dataclasses  # noqa: PLC0415
    import textwrap  # noqa: PLC0415

    from .search.registry import catalogue  # noqa: PLC0415

    listed = catalogue()
    if args.output == "json":
        print(json.dumps([dataclasses.asdict(item) for item in listed], indent=2))
        return 0

    def wrapped(text: str, indent: int) -> str:
        plain = text.replace("``", "`")  # the models' docs are reStructuredText
        return textwrap.fill(plain, width=100, initial_indent=" " * indent, subsequent_indent=" " * indent)

    for item in listed:
        source = f" ({item.source})" if item.source else ""
        print(f"{item.name}  [{item.kind}]{source}")
        print(wrapped(item.description, 4))
        for setting in item.settings:
            value = setting.default
            default = "" if value is None else f" = {value if isinstance(value, str) else json.dumps(value)}"
            print(f"    settings.{setting.name}: {setting.type}{default}")
            print(wrapped(setting.description, 8))
        if item.kind == "plugin":
            print(f"    use: algorithm: {{name: plugin, plugin: {item.name}, pluginSettings: {{...}}}}")
        print()
    if not any(item.kind == "plugin" for item in listed):
        print("no plugin algorithms are installed (a package registers one under the kubetune.algorithms entry points)")
    return 0


def _operator(args: argparse.Namespace) -> int:
    from .handlers import operator  # noqa: PLC0415

    listed = args.namespace or [n for n in os.environ.get("KUBETUNE_NAMESPACES", "").split(",") if n.strip()]
    namespaces = [] if args.all_namespaces else [n.strip() for n in listed]
    options = operator.Options.from_env(
        leader_election=args.leader_election, lease_name=args.lease_name, lease_namespace=args.lease_namespace
    )
    options = dataclasses.replace(options, namespaces=tuple(namespaces))
    if options.leader_election and not options.lease_namespace:
        print(
            "kubetune operator: --lease-namespace: the Lease's namespace is unknown "
            "(no POD_NAMESPACE, no namespace in the kubeconfig context); give it, or --no-leader-election",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    operator.run(
        namespaces=namespaces,
        health_port=args.health_port,
        metrics_port=args.metrics_port,
        options=options,
        verbose=args.verbose,
        log_format=args.log_format,
    )
    return 0


BENCHMARKS_MISSING = (
    "kubetune bench: the benchmarks are not installed with kubetune; run this command in a clone of "
    "the kubetune repository (they are its benchmarks/ folder), or `make bench` there"
)


def _bench(argv: Sequence[str]) -> int:
    """Hand the arguments to the ``benchmarks`` package of a source checkout, as Optuna runs its own."""
    # The benchmarks are not part of the installed package (the operator image ships without
    # them); a checkout's root is the current directory when `make bench` or a user runs this.
    checkout = Path.cwd()
    if (checkout / "benchmarks" / "__init__.py").is_file() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    try:
        benchmarks = importlib.import_module("benchmarks")
    except ModuleNotFoundError as error:
        if error.name != "benchmarks":
            raise  # a dependency of the benchmarks is missing: its own message says which
        print(BENCHMARKS_MISSING, file=sys.stderr)
        return EXIT_BAD_INPUT
    code: int = benchmarks.main(list(argv))
    return code


def _validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        notes: list[Problem] = []
        try:
            objects = load_objects(Path(path), notes)
        except InvalidSpec as error:
            failed += 1
            _print_problems(path, error)
            continue
        finally:
            for note in notes:
                print(f"{path}: note: {note}", file=sys.stderr)
        unnamed = [o for o in objects if isinstance(o, HPOTask) and not o.metadata.name]
        if unnamed:  # as `kubetune run` refuses it: a task's name is its state directory's and its trials'
            failed += 1
            extra = unnamed[0].metadata.model_extra or {}
            generated = "; metadata.generateName alone serves kubectl create only" if "generateName" in extra else ""
            print(f"{path}: metadata.name: {UNNAMED}{generated}", file=sys.stderr)
            continue
        if not args.quiet:
            described = ", ".join(f"{o.kind} {o.metadata.name or '(unnamed)'}" for o in objects)
            print(f"{path}: valid ({described})")
    return EXIT_BAD_INPUT if failed else 0


def _convert(args: argparse.Namespace) -> int:
    from .convert import convert, render  # noqa: PLC0415 - ruamel.yaml is only needed here

    try:
        documents = [doc.obj for _, doc in read_documents(Path(args.file))]
        configmaps = [d for d in documents if isinstance(d, dict) and d.get("kind") == "ConfigMap"]
        for path in args.configmap or []:
            configmaps += [
                d.obj
                for _, d in read_documents(Path(path))
                if isinstance(d.obj, dict) and d.obj.get("kind") == "ConfigMap"
            ]
        experiments = [d for d in documents if isinstance(d, dict) and d.get("kind") == "Experiment"]
        if len(experiments) != 1:
            raise InvalidSpec([Problem("", f"must hold exactly one Katib Experiment, holds {len(experiments)}")])
        conversion = convert(experiments[0], configmaps)
    except InvalidSpec as error:
        _print_problems(args.file, error)
        return EXIT_BAD_INPUT
    meta = conversion.manifest["metadata"]
    source = f"{meta.get('namespace', 'default')}/{meta['name']}"
    header = (
        f"Converted by `kubetune convert` from the Katib Experiment {source}.\n"
        "Comments say where kubetune differs from Katib or writes out a default of Katib's."
    )
    text = render(conversion, header)
    try:
        parse_task(kubeyaml.load_documents(text)[0].obj)  # read back as kubectl will read it
    except InvalidSpec as error:  # something the Experiment holds that kubetune reads differently
        _print_problems(args.file, InvalidSpec([Problem(f"converted {p.path}", p.message) for p in error.problems]))
        return EXIT_BAD_INPUT
    except yaml.YAMLError as error:  # a control character in a name, which YAML cannot carry unquoted
        problem = getattr(error, "problem", None) or getattr(error, "reason", None) or str(error).splitlines()[0]
        print(f"{args.file}: the converted manifest cannot be read back as YAML: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for note in conversion.notes:
        if note.changed:
            print(f"{args.file}: {note.katib}: {note.message}", file=sys.stderr)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def render_crd(obj: crd.Schema) -> str:
    """A CRD as YAML, in a stable layout so that ``crds --check`` compares text."""
    header = "# Generated by `kubetune crds` from the pydantic models; do not edit.\n"
    return header + yaml.safe_dump(obj, sort_keys=False, width=120, allow_unicode=True)


def _crds(args: argparse.Namespace) -> int:
    out = Path(args.output)
    stale = []
    for filename, obj in crd.all_crds().items():
        path, text = out / filename, render_crd(obj)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(str(path))
        else:
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date with the models: {', '.join(stale)} (run `kubetune crds`)", file=sys.stderr)
        return 1
    if args.check:
        print(f"{out}: up to date")
    return 0


def _count(text: str) -> int:
    """A whole number >= 0, for paging options."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return int(text)


def _port(text: str) -> int:
    """A TCP port number, 0 for any free one."""
    port = _count(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {text!r}")
    return port


def _seconds_from(least: float, says: str) -> Callable[[str], float]:
    """An argument type: a number of seconds of at least ``least`` (``says`` words the bound)."""

    def seconds(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
        if not value >= least:  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be {says} seconds, got {text!r}")
        return value

    return seconds


_refresh = _seconds_from(0.1, "at least 0.1")
"""Seconds between two re-reads of the trials: 0 would re-read them without a pause."""
_seconds = _seconds_from(0, "0 or more")


def build_parser(prog: str = "kubetune") -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"kubetune {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser("validate", help="check HPOTask manifests; one line per problem")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    validate.set_defaults(handler=_validate)

    convert = sub.add_parser(
        "convert",
        help="write a Katib Experiment as an HPOTask; changes noted as comments",
        description=(
            "Read a Katib Experiment (YAML, with its trial template's ConfigMap if it uses one) and write the "
            "HPOTask that runs the same search. Whatever kubetune does differently is said in a comment at the "
            "field it concerns; check the result with kubetune validate."
        ),
    )
    convert.add_argument("file", metavar="EXPERIMENT")
    convert.add_argument("-o", "--output", metavar="FILE", help="write the HPOTask here (default: stdout)")
    convert.add_argument(
        "--configmap", action="append", metavar="FILE", help="a ConfigMap holding the trial template (repeatable)"
    )
    convert.set_defaults(handler=_convert)

    crds = sub.add_parser("crds", help="write the CustomResourceDefinitions generated from the models")
    crds.add_argument("-o", "--output", default="crds", help="directory to write to (default: crds)")
    crds.add_argument("--check", action="store_true", help="exit 1 if the files differ from the models")
    crds.set_defaults(handler=_crds)
    run = sub.add_parser(
        "run",
        help="run an HPOTask on this machine, trials as local processes",
        description=(
            "Run an HPOTask on this machine: each trial is a local process running the trial template's "
            "command. Everything the task learns is kept in its state directory (.kubetune/TASK under the "
            "current directory, or --state-dir): the manifest, every trial's parameters, metrics and log. "
            "Run the same command again to resume after Ctrl-C, a crash or a reboot: finished trials are "
            "kept, interrupted ones start over, and the search continues where it stopped. A changed budget, "
            "template or early-stopping rule is taken, and said so; a changed search space, objective or "
            "algorithm is refused unless --allow-changes. To end it for good, keeping its results: "
            "kubetune stop TASK (from another terminal too). To start over, --restart (or kubetune delete TASK)."
        ),
    )
    run.add_argument("file", metavar="FILE")
    run.add_argument("--state-dir", help="where the task's state lives (default: .kubetune/TASK)")
    run.add_argument("--workdir", help="directory trials run in (default: the current one)")
    run.add_argument("--plain", action="store_true", help="print plain lines instead of a live display")
    changed = run.add_mutually_exclusive_group()
    changed.add_argument(
        "--restart", action="store_true", help="start over: move the task's old state aside (TASK.replaced-TIME)"
    )
    changed.add_argument(
        "--allow-changes",
        action="store_true",
        help="continue although the search space, objective or algorithm changed; trials outside the new "
        "space are kept but left out of the algorithm's history",
    )
    run.set_defaults(handler=_run)

    op = sub.add_parser("operator", help="run the Kubernetes operator (cluster-wide unless namespaces are given)")
    scope = op.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)")
    op.add_argument("--health-port", type=int, default=8080, help="liveness endpoint /healthz (0: off)")
    op.add_argument("--metrics-port", type=int, default=9090, help="Prometheus /metrics (0: off)")
    # No defaults here: an absent flag leaves the environment's value (the Deployment's), else Options' default.
    op.add_argument(
        "--leader-election",
        action=argparse.BooleanOptionalAction,
        help="hold a Lease to act (default: KUBETUNE_LEADER_ELECTION, else on)",
    )
    op.add_argument(
        "--lease-name", help="the Lease, in POD_NAMESPACE (default: KUBETUNE_LEASE_NAME, else kubetune-operator)"
    )
    op.add_argument(
        "--lease-namespace",
        help="the Lease's namespace (default: POD_NAMESPACE, else the kubeconfig context's namespace)",
    )
    op.add_argument("--log-format", choices=["plain", "json"], default="plain", help="log lines as text or JSON")
    op.add_argument("-v", "--verbose", action="store_true")
    op.set_defaults(handler=_operator)

    algorithms = sub.add_parser(
        "algorithms", help="list the search algorithms (built-in and installed plugins) with their settings"
    )
    algorithms.add_argument("-o", "--output", choices=["text", "json"], default="text")
    algorithms.set_defaults(handler=_algorithms)

    # Listed for --help only: main() hands `kubetune bench ...` to the benchmarks before parsing,
    # since their options are declared with them, outside this package.
    bench = sub.add_parser(
        "bench",
        add_help=False,
        help="benchmark the search algorithms and the local runner's overhead (in a source checkout)",
    )
    bench.set_defaults(handler=lambda _: _bench([]))

    follow = sub.add_parser(
        "follow-file",
        help="print a file's lines as they are appended, until SIGTERM (the file source's sidecar)",
        description=(
            "Print the lines of FILE as a trainer appends them, then, on SIGTERM or SIGINT, what it still "
            "holds. This is the sidecar the operator adds to a trial's primary pod for a metrics file with "
            "follow: true; its output is read as the trial's log."
        ),
    )
    follow.add_argument("path", metavar="FILE")
    follow.add_argument("--poll", type=float, default=file_tail.POLL_SECONDS, help="seconds between reads")
    follow.add_argument(
        "--format",
        choices=["lines", "tfevent"],
        default="lines",
        help="lines: print the file's lines; tfevent: FILE is a directory of TensorFlow event files, print "
        "each scalar as a JSON line",
    )
    follow.add_argument(
        file_tail.CHECK_FLAG,
        action="store_true",
        help="exit 0 if a follower of FILE runs here and is ready to read it to its end, else 1 (the sidecar's "
        "startup probe)",
    )
    follow.set_defaults(handler=_follow_file)

    _add_result_commands(sub)
    return parser


def _follow_file(args: argparse.Namespace) -> int:
    if args.check_following:
        return 0 if file_tail.following(args.path) else 1
    path = Path(args.path)
    if args.format == "tfevent":
        event_files.load_reader()  # before the follower is ready (its startup probe passes), not on SIGTERM
    tail = event_files.EventDirTail(path).pieces if args.format == "tfevent" else file_tail.FileTail(path)
    return file_tail.follow_until_terminated(tail, sys.stdout.buffer, args.poll)


def _add_result_commands(sub: Any) -> None:
    """The commands that read a task's results: trials, best, report, delete, dashboard, list."""
    task_help = (
        "a manifest, a state directory, the name of a local task (see: kubetune list), "
        "or hpo/NAME: a task on the cluster of the current kubeconfig context"
    )
    for name, handler, text in (
        ("trials", _trials, "list a task's trials, best first"),
        ("best", _best, "print a task's best trial (with several objectives, its Pareto front) as JSON"),
        ("report", _report, "write one HTML file of plots and the trial table (opens offline)"),
        ("stop", _stop, "stop a task for good, keeping its trials and results (unlike suspend, final)"),
    ):
        command = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument("file", metavar="TASK", nargs="?", help=task_help)
        command.add_argument("--state-dir", help="the task's state directory (default: .kubetune/TASK)")
        _cluster_options(command)
        command.set_defaults(handler=handler)
    _add_task_commands(sub, task_help)
    trials, best, report, stop = (sub.choices[n] for n in ("trials", "best", "report", "stop"))
    stop.add_argument("--force", action="store_true", help="stop running trials now (default: let them finish)")
    trials.add_argument("--top", type=_count, metavar="K", help="only the K best")
    trials.add_argument("--limit", type=_count, help="page size")
    trials.add_argument("--offset", type=_count, default=0, help="rows to skip")
    trials.add_argument(
        "--all",
        "--include-failed",
        dest="include_failed",
        action="store_true",
        help="every trial: also running, failed, early-stopped and stopped ones (by default, only succeeded)",
    )
    trials.add_argument(
        "--wide", action="store_true", help="show every column, however wide (by default the table fits the terminal)"
    )
    trials.add_argument(
        "--sort-by", metavar="KEY", help="a metric (its aggregated value), a parameter, or start (default: objective)"
    )
    trials.add_argument("--reverse", action="store_true", help="reverse the order (trials without the value stay last)")
    trials.add_argument("--trial", metavar="NAME", help="only this trial (its name or index)")
    trials.add_argument(
        "--series",
        action="store_true",
        help="every value reported, step by step: with --trial, that trial's; else every trial's values of one "
        "metric (--metric, default: the objective)",
    )
    trials.add_argument("--metric", metavar="NAME", help="with --series: only this metric")
    trials.add_argument("-o", "--output", choices=["table", "json", "csv"], default="table")
    best.add_argument(
        "--include-stopped",
        action="store_true",
        help="also consider early-stopped and stopped trials that reported the objective; say which kind won",
    )
    best.add_argument(
        "--include-failed",
        action="store_true",
        help="also consider failed trials that reported the objective before failing (and stopped ones); say "
        "which kind won",
    )
    report.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: TASKNAME-report.html)")
    report.add_argument("--open", action="store_true", help="open it in the web browser")

    dash = sub.add_parser(
        "dashboard",
        help="serve Optuna Dashboard over tasks' trials, read-only, refreshed while they run",
        description=(
            "Serve Optuna Dashboard over the trials of one or more tasks. Read-only: it shows kubetune's state "
            "and follows running tasks. On a remote machine, reach it with ssh -L 8080:localhost:8080; in a "
            "cluster, run it in a pod and use kubectl port-forward (see the README)."
        ),
    )
    dash.add_argument("tasks", metavar="TASK", nargs="+", help=task_help)
    _cluster_options(dash)
    dash.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1; 0.0.0.0 in a pod)")
    dash.add_argument("--port", type=_port, default=8080, help="port to listen on (0: any free one; default: 8080)")
    dash.add_argument(
        "--refresh",
        type=_refresh,
        default=2.0,
        help="seconds between re-reads of the trials (at least 0.1; default: 2)",
    )
    dash.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="a host name browsers may use to reach the dashboard (a Service or Ingress name), besides localhost "
        "and IP addresses; repeatable. Other names are refused (DNS rebinding)",
    )
    dash.set_defaults(handler=_dashboard)

    listing = sub.add_parser(
        "list",
        help="list the local tasks (under .kubetune/) with their phase and best value",
        description=(
            "List the tasks that kubetune run keeps under .kubetune/ in this directory (or --dir): each one's "
            "phase (Stopping while a graceful stop waits for running trials), trials finished of maxTrials, "
            "running trials, best value and trial, when it started, how long it ran, the time its limit leaves, "
            "and where its state is."
        ),
    )
    listing.add_argument("--dir", help="the directory holding .kubetune/ (default: the current one)")
    listing.add_argument("-o", "--output", choices=["table", "json", "csv"], default="table")
    listing.set_defaults(handler=_list)


def _add_task_commands(sub: Any, task_help: str) -> None:
    """The commands that wait for, archive or delete tasks."""
    wait = sub.add_parser(
        "wait",
        help="wait until a task ends; its phase is the exit code",
        description=(
            "Wait until the task ends (or is suspended), print its phase, reason and message, and exit with a "
            "code that says which: 0 Succeeded, 1 Failed, 3 Stopped, 4 Suspended, 124 when --timeout passed "
            "first, 2 for a task that cannot be read."
        ),
    )
    wait.add_argument("file", metavar="TASK", nargs="?", help=task_help)
    wait.add_argument("--state-dir", help="the task's state directory (default: .kubetune/TASK)")
    _cluster_options(wait)
    wait.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="give up after this long (exit code 124)")
    wait.add_argument(
        "--poll", type=_refresh, default=1.0, metavar="SECONDS", help="seconds between reads (default: 1)"
    )
    wait.set_defaults(handler=_wait)
    archive = sub.add_parser(
        "archive",
        help="keep finished local tasks' results, drop their trials' logs",
        description=(
            "Keep finished local tasks' results (the task, its status, every trial's parameters and metrics: "
            "trials, best, report and dashboard still work) and remove what only a running or debugged task "
            "needs: the trials' logs and parameter files. On a cluster, spec.retainWorkloads decides which "
            "finished trials keep their workloads."
        ),
    )
    archive.add_argument(
        "tasks",
        metavar="TASK",
        nargs="*",
        help="a manifest, a state directory, or a local task's name; several at once",
    )
    archive.add_argument("--state-dir", help="the task's state directory (default: .kubetune/TASK)")
    archive.set_defaults(handler=_archive)
    text = "delete local tasks' state directories: their trials, logs and results"
    delete = sub.add_parser(
        "delete",
        help=text,
        description=text[0].upper() + text[1:] + ". A task on a cluster is deleted with kubectl delete hpo/NAME.",
    )
    delete.add_argument(
        "tasks",
        metavar="TASK",
        nargs="*",
        help="a manifest, a state directory, or the name of a local task (see: kubetune list); several at once",
    )
    delete.add_argument("--state-dir", help="the task's state directory (default: .kubetune/TASK)")
    delete.set_defaults(handler=_delete, plugin=False)
    delete.add_argument("-y", "--yes", action="store_true", help="do not ask")


def _cluster_options(command: argparse.ArgumentParser) -> None:
    """-n/--namespace and --context, as kubectl has them; with either, a plain NAME is a cluster task."""
    command.add_argument("-n", "--namespace", help="the cluster task's namespace (default: the context's)")
    command.add_argument("--context", help="the kubeconfig context to use (default: the current one)")


def kubectl_plugin() -> int:
    """Entry point of ``kubectl-kubetune``: ``kubectl kubetune best NAME`` reads the HPOTask NAME."""
    return main(sys.argv[1:], plugin=True)


def main(argv: Sequence[str] | None = None, *, plugin: bool = False) -> int:
    """Entry point of the ``kubetune`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command: Callable[[], int]
    if argv[:1] == ["bench"]:
        command = functools.partial(_bench, argv[1:])
    else:
        args = build_parser("kubectl kubetune" if plugin else "kubetune").parse_args(argv)
        args.plugin = plugin  # as a kubectl plugin, a plain NAME is a task on the cluster
        command = functools.partial(args.handler, args)
    try:
        return command()
    except KubetuneError as error:
        print(f"kubetune: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `kubetune trials | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as error:  # a state directory or output path that cannot be used
        where = f"{error.filename}: " if error.filename else ""
        print(f"kubetune: {where}{error.strerror or error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("kubetune: interrupted; run the same command again to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
