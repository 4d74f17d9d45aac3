"""``${params.NAME}`` substitution in a container of the trial template; never through a shell."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .. import names
from ..api import ParamValue
from ..api.template import PLACEHOLDER


def format_value(value: ParamValue) -> str:
    """How a parameter value is written into an argument or environment variable."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)  # keep "1.0" so a float parameter never reads as an int
    return str(value)


def literal(value: str) -> str:
    """``value`` written so that Kubernetes' ``$(VAR)`` expansion gives it back unchanged.

    In a container's command, args and env values, Kubernetes replaces ``$(VAR)`` with a variable
    declared in the container and turns ``$$`` into ``$``; a ``$`` before anything else stays. So a
    value with ``$(`` or ``$$`` in it gets every ``$`` doubled, and any other value is left as it is.
    """
    return value.replace("$", "$$") if "$(" in value or "$$" in value else value


def _verbatim(value: str) -> str:
    return value


def substitute(text: str, params: Mapping[str, ParamValue], quote: Callable[[str], str] = _verbatim) -> str:
    """Replace every ``${params.NAME}`` in ``text`` with ``quote(value)``; unknown names are left as they are."""
    return PLACEHOLDER.sub(lambda m: quote(format_value(params[m[1]])) if m[1] in params else m[0], text)


def render_container(
    container: Mapping[str, Any], params: Mapping[str, ParamValue], quote: Callable[[str], str] = _verbatim
) -> dict[str, Any]:
    """A copy of ``container`` with placeholders in command, args and env values substituted.

    ``quote`` writes each inserted value (``literal`` on a cluster); the template's own text is kept.
    """
    out = dict(container)
    for key in ("command", "args"):
        if isinstance(container.get(key), list):
            out[key] = [substitute(str(item), params, quote) for item in container[key]]
    env = container.get("env")
    if isinstance(env, list):
        out["env"] = [
            {**item, "value": substitute(item["value"], params, quote)}
            if isinstance(item.get("value"), str)
            else dict(item)
            for item in env
            if isinstance(item, dict)
        ]
    return out


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion of an env value, for ``kubetune run`` to match a kubelet.

    ``$$`` is one ``$``; ``$(NAME)`` is NAME's value if declared before, else left as written; any other
    ``$`` stays (k8s.io/kubernetes third_party/forked/golang/expansion).
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$" or i + 1 == len(text):
            out.append(text[i])
            i += 1
        elif text[i + 1] == "$":
            out.append("$")
            i += 2
        elif text[i + 1] == "(" and (close := text.find(")", i + 2)) >= 0:
            out.append(variables.get(text[i + 2 : close], text[i : close + 1]))
            i = close + 1
        else:
            out.append(text[i : i + 2])
            i += 2
    return "".join(out)


def parameter_env(params: Mapping[str, ParamValue], task: str, trial: str, resource: float | None) -> dict[str, str]:
    """The environment variables every trial gets: one per parameter, and who it is."""
    env = {f"{names.ENV_PREFIX}{name.upper()}": format_value(value) for name, value in params.items()}
    env[names.ENV_TASK_NAME] = task
    env[names.ENV_TRIAL_NAME] = trial
    if resource is not None:
        env[names.ENV_RESOURCE] = format_value(resource)
    return env


def parameters_json(params: Mapping[str, ParamValue]) -> str:
    """The parameters file a trial can read instead of parsing arguments."""
    return json.dumps(dict(params), sort_keys=True, indent=2) + "\n"
