"""Label and field selectors with the grammar and the errors of the Kubernetes API (apimachinery `labels`/`fields`)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tests.kube.errors import ApiError, bad_request

# A qualified label key: optional DNS-subdomain prefix, then a name of up to 63 characters.
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")
_REQUIREMENT_RE = re.compile(
    r"""^\s*(?:
        (?P<not>!)\s*(?P<nkey>[^\s!=<>,()]+)                                   # !key
      | (?P<skey>[^\s!=<>,()]+)\s+(?P<setop>in|notin)\s*\((?P<values>[^()]*)\) # key in (a, b)
      | (?P<ckey>[^\s!=<>,()]+)\s*(?P<op>==|=|!=|>|<)\s*(?P<value>[^\s!=<>,()]*)  # key=value, key>5
      | (?P<key>[^\s!=<>,()]+)                                                 # key
    )\s*$""",
    re.VERBOSE,
)


@dataclasses.dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # one of: =, !=, in, notin, exists, !, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "exists":
                return present
            case "!":
                return not present
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                # As in Kubernetes: a missing label satisfies `!=` and `notin`.
                return not present or value not in self.values
            case "gt" | "lt":
                try:
                    number = int(value or "")
                except ValueError:
                    return False
                bound = int(self.values[0])
                return number > bound if self.operator == "gt" else number < bound
        raise AssertionError(self.operator)


@dataclasses.dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return all(r.matches(labels or {}) for r in self.requirements)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside the parentheses of `in (...)`."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _check_key(key: str, text: str) -> None:
    if not _KEY_RE.match(key) or len(key.partition("/")[2] or key) > 63:
        raise bad_request(f'unable to parse requirement: invalid label key "{key}": in "{text}"')


def _check_value(value: str, text: str) -> None:
    if not _VALUE_RE.match(value):
        raise bad_request(f'unable to parse requirement: invalid label value: "{value}": in "{text}"')


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse `?labelSelector=`: =, ==, !=, in, notin, exists, !exists, and the numeric > and <."""
    if not text or not text.strip():
        return LabelSelector()
    requirements = []
    for part in _split_top_level(text):
        found = _REQUIREMENT_RE.match(part)
        if not found:
            raise bad_request(f"unable to parse requirement: found '{part.strip()}', expected: key, !key, key=value")
        if found["nkey"]:
            _check_key(found["nkey"], text)
            requirements.append(Requirement(found["nkey"], "!"))
        elif found["skey"]:
            _check_key(found["skey"], text)
            values = tuple(v.strip() for v in found["values"].split(",") if v.strip())
            for value in values:
                _check_value(value, text)
            requirements.append(Requirement(found["skey"], found["setop"], values))
        elif found["ckey"]:
            _check_key(found["ckey"], text)
            op, value = found["op"], found["value"]
            if op in {">", "<"}:
                if not value.lstrip("-").isdigit():
                    raise bad_request(
                        "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer: "
                        f'in "{text}"'
                    )
                requirements.append(Requirement(found["ckey"], "gt" if op == ">" else "lt", (value,)))
            else:
                _check_value(value, text)
                requirements.append(Requirement(found["ckey"], "!=" if op == "!=" else "=", (value,)))
        else:
            _check_key(found["key"], text)
            requirements.append(Requirement(found["key"], "exists"))
    return LabelSelector(tuple(requirements))


def selector_from_label_selector_object(selector: Mapping[str, Any]) -> LabelSelector:
    """A LabelSelector object ({matchLabels, matchExpressions}), as Jobs carry in spec.selector."""
    requirements = [Requirement(k, "=", (v,)) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or ():
        requirements.append(Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return LabelSelector(tuple(requirements))


@dataclasses.dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...] = ()  # (field path, equal?, value)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((field_value(obj, path) == value) == equal for path, equal, value in self.terms)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """A field as field selectors see it: a dotted path rendered as a string ("" when absent)."""
    current: Any = obj
    for part in path.split("."):
        current = current.get(part) if isinstance(current, Mapping) else None
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def parse_field_selector(text: str | None, allowed: Sequence[str]) -> FieldSelector:
    """Parse `?fieldSelector=`: `path=value`, `path==value`, `path!=value`, comma-separated, on allowed paths only."""
    if not text or not text.strip():
        return FieldSelector()
    terms = []
    for part in text.split(","):
        found = re.match(r"^\s*([^!=\s]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not found:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        path, op, value = found.groups()
        if path not in {"metadata.name", "metadata.namespace", *allowed}:
            raise ApiError(400, "BadRequest", f"field label not supported: {path}")
        terms.append((path, op != "!=", value))
    return FieldSelector(tuple(terms))


Matcher = Callable[[Mapping[str, Any]], bool]


def matcher(labels: LabelSelector, fields: FieldSelector) -> Matcher:
    def check(obj: Mapping[str, Any]) -> bool:
        return labels.matches(obj.get("metadata", {}).get("labels")) and fields.matches(obj)

    return check
