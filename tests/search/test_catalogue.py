"""``kubetune algorithms``: every built-in algorithm with its settings and defaults, and installed plugins."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from kubetune.api import SETTINGS, AlgorithmName
from kubetune.cli import main
from kubetune.search.registry import catalogue

from .test_registry import _install_plugin


def test_every_built_in_algorithm_is_listed_with_its_models_settings_and_defaults() -> None:
    listed = {item.name: item for item in catalogue() if item.kind == "built-in"}
    assert set(listed) == {str(n) for n in AlgorithmName} - {"plugin"}
    tpe = {s.name: s for s in listed["tpe"].settings}
    assert (tpe["nInitialPoints"].default, tpe["nInitialPoints"].type) == (10, "integer (1..1000)")
    bayesian = {s.name: s for s in listed["bayesian"].settings}
    assert bayesian["backend"].default == "skopt" and bayesian["backend"].type == "optuna-gp | skopt"
    for name, item in listed.items():  # the model is the single source: nothing restated elsewhere
        model = SETTINGS[AlgorithmName(name)]
        assert [s.default for s in item.settings] == [
            getattr(model(), field) if model.model_fields[field].default is not None else None
            for field in model.model_fields
        ]


def test_an_installed_plugin_is_listed_with_its_entry_point_and_description(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = '''
        class Halving:
            """Successive halving over a fixed ladder.

            Settings: rungs (default 4).
            """
    '''
    _install_plugin(tmp_path, "kubetune_plugin_halving", body, "halving = kubetune_plugin_halving:Halving")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "kubetune_plugin_halving", raising=False)

    assert main(["algorithms"]) == 0
    text = capsys.readouterr().out
    assert "halving  [plugin] (kubetune_plugin_halving:Halving)\n    Successive halving over a fixed ladder.\n" in text
    assert "use: algorithm: {name: plugin, plugin: halving, pluginSettings: {...}}" in text
    assert "    settings.historyWindow: integer (10..100000) = 100\n" in text
    assert "    settings.backend: optuna-gp | skopt = skopt\n" in text

    assert main(["algorithms", "-o", "json"]) == 0
    listed = {item["name"]: item for item in json.loads(capsys.readouterr().out)}
    assert listed["halving"]["kind"] == "plugin" and listed["halving"]["source"] == "kubetune_plugin_halving:Halving"
    assert {s["name"]: s["default"] for s in listed["sobol"]["settings"]} == {"scramble": True}


def test_without_plugins_it_says_how_one_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["algorithms"]) == 0
    assert "no plugin algorithms are installed" in capsys.readouterr().out
