"""What a failed trial's message quotes of its output, whichever executor ran it."""

from __future__ import annotations

from kubetune.engine import last_output, with_last_output


def test_a_progress_bar_shows_its_last_state_and_colours_are_dropped() -> None:
    text = "epoch 1: 10%\repoch 1: 100%\r\n\x1b[31mRuntimeError: boom\x1b[0m\r\n"
    assert last_output(text) == "epoch 1: 100% | RuntimeError: boom"


def test_the_message_names_where_the_full_log_is() -> None:
    where = "full log: kubectl logs -n ns job/t-0 -c train"
    assert with_last_output("Exited with code 3.", "a\nb\n", where) == (
        'Exited with code 3. Last output: "a | b" (full log: kubectl logs -n ns job/t-0 -c train).'
    )
