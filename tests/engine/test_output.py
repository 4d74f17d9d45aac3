"""What a failed trial's message shows of its output."""

from __future__ import annotations

from kubetune.engine.output import MESSAGE_BYTES, TAIL_BYTES, failure_message, last_output


def test_the_last_five_non_blank_lines_are_shown_on_one_line() -> None:
    text = "".join(f"line {i}\n\n" for i in range(10))
    assert last_output(text) == "line 5 ⏎ line 6 ⏎ line 7 ⏎ line 8 ⏎ line 9"


def test_long_output_keeps_its_end_within_the_byte_bound() -> None:
    text = "é" * 5000 + " the real error\n"
    tail = last_output(text)
    assert len(tail.encode()) <= TAIL_BYTES
    assert tail.startswith("…") and tail.endswith("é the real error")


def test_progress_bars_and_terminal_escapes_show_their_last_state() -> None:
    text = "epoch 1: 10%\r epoch 1: 100%\n\x1b[31mRuntimeError: boom\x1b[0m\x07\n"
    assert last_output(text) == "epoch 1: 100% ⏎ RuntimeError: boom"


def test_the_message_says_what_happened_what_was_printed_and_where_the_rest_is() -> None:
    where = "kubectl logs -n ns job/t-0 -c train"
    assert failure_message("Exited with code 3.", "a\nb\n", where) == (
        'Exited with code 3. Last output: "a ⏎ b". Full log: kubectl logs -n ns job/t-0 -c train'
    )
    assert failure_message("Exited with code 3.", "\n", where) == f"Exited with code 3. Full log: {where}"


def test_the_whole_message_stays_within_its_bound() -> None:
    message = failure_message("Exited with code 3.", "x" * 100_000 + " end\n", "kubectl logs -n ns job/t-0 -c train")
    assert len(message.encode()) <= MESSAGE_BYTES and 'end". Full log:' in message
