"""The operator evaluates CEL conditions in worker processes bounded in time and memory: a runaway
expression is stopped with one line, and its worker's memory is not the operator's."""

from __future__ import annotations

import resource

from kubetune.executors.cel_sandbox import MEMORY_BUDGET, TIME_BUDGET, Verdict, judge


def test_an_evaluation_over_the_time_budget_is_stopped_with_one_line() -> None:
    # The issue's: 8 million steps over 200 items, about 320 s in the operator before.
    slow = "!object.spec.l.all(a, object.spec.l.all(b, object.spec.l.all(c, true)))"
    verdicts = judge([slow, "object.status.phase == 'Failed'"], {"spec": {"l": list(range(200))}, "status": {}})
    assert verdicts == (
        Verdict(error=f"its evaluation was stopped after the time budget of {TIME_BUDGET:g} s"),
        Verdict(error=f"its evaluation was stopped after the time budget of {TIME_BUDGET:g} s"),
    )
    # The next evaluation gets a fresh worker.
    assert judge(["object.status.phase == 'Failed'"], {"status": {"phase": "Failed"}}) == (Verdict(holds=True),)


def test_an_evaluation_over_the_memory_budget_is_stopped_and_the_operator_does_not_grow() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # The issue's: a 1 MB string copied for each of 1,500 items (2 GB), outside the static check.
    obj = {"spec": {"l": list(range(1500)), "s": "x" * 1_000_000}}
    (verdict,) = judge(["size(object.spec.l.map(a, object.spec.s + string(a))) == 0"], obj)
    assert verdict == Verdict(error=f"its evaluation was stopped: it needed more than {MEMORY_BUDGET // 2**20} MiB")
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    assert grown < 100 * 2**20, f"the operator's own peak grew by {grown / 2**20:.0f} MiB"


def test_an_absent_field_means_not_yet_and_any_other_error_is_said() -> None:
    verdicts = judge(
        ["object.status.phase == 'Succeeded'", "object.spec.x + 1 == 2", "object.spec.x"],
        {"spec": {"x": "a"}},
    )
    assert verdicts[0] == Verdict(holds=False)
    assert verdicts[1].error is not None and verdicts[1].error.startswith("its evaluation failed: found no matching")
    assert verdicts[2] == Verdict(error="its evaluation failed: its value is a StringType, not true or false")
