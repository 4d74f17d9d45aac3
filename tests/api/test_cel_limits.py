"""CEL conditions are checked as the API server checks a CRD's rules before they run: unknown
names are typos, and an expression whose estimated cost is too high is refused."""

from __future__ import annotations

import pytest

from kubetune.api import cel, parse_task
from kubetune.errors import InvalidSpec
from tests.api.test_workload_kinds import custom


def refusal(success: str) -> list[str]:
    manifest = custom(
        successCondition=success,
        failureCondition="has(object.status.phase) && object.status.phase == 'Failed'",
        primaryPodLabels={"role": "train"},
    )
    try:
        parse_task(manifest)
    except InvalidSpec as error:
        return [str(p) for p in error.problems]
    return []


@pytest.mark.parametrize(
    ("expression", "name", "hint"),
    [
        ("obj.status.phase == 'Succeeded'", "obj", "the workload is `object`"),
        ("object.status.phase == Succeeded", "Succeeded", "a string is quoted ('Succeeded')"),
        ("object.status.conditions.exists(c, d.type == 'Done')", "d", "the workload is `object`"),
    ],
)
def test_an_unknown_name_is_refused_as_the_typo_it_is(expression: str, name: str, hint: str) -> None:
    assert refusal(expression) == [
        f"spec.trialTemplate.successCondition: uses {name}, a name CEL does not know here: {hint}, as in "
        "object.status.phase == 'Succeeded' (only `object` and the variables of macros are defined)"
    ]


@pytest.mark.parametrize(
    "expression",
    [
        # The two: a map that copies a 1 MB string per item, and comprehensions nested three deep.
        "size(object.spec.l.map(a, object.spec.s + string(a))) == 0",
        "!object.spec.l.all(a, object.spec.l.all(b, object.spec.l.all(c, true)))",
        "object.status.conditions.exists(a, object.status.conditions.exists(b, a.type == b.type))",
    ],
)
def test_an_expression_too_costly_for_the_largest_object_is_refused(expression: str) -> None:
    (line,) = refusal(expression)
    assert line.startswith("spec.trialTemplate.successCondition: is too costly to evaluate: its estimated cost is ")
    assert f"over the limit of {cel.COST_LIMIT:.0e}" in line


@pytest.mark.parametrize(
    "expression",
    [
        "has(object.status.phase) && object.status.phase == 'Succeeded'",
        "has(object.status.conditions) && object.status.conditions.exists(x, has(x.type) && x.type == 'Complete' "
        "&& has(x.status) && x.status == 'True')",
        "object.status.conditions.filter(c, c.type in ['Failed', 'Error'] && c.status == 'True').size() > 0",
        "type(object.status) == map && object.status.succeeded >= 1",
        # Arithmetic on an item makes no data, unlike a concatenation.
        "object.status.conditions.exists(c, c.attempts + 1 > 3)",
        # Nesting over literal lists is cheap.
        "['a', 'b'].all(k, [1, 2].exists(n, object.metadata.name != k + string(n)))",
    ],
)
def test_the_conditions_users_write_are_accepted(expression: str) -> None:
    assert refusal(expression) == []
