"""Stand-ins for docker, kind, helm and kubectl, to run e2e/run.sh's own logic where there is no Docker.

    python fake_cluster.py STATE_DIR TOOL ARGS...

The fakes answer the calls e2e/run.sh makes with a small, consistent cluster: an HPOTask that runs
and succeeds, its Trials, Jobs and Events, a Lease that moves when its holder is deleted, and the
real CRDs from crds/. What the script checks (jq expressions, bash logic, exit codes) runs for
real; STATE_DIR/calls.log records every call. Setting STATE_DIR/scenario to a word bends the
cluster so that one check must fail (see ``SCENARIOS``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "kubetune-e2e"
TASK = "digits-demo"
PODS = ["kubetune-5d9c7-aaaaa", "kubetune-5d9c7-bbbbb"]

# scenario -> what goes wrong
SCENARIOS = {
    "ok": "nothing",
    "failed-task": "the task ends Failed",
    "wrong-best": "status.bestTrial is not the best succeeded trial",
    "spec-touched": "a non-kubectl manager owns spec fields",
    "leftovers": "Trials survive the deletion of their task",
}


class State:
    """A JSON file that the fake tools share between calls."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "state.json"
        scenario_file = directory / "scenario"
        self.scenario = scenario_file.read_text().strip() if scenario_file.exists() else "ok"
        self.data: dict[str, Any] = (
            json.loads(self.path.read_text()) if self.path.exists() else {"polls": 0, "holder": PODS[0]}
        )

    def save(self) -> None:
        # Atomic: `kubectl create ... | kubectl apply -f -` runs two fakes at once.
        scratch = self.path.with_name(f"state.{os.getpid()}.json")
        scratch.write_text(json.dumps(self.data))
        os.replace(scratch, self.path)


def trials() -> list[dict[str, Any]]:
    objectives = [0.91, 0.97, 0.95]
    return [
        {
            "apiVersion": "kubetune.io/v1alpha1",
            "kind": "Trial",
            "metadata": {"name": f"{TASK}-{i}", "labels": {"kubetune.io/task": TASK}},
            "status": {"phase": "Succeeded", "objective": objective},
        }
        for i, objective in enumerate(objectives)
    ]


def task(state: State) -> dict[str, Any]:
    polls = state.data["polls"]
    phase = "Running" if polls < 2 else ("Failed" if state.scenario == "failed-task" else "Succeeded")
    best = 1 if state.scenario == "wrong-best" else 0  # index of the trial status.bestTrial names
    spec_owner = "kopf" if state.scenario == "spec-touched" else "kubectl-client-side-apply"
    return {
        "apiVersion": "kubetune.io/v1alpha1",
        "kind": "HPOTask",
        "metadata": {
            "name": TASK,
            "generation": 1,
            "managedFields": [
                {"manager": spec_owner, "operation": "Update", "fieldsV1": {"f:spec": {}}},
                {"manager": "kopf", "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {}}},
                {"manager": "kopf", "operation": "Update", "fieldsV1": {"f:metadata": {"f:annotations": {}}}},
            ],
        },
        "spec": {"budget": {"maxTrials": 16}},
        "status": {
            "phase": phase,
            "message": "Ran 3 trials." if phase != "Running" else "",
            "observedGeneration": 1,
            "progress": "3/16",
            "trials": {"total": 3, "succeeded": 3 if phase != "Running" else 1, "running": 0},
            "bestTrial": {
                "name": f"{TASK}-{best + 1}",
                "objective": [0.97, 0.95][best],
                "parameters": {"lr": 0.01, "alpha": 0.0001, "hidden": 64, "activation": "relu"},
            },
        },
    }


def crd(name: str) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load((ROOT / "crds" / f"kubetune.io_{name.partition('.')[0]}.yaml").read_text())
    return found


def column_header(kind: str) -> str:
    columns = [c["name"].upper() for c in crd(f"{kind}.kubetune.io")["spec"]["versions"][0]["additionalPrinterColumns"]]
    return "   ".join(["NAME", *columns])


def kubectl(state: State, args: list[str]) -> int:
    if args[:2] == ["--context", "kind-kubetune-e2e"]:
        args = args[2:]
    if args[:1] == ["-n"]:
        args = args[2:]
    deleted = state.data.get("deleted", False)
    verb, rest = args[0], args[1:]
    if verb == "apply" and "-" in args:
        sys.stdin.read()  # the real kubectl reads the whole manifest; leaving it unread breaks the writer's pipe
    if verb in ("rollout", "apply", "describe", "logs"):
        return 0
    if verb == "create":
        print(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}")
        return 0
    if verb == "delete":
        if rest[0] == "pod":
            state.data["holder"] = next(p for p in PODS if p != rest[1])
        if rest[0] == "hpotask":
            state.data["deleted"] = True
        return 0
    assert verb == "get", args
    what = rest[0]
    if what == "lease":
        print(f"{state.data['holder']}_0f6e", end="")
    elif what == "pods":
        print(" ".join(PODS), end="")
    elif what == "hpotask" and "--no-headers" in rest:
        print(f"{TASK}   Succeeded   0.97   3/16   0   5m")
    elif what == "hpotask":
        if deleted:
            print(f'Error from server (NotFound): hpotasks.kubetune.io "{TASK}" not found', file=sys.stderr)
            return 1
        state.data["polls"] += 1
        print(json.dumps(task(state)))
    elif what == "trial":
        objective = next(t["status"]["objective"] for t in trials() if t["metadata"]["name"] == rest[1])
        print(objective, end="")
    elif what == "trials" and "json" in rest:
        print(json.dumps({"items": trials()}))
    elif what in ("hpotasks", "trials") and "wide" in rest:
        print(column_header(what))
    elif what == "events":
        event = {"type": "Normal", "reason": "TrialCreated", "message": "Created 2 trials (2/16)"}
        print(json.dumps({"items": [event]}))
    elif what == "crd":
        print(json.dumps(crd(rest[1])))
    elif what == "jobs":
        print("\n".join(f"job.batch/{t['metadata']['name']}" for t in trials()))
    elif what == "trials,jobs,pods":
        if not deleted or state.scenario == "leftovers":
            print("\n".join(f"trial.kubetune.io/{t['metadata']['name']}" for t in trials()))
    else:
        print(f"fake kubectl: unexpected {args}", file=sys.stderr)
        return 2
    return 0


def main() -> int:
    directory, tool, args = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    with (directory / "calls.log").open("a") as log:
        log.write(" ".join([tool, *args]) + "\n")
    state = State(directory)
    try:
        if tool == "kubectl":
            return kubectl(state, args)
        if tool == "docker" and args[:1] == ["run"] and "python" in args:
            print("epoch=1 loss=0.2518 val_accuracy=0.9333\nepoch=2 loss=0.1559 val_accuracy=0.9574")
        if tool == "docker" and args[:1] == ["run"] and "--version" in args:
            print("kubetune 0.1.0")
        return 0  # docker build, kind, helm: nothing to check here
    finally:
        state.save()


if __name__ == "__main__":
    # Like the real tools: a reader that stops early (`| grep -q`) ends us quietly, not with a traceback.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
