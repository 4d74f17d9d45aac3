"""The ``kubetune`` command: run | validate | convert | crds | trials | best | operator | bench."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from . import __version__
from .api import HPOTask, TaskPhase, crd
from .api.loader import load_objects, load_task, parse_task, read_documents
from .bench import add_arguments as bench_options
from .errors import InvalidSpec, KubetuneError, Problem, StateError
from .executors.state import StateDir

EXIT_BAD_INPUT = 2

Command = Callable[[argparse.Namespace], int]


def _print_problems(path: str, error: InvalidSpec) -> None:
    for problem in error.problems:
        print(f"{path}: {problem}", file=sys.stderr)


def _named_task(path: str) -> HPOTask:
    try:
        task = load_task(Path(path))
    except InvalidSpec as error:  # name the file: the problems only know their place inside it
        raise InvalidSpec(
            [Problem(f"{path}: {p.path}" if p.path else path, p.message) for p in error.problems]
        ) from None
    if not task.metadata.name:
        raise InvalidSpec(
            [Problem(f"{path}: metadata.name", "is required (it names the state directory and the trials)")]
        )
    return task


def _state_for(args: argparse.Namespace) -> StateDir:
    """The state directory of a finished or running local task, which must exist."""
    if args.state_dir:
        state = StateDir(Path(args.state_dir))
    elif args.file:
        state = StateDir.default(_named_task(args.file).metadata.name or "")
    else:
        raise StateError("give a task FILE or --state-dir DIR")
    state.load_task()  # says which directory is missing or unreadable, in one line
    return state


def _run(args: argparse.Namespace) -> int:
    from .executors.local import LocalExecutor  # noqa: PLC0415 - keeps `kubetune validate` fast
    from .report import LiveReporter, PlainReporter, best_document  # noqa: PLC0415

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
    print(f"kubetune: running {task.metadata.name} locally, state in {state.root}", flush=True)
    with state:
        if live:
            with LiveReporter(task) as reporter:
                status = LocalExecutor(task, state, reporter, workdir=workdir).run()
        else:
            status = LocalExecutor(task, state, PlainReporter(), workdir=workdir).run()
    print(f"{task.metadata.name}: {status.phase} ({status.reason}): {status.message}")
    if status.phase is TaskPhase.SUSPENDED:
        print("set spec.suspend to false and run the same command again to continue")
    best = best_document(status)
    if best is not None:
        print("best trial:")
        print(json.dumps(best, indent=2))
    return 1 if status.phase is TaskPhase.FAILED else 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _trials(args: argparse.Namespace) -> int:
    from .report import trial_rows, write_trials  # noqa: PLC0415

    state = _state_for(args)
    task = state.load_task()
    header, rows, total = trial_rows(
        task,
        state.load_trials(),
        include_failed=args.include_failed,
        top=args.top,
        offset=args.offset,
        limit=args.limit,
    )
    write_trials(args.output, header, rows, total, args.offset, args.limit, sys.stdout)
    return 0


def _best(args: argparse.Namespace) -> int:
    from .report import best_document  # noqa: PLC0415

    best = best_document(_state_for(args).load_status())
    if best is None:
        print("kubetune: no trial has succeeded yet", file=sys.stderr)
        return 1
    print(json.dumps(best, indent=2))
    return 0


def _operator(args: argparse.Namespace) -> int:
    from .handlers import operator  # noqa: PLC0415

    listed = args.namespace or [n for n in os.environ.get("KUBETUNE_NAMESPACES", "").split(",") if n.strip()]
    namespaces = [] if args.all_namespaces else [n.strip() for n in listed]
    options = operator.Options.from_env()
    options.leader_election = args.leader_election
    options.lease_name = args.lease_name
    operator.run(
        namespaces=namespaces,
        health_port=args.health_port,
        metrics_port=args.metrics_port,
        options=options,
        verbose=args.verbose,
        log_format=args.log_format,
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench import local, search  # noqa: PLC0415

    code = 0
    if args.part in ("all", "search"):
        code |= search.run(args)
    if args.part in ("all", "local"):
        code |= local.run(args)
    return code


def _validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            objects = load_objects(Path(path))
        except InvalidSpec as error:
            failed += 1
            _print_problems(path, error)
            continue
        if not args.quiet:
            described = ", ".join(f"{o.kind} {o.metadata.name or '(unnamed)'}" for o in objects)
            print(f"{path}: valid ({described})")
    return EXIT_BAD_INPUT if failed else 0


def _convert(args: argparse.Namespace) -> int:
    from .convert import convert, render  # noqa: PLC0415 - ruamel.yaml is only needed here

    try:
        documents = [doc for _, doc in read_documents(Path(args.file))]
        configmaps = [d for d in documents if isinstance(d, dict) and d.get("kind") == "ConfigMap"]
        for path in args.configmap or []:
            configmaps += [
                d for _, d in read_documents(Path(path)) if isinstance(d, dict) and d.get("kind") == "ConfigMap"
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
        parse_task(yaml.safe_load(text))
    except InvalidSpec as error:  # something the Experiment holds that kubetune reads differently
        _print_problems(args.file, InvalidSpec([Problem(f"converted {p.path}", p.message) for p in error.problems]))
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="kubetune", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kubetune {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser("validate", help="check HPOTask manifests; one line per problem")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    validate.set_defaults(handler=_validate)

    convert = sub.add_parser("convert", help="write a Katib Experiment as an HPOTask; changes noted as comments")
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
    run = sub.add_parser("run", help="run an HPOTask on this machine, trials as local processes")
    run.add_argument("file", metavar="FILE")
    run.add_argument("--state-dir", help="where the task's state lives (default: .kubetune/TASK)")
    run.add_argument("--workdir", help="directory trials run in (default: the current one)")
    run.add_argument("--plain", action="store_true", help="print plain lines instead of a live display")
    run.set_defaults(handler=_run)

    op = sub.add_parser("operator", help="run the Kubernetes operator (cluster-wide unless namespaces are given)")
    scope = op.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)")
    op.add_argument("--health-port", type=int, default=8080, help="liveness endpoint /healthz (0: off)")
    op.add_argument("--metrics-port", type=int, default=9090, help="Prometheus /metrics (0: off)")
    op.add_argument(
        "--leader-election", action=argparse.BooleanOptionalAction, default=True, help="hold a Lease to act"
    )
    op.add_argument("--lease-name", default="kubetune-operator", help="the Lease, in POD_NAMESPACE")
    op.add_argument("--log-format", choices=["plain", "json"], default="plain", help="log lines as text or JSON")
    op.add_argument("-v", "--verbose", action="store_true")
    op.set_defaults(handler=_operator)

    bench = sub.add_parser("bench", help="benchmark the search algorithms and the local runner's overhead")
    bench.add_argument("part", nargs="?", choices=["all", "search", "local"], default="all")
    bench_options(bench)
    bench.set_defaults(handler=_bench)

    for name, handler, text in (
        ("trials", _trials, "list a local task's trials, best first"),
        ("best", _best, "print the best trial of a local task as JSON"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("file", metavar="FILE", nargs="?", help="the task's manifest")
        command.add_argument("--state-dir", help="the task's state directory (default: .kubetune/TASK)")
        command.set_defaults(handler=handler)
        if name == "trials":
            command.add_argument("--top", type=_count, metavar="K", help="only the K best")
            command.add_argument("--limit", type=_count, help="page size")
            command.add_argument("--offset", type=_count, default=0, help="rows to skip")
            command.add_argument("--include-failed", action="store_true", help="also unfinished, failed, stopped")
            command.add_argument("-o", "--output", choices=["table", "json", "csv"], default="table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kubetune`` console script."""
    args = build_parser().parse_args(argv)
    handler: Command = args.handler
    try:
        return handler(args)
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
