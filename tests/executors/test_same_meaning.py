"""A parameter value reaches a local trainer exactly as written, ``$(VAR)`` and ``$$`` included."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.executors.test_local import manifest, run, trials_of

# What the trainer saw of its argument and its environment, written where the test can read it.
SEEN = (
    "import json, os, sys; "
    "seen = {'arg': sys.argv[1], 'env': os.environ['KUBETUNE_PARAM_TAG']}; "
    "open(os.path.join(os.environ['SEEN_DIR'], os.environ['KUBETUNE_TRIAL']), 'w').write(json.dumps(seen)); "
    "print('loss=1.0')"
)

TAGS = ["$(KUBETUNE_TASK)", "cost$$5", "$(", "plain$"]


def test_dollar_parentheses_in_a_parameter_reach_the_local_trainer_literally(
    tmp_path: Path,
) -> None:
    seen = tmp_path / "seen"
    seen.mkdir()
    task = manifest(
        "dollars",
        algorithm={"name": "experiments", "experiments": [{"tag": tag} for tag in TAGS]},
        parameters=[{"name": "tag", "type": "categorical", "values": TAGS}],
        budget={"maxTrials": len(TAGS), "parallelTrials": 1},
    )
    container = task["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container.update(command=[sys.executable, "-c", SEEN], args=["${params.tag}"])
    container["env"] = [{"name": "SEEN_DIR", "value": str(seen)}]
    code, state = run(tmp_path, task)
    assert code == 0
    for trial in trials_of(state):
        tag = trial["spec"]["parameters"]["tag"]
        assert json.loads((seen / trial["metadata"]["name"]).read_text()) == {"arg": tag, "env": tag}
