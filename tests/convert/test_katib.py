"""`kubetune convert`: Katib Experiments (fixtures written from Katib's documented format) become
valid HPOTasks that search as the Experiment did, with every change said at its field."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.api import load_task
from kubetune.cli import main
from kubetune.convert import TRIAL_KINDS, TrialKind, convert
from kubetune.convert.katib import pod_containers
from kubetune.errors import InvalidSpec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "katib"


def run_convert(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, *extra: str
) -> tuple[dict[str, Any], str, str]:
    """Convert a fixture with the CLI; return the HPOTask, its text and stderr."""
    out = tmp_path / "task.yaml"
    code = main(["convert", str(FIXTURES / name), "-o", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 0, err
    assert main(["validate", str(out)]) == 0
    text = out.read_text()
    load_task(out)  # the written file loads as one valid HPOTask
    return yaml.safe_load(text), text, err


def comment_above(text: str, key: str) -> str:
    """The comment lines right above the first line that starts with ``key:`` (or ``- key:``)."""
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if re.match(rf"^\s*(- )?{re.escape(key)}(:|$)", line))
    above = []
    for line in reversed(lines[:index]):
        if not line.strip().startswith("#"):
            break
        above.insert(0, line.strip().lstrip("# "))
    return " ".join(above)


def test_a_job_experiment_converts_with_katib_defaults_written_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    task, text, err = run_convert(capsys, tmp_path, "full-job.yaml")
    spec = task["spec"]
    objective = spec["objective"]
    assert (objective["metric"], objective["direction"], objective["aggregation"]) == (
        "val-accuracy",
        "maximize",
        "max",
    )
    assert objective["metricAggregations"] == {"train-loss": "min", "epoch-seconds": "last"}
    assert spec["algorithm"] == {"name": "tpe", "seed": 7, "settings": {"multivariate": True, "nInitialPoints": 5}}
    assert spec["budget"] == {"maxTrials": 100000, "parallelTrials": 3, "maxFailedTrials": 3}
    assert spec["earlyStopping"] == {"rule": "katibMedian", "minTrials": 3, "startStep": 4}
    params = {p["name"]: p for p in spec["parameters"]}
    assert params["learning_rate"]["scale"] == "log"
    assert params["batch_size"] == {"name": "batch_size", "type": "categorical", "values": [16, 32, 64]}
    assert params["dropout"]["distribution"] == "normal"
    assert params["dropout"]["mean"] == pytest.approx(0.3)
    assert params["dropout"]["sigma"] == pytest.approx(0.4 / 6)
    container = spec["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][2:] == [
        "--lr=${params.learning_rate}",
        "--batch-size=${params.batch_size}",
        "--optimizer=${params.optimizer}",
        "--dropout=${params.dropout}",
        "--run-name=$(KATIB_TRIAL_NAME)",
    ]
    # The downward API variable that $(KATIB_TRIAL_NAME) expands comes first: Kubernetes expands
    # only variables defined before the reference.
    assert container["env"] == [
        {"name": "KATIB_TRIAL_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['kubetune.io/trial']"}}},
        {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "TEAM", "value": "vision"},
    ]
    assert spec["trialTemplate"]["metadata"] == {"labels": {"team": "vision"}}
    assert spec["trialTemplate"]["primaryContainer"] == "trainer"
    # Changes of meaning: a comment at the field and one line on stderr, naming the Katib field.
    assert "spec.maxTrialCount: unset (no limit in Katib)" in comment_above(text, "maxTrials")
    assert "resumePolicy: LongRunning is dropped" in comment_above(text, "maxTrials")
    assert "'learning-rate' becomes 'learning_rate'" in comment_above(text, "name: learning_rate")
    assert "discrete becomes categorical" in comment_above(text, "type: categorical")
    assert "Katib fails the Experiment once 4 trials have failed" in comment_above(text, "maxFailedTrials")
    assert "start_step 4" in comment_above(text, "rule")
    lines = err.splitlines()
    assert all(line.startswith(f"{FIXTURES / 'full-job.yaml'}: spec.") for line in lines)
    assert any("spec.resumePolicy: LongRunning is dropped" in line for line in lines)
    assert any("spec.parameters[1].parameterType: discrete becomes categorical" in line for line in lines)
    # Katib's own defaults written out are comments only: they change nothing.
    assert not any("parallelTrialCount" in line or "defaults written out" in line for line in lines)


def test_hyperband_r_l_and_eta_become_the_resource_parameter_bounds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    task, text, _ = run_convert(capsys, tmp_path, "hyperband.yaml")
    spec = task["spec"]
    assert spec["algorithm"] == {"name": "hyperband", "settings": {"resourceParameter": "num_epochs", "eta": 3}}
    epochs = next(p for p in spec["parameters"] if p["name"] == "num_epochs")
    assert (epochs["min"], epochs["max"]) == (1, 27)  # 27 * 3**-3 .. 27
    assert "r_l=27, eta=3" in comment_above(text, "min: 1")
    assert "maxFailedTrials" not in spec["budget"]  # Katib has no limit without maxFailedTrialCount either


def test_a_configmap_trial_template_is_inlined_from_the_configmap_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    task, _, _ = run_convert(
        capsys, tmp_path, "configmap-template.yaml", "--configmap", str(FIXTURES / "trial-templates.yaml")
    )
    container = task["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "train.py", "--lr=${params.lr}"]
    assert task["spec"]["algorithm"] == {
        "name": "bayesian",
        "seed": 3,
        "settings": {"backend": "skopt", "nInitialPoints": 10, "acquisitionFunction": "EI"},
    }


def test_a_configmap_template_without_its_file_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(FIXTURES / "configmap-template.yaml")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "spec.trialTemplate.configMap: the trial template is in ConfigMap kubeflow/my-templates" in err[0]
    assert "--configmap FILE" in err[0]


def test_spaced_metric_names_and_a_katib_filter_become_regex_patterns(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    task, _, _ = run_convert(capsys, tmp_path, "spaced-metrics.yaml")
    collector = task["spec"]["metricsCollector"]
    assert collector["format"] == "regex"
    by_metric = {p["metric"]: re.compile(p["regex"]) for p in collector["patterns"]}
    line = "[10] valid_1 auc : 0.8125 valid_1 binary_logloss : 0.4375"
    found = {m: [x.group(1) for x in r.finditer(line)] for m, r in by_metric.items()}
    assert found == {"valid_1 auc": ["0.8125"], "valid_1 binary_logloss": ["0.4375"]}


def test_an_argo_workflow_converts_with_its_gjson_conditions_in_cel(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    task, text, _ = run_convert(capsys, tmp_path, "argo-workflow.yaml")
    template = task["spec"]["trialTemplate"]
    assert (template["apiVersion"], template["kind"]) == ("argoproj.io/v1alpha1", "Workflow")
    assert template["successCondition"] == "has(object.status.phase) && object.status.phase == 'Succeeded'"
    assert template["failureCondition"] == "has(object.status.phase) && object.status.phase == 'Failed'"
    assert template["primaryPodLabels"] == {"example.com/stage": "train"}
    assert template["primaryContainer"] == "main"
    [_, prepare, train] = template["spec"]["templates"]
    assert train["container"]["command"] == ["python", "train.py", "--lr=${params.learning_rate}"]
    assert prepare["script"]["source"] == 'print("loss=99 from preparation, not the metric")\n'
    assert "workloadKinds lists it ({group: argoproj.io, kind: Workflow" in " ".join(text.replace("#", " ").split())


def test_a_tekton_pipelinerun_converts_with_parameters_in_its_steps(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    task, _, _ = run_convert(capsys, tmp_path, "tekton-pipelinerun.yaml")
    template = task["spec"]["trialTemplate"]
    assert template["successCondition"].endswith("x.type == 'Succeeded' && has(x.status) && x.status == 'True')")
    assert template["failureCondition"].endswith("x.type == 'Succeeded' && has(x.status) && x.status == 'False')")
    assert (template["primaryPodLabels"], template["primaryContainer"]) == (
        {"tekton.dev/pipelineTask": "train"},
        "step-fit",
    )
    [step] = template["spec"]["pipelineSpec"]["tasks"][1]["taskSpec"]["steps"]
    assert step["args"] == ["--lr=${params.lr}"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"successCondition": "status.phase"}, "spec.trialTemplate.successCondition", "has no #(...) query"),
        ({"failureCondition": None}, "spec.trialTemplate.failureCondition", "is required for a Workflow"),
        ({"primaryPodLabels": None}, "spec.trialTemplate.primaryPodLabels", "is required for a Workflow"),
        (
            {
                "trialParameters": [
                    {"name": "lr", "reference": "learning-rate"},
                    {"name": "unused", "reference": "learning-rate"},
                ]
            },
            "spec.trialTemplate.trialParameters[1].name",
            "never uses ${trialParameters.unused} (Katib refuses this too)",
        ),
    ],
)
def test_a_workflow_experiment_kubetune_cannot_run_as_katib_would_is_refused_in_one_line(
    change: dict[str, Any], field: str, words: str
) -> None:
    doc = yaml.safe_load((FIXTURES / "argo-workflow.yaml").read_text())
    template = doc["spec"]["trialTemplate"]
    for key, value in change.items():
        if value is None:
            del template[key]
        else:
            template[key] = value
    with pytest.raises(InvalidSpec) as caught:
        convert(doc)
    [problem] = caught.value.problems
    assert problem.path == field
    assert words in problem.message


def test_a_pytorchjob_converts_with_parameters_in_every_replica(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = yaml.safe_load((FIXTURES / "pytorchjob.yaml").read_text())
    replicas = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["pytorchReplicaSpecs"]
    replicas["Worker"] = copy.deepcopy(replicas["Master"]) | {"replicas": 2}
    doc["spec"]["trialTemplate"]["primaryPodLabels"] = {"training.kubeflow.org/job-role": "master"}
    template = convert(doc).manifest["spec"]["trialTemplate"]
    assert (template["apiVersion"], template["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    for role in ("Master", "Worker"):
        command = template["spec"]["pytorchReplicaSpecs"][role]["template"]["spec"]["containers"][0]["command"]
        assert command == ["python", "ddp.py", "--lr=${params.lr}"]
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "task.yaml"
    assert main(["convert", str(path), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["validate", str(out)]) == 0


def experiment(**spec: Any) -> dict[str, Any]:
    base = yaml.safe_load((FIXTURES / "hyperband.yaml").read_text())
    base["spec"].update(spec)
    return base


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"algorithm": {"algorithmName": "pbt"}}, "spec.algorithm.algorithmName", "population-based training"),
        ({"nasConfig": {}}, "spec.nasConfig", "neural architecture search"),
        (
            {
                "metricsCollectorSpec": {
                    "collector": {"kind": "File"},
                    "source": {"fileSystemPath": {"path": "metrics.log"}},
                }
            },
            "spec.metricsCollectorSpec.source.fileSystemPath.path",
            "absolute file path",
        ),
        (
            {"earlyStopping": {"algorithmName": "medianstop", "algorithmSettings": [{"name": "x", "value": "1"}]}},
            "spec.earlyStopping.algorithmSettings[x]",
            "medianstop",
        ),
        ({"surprise": 1}, "spec.surprise", "is not a Katib v1beta1 Experiment field"),
    ],
)
def test_what_kubetune_cannot_express_is_refused_with_the_katib_field(
    change: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        convert(experiment(**change))
    [problem] = caught.value.problems
    assert problem.path == field
    assert words in problem.message


def test_a_file_collector_with_early_stopping_follows_the_file_while_trials_run() -> None:
    doc = experiment(
        metricsCollectorSpec={
            "collector": {"kind": "File"},
            "source": {"fileSystemPath": {"path": "/var/log/katib/metrics.json", "format": "JSON"}},
        },
        earlyStopping={"algorithmName": "medianstop"},
    )
    out = convert(doc)
    assert out.manifest["spec"]["metricsCollector"] == {
        "source": "file",
        "path": "/var/log/katib/metrics.json",
        "follow": True,
        "format": "json",
    }
    assert [n for n in out.notes if n.changed and "metricsCollector" in n.at] == [], "nothing lost: no stderr line"


def test_a_tensorflow_event_collector_follows_the_event_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    task, _, err = run_convert(capsys, tmp_path, "tfevent-tfjob.yaml")
    assert task["spec"]["metricsCollector"] == {
        "source": "file",
        "path": "/train-logs/test",
        "format": "tfevent",
        "follow": True,
    }
    assert "kubetune names each scalar by its tag, after the subdirectory" in err


def test_a_leftover_trial_parameter_outside_command_args_and_env_is_refused() -> None:
    doc = experiment()
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "registry.example/resnet:${trialParameters.lr}"
    with pytest.raises(InvalidSpec) as caught:
        convert(doc)
    [problem] = caught.value.problems
    assert problem.path == "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].image"
    assert "only in a container's command, args and env values" in problem.message


def test_maximize_without_strategies_aggregates_every_metric_by_max() -> None:
    doc = experiment(objective={"type": "maximize", "objectiveMetricName": "acc", "additionalMetricNames": ["loss"]})
    objective = convert(doc).manifest["spec"]["objective"]
    assert (objective["aggregation"], objective["metricAggregations"]) == ("max", {"loss": "max"})


@pytest.mark.parametrize(("katib", "kubetune"), [(0, 0), (1, 0), (5, 4)])
def test_a_failure_limit_of_n_becomes_n_minus_one(katib: int, kubetune: int) -> None:
    # Katib fails once failed >= N with at least one failure, so 0 and 1 both mean "at the first".
    assert convert(experiment(maxFailedTrialCount=katib)).manifest["spec"]["budget"]["maxFailedTrials"] == kubetune


def test_supporting_another_trial_kind_is_one_table_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    def containers(trial_spec: Mapping[str, Any]) -> list[tuple[str | int, ...]]:
        roles = trial_spec["spec"]["replicas"]
        return [p for role in roles for p in pod_containers(trial_spec, ("spec", "replicas", role, "template", "spec"))]

    kind = TrialKind(containers, lambda trial_spec: dict(trial_spec["spec"]), ("", ""))
    monkeypatch.setitem(TRIAL_KINDS, ("example.com/v1", "Trainer"), kind)
    doc = yaml.safe_load((FIXTURES / "pytorchjob.yaml").read_text())
    master = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["pytorchReplicaSpecs"]["Master"]
    doc["spec"]["trialTemplate"]["trialSpec"] = {
        "apiVersion": "example.com/v1",
        "kind": "Trainer",
        "spec": {"replicas": {"Master": master, "Worker": copy.deepcopy(master)}},
    }
    spec = convert(doc).manifest["spec"]["trialTemplate"]["spec"]
    for role in ("Master", "Worker"):
        command = spec["replicas"][role]["template"]["spec"]["containers"][0]["command"]
        assert command == ["python", "ddp.py", "--lr=${params.lr}"]


def test_what_the_converted_task_cannot_read_is_said_at_the_kubetune_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = yaml.safe_load((FIXTURES / "spaced-metrics.yaml").read_text())
    del doc["spec"]["metricsCollectorSpec"]  # Katib's default filter cannot read 'valid_1 auc' either
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main(["convert", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[0] == (
        f"{path}: converted spec.objective.metric: 'valid_1 auc' holds a space, which the keyValue format "
        "cannot read (it reads name=value); set metricsCollector.format to json or regex"
    )


def hyperband(**settings: str) -> dict[str, Any]:
    doc = experiment()
    doc["spec"]["algorithm"]["algorithmSettings"] = [{"name": k, "value": v} for k, v in settings.items()]
    return doc


@pytest.mark.parametrize(
    ("settings", "bounds"),
    [
        ({"resource_name": "num-epochs", "r_l": "2", "eta": "2"}, (1, 2)),  # Katib's own example
        ({"resource_name": "num-epochs", "r_l": "10", "eta": "3"}, (1, 10)),  # 10 / 9 budgets round down
        ({"resource_name": "num-epochs", "r_l": "81"}, (1, 81)),  # eta defaults to 3
    ],
)
def test_hyperband_budget_ladders_match_katibs(settings: dict[str, str], bounds: tuple[int, int]) -> None:
    parameters = convert(hyperband(**settings)).manifest["spec"]["parameters"]
    epochs = next(p for p in parameters if p["name"] == "num_epochs")
    assert (epochs["min"], epochs["max"]) == bounds


def test_hyperband_with_a_single_budget_is_refused() -> None:
    with pytest.raises(InvalidSpec) as caught:
        convert(hyperband(resource_name="num-epochs", r_l="2", eta="3"))
    [problem] = caught.value.problems
    assert problem.path == "spec.algorithm.algorithmSettings[r_l]"
    assert "must be at least eta (3)" in problem.message


def test_the_written_manifest_means_to_kubectl_what_it_says() -> None:
    from kubetune.api.kubeyaml import load_documents  # noqa: PLC0415
    from kubetune.convert.katib import Conversion  # noqa: PLC0415
    from kubetune.convert.output import render  # noqa: PLC0415

    # ruamel writes YAML 1.2, where a bare `on` is text; kubectl reads it as the boolean true.
    manifest = {"spec": {"parameters": [{"name": "y", "type": "categorical", "values": ["on", "no", "0777", "x"]}]}}
    text = render(Conversion(manifest))
    assert load_documents(text)[0].obj == manifest


def test_katibs_file_collector_becomes_the_file_source() -> None:
    source = {"fileSystemPath": {"path": "/katib/metrics.json", "kind": "File", "format": "JSON"}}
    doc = experiment(metricsCollectorSpec={"collector": {"kind": "File"}, "source": source})
    doc["spec"].pop("earlyStopping", None)
    converted = convert(doc)
    collector = converted.manifest["spec"]["metricsCollector"]
    assert collector == {"source": "file", "path": "/katib/metrics.json", "format": "json"}
    assert any(n.changed and "termination message" in n.message for n in converted.notes)


def configmap_with_template(template: str) -> dict[str, Any]:
    """trial-templates.yaml with its job.yaml replaced by ``template``."""
    configmap = yaml.safe_load((FIXTURES / "trial-templates.yaml").read_text())
    configmap["data"]["job.yaml"] = template
    return configmap


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    ("template", "words"),
    [
        (ALIAS_BOMB, "YAML aliases"),
        ("[" * 20000 + "]" * 20000, "nests deeper than 64 levels"),
        ("apiVersion: batch/v1\nkind: Job\nspec: {a: 1\n", "is not valid YAML"),
        ("apiVersion: batch/v1\n---\nkind: Job\n", "must hold one YAML document, holds 2"),
    ],
)
def test_a_configmap_template_is_read_within_the_yaml_limits_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, template: str, words: str
) -> None:
    configmaps = tmp_path / "configmaps.yaml"
    configmaps.write_text(yaml.safe_dump(configmap_with_template(template)))
    code = main(["convert", str(FIXTURES / "configmap-template.yaml"), "--configmap", str(configmaps)])
    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(err) == 1, err
    assert "spec.trialTemplate.configMap.templatePath: job.yaml in ConfigMap my-templates" in err[0]
    assert words in err[0]


def test_a_configmap_template_with_a_date_converts_as_kubectl_reads_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    configmap = configmap_with_template("")
    template = yaml.safe_load(yaml.safe_load((FIXTURES / "trial-templates.yaml").read_text())["data"]["job.yaml"])
    template["metadata"] = {"annotations": {"created": "DATE"}}
    configmap["data"]["job.yaml"] = yaml.safe_dump(template).replace("DATE", "2024-01-01")
    assert "created: 2024-01-01\n" in configmap["data"]["job.yaml"]
    (tmp_path / "configmaps.yaml").write_text(yaml.safe_dump(configmap))
    task, _, _ = run_convert(
        capsys, tmp_path, "configmap-template.yaml", "--configmap", str(tmp_path / "configmaps.yaml")
    )
    assert task["spec"]["trialTemplate"]["metadata"]["annotations"] == {"created": "2024-01-01T00:00:00Z"}
