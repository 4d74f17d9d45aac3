"""Hypothesis strategies for valid parameters and spaces, built through the real API models."""

from __future__ import annotations

from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from pydantic import ValidationError

from kubetune.api import Parameter
from kubetune.search.space import SearchSpace

_scalars = st.one_of(
    st.text(alphabet="abcxyz", min_size=1, max_size=4),
    st.integers(-50, 50),
    st.floats(-100, 100, allow_nan=False).map(lambda x: round(x, 3)),
    st.booleans(),
)


def _build(fields: dict[str, Any]) -> Parameter:
    try:
        return Parameter.model_validate(fields)
    except ValidationError:
        assume(False)
        raise


@st.composite
def parameters(draw: st.DrawFn, name: str = "p") -> Parameter:
    """Any valid searched parameter: categorical, int or double, every scale, base and step."""
    kind = draw(st.sampled_from(["categorical", "int", "double", "power"]))
    if kind == "categorical":
        values = draw(st.lists(_scalars, min_size=1, max_size=5, unique_by=lambda v: (type(v), v)))
        return _build({"name": name, "type": "categorical", "values": values})
    scale = draw(st.sampled_from(["linear", "log", "reverse_log"]))
    if kind == "int":
        low = draw(st.integers(1 if scale == "log" else -1000, 1000))
        high = draw(st.integers(low + 1, low + 5000))
        step = draw(st.none() | st.integers(1, high - low))
        return _build({"name": name, "type": "int", "min": low, "max": high, "scale": scale, "step": step})
    if kind == "power":
        base = draw(st.sampled_from([2.0, 10.0, 0.5]))
        low = draw(st.integers(-6, 3))
        high = draw(st.integers(low + 1, 6))
        exponent_step = draw(st.none() | st.sampled_from([0.5, 1.0, 2.0]))
        return _build({"name": name, "min": low, "max": high, "base": base, "step": exponent_step})
    start = draw(st.floats(1e-4 if scale == "log" else -1e3, 1e3, allow_nan=False))
    width = draw(st.floats(1e-3, 1e3, allow_nan=False))
    spacing = draw(st.none() | st.floats(width / 1000, width).map(lambda s: float(f"{s:.3g}")))
    return _build({"name": name, "min": start, "max": start + width, "scale": scale, "step": spacing})


@st.composite
def spaces(draw: st.DrawFn, max_dimensions: int = 4) -> SearchSpace:
    """A space of 1..max_dimensions searched parameters and maybe a fixed one."""
    n = draw(st.integers(1, max_dimensions))
    params = [draw(parameters(f"p{i}")) for i in range(n)]
    if draw(st.booleans()):
        params.append(_build({"name": "fixed", "type": "categorical", "value": draw(_scalars)}))
    if draw(st.booleans()):
        params.append(_build({"name": "fixed_rate", "value": 0.5}))
    return SearchSpace.from_parameters(params)
