"""Following a metrics file: what the follower passes on as a trainer appends, rewrites or leaves a
line unfinished, and the `kubetune follow-file` sidecar as a real process stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kubetune.executors import file_tail
from kubetune.executors.file_tail import FileTail


def test_appended_lines_are_passed_on_once_and_an_unfinished_line_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "metrics.log"
    tail = FileTail(path)
    assert tail.read() == b"", "not written yet"
    path.write_text("loss=1\nloss=")
    assert tail.read() == b"loss=1\n"
    assert tail.read() == b""
    with path.open("a") as f:
        f.write("2\nloss=3")
    assert tail.read() == b"loss=2\n"
    assert tail.read(final=True) == b"loss=3\n", "the last line, unfinished when the trainer ended"


def test_a_rewritten_file_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "metrics.log"
    path.write_text("loss=1\nloss=2\n")
    tail = FileTail(path)
    assert tail.read() == b"loss=1\nloss=2\n"
    path.write_text("loss=9\n")  # shorter than what was read: truncated and written again
    assert tail.read() == b"loss=9\n"
    replacement = tmp_path / "new"
    replacement.write_text("loss=7\nloss=8\n")
    os.replace(replacement, path)  # a new file under the same name
    assert tail.read() == b"loss=7\nloss=8\n"


def test_a_file_left_by_an_earlier_run_is_read_from_its_end(tmp_path: Path) -> None:
    path = tmp_path / "metrics.log"
    path.write_text("loss=100\n")
    tail = FileTail.from_end(path)
    with path.open("a") as f:
        f.write("loss=1\n")
    assert tail.read() == b"loss=1\n"


def test_a_line_longer_than_the_limit_is_passed_on_in_pieces(tmp_path: Path) -> None:
    path = tmp_path / "metrics.log"
    path.write_bytes(b"x" * (file_tail.MAX_LINE_BYTES + 10))
    tail = FileTail(path)
    assert len(tail.read()) == file_tail.MAX_LINE_BYTES + 11
    assert tail.partial == b""


def test_the_sidecar_prints_appended_lines_and_what_is_left_when_terminated(tmp_path: Path) -> None:
    path = tmp_path / "out" / "metrics.json"
    kubetune = Path(sys.executable).parent / "kubetune"
    process = subprocess.Popen(
        [str(kubetune), "follow-file", str(path), "--poll", "0.05"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        path.parent.mkdir()
        path.write_text('{"step": 1, "loss": 0.5}\n')
        assert process.stdout is not None
        assert process.stdout.readline() == b'{"step": 1, "loss": 0.5}\n', "printed while the trainer runs"
        with path.open("a") as f:
            f.write('{"step": 2, "loss": 0.25}')  # the trainer ended before its newline
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert out == b'{"step": 2, "loss": 0.25}\n'
    assert (process.returncode, err) == (0, b"")
