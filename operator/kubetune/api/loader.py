"""Turn manifests (YAML text or parsed objects) into models, or into one-line problems."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from .. import names
from ..errors import InvalidSpec, Problem
from .task import HPOTask
from .trial import Trial

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


def _parse(model: type[_M], obj: Any) -> _M:
    if not isinstance(obj, Mapping):
        raise InvalidSpec([Problem("", f"a {model.__name__} manifest must be a mapping, got {type(obj).__name__}")])
    try:
        return model.model_validate(obj)
    except ValidationError as error:
        raise InvalidSpec(problems_of(error, model)) from None


def read_documents(path: Path) -> Iterator[tuple[int, Any]]:
    """The YAML documents of a file, numbered from 1; raise InvalidSpec for unreadable YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidSpec([Problem("", f"cannot read: {error.strerror or error}")]) from None
    except UnicodeDecodeError:
        raise InvalidSpec([Problem("", "is not UTF-8 text")]) from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise InvalidSpec([Problem("", f"{where}invalid YAML: {problem}")]) from None
    if not documents:
        raise InvalidSpec([Problem("", "holds no manifest")])
    yield from enumerate(documents, start=1)


def load_objects(path: Path) -> list[HPOTask | Trial]:
    """Every kubetune object in a YAML file; raise InvalidSpec listing every problem of every one."""
    objects: list[HPOTask | Trial] = []
    problems: list[Problem] = []
    documents = list(read_documents(path))
    for number, doc in documents:
        prefix = f"document {number}: " if len(documents) > 1 else ""
        kind = doc.get("kind") if isinstance(doc, Mapping) else None
        model = _KINDS.get(kind) if isinstance(kind, str) else None
        if model is None:
            problems.append(Problem(f"{prefix}kind", f"must be {names.TASK_KIND} or {names.TRIAL_KIND}, got {kind!r}"))
            continue
        try:
            objects.append(_parse(HPOTask, doc) if model is HPOTask else _parse(Trial, doc))
        except InvalidSpec as error:
            problems += [Problem(f"{prefix}{p.path}", p.message) for p in error.problems]
    if problems:
        raise InvalidSpec(problems)
    return objects


def load_task(path: Path) -> HPOTask:
    """The one HPOTask in a YAML file."""
    tasks = [o for o in load_objects(path) if isinstance(o, HPOTask)]
    if len(tasks) != 1:
        raise InvalidSpec([Problem("", f"must hold exactly one {names.TASK_KIND}, holds {len(tasks)}")])
    return tasks[0]
