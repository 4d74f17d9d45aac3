"""Turn manifests (YAML text or parsed objects) into models, or into one-line problems."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from .. import names
from ..errors import InvalidSpec, Problem
from .kubeyaml import Document, load_documents
from .task import HPOTask
from .template import TrialTemplate
from .trial import Trial

MAX_OBJECT_BYTES = 1536 * 1024
"""etcd refuses a write larger than about 1.5 MiB (its default --max-request-bytes), so the API
server cannot store a bigger object."""

MAX_ANNOTATION_BYTES = 256 * 1024
"""The API server's limit on the total size of an object's annotations (keys and values)."""

_M = TypeVar("_M", HPOTask, Trial)
_KINDS: dict[str, type[HPOTask] | type[Trial]] = {names.TASK_KIND: HPOTask, names.TRIAL_KIND: Trial}


def format_loc(loc: tuple[str | int, ...]) -> str:
    """``("spec", "parameters", 1, "min")`` -> ``spec.parameters[1].min``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problems_of(error: ValidationError, model: type[BaseModel] | None = None) -> list[Problem]:
    """One Problem per pydantic error, with the field path as the user wrote it."""
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith(("function-", "union["))))
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "is not a known field" + _did_you_mean(model, loc)
        elif item["type"] == "missing":
            message = "is required"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        problems.append(Problem(format_loc(loc), _lower_first(message)))
    return _dedupe(problems)


def _did_you_mean(model: type[BaseModel] | None, loc: tuple[str | int, ...]) -> str:
    """``; did you mean maxTrials?`` when a known field at the same place is spelled alike."""
    known = _fields_at(model, loc[:-1]) if model is not None and loc and isinstance(loc[-1], str) else []
    close = difflib.get_close_matches(str(loc[-1]), known, n=1) if known else []
    return f"; did you mean {close[0]}?" if close else ""


def _fields_at(model: Any, loc: tuple[str | int, ...]) -> list[str]:
    """The field names (as written in manifests) of the model found at ``loc`` under ``model``."""
    current = _model_in(model)
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int):  # a list item: the model was already found inside list[...]
            continue
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        current = _model_in(field.annotation) if field is not None else None
    return [f.alias or n for n, f in current.model_fields.items()] if current is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds: itself, or the first inside Optional[...], list[...], Annotated[...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (found := _model_in(arg)) is not None:
            return found
    return None


def _lower_first(message: str) -> str:
    return message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message


def _dedupe(problems: list[Problem]) -> list[Problem]:
    # A scalar union reports one error per branch at the same place; one line per place is enough.
    seen: dict[str, Problem] = {}
    for problem in problems:
        seen.setdefault(problem.path, problem)
    return list(seen.values())


def parse_task(obj: Any) -> HPOTask:
    """Validate a parsed HPOTask manifest; raise InvalidSpec naming every problem."""
    return _parse(HPOTask, obj)


def parse_trial(obj: Any) -> Trial:
    """Validate a parsed Trial object; raise InvalidSpec naming every problem."""
    return _parse(Trial, obj)


def _parse(model: type[_M], obj: Any, *, as_sent: bool = False) -> _M:
    if not isinstance(obj, Mapping):
        raise InvalidSpec([Problem("", f"a {model.__name__} manifest must be a mapping, got {type(obj).__name__}")])
    try:
        if as_sent:
            # A file is checked as the JSON kubectl would send: with the types the API server's
            # schema insists on, so "16" is not a number of trials, as it is not on the cluster.
            return model.model_validate_json(json.dumps(obj), strict=True)
        return model.model_validate(obj)
    except ValidationError as error:
        found: list[Problem] = problems_of(error, model)
        # The placeholder checks run on a valid spec only: run them here too, unless the parameters'
        # names are in doubt themselves (a misspelt name would be reported twice); a range problem
        # (min above max) leaves the names alone.
        doubtful = any(_NAMES_IN_DOUBT.match(p.path) for p in found)
        if model is HPOTask and not doubtful:
            found = _dedupe([*found, *_placeholder_problems(obj)])
        raise InvalidSpec(found) from None


_NAMES_IN_DOUBT = re.compile(r"spec\.parameters(\[\d+\](\.name)?)?$|spec\.algorithm\.experiments")
"""Problems whose paths leave the parameters' names in doubt: the list, an entry, a name, the experiments."""


def _placeholder_problems(obj: Mapping[str, Any]) -> list[Problem]:
    """``${params.NAME}`` placeholders that name no parameter, in a manifest whose spec has other
    problems (the spec's own check, which says this, runs only on an otherwise valid spec): so that
    one ``validate`` names every problem at once."""
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return []
    try:
        template = TrialTemplate.model_validate(spec.get("trialTemplate"))
    except ValidationError:  # already reported
        return []
    parameters = spec.get("parameters")
    known = {p.get("name") for p in parameters if isinstance(p, Mapping)} if isinstance(parameters, list) else set()
    algorithm = spec.get("algorithm")
    experiments = algorithm.get("experiments") if isinstance(algorithm, Mapping) else None
    if isinstance(experiments, list):  # an experiments task may name its parameters in the list only
        known |= {key for e in experiments if isinstance(e, Mapping) for key in e}
    return [
        Problem(format_loc(("spec", *loc)), f"${{params.{name}}} names no parameter")
        for loc, name in template.placeholders()
        if name not in known
    ]


def read_documents(path: Path) -> Iterator[tuple[int, Document]]:
    """The YAML documents of a file as kubectl reads them, numbered from 1; raise InvalidSpec for unreadable YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidSpec([Problem("", f"cannot read: {error.strerror or error}")]) from None
    except UnicodeDecodeError:
        raise InvalidSpec([Problem("", "is not UTF-8 text")]) from None
    try:
        documents = load_documents(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise InvalidSpec([Problem("", f"{where}invalid YAML: {problem}")]) from None
    if not documents:
        raise InvalidSpec([Problem("", "holds no manifest")])
    yield from enumerate(documents, start=1)


def load_objects(path: Path, notes: list[Problem] | None = None) -> list[HPOTask | Trial]:
    """Every kubetune object in a YAML file; raise InvalidSpec listing every problem of every one.

    ``notes`` receives what is valid but worth knowing: a bare ``on`` that kubectl reads as true,
    an object too large for client-side ``kubectl apply``."""
    objects: list[HPOTask | Trial] = []
    problems: list[Problem] = []
    documents = list(read_documents(path))
    for number, document in documents:
        prefix = f"document {number}: " if len(documents) > 1 else ""
        found = _document_problems(document)
        retyped = {format_loc(loc): note for loc, note in document.retyped.items()}
        for where, note in retyped.items():
            if where not in {p.path for p in found} and notes is not None:
                notes.append(Problem(f"{prefix}{where}", f"{note}; quote it if you mean the text"))
        for problem in found:
            message = problem.message
            if surprise := retyped.get(problem.path):
                message = f"{message} ({surprise}; quote it if you mean the text)"
            problems.append(Problem(f"{prefix}{problem.path}", message))
        if not found:
            objects.append(_parse_known(document.obj))
            if notes is not None and (size := _json_bytes(document.obj)) > MAX_ANNOTATION_BYTES:
                notes.append(
                    Problem(
                        prefix.removesuffix(": "),
                        f"is {size // 1024} KiB as JSON: client-side `kubectl apply` copies the object into an "
                        f"annotation, limited to {MAX_ANNOTATION_BYTES // 1024} KiB; use `kubectl apply --server-side`",
                    )
                )
    if problems:
        raise InvalidSpec(problems)
    return objects


def _document_problems(document: Document) -> list[Problem]:
    """What the API server, or kubetune's models, would refuse in one document."""
    doc = document.obj
    kind = doc.get("kind") if isinstance(doc, Mapping) else None
    model = _KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        return [Problem("kind", f"must be {names.TASK_KIND} or {names.TRIAL_KIND}, got {kind!r}")]
    not_json = [Problem(format_loc(loc), message) for loc, message in _not_json(doc, ())]
    if not_json:
        return not_json  # kubectl cannot even send it
    problems = _size_problems(doc)
    try:
        _parse_known(doc)
    except InvalidSpec as error:
        problems += error.problems
    return problems


def _parse_known(doc: Mapping[str, Any]) -> HPOTask | Trial:
    if doc.get("kind") == names.TASK_KIND:
        return _parse(HPOTask, doc, as_sent=True)
    return _parse(Trial, doc, as_sent=True)


def _not_json(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Numbers JSON cannot carry: kubectl fails on them ("json: unsupported value: NaN")."""
    if isinstance(value, float) and not math.isfinite(value):
        yield loc, f"{value} cannot be sent to the API server (JSON has no such number)"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _not_json(item, (*loc, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _not_json(item, (*loc, i))


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _size_problems(doc: Mapping[str, Any]) -> list[Problem]:
    """The API server's own limits, which a manifest can pass locally and still break."""
    problems = []
    size = _json_bytes(doc)
    if size > MAX_OBJECT_BYTES:
        problems.append(
            Problem("", f"is {size / 2**20:.2f} MiB as JSON; the API server stores objects up to about 1.5 MiB")
        )
    places: list[tuple[str, Any]] = [
        ("metadata.annotations", _get(doc, "metadata", "annotations")),
        # These go on every trial's Job, under the same limit.
        ("spec.trialTemplate.metadata.annotations", _get(doc, "spec", "trialTemplate", "metadata", "annotations")),
    ]
    for where, found in places:
        if isinstance(found, Mapping):
            total = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in found.items())
            if total > MAX_ANNOTATION_BYTES:
                problems.append(
                    Problem(
                        where,
                        f"total {total // 1024} KiB, over the API server's limit of {MAX_ANNOTATION_BYTES // 1024} KiB",
                    )
                )
    return problems


def _get(doc: Any, *keys: str) -> Any:
    for key in keys:
        doc = doc.get(key) if isinstance(doc, Mapping) else None
    return doc


def load_task(path: Path) -> HPOTask:
    """The one HPOTask in a YAML file."""
    tasks = [o for o in load_objects(path) if isinstance(o, HPOTask)]
    if len(tasks) != 1:
        raise InvalidSpec([Problem("", f"must hold exactly one {names.TASK_KIND}, holds {len(tasks)}")])
    return tasks[0]
