"""What can be checked here of the kind suite, the images and the CI workflows (no Docker here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import dockerfile as dockerfile_parser
import pytest
import yaml

from .chart import CHART, ROOT

BIN = Path(sys.executable).parent
SCRIPTS = sorted((ROOT / "e2e").glob("*.sh"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
METRIC_LINE = re.compile(
    r"^epoch=(\d+) loss=(\d+\.\d+) val_accuracy=(\d+\.\d+) params_k=(\d+\.\d+) seconds=(\d+\.\d+)$"
)


def _tool(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed: install the test extra (pip install -e '.[test]')"
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_e2e_script_passes_shellcheck(script: Path) -> None:
    result = subprocess.run(
        [_tool("shellcheck"), "--severity=style", "--shell=bash", "--external-sources", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout


def test_e2e_script_explains_itself_without_needing_docker() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "e2e" / "run.sh"), "--help"], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0
    assert "kind" in result.stdout
    assert "KEEP_CLUSTER" in result.stdout


def test_e2e_runs_the_trainer_image_the_demo_names_and_the_demo_task() -> None:
    script = (ROOT / "e2e" / "run.sh").read_text()
    demo = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())
    trainer = demo["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]

    assert f"TRAINER_IMAGE={trainer['image']} " in script
    assert f"TASK={demo['metadata']['name']} " in script
    assert trainer["command"] == ["python", "examples/trainer/train.py"]


def test_e2e_values_use_the_image_the_script_builds_and_loads() -> None:
    script = (ROOT / "e2e" / "run.sh").read_text()
    values = yaml.safe_load((ROOT / "e2e" / "values.yaml").read_text())

    assert f"OPERATOR_IMAGE={values['image']['repository']}:{values['image']['tag']}\n" in script
    assert values["image"]["pullPolicy"] == "Never"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_is_a_valid_github_actions_workflow(workflow: Path) -> None:
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_e2e_workflow_runs_the_e2e_script() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "e2e.yml").read_text())
    steps = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]

    assert "bash e2e/run.sh" in steps


def test_example_trainer_prints_one_metric_line_per_epoch(tmp_path: Path) -> None:
    # Run from a directory laid out like the image's /app, as the demo's command expects.
    (tmp_path / "examples" / "trainer").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "trainer" / "train.py", tmp_path / "examples" / "trainer" / "train.py")

    result = subprocess.run(
        [sys.executable, "-W", "error", "examples/trainer/train.py", "--lr=0.01", "--hidden=32", "--epochs=3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )

    lines = result.stdout.splitlines()
    matches = [METRIC_LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [int(m.group(1)) for m in matches if m] == [1, 2, 3]
    assert all(0 < float(m.group(3)) <= 1 for m in matches if m)


def test_trainer_requirements_pin_every_package_exactly() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "examples" / "trainer" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    names = {line.split("==")[0].lower() for line in lines}

    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", line) for line in lines), lines
    assert {"numpy", "scikit-learn"} <= names


def _instructions(dockerfile: Path) -> list[tuple[str, tuple[str, ...]]]:
    """The Dockerfile as Docker's own parser reads it (a syntax error raises)."""
    return [(command.cmd.upper(), command.value) for command in dockerfile_parser.parse_file(str(dockerfile))]


def _final_stage(dockerfile: Path) -> list[tuple[str, tuple[str, ...]]]:
    instructions = _instructions(dockerfile)
    start = max(i for i, (cmd, _) in enumerate(instructions) if cmd == "FROM")
    return instructions[start:]


DOCKERFILES = {"operator": ROOT / "Dockerfile", "trainer": ROOT / "examples" / "trainer" / "Dockerfile"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES.values(), ids=DOCKERFILES.keys())
def test_images_pin_their_python_base_and_run_as_the_non_root_user(dockerfile: Path) -> None:
    instructions = _instructions(dockerfile)
    base = next(value[0] for cmd, value in instructions if cmd == "ARG" and value[0].startswith("PYTHON_IMAGE="))
    final = _final_stage(dockerfile)
    env = dict(pair for cmd, value in final if cmd == "ENV" for pair in zip(value[::2], value[1::2], strict=True))

    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base)
    assert ("USER", ("65532:65532",)) in final
    assert env["HOME"] == "/tmp"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


@pytest.mark.parametrize("dockerfile", DOCKERFILES.values(), ids=DOCKERFILES.keys())
def test_images_copy_only_files_that_exist_in_the_build_context(dockerfile: Path) -> None:
    # Both images build with the repository root as their context.
    sources = [
        source
        for command in dockerfile_parser.parse_file(str(dockerfile))
        if command.cmd.upper() == "COPY" and not any(flag.startswith("--from") for flag in command.flags)
        for source in command.value[:-1]
    ]

    assert sources
    assert [source for source in sources if not (ROOT / source).exists()] == []


def test_operator_image_runs_the_kubetune_operator_command() -> None:
    final = _final_stage(ROOT / "Dockerfile")

    assert ("ENTRYPOINT", ("kubetune",)) in final
    assert ("CMD", ("operator", "--all-namespaces")) in final
    assert ("EXPOSE", ("8080", "9090")) in final


def test_trainer_image_puts_the_trainer_where_the_demo_runs_it() -> None:
    final = _final_stage(ROOT / "examples" / "trainer" / "Dockerfile")

    assert ("WORKDIR", ("/app",)) in final
    assert ("COPY", ("examples/trainer/train.py", "examples/trainer/train.py")) in final


def test_install_doc_gives_the_helm_command_for_the_chart() -> None:
    install = (ROOT / "docs" / "install.md").read_text()

    assert "helm install kubetune charts/kubetune" in install
    assert "--set 'watchNamespaces={team-a,team-b}'" in install
    assert CHART.joinpath("Chart.yaml").exists()


def test_operator_image_ships_the_operator_and_not_the_benchmarks() -> None:
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()]
    copied = [
        command.value[:-1]
        for command in dockerfile_parser.parse_file(str(ROOT / "Dockerfile"))
        if command.cmd.upper() == "COPY" and not any(flag.startswith("--from") for flag in command.flags)
    ]
    # Everything is left out of the build context unless re-included, and benchmarks/ never is.
    assert next(line for line in ignored if not line.startswith("#")) == "*"
    assert not any(line.startswith("!benchmarks") or line.startswith("!tests") for line in ignored)
    assert [source for sources in copied for source in sources if source.startswith("benchmarks")] == []
    assert (ROOT / "benchmarks" / "__init__.py").is_file()
    assert not (ROOT / "operator" / "kubetune" / "bench").exists()
