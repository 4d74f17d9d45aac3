"""hyperband: bracket arithmetic, promotion of the best 1/eta, waiting on running rungs, exhaustion."""

from __future__ import annotations

from collections import deque

import pytest

from kubetune.api import Parameter
from kubetune.search.base import Observation, Pending, Proposal, TrialState
from kubetune.search.hyperband import TAG_BRACKET, TAG_CONFIG, TAG_PARENT, TAG_RUNG, Hyperband, plan

from .helpers import request, space_of

SPACE = space_of(Parameter(name="x", min=0, max=1), Parameter(name="epochs", type="int", min=1, max=27))


def sizes(min_resource: float, max_resource: float, eta: int) -> list[list[tuple[int, float]]]:
    return [[(r.size, r.resource) for r in rungs] for rungs in plan(min_resource, max_resource, eta)]


def test_brackets_for_eta_3_and_r_27() -> None:
    assert sizes(1, 27, 3) == [
        [(27, 1), (9, 3), (3, 9), (1, 27)],
        [(12, 3), (4, 9), (1, 27)],
        [(6, 9), (2, 27)],
        [(4, 27)],
    ]


def test_brackets_for_eta_3_and_r_81_match_the_hyperband_paper() -> None:
    assert [[n for n, _ in rungs] for rungs in sizes(1, 81, 3)] == [
        [81, 27, 9, 3, 1],
        [34, 11, 3, 1],
        [15, 5, 1],
        [8, 2],
        [5],
    ]


def test_brackets_scale_with_the_minimum_resource_and_other_etas() -> None:
    assert sizes(10, 80, 2) == [
        [(8, 10), (4, 20), (2, 40), (1, 80)],
        [(6, 20), (3, 40), (1, 80)],
        [(4, 40), (2, 80)],
        [(4, 80)],
    ]


def run(hyperband: Hyperband, workers: int) -> tuple[list[Observation], list[Proposal]]:
    """Run a whole hyperband with ``workers`` parallel trials; trials finish in start order."""
    history: list[Observation] = []
    running: deque[Pending] = deque()
    proposals = []
    index = 0
    while True:
        proposal = hyperband.suggest(request(SPACE, history, list(running), count=workers - len(running), seed=1))
        proposals.append(proposal)
        for s in proposal.suggestions:
            running.append(Pending(index, s.params, s.resource, s.tags))
            index += 1
        if not running:
            return history, proposals
        done = running.popleft()
        x = done.params["x"]
        assert isinstance(x, float) and done.resource is not None
        # config 5 of each bracket always fails; otherwise more epochs help and x near 0.2 is best.
        failed = done.tags[TAG_CONFIG] == 5
        loss = None if failed else abs(x - 0.2) + 1 / done.resource
        state = TrialState.FAILED if failed else TrialState.COMPLETE
        history.append(Observation(done.index, done.params, state, loss, done.resource, done.tags))
        history.sort(key=lambda o: o.index)


def test_a_whole_hyperband_runs_every_planned_trial_and_promotes_the_best_third() -> None:
    hyperband = Hyperband(SPACE, "epochs", eta=3)
    history, proposals = run(hyperband, workers=5)
    assert len(history) == 27 + 9 + 3 + 1 + 12 + 4 + 1 + 6 + 2 + 4
    assert proposals[-1].exhausted and proposals[-1].suggestions == []
    by_index = {o.index: o for o in history}
    for bracket in plan(1, 27, 3):
        for rung in bracket[1:]:
            members = [o for o in history if (o.tags[TAG_BRACKET], o.tags[TAG_RUNG]) == (rung.bracket, rung.rung)]
            previous = [o for o in history if (o.tags[TAG_BRACKET], o.tags[TAG_RUNG]) == (rung.bracket, rung.rung - 1)]
            ranked = sorted(previous, key=lambda o: (o.value if o.value is not None else float("inf"), o.index))
            assert {o.tags[TAG_CONFIG] for o in members} == {o.tags[TAG_CONFIG] for o in ranked[: rung.size]}
            for member in members:
                parent = by_index[int(member.tags[TAG_PARENT])]
                assert member.params == {**parent.params, "epochs": member.params["epochs"]}
                assert member.params["epochs"] == round(rung.resource) == member.resource
                assert type(member.params["epochs"]) is int


def test_failed_trials_rank_last_and_are_not_promoted_over_completed_ones() -> None:
    history, _ = run(Hyperband(SPACE, "epochs", eta=3), workers=3)
    promoted = [o for o in history if o.tags[TAG_RUNG] == 1 and o.tags[TAG_BRACKET] == 3]
    assert 5 not in {o.tags[TAG_CONFIG] for o in promoted}


def test_hyperband_waits_while_a_rung_is_running_and_says_why() -> None:
    space = space_of(Parameter(name="x", min=0, max=1), Parameter(name="epochs", min=1.0, max=3.0))
    hyperband = Hyperband(space, "epochs", eta=3)
    first = hyperband.suggest(request(space, count=10))
    # Bracket 1 starts 3 configurations at 1 epoch; bracket 0 starts 2 at 3 epochs.
    assert [(s.tags[TAG_BRACKET], s.resource) for s in first.suggestions] == [(1, 1.0)] * 3 + [(0, 3.0)] * 2
    assert not first.exhausted
    pending = [Pending(i, s.params, s.resource, s.tags) for i, s in enumerate(first.suggestions)]
    waiting = hyperband.suggest(request(space, pending=pending, count=4))
    assert waiting.suggestions == [] and not waiting.exhausted
    assert "waits for 3 of the 3 trials of rung 0" in waiting.reason
    history = [
        Observation(p.index, p.params, TrialState.COMPLETE, float(v), p.resource, p.tags)
        for p, v in zip(pending, [3, 1, 2, 5, 4], strict=True)
    ]
    last = hyperband.suggest(request(space, history, count=4))
    assert len(last.suggestions) == 1 and last.exhausted
    promotion = last.suggestions[0]
    assert promotion.tags[TAG_PARENT] == 1 and promotion.resource == 3.0
    assert promotion.params == {**history[1].params, "epochs": 3.0}


def test_hyperband_rejects_a_categorical_resource() -> None:
    space = space_of(Parameter(name="c", type="categorical", values=[1, 2]))
    with pytest.raises(Exception, match="resource"):
        Hyperband(space, "c").suggest(request(space))


def test_eta_need_not_be_whole_as_in_ibms_experiments() -> None:
    brackets = plan(1, 27, 2.027)
    assert [r.size for r in brackets[0]] == [17, 8, 4, 2, 1]  # ceil(5 / 5 * 2.027**4), then each / eta
    assert brackets[0][0].resource == pytest.approx(27 / 2.027**4) and brackets[0][-1].resource == 27
    assert [rungs[-1].resource for rungs in brackets] == [27] * 5
    history, _ = run(Hyperband(SPACE, "epochs", 2.027), workers=3)
    assert len(history) == sum(r.size for rungs in brackets for r in rungs)


def test_a_task_takes_a_fractional_eta() -> None:
    from kubetune.api import AlgorithmName, parse_task  # noqa: PLC0415
    from kubetune.api.algorithms import HyperbandSettings  # noqa: PLC0415

    from ..engine.conftest import task_manifest  # noqa: PLC0415

    manifest = task_manifest(
        algorithm={"name": "hyperband", "settings": {"resourceParameter": "layers", "eta": 2.027}},
        parameters=[
            {"name": "lr", "type": "double", "min": 0.01, "max": 1},
            {"name": "layers", "type": "int", "min": 1, "max": 27},
        ],
    )
    task = parse_task(manifest)
    assert task.spec.algorithm.name is AlgorithmName.HYPERBAND
    assert task.spec.algorithm.settings_as(HyperbandSettings).eta == 2.027
