"""The generated CRDs are what the API server accepts, and the committed files are up to date."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.api import crd
from kubetune.cli import main

ROOT = Path(__file__).resolve().parents[2]

# Keys a structural schema may carry (apiextensions.k8s.io/v1 JSONSchemaProps, minus $ref and friends).
ALLOWED = {
    "type", "description", "properties", "items", "additionalProperties", "required", "enum",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
    "minItems", "maxItems", "format", "nullable", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type", "x-kubernetes-embedded-resource", "x-kubernetes-validations",
}  # fmt: skip
FORMATS = {"int32", "int64", "float", "double", "byte", "date", "date-time", "password"}


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("make", [crd.task_crd, crd.trial_crd], ids=["hpotask", "trial"])
def test_the_crd_schema_is_structural(make: Any) -> None:
    version = make()["spec"]["versions"][0]
    for path, node in nodes(version["schema"]["openAPIV3Schema"]):
        assert set(node) <= ALLOWED, f"{path}: {set(node) - ALLOWED}"
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), f"{path}: no type"
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("format", "int32") in FORMATS, path
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):
            assert node.get(bound, True) is True, f"{path}: OpenAPI 3.0 wants a boolean {bound}"


@pytest.mark.parametrize("make", [crd.task_crd, crd.trial_crd], ids=["hpotask", "trial"])
def test_every_field_has_a_description_for_kubectl_explain(make: Any) -> None:
    schema = make()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    missing = [path for path, node in nodes(schema) if path and not node.get("description")]
    # Items of lists and values of maps are described by their list or map.
    assert [p for p in missing if not p.endswith(("[]", "{}", ".metadata"))] == []


def test_the_task_crd_has_what_kubectl_users_expect() -> None:
    spec = crd.task_crd()["spec"]
    assert spec["names"]["shortNames"] == ["hpo"]
    assert spec["names"]["categories"] == ["kubetune"]
    version = spec["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Phase"] == ".status.phase"
    assert columns["Best"] == ".status.bestTrial.objective"
    assert columns["Trials"] == ".status.progress"
    assert columns["Age"] == ".metadata.creationTimestamp"


def test_constraints_of_the_models_reach_the_crd() -> None:
    spec = crd.task_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    budget = spec["properties"]["budget"]["properties"]
    assert budget["maxTrials"]["minimum"] == 1
    parameter = spec["properties"]["parameters"]["items"]["properties"]
    assert parameter["scale"]["enum"] == ["linear", "log", "reverse_log"]
    assert parameter["step"] == {**parameter["step"], "minimum": 0, "exclusiveMinimum": True}
    assert spec["properties"]["objective"]["x-kubernetes-validations"][0]["fieldPath"] == ".metric"


def test_committed_crds_match_the_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds", "--check", "-o", str(ROOT / "crds")]) == 0
    for name, obj in crd.all_crds().items():
        assert yaml.safe_load((ROOT / "crds" / name).read_text()) == obj


def test_crds_check_fails_when_a_file_is_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds", "-o", str(tmp_path)]) == 0
    assert main(["crds", "--check", "-o", str(tmp_path)]) == 0
    stale = tmp_path / "kubetune.io_trials.yaml"
    stale.write_text(stale.read_text().replace("Trial", "Trail"))
    assert main(["crds", "--check", "-o", str(tmp_path)]) == 1
    assert "kubetune.io_trials.yaml" in capsys.readouterr().err
