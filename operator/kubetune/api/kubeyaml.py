"""Read YAML the way kubectl does, within the limits the API server keeps.

kubectl turns YAML into JSON with sigs.k8s.io/yaml, which decodes with go-yaml v2: YAML 1.1
scalars (a bare ``y``, ``yes``, ``on`` or ``off`` is a boolean, ``0777`` is octal 511, ``1_000`` is
1000), Go's number syntax, and duplicate keys rejected. PyYAML's own YAML 1.1 resolver differs
in many small ways (``y`` is a string to it, ``1e3`` a string, ``08`` a string, ``1:30`` the
number 90), so a manifest could pass ``kubetune validate`` and then be rejected, or mean
something else, on the cluster. This module replaces PyYAML's resolver with go-yaml v2's rules
(``resolve.go``: the resolve table, then ParseInt, ParseUint, the YAML float pattern, in that
order), and bounds what a document may cost before anything expands it:

- size: 3 MiB, the API server's limit on a request body;
- nesting: 64 levels (a Job spec needs about 15; PyYAML's composer recurses, so deep nesting
  would otherwise end in a RecursionError);
- aliases: the document as JSON, aliases expanded, must fit the same 3 MiB (computed on the
  node graph without expanding it, so an alias bomb costs nothing to refuse).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 3 * 1024 * 1024
"""The API server refuses a request body larger than this (apiserver's MaxRequestBodyBytes)."""

MAX_DEPTH = 64
"""Nesting levels of mappings and lists in one document."""

_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"
_NUMBER_TAG = "tag:kubetune.io,2026:go-number"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"

_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_SPECIAL_FLOATS = {
    **dict.fromkeys([".nan", ".NaN", ".NAN"], math.nan),
    **dict.fromkeys([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], math.inf),
    **dict.fromkeys(["-.inf", "-.Inf", "-.INF"], -math.inf),
}
# Go's strconv.ParseInt(s, 0, 64) syntax, once go-yaml has removed every underscore.
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)")
_GO_UINT = re.compile(r"(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)")
# go-yaml's yamlStyleFloat, and what ParseFloat takes of a scalar that starts with '.'.
_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")
# The timestamp layouts go-yaml tries (allowedTimestampFormats); Go's "Z07:00" is Z or ±hh:mm.
_TIMESTAMP = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{1,2})-(?P<d>[0-9]{1,2})"
    r"(?:(?:[Tt](?P<h>[0-9]{1,2}):(?P<mi>[0-9]{1,2}):(?P<s>[0-9]{1,2})(?:\.(?P<f>[0-9]{1,9}))?"
    r"(?P<z>Z|[-+][0-9]{2}:[0-9]{2}))"
    r"|(?: (?P<h2>[0-9]{1,2}):(?P<mi2>[0-9]{1,2}):(?P<s2>[0-9]{1,2})(?:\.(?P<f2>[0-9]{1,9}))?))?"
)
_INT64 = 2**63
_UINT64 = 2**64
# What a YAML 1.2 reader (and a person) takes for a boolean: anything else kubectl reads as one
# is worth a word.
_PLAIN_BOOLS = {"true", "True", "TRUE", "false", "False", "FALSE"}


class YamlLimitError(yaml.YAMLError):
    """A document over one of the limits; ``problem`` says which, in one line."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


@dataclass(frozen=True)
class Document:
    """One YAML document as kubectl would send it, and the plain scalars whose type surprises."""

    obj: Any
    retyped: dict[tuple[str | int, ...], str] = field(default_factory=dict)
    """Field path -> why its value is not the string it looks like (``y`` is the boolean true)."""


class KubeLoader(yaml.SafeLoader):
    """A safe PyYAML loader that builds the values go-yaml builds, refusing duplicate keys.

    Its implicit types (the resolvers below) are go-yaml v2's, keyed by first character as
    go-yaml's resolve table is."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[type, Any]] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # _json_key refuses it below
            if (type(key), key) in seen:  # typed: the keys 1 and true are two keys, as in Go
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key_node.value!r} appears twice in one mapping (kubectl rejects this)",
                    key_node.start_mark,
                )
            seen.add((type(key), key))
        self.flatten_mapping(node)  # merge keys (<<), which go-yaml supports too
        mapping = {}
        for key_node, value_node in node.value:
            key = _json_key(self.construct_object(key_node, deep=True), key_node)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _scalar(loader: KubeLoader, node: Node) -> str:
    assert isinstance(node, ScalarNode)
    return str(loader.construct_scalar(node))


def _construct_bool(loader: KubeLoader, node: Node) -> bool:
    return _scalar(loader, node) in _TRUE


def _construct_number(loader: KubeLoader, node: Node) -> int | float | str:
    text = _scalar(loader, node)
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    if text.startswith("."):
        return _as_sent(float(text)) if _DOT_FLOAT.fullmatch(text) else text
    plain = text.replace("_", "")
    if _GO_INT.fullmatch(plain) and -_INT64 <= (number := _go_int(plain)) < _INT64:
        return number
    if _GO_UINT.fullmatch(plain) and (number := _go_int(plain)) < _UINT64:
        return number
    if _YAML_FLOAT.fullmatch(plain) and math.isfinite(value := float(plain)):
        return _as_sent(value)  # ParseFloat fails on overflow, so go-yaml keeps 1e400 as a string
    return text


def _as_sent(value: float) -> int | float:
    """What the API server stores for a float: Go writes 16.0 as the JSON number 16, which the
    API server decodes as the integer 16 when it fits an int64."""
    return int(value) if value.is_integer() and -_INT64 <= value < _INT64 else value


def _go_int(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits[:2] in ("0x", "0X", "0b", "0B", "0o", "0O"):
        return sign * int(digits, 0)
    if len(digits) > 1 and digits.startswith("0"):
        return sign * int(digits, 8)  # Go's base 0: a leading 0 means octal, as in YAML 1.1
    return sign * int(digits)


def _construct_timestamp(loader: KubeLoader, node: Node) -> str:
    """go-yaml makes a time.Time, which reaches JSON as RFC 3339 text: ``2026-01-02`` -> ``2026-01-02T00:00:00Z``."""
    text = _scalar(loader, node)
    match = _TIMESTAMP.fullmatch(text)
    assert match is not None
    hour, minute = match["h"] or match["h2"] or 0, match["mi"] or match["mi2"] or 0
    second = match["s"] or match["s2"] or 0
    fraction = match["f"] or match["f2"] or ""
    zone = UTC
    if match["z"] and match["z"] != "Z":
        sign = -1 if match["z"][0] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(match["z"][1:3]), minutes=int(match["z"][4:6])))
    try:
        moment = datetime(
            int(match["y"]), int(match["mo"]), int(match["d"]), int(hour), int(minute), int(second), tzinfo=zone
        )
    except ValueError:  # 2026-13-01: time.Parse fails, and go-yaml goes on to numbers, which fail too
        return text
    fraction = fraction.rstrip("0")
    offset = "Z" if moment.utcoffset() == timedelta(0) else moment.isoformat()[-6:]
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + offset


KubeLoader.yaml_implicit_resolvers = {}
_BOOL_WORDS = re.compile("(?:" + "|".join(sorted(_TRUE | _FALSE)) + ")$")
KubeLoader.add_implicit_resolver(_BOOL_TAG, _BOOL_WORDS, list("yYnNtTfFoO"))
KubeLoader.add_implicit_resolver(_MERGE_TAG, re.compile(r"<<$"), ["<"])
KubeLoader.add_implicit_resolver(_NULL_TAG, re.compile(r"(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
KubeLoader.add_implicit_resolver(_TIMESTAMP_TAG, re.compile(_TIMESTAMP.pattern + "$"), list("0123456789"))
# Everything else that starts like a number: _construct_number applies Go's parsers and keeps
# the text as a string when none of them takes it, as go-yaml does.
KubeLoader.add_implicit_resolver(_NUMBER_TAG, re.compile(r"[-+.0-9].*$", re.DOTALL), list("-+.0123456789"))


KubeLoader.add_constructor(_BOOL_TAG, _construct_bool)
KubeLoader.add_constructor(_NUMBER_TAG, _construct_number)
KubeLoader.add_constructor(_TIMESTAMP_TAG, _construct_timestamp)


def _json_key(key: object, node: Node) -> str:
    """sigs.k8s.io/yaml makes every key a JSON string: ``true`` -> "true", ``1`` -> "1"."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return {math.inf: ".inf", -math.inf: "-.inf"}.get(key, ".nan" if math.isnan(key) else f"{key:g}")
    raise yaml.constructor.ConstructorError(
        None, None, f"a mapping key must be a string, number or boolean, not {type(key).__name__}", node.start_mark
    )


def load_documents(text: str) -> list[Document]:
    """The non-empty documents of ``text`` read as kubectl reads them; YAMLError when unreadable or over a limit."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise YamlLimitError(f"is larger than {MAX_BYTES // 2**20} MiB, the API server's limit for one request")
    _check_depth(text)
    loader = KubeLoader(text)
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            size = _json_size(node, {}, set())
            if size > MAX_BYTES:
                raise YamlLimitError(
                    f"expands to {size / 2**20:.1f} MiB of JSON (YAML aliases?), over the API server's "
                    f"{MAX_BYTES // 2**20} MiB limit for one request",
                    node.start_mark,
                )
            obj = loader.construct_document(node)
            if obj is not None:
                documents.append(Document(obj, dict(_retyped(node, ()))))
    finally:
        loader.dispose()
    return documents


def _check_depth(text: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlLimitError(f"nests deeper than {MAX_DEPTH} levels", event.start_mark)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _json_size(node: Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """The length of ``node`` as JSON with every alias expanded, without expanding one (memoized per node)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise YamlLimitError("holds a YAML alias to a node that contains it", node.start_mark)
    open_nodes.add(key)
    if isinstance(node, ScalarNode):
        size = len(node.value) + 2
    elif isinstance(node, SequenceNode):
        size = 2 + sum(_json_size(item, sizes, open_nodes) + 1 for item in node.value)
    else:
        size = 2 + sum(_json_size(k, sizes, open_nodes) + _json_size(v, sizes, open_nodes) + 2 for k, v in node.value)
    open_nodes.discard(key)
    sizes[key] = size
    return size


def _retyped(node: Node, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Plain scalars that kubectl reads as another type, or another number, than they look."""
    if isinstance(node, ScalarNode):
        if node.style is None and (note := _surprise(node)):
            yield loc, note
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            yield from _retyped(item, (*loc, i))
    elif isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                continue
            key = key_node.value
            if key_node.style is None and (note := _surprise(key_node)):
                key = "true" if key in _TRUE else "false" if key in _FALSE else str(_go_int(key.replace("_", "")))
                yield (*loc, key), f"as a key, {note}"
            yield from _retyped(value_node, (*loc, key))


def _surprise(node: ScalarNode) -> str | None:
    text = node.value
    if node.tag == _BOOL_TAG and text not in _PLAIN_BOOLS:
        return f"the bare word {text} is the boolean {'true' if text in _TRUE else 'false'} to kubectl (YAML 1.1)"
    plain = text.replace("_", "")
    # YAML 1.2 (and most people) read these as strings, or 0777 as 777.
    odd = "_" in text or re.fullmatch(r"[-+]?0[0-7]+", plain) or plain.lstrip("+-")[:2] in ("0b", "0B")
    if node.tag == _NUMBER_TAG and _GO_INT.fullmatch(plain) and odd:
        return f"{text} is the number {_go_int(plain)} to kubectl (YAML 1.1)"
    return None


class KubeDumper(yaml.SafeDumper):
    """Writes YAML that kubectl reads back as the same values: ``"y"``, ``"on"`` and ``"0777"`` quoted.

    PyYAML's own dumper quotes by PyYAML's rules, so ``{"name": "y"}`` came out as ``name: y``,
    which kubectl reads as ``name: true``. With kubectl's resolvers, the emitter quotes every
    string that would otherwise be read as something else."""


KubeDumper.yaml_implicit_resolvers = KubeLoader.yaml_implicit_resolvers


def _represent_number(dumper: KubeDumper, data: float) -> Node:
    node = dumper.represent_float(data) if isinstance(data, float) else dumper.represent_int(data)
    return ScalarNode(_NUMBER_TAG, node.value)


KubeDumper.add_representer(int, _represent_number)
KubeDumper.add_representer(float, _represent_number)


def dump(obj: Any) -> str:
    """``obj`` as YAML that kubectl and :func:`load_documents` read back unchanged."""
    # Non-ASCII is escaped: PyYAML writes a raw U+0085 (and U+2028, U+2029) into a quoted scalar,
    # where its own reader, and YAML's line folding, turn it into a space.
    return yaml.dump(obj, Dumper=KubeDumper, sort_keys=False, allow_unicode=False)


def plain_is_text(text: str) -> bool:
    """True when ``text`` written without quotes is read back by kubectl as this same string."""
    tag = KubeLoader("").resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag == "tag:yaml.org,2002:str" or (tag == _NUMBER_TAG and _construct_number_text(text) == text)


def _construct_number_text(text: str) -> int | float | str:
    loader = KubeLoader("")
    return _construct_number(loader, ScalarNode(_NUMBER_TAG, text))
