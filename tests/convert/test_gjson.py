"""Katib's GJSON trial conditions as CEL: each translation holds, under a real CEL library, exactly
where Katib's condition finds an object or a non-empty array; other GJSON is refused."""

from __future__ import annotations

from typing import Any

import pytest

from kubetune.api import cel
from kubetune.convert.gjson import Untranslatable, to_cel

JOB_SUCCESS = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
TEKTON_FAILURE = 'status.conditions.#(type=="Succeeded")#|#(status=="False")#'
ARGO_SUCCESS = 'status.[@this].#(phase=="Succeeded")#'


def conditions(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": t, "status": s} for t, s in pairs]}}


@pytest.mark.parametrize(
    ("condition", "obj", "holds"),
    [
        (JOB_SUCCESS, conditions(("Complete", "True")), True),
        (JOB_SUCCESS, conditions(("Complete", "False")), False),
        (JOB_SUCCESS, conditions(("Failed", "True"), ("Complete", "True")), True),
        # Both queries must match the same element, as GJSON's pipe applies the second to the first's result.
        (JOB_SUCCESS, conditions(("Complete", "False"), ("Failed", "True")), False),
        (JOB_SUCCESS, {"status": {}}, False),
        (JOB_SUCCESS, {}, False),
        (TEKTON_FAILURE, conditions(("Succeeded", "False")), True),
        (TEKTON_FAILURE, conditions(("Succeeded", "Unknown")), False),
        # An element without the key matches no query, and does not hide another that matches.
        (
            TEKTON_FAILURE,
            {"status": {"conditions": [{"type": "Succeeded"}, {"type": "Succeeded", "status": "False"}]}},
            True,
        ),
        (ARGO_SUCCESS, {"status": {"phase": "Succeeded"}}, True),
        (ARGO_SUCCESS, {"status": {"phase": "Running"}}, False),
        (ARGO_SUCCESS, {"status": {}}, False),
        ('status.conditions.#(type=="Failed")', conditions(("Failed", "True")), True),
        ("status.counts.#(done==3)#", {"status": {"counts": [{"done": 3}]}}, True),
        ("status.counts.#(done!=3)#", {"status": {"counts": [{"done": 3}]}}, False),
        ("status.flags.#(ready==true)#", {"status": {"flags": [{"ready": True}]}}, True),
    ],
)
def test_a_translated_condition_holds_where_katibs_finds_something(
    condition: str, obj: dict[str, Any], holds: bool
) -> None:
    expression = to_cel(condition)
    assert cel.compile_problem(expression) is None
    assert cel.holds(expression, obj) is holds


def test_the_translation_reads_as_written_by_hand() -> None:
    assert to_cel(ARGO_SUCCESS) == "has(object.status.phase) && object.status.phase == 'Succeeded'"
    assert to_cel(JOB_SUCCESS) == (
        "has(object.status.conditions) && object.status.conditions.exists(x, has(x.type) && x.type == 'Complete' "
        "&& has(x.status) && x.status == 'True')"
    )


@pytest.mark.parametrize(
    "condition",
    [
        "status.phase",  # a plain path: Katib's test needs an object or an array
        "status.conditions.#.type",
        'status.conditions.#(type%"Succ*")#',
        'status.@reverse.#(phase=="Failed")#',
        'status.conditions.#(type=="Failed")|#(status=="True")#',  # first match, then a query on an object
        'status.conditions.#(type=="Failed")#.status',
        "",
    ],
)
def test_other_gjson_is_refused_not_guessed(condition: str) -> None:
    with pytest.raises(Untranslatable):
        to_cel(condition)
