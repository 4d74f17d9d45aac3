"""The CRD's cross-field rules, run by a CEL implementation, agree with the models and say the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kubetune.api import Parameter, crd, parse_task
from kubetune.api.loader import problems_of
from kubetune.errors import InvalidSpec
from tests.cel import decl_type, rule_failures, schema_rules, untyped_reads

from .test_manifests import EXAMPLES, base_task, set_path

TASK_SCHEMA = crd.task_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
PARAMETER_SCHEMA = TASK_SCHEMA["properties"]["spec"]["properties"]["parameters"]["items"]

BOUNDS = [-1e301, -1e300, -3.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3, 10, 2**53, 2**53 + 2, 1e300, 1e301]
OPTIONAL = st.none()


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def parameters(draw: st.DrawFn) -> dict[str, Any]:
    """Entries of spec.parameters that pass every per-field check, in all combinations of fields."""
    fields = {
        "name": "x",
        "type": draw(maybe(st.sampled_from(["double", "int", "categorical"]))),
        "min": draw(maybe(st.sampled_from(BOUNDS))),
        "max": draw(maybe(st.sampled_from(BOUNDS))),
        "scale": draw(maybe(st.sampled_from(["linear", "log", "reverse_log"]))),
        "base": draw(maybe(st.sampled_from([0.5, 1, 2, 10]))),
        "step": draw(maybe(st.sampled_from([0.5, 1, 2, 100]))),
        "values": draw(maybe(st.sampled_from([["a", "b"], [1, 2.5]]))),
        "value": draw(maybe(st.sampled_from([1, "a"]))),
        "distribution": draw(maybe(st.sampled_from(["uniform", "normal", "logNormal"]))),
        "mean": draw(maybe(st.sampled_from([0.0, 1.0]))),
        "sigma": draw(maybe(st.sampled_from([0.5, 2.0]))),
    }
    return {k: v for k, v in fields.items() if v is not None}


def model_problems(parameter: dict[str, Any]) -> set[tuple[str, str]]:
    try:
        Parameter.model_validate(parameter)
    except ValidationError as error:
        return {(f".{p.path}", p.message) for p in problems_of(error)}
    return set()


MIRRORED = {(rule.get("fieldPath", ""), rule["message"]) for rule in PARAMETER_SCHEMA["x-kubernetes-validations"]}


@settings(max_examples=400, deadline=None)
@given(parameters())
def test_the_api_server_and_the_model_refuse_a_parameter_for_the_same_reasons(parameter: dict[str, Any]) -> None:
    said_by_cel = set(rule_failures(parameter, PARAMETER_SCHEMA))
    said_by_model = model_problems(parameter)

    # Every rule the API server would apply is one the model reports, at the same field, in the same
    # words; or the model says another mirrored rule there (it prints one line per field, the API
    # server one per rule)...
    def mirrored(where: str, message: str) -> bool:
        return any(where == field and message.startswith(words) for field, words in MIRRORED)

    for where, message in said_by_cel:
        at_place = [m for p, m in said_by_model if p == where]
        assert any(m.startswith(message) for m in at_place) or (len(at_place) == 1 and mirrored(where, at_place[0])), (
            parameter,
            said_by_cel,
            said_by_model,
        )
    # ...and every mirrored problem the model reports, the API server reports too.
    for where, message in said_by_model:
        for field, words in MIRRORED:
            if where == field and message.startswith(words):
                assert (field, words) in said_by_cel, (parameter, said_by_cel, said_by_model)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_passes_the_crd_rules(path: Path) -> None:
    assert list(rule_failures(yaml.safe_load(path.read_text()), TASK_SCHEMA)) == []


@pytest.mark.parametrize(
    ("where", "value", "field", "message"),
    [
        ("spec.parameters.0.min", 1.0, ".spec.parameters[0].min", "must be less than max"),
        ("spec.parameters.1.min", 0, ".spec.parameters[1].min", "must be > 0 for log scale"),
        ("spec.parameters.2.step", 500, ".spec.parameters[2].step", "must fit the range"),
        ("spec.parameters.1.name", "lr", ".spec.parameters", "must not declare a parameter name twice"),
    ],
)
def test_kubectl_apply_of_a_cross_field_mistake_is_refused_with_the_models_words(
    where: str, value: Any, field: str, message: str
) -> None:
    obj = set_path(base_task(), where, value)
    assert list(rule_failures(obj, TASK_SCHEMA)) == [(field, message)]
    with pytest.raises(InvalidSpec) as caught:
        parse_task(obj)
    assert any(message in p.message for p in caught.value.problems)


@pytest.mark.parametrize("name", sorted(crd.all_crds()))
def test_every_crd_rule_reads_only_fields_the_api_server_types(name: str) -> None:
    # The API server compiles each rule against the CEL type it builds from the schema and refuses
    # the whole CRD when one names a field that type lacks (a field with no `type`, such as a
    # parameter's `value`): kubectl apply and helm install would fail.
    for version in crd.all_crds()[name]["spec"]["versions"]:
        for where, rule, typed in schema_rules(version["schema"]["openAPIV3Schema"]):
            assert typed is not None, f"{where}: the API server gives this field no CEL type, so no rule can sit on it"
            assert untyped_reads(rule, typed) == [], (where, rule)


def test_a_rule_that_reads_a_field_with_no_type_is_caught() -> None:
    # What the API server said of the CRD before: "undefined field 'value'" / 'values'.
    typed = decl_type(PARAMETER_SCHEMA)
    assert typed is not None
    assert untyped_reads("!has(self.value) || self.values.size() > 1", typed) == ["value", "values"]
    assert untyped_reads("self.min < self.max && has(self.when) && self.when.parameter != ''", typed) == []
    # `in` is a CEL keyword: the API server names that property __in__, and it has no type either.
    assert untyped_reads("self.when.__in__.size() > 0", typed) == ["__in__"]


def test_a_range_beside_a_fixed_value_must_be_one_the_api_server_accepts() -> None:
    # The API server cannot see `value`, so its rules hold for a fixed parameter's other keys; the
    # model says the same, so that `kubetune validate` never passes what `kubectl apply` refuses.
    pinned = {"name": "lr", "value": 0.01, "min": 0.0001, "max": 0.1, "scale": "log"}
    assert list(rule_failures(pinned, PARAMETER_SCHEMA)) == []
    assert model_problems(pinned) == set()

    backwards = {**pinned, "min": 1.0}
    assert list(rule_failures(backwards, PARAMETER_SCHEMA)) == [(".min", "must be less than max")]
    assert model_problems(backwards) == {(".min", "must be less than max (1 >= 0.1)")}
