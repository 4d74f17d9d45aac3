"""Copies that must not drift: the chart's CRDs, and the plain manifests under deploy/."""

from __future__ import annotations

import yaml

from .chart import CHART, KUBE_VERSIONS, ROOT, renderer, validation_problems


def test_chart_crds_are_identical_to_the_generated_crds() -> None:
    generated = sorted(path.name for path in (ROOT / "crds").glob("*.yaml"))
    in_chart = sorted(path.name for path in (CHART / "crds").glob("*.yaml"))

    assert generated, "crds/ is empty: run `kubetune crds`"
    assert in_chart == generated
    for name in generated:
        assert (CHART / "crds" / name).read_bytes() == (ROOT / "crds" / name).read_bytes(), (
            f"charts/kubetune/crds/{name} differs from crds/{name}: run `kubetune crds -o charts/kubetune/crds`"
        )


def test_deploy_manifests_are_a_fresh_render_of_the_chart() -> None:
    committed = (ROOT / "deploy" / "kubetune.yaml").read_text(encoding="utf-8")

    assert committed == renderer.plain_manifests(), "deploy/kubetune.yaml is stale: run `python deploy/render.py`"


def test_deploy_manifests_are_valid_kubernetes_objects_that_start_with_their_namespace() -> None:
    objects = [obj for obj in yaml.safe_load_all((ROOT / "deploy" / "kubetune.yaml").read_text()) if obj]
    kinds = [obj["kind"] for obj in objects]

    assert kinds[:3] == ["Namespace", "CustomResourceDefinition", "CustomResourceDefinition"]
    assert kinds.index("Deployment") == len(kinds) - 1
    for version in KUBE_VERSIONS:
        assert validation_problems(objects, version) == []


def test_the_policys_pod_spec_paths_are_a_fresh_render_of_the_kinds() -> None:
    committed = renderer.POD_SPECS.read_text(encoding="utf-8")

    assert committed == renderer.pod_specs_file(), f"{renderer.POD_SPECS} is stale: run `python deploy/render.py`"
