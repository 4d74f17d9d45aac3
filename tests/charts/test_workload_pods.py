"""Every pod template of every built-in workload kind is where the admission policy looks for it.

The policy reads each kind's pod specs from charts/kubetune/files/pod-specs.yaml, generated from
``Kind.pod_templates`` in kubetune.api.kinds: a kind added to the registry without its places, or a
place the generated CEL misses, shows up here against a realistic workload of that kind.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from celpy import celtypes

from kubetune.api import kinds
from tests.cel import evaluate, to_cel
from tests.kube import schema

from .chart import ROOT, renderer
from .workloads import BY_KIND, WORKLOADS


def test_every_builtin_kind_has_a_realistic_workload_here() -> None:
    assert set(WORKLOADS) == set(BY_KIND)


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_a_kinds_pod_template_paths_find_every_pod_spec_of_its_workload(kind: str) -> None:
    spec = WORKLOADS[kind]["spec"]
    declared = {loc for path in BY_KIND[kind].pod_templates for loc, _ in kinds.templates_at(spec, path)}
    found = {loc for loc, _ in kinds.pod_specs(spec)}

    assert len(found) >= 2 or kind == "Job", "the workload shows more than one pod template"
    assert declared == found


def _as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_the_policys_cel_reads_every_pod_spec_of_the_workload(kind: str) -> None:
    generated = yaml.safe_load(renderer.POD_SPECS.read_text())
    expression = generated[f"{BY_KIND[kind].group}/{kind}"]["podSpecs"]
    spec = WORKLOADS[kind]["spec"]

    groups = evaluate(expression, {"variables": celtypes.MapType({celtypes.StringType("spec"): to_cel(spec)})})
    read = sorted(_as_json(pod) for group in groups for pod in group)
    assert read == sorted(_as_json(pod) for _, pod in kinds.pod_specs(spec))


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_the_policys_cel_reads_a_workload_without_pod_templates_as_none(kind: str) -> None:
    generated = yaml.safe_load(renderer.POD_SPECS.read_text())
    expression = generated[f"{BY_KIND[kind].group}/{kind}"]["podSpecs"]

    for spec in ({}, {"template": {}}, {"replicatedJobs": [{}]}, {"rayClusterSpec": {"workerGroupSpecs": [{}]}}):
        groups = evaluate(expression, {"variables": celtypes.MapType({celtypes.StringType("spec"): to_cel(spec)})})
        assert [pod for group in groups for pod in group] == []


CRDS = ROOT.parent / "shared" / "crds"


@pytest.mark.parametrize("kind", sorted(set(WORKLOADS) - {"Job"}))
def test_each_workload_here_and_a_service_account_in_each_pod_template_are_what_the_real_crd_keeps(kind: str) -> None:
    # So that the places above are the real schema's, and a ServiceAccount set there is not pruned
    # (a place the API server drops would not need checking).
    if not CRDS.is_dir():
        pytest.skip(f"the real workload CRDs are not at {CRDS} (the shared/crds folder beside the repository)")
    known = BY_KIND[kind]
    crd = yaml.safe_load((CRDS / f"{known.group}_{known.plural}.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == known.version)
    crd_schema = version["schema"]["openAPIV3Schema"]
    for loc, _ in [((), None), *kinds.pod_specs(WORKLOADS[kind]["spec"])]:
        template = copy.deepcopy(WORKLOADS[kind])
        if loc:
            pod = kinds.at(template["spec"], loc)
            assert isinstance(pod, dict)
            pod["serviceAccountName"] = "powerful"
        obj = {**template, "metadata": {"name": "trial-0", "namespace": "team-a"}}
        assert schema.validation_errors(obj, crd_schema) == [], loc
        assert schema.prune(obj, crd_schema)["spec"] == obj["spec"], loc
