"""What a failed trial's message shows of its output: the last few lines, bounded, and where the rest is.

Shared by both executors, so that ``kubetune trials`` and a Trial's status read the same way:
``Exited with code 3. Last output: "…". Full log: kubectl logs -n ns job/t-0 -c train``.
"""

from __future__ import annotations

import re

TAIL_LINES = 5
"""Most lines of output a failure message shows."""
TAIL_BYTES = 1024
"""Most bytes (UTF-8) of output ``last_output`` keeps by default; longer output keeps its end."""
MESSAGE_BYTES = 900
"""Most bytes of a whole failure message: with the trial's name in front, it fits an Event (1 KiB)."""
LINE_BREAK = " ⏎ "
"""How the lines of the output are joined: a message is one line (Events are shown in tables)."""
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def last_output(text: str, lines: int = TAIL_LINES, limit: int = TAIL_BYTES) -> str:
    """The last non-blank lines of ``text``, at most ``lines`` of them and ``limit`` bytes, one line.

    A line a progress bar redrew with carriage returns shows its last state; terminal escapes and
    other control characters are dropped.
    """
    kept = []
    for line in text.split("\n"):  # not splitlines(): a carriage return does not end a line here
        shown = _CONTROL.sub("", line.rsplit("\r", 1)[-1]).strip()
        if shown:
            kept.append(shown)
    tail = LINE_BREAK.join(kept[-lines:])
    data = tail.encode()
    if len(data) <= limit:
        return tail
    return "…" + data[len(data) - limit + len("…".encode()) :].decode("utf-8", errors="ignore")


def failure_message(what: str, output: str, where: str) -> str:
    """``what`` (``Exited with code 3.``), then the last output if there is any, then where the full log is."""
    frame = f'{what} Last output: "". Full log: {where}'
    tail = last_output(output, limit=max(0, MESSAGE_BYTES - len(frame.encode())))
    shown = f' Last output: "{tail}".' if tail else ""
    return f"{what}{shown} Full log: {where}"
