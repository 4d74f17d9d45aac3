"""Katib's own examples (tests/fixtures/katib/upstream, verbatim): every one that is not neural
architecture search converts into a valid HPOTask, or is refused in one line for a stated reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubetune.cli import main

UPSTREAM = Path(__file__).resolve().parents[1] / "fixtures" / "katib" / "upstream"
EXAMPLES = sorted(
    p.relative_to(UPSTREAM).as_posix() for p in UPSTREAM.rglob("*.yaml") if p.name != "trial-templates.yaml"
)

REFUSED = {
    "hp-tuning/simple-pbt.yaml": "spec.algorithm.algorithmName: pbt: population-based training has no kubetune",
    "metrics-collector/custom-metrics-collector.yaml": "spec.metricsCollectorSpec.collector.kind: Custom",
    # Katib's admission webhook refuses these two as well (validator.go: "parameter name: ... in
    # spec.trialParameters not found in spec.trialTemplate"): converting them would be a guess.
    "tekton/pipeline-run.yaml": "trialParameters[0].name: learningRate: the trial template never uses",
    "trial-template/trial-configmap-source.yaml": "trialParameters[1].name: numberLayers: the trial template never",
}


def test_the_upstream_examples_are_all_here() -> None:
    assert len(EXAMPLES) == 29  # examples/v1beta1 less nas/ at the commit the README names


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_katib_example_converts_or_is_refused_in_one_line(
    name: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "task.yaml"
    code = main(
        ["convert", str(UPSTREAM / name), "-o", str(out), "--configmap", str(UPSTREAM / "trial-templates.yaml")]
    )
    err = capsys.readouterr().err.splitlines()
    if name in REFUSED:
        assert code == 2
        assert len(err) == 1 and REFUSED[name] in err[0], err
        assert not out.exists()
        return
    assert code == 0, err
    assert all(line.startswith(f"{UPSTREAM / name}: spec.") for line in err), err
    assert main(["validate", str(out)]) == 0
