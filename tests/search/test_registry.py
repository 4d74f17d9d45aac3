"""The registry: every algorithm name builds, defaults are the documented ones, plugins load by entry point."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from kubetune import names
from kubetune.api import SETTINGS, Acquisition, Algorithm, AlgorithmName, GPBackend, Parameter
from kubetune.errors import SearchError
from kubetune.search import registry
from kubetune.search.bayesian import Bayesian
from kubetune.search.cma_es import CmaEs
from kubetune.search.hyperband import Hyperband
from kubetune.search.sobol import SobolSearch
from kubetune.search.tpe import TPE

from .helpers import request, space_of

SPACE = space_of(Parameter(name="x", min=0, max=1), Parameter(name="epochs", type="int", min=1, max=9))


def build(name: str, **fields: object) -> object:
    return registry.create(Algorithm.model_validate({"name": name, **fields}), SPACE)


def test_every_algorithm_name_builds_a_suggester() -> None:
    extra: dict[AlgorithmName, dict[str, object]] = {
        AlgorithmName.HYPERBAND: {"settings": {"resourceParameter": "epochs"}},
        AlgorithmName.EXPERIMENTS: {"experiments": [{"x": 0.5, "epochs": 3}]},
    }
    for name in AlgorithmName:
        if name is not AlgorithmName.PLUGIN:
            assert hasattr(build(name, **extra.get(name, {})), "suggest")


def test_unset_settings_take_their_documented_defaults() -> None:
    # The figures here are the ones the CRD text states (tests/api/test_algorithms.py checks that).
    assert build("tpe") == TPE(SPACE, 10, multivariate=True, constant_liar=True)
    assert build("sobol") == SobolSearch(SPACE, scramble=True)
    assert build("bayesian") == Bayesian(SPACE, None, Acquisition.GP_HEDGE, 100, GPBackend.SKOPT)
    assert build("cmaes") == CmaEs(SPACE, sigma0=0.2, population_size=None, n_initial_points=0)
    assert build("hyperband", settings={"resourceParameter": "epochs"}) == Hyperband(SPACE, "epochs", 3)


def test_every_algorithm_has_one_entry_built_from_the_model_the_api_validates_it_with() -> None:
    assert set(registry.ENTRIES) == set(AlgorithmName) == set(SETTINGS)
    for name, entry in registry.ENTRIES.items():
        assert entry.settings is SETTINGS[name]


def _install_plugin(root: Path, module: str, body: str, entry: str) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    dist = root / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{names.PLUGIN_ENTRY_POINTS}]\n{entry}\n")


def test_a_plugin_registered_under_the_entry_point_group_is_found_and_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = """
        from kubetune.search.base import Proposal, Suggestion

        class Middle:
            def __init__(self, space, settings):
                self.space, self.value = space, settings.get("value", 0.5)

            def suggest(self, request):
                return Proposal([Suggestion(self.space.from_unit([self.value] * len(self.space.dimensions)))])
    """
    _install_plugin(tmp_path, "kubetune_plugin_middle", body, "middle = kubetune_plugin_middle:Middle")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "kubetune_plugin_middle", raising=False)
    suggester = registry.create(
        Algorithm(name=AlgorithmName.PLUGIN, plugin="middle", plugin_settings={"value": 0.0}), SPACE
    )
    assert suggester.suggest(request(SPACE)).suggestions[0].params == {"x": 0.0, "epochs": 1}


def test_a_missing_plugin_is_a_one_line_search_error_naming_it() -> None:
    with pytest.raises(SearchError, match="no search algorithm plugin 'nowhere' is installed") as error:
        registry.create(Algorithm(name=AlgorithmName.PLUGIN, plugin="nowhere"), SPACE)
    assert "\n" not in str(error.value)


def test_a_plugin_that_fails_to_import_is_a_search_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_plugin(
        tmp_path, "kubetune_plugin_broken", "raise ImportError('needs torch')\n", "broken = kubetune_plugin_broken:X"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SearchError, match=r"'broken'.*failed to load: needs torch"):
        registry.create(Algorithm(name=AlgorithmName.PLUGIN, plugin="broken"), SPACE)


def test_a_plugin_that_fails_while_suggesting_is_a_search_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = """
        class Flaky:
            def __init__(self, space, settings):
                pass

            def suggest(self, request):
                raise ZeroDivisionError("division by zero in the plugin")
    """
    _install_plugin(tmp_path, "kubetune_plugin_flaky", body, "flaky = kubetune_plugin_flaky:Flaky")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "kubetune_plugin_flaky", raising=False)
    suggester = registry.create(Algorithm(name=AlgorithmName.PLUGIN, plugin="flaky"), SPACE)
    with pytest.raises(SearchError, match="plugin 'flaky' failed: division by zero in the plugin"):
        suggester.suggest(request(SPACE))
