"""A misspelt field gets one line that names the field it was probably meant to be."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubetune.cli import main

TASK = {
    "apiVersion": "kubetune.io/v1alpha1",
    "kind": "HPOTask",
    "metadata": {"name": "typo"},
    "spec": {
        "objective": {"metric": "loss", "direction": "minimize"},
        "parameters": [{"name": "a", "min": 0, "max": 1}],
        "budget": {"maxTrials": 3},
        "trialTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "b"}]}}}},
    },
}


@pytest.mark.parametrize(
    ("where", "typo", "expected"),
    [
        (("spec", "budget"), "maxTrails", "spec.budget.maxTrails: is not a known field; did you mean maxTrials?"),
        (("spec",), "algoritm", "spec.algoritm: is not a known field; did you mean algorithm?"),
        (("spec", "parameters", 0), "sclae", "spec.parameters[0].sclae: is not a known field; did you mean scale?"),
        (("spec", "budget"), "colour", "spec.budget.colour: is not a known field"),
    ],
)
def test_an_unknown_field_suggests_the_known_one_spelt_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: tuple[str | int, ...], typo: str, expected: str
) -> None:
    body = yaml.safe_load(yaml.safe_dump(TASK))
    node = body
    for key in where:
        node = node[key]
    node[typo] = 1
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(body))
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.strip() == f"{path}: {expected}"
