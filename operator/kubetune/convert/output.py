"""A converted manifest as YAML, each note a comment above the field it concerns (ruamel.yaml)."""

from __future__ import annotations

import io
import textwrap
from collections import defaultdict
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ..api import kubeyaml
from .katib import Conversion, Path

_MAPPING_INDENT = 2
_SEQUENCE_INDENT = 4
_SEQUENCE_OFFSET = 2
_WIDTH = 110


def render(conversion: Conversion, header: str = "") -> str:
    """The manifest as YAML text, with ``header`` and the notes as comments."""
    document = _commented(conversion.manifest)
    by_place: dict[Path, list[str]] = defaultdict(list)
    for note in conversion.notes:
        by_place[note.at].append(f"{note.katib}: {note.message}")
    for place, lines in by_place.items():
        _comment(document, place, lines)
    if header:
        document.yaml_set_start_comment(header)
    yaml = YAML()
    yaml.indent(mapping=_MAPPING_INDENT, sequence=_SEQUENCE_INDENT, offset=_SEQUENCE_OFFSET)
    yaml.width = 4096  # never fold a command or a regular expression
    # ruamel writes YAML 1.2, where a bare `on` or `y` is text; kubectl reads YAML 1.1, where it is
    # a boolean: quote every string that kubectl would read as something else.
    yaml.representer.add_representer(str, _represent_text)
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def _represent_text(representer: Any, data: str) -> Any:
    style = None if kubeyaml.plain_is_text(data) else "'"
    return representer.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _commented(node: Any) -> Any:
    if isinstance(node, dict):
        return CommentedMap((k, _commented(v)) for k, v in node.items())
    if isinstance(node, list):
        return CommentedSeq(_commented(v) for v in node)
    return node


def _existing(document: CommentedMap, place: Path) -> Path:
    """The longest part of ``place`` that names a key in ``document`` (a note may outlive its field)."""
    node: Any = document
    found: Path = ()
    for i, part in enumerate(place):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        found = place[: i + 1]
    while found and isinstance(found[-1], int):
        found = found[:-1]
    return found


def _comment(document: CommentedMap, place: Path, lines: list[str]) -> None:
    """Put ``lines`` as a comment above the key at ``place``, at that key's column."""
    place = _existing(document, place)
    if not place:
        return
    parents: list[Any] = [document]
    for part in place[:-1]:
        parents.append(parents[-1][part])
    # Every step down, into a mapping's value or a sequence's item, moves the keys two columns right.
    column = _MAPPING_INDENT * (len(place) - 1)
    parent, key = parents[-1], place[-1]
    if len(place) >= 2 and isinstance(place[-2], int) and next(iter(parent), None) == key:
        # The first key of a sequence item shares the line of its dash: the comment goes above the item.
        parent, key, column = parents[-2], place[-2], column - _SEQUENCE_OFFSET
    width = max(_WIDTH - column - 2, 40)
    text = "\n".join(wrapped for line in lines for wrapped in textwrap.wrap(line, width))
    parent.yaml_set_comment_before_after_key(key, before=text, indent=column)
