"""Each algorithm's settings, defaults and documentation come from one place: the CRD and the API agree with it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.api import SETTINGS, AlgorithmName, parse_task
from kubetune.errors import InvalidSpec
from kubetune.search import registry

ROOT = Path(__file__).resolve().parents[2]


def algorithm_schema() -> dict[str, Any]:
    """The ``spec.algorithm`` schema of the HPOTask CRD as committed (``kubetune crds --check`` keeps it current)."""
    crd = yaml.safe_load((ROOT / "crds" / "kubetune.io_hpotasks.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    schema: dict[str, Any] = spec["properties"]["algorithm"]
    return schema


def shown(default: object) -> str:
    return str(default).lower() if isinstance(default, bool) else str(default)


def words(text: str | None) -> str:
    """Docstring text as the CRD writes it: one line, Markdown code spans."""
    return " ".join((text or "").split()).replace("``", "`")


@pytest.mark.parametrize("name", list(registry.ENTRIES), ids=str)
def test_the_crd_documents_every_setting_of_an_algorithm_with_the_default_it_really_has(name: AlgorithmName) -> None:
    entry = registry.ENTRIES[name]
    schema = algorithm_schema()
    assert words(entry.settings.__doc__) in schema["properties"]["name"]["description"]
    properties = schema["properties"]["settings"]["properties"]
    for field, info in entry.settings.model_fields.items():
        description = properties[info.alias or field]["description"]
        mine = description.split(f"{name}: ", 1)[1]
        for other in AlgorithmName:
            mine = mine.split(f" {other}: ")[0]  # this algorithm's part of a shared setting's text
        assert mine.startswith(words(info.description).rstrip(".")), (name, field)
        if info.default is not None:
            assert mine.endswith(f"(default {shown(info.default)})."), (name, field)
    for alias, prop in properties.items():
        owners = [n for n, model in SETTINGS.items() if alias in {i.alias or f for f, i in model.model_fields.items()}]
        assert [n for n in AlgorithmName if f"{n}: " in prop["description"]] == owners, alias


def test_the_documented_defaults_are_the_ones_the_old_docs_got_wrong() -> None:
    properties = algorithm_schema()["properties"]["settings"]["properties"]
    text = properties["nInitialPoints"]["description"]
    assert "tpe: Random trials before the model is used (default 10)." in text
    assert "cmaes: Random trials before the first generation (default 0)." in text
    assert "(default skopt)" in properties["backend"]["description"]
    assert "skopt backend" in properties["acquisitionFunction"]["description"]


def task(algorithm: dict[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())
    obj = copy.deepcopy(obj)
    obj["spec"]["algorithm"] = algorithm
    return obj


def problems(algorithm: dict[str, Any]) -> list[str]:
    try:
        parse_task(task(algorithm))
    except InvalidSpec as error:
        return [str(p) for p in error.problems]
    return []


def test_the_api_checks_settings_with_the_named_algorithms_own_model() -> None:
    # The CRD admits nInitialPoints 0 (cmaes's minimum); tpe's own model does not.
    assert algorithm_schema()["properties"]["settings"]["properties"]["nInitialPoints"]["minimum"] == 0
    assert problems({"name": "cmaes", "settings": {"nInitialPoints": 0}}) == []
    (tpe,) = problems({"name": "tpe", "settings": {"nInitialPoints": 0}})
    assert "spec.algorithm.settings.nInitialPoints" in tpe and "greater than or equal to 1" in tpe
    (other,) = problems({"name": "tpe", "settings": {"sigma0": 0.5}})
    assert "spec.algorithm.settings.sigma0" in other and "does not apply to the tpe algorithm" in other


def test_bayesian_takes_an_explicit_backend_and_an_acquisition_function_only_for_skopt() -> None:
    assert problems({"name": "bayesian", "settings": {"backend": "optuna-gp"}}) == []
    assert problems({"name": "bayesian", "settings": {"acquisitionFunction": "EI"}}) == []
    (wrong,) = problems({"name": "bayesian", "settings": {"backend": "optuna-gp", "acquisitionFunction": "EI"}})
    assert "spec.algorithm.settings.acquisitionFunction" in wrong and "skopt backend only" in wrong
    (unknown,) = problems({"name": "bayesian", "settings": {"backend": "torch"}})
    assert "spec.algorithm.settings.backend" in unknown
