"""Every finished phase ends a task's daemon on a cluster: the phase sets have one definition.

Kopf keeps kubetune's finalizer on a task only while its daemon's filter matches. A task that has
ended for good (Succeeded, Failed or Stopped) must lose it, so that deleting it later needs no
operator. A Stopped task used to keep both (the filter listed the finished phases by hand).
"""

from __future__ import annotations

from kubetune import names
from kubetune.api import TaskPhase
from kubetune.cli import main
from tests.kube import Kube

from .conftest import RunOperator, phase, quadratic, task_manifest


def test_a_stopped_task_loses_its_daemon_and_finalizer(cluster: Kube, operator: RunOperator) -> None:
    cluster.behaviour = quadratic
    manifest = task_manifest("halted", budget={"maxTrials": 6, "parallelTrials": 1})
    container = manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["args"] += ["--epochs=40", "--sleep=0.1"]  # four seconds a trial: the stop comes first
    with operator():
        cluster.create(manifest)
        cluster.wait_for(lambda: len(cluster.list("jobs")) == 1, timeout=20)
        assert cluster.get("hpotasks", "halted")["metadata"].get("finalizers") == [f"{names.GROUP}/finalizer"]
        assert main(["stop", "hpo/halted", "--force"]) == 0
        cluster.wait_for(lambda: phase(cluster, "halted") == TaskPhase.STOPPED, timeout=20)
        cluster.wait_for(lambda: not cluster.get("hpotasks", "halted")["metadata"].get("finalizers"), timeout=10)
    # No operator runs now: deleting the stopped task must not hang in Terminating.
    cluster.delete("hpotasks", "halted")
    cluster.wait_gone("hpotasks", "halted", timeout=5)
