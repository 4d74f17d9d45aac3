"""Following a metrics file: what the follower passes on as a trainer appends, rewrites or leaves a
line unfinished, and the `kubetune follow-file` sidecar as a real process stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
        process.send_signal(signal.SIGTERM)  # read or not yet, the line is printed once, whole
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
        process.communicate()  # reaped, its pipes closed: nothing left for a later test to trip on
    assert out == b'{"step": 2, "loss": 0.25}\n'
    assert (process.returncode, err) == (0, b"")


def follower(path: Path, *extra: str) -> subprocess.Popen[bytes]:
    """`kubetune follow-file PATH` as the sidecar runs it, a real process."""
    kubetune = Path(sys.executable).parent / "kubetune"
    return subprocess.Popen(
        [str(kubetune), "follow-file", str(path), "--poll", "0.05", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def test_a_300_mb_file_without_newlines_passes_through_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "metrics.log"
    size = 300 * 1024 * 1024
    with path.open("wb") as f:
        f.truncate(size)  # sparse: 300 MB of zero bytes, and not one newline, at no cost in disk
    process = follower(path)
    try:
        assert process.stdout is not None
        passed = 0
        while passed < size:
            chunk = process.stdout.read1(1 << 20)
            assert chunk, "the follower ended early"
            passed += len(chunk.replace(b"\n", b""))
        peak = peak_rss_mib(process.pid)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        process.kill()
        process.communicate()  # reaped, its pipes closed: nothing left for a later test to trip on
    # The piece in hand (a read and a line) is what it holds, whatever the file's size: 629 MB before.
    assert peak < 150, f"the follower grew to {peak:.0f} MiB"
    assert process.returncode == 0


def probe(path: Path) -> list[str]:
    """The sidecar's startup probe."""
    return [str(Path(sys.executable).parent / "kubetune"), "follow-file", str(path), "--check-following"]


def wait_until_following(path: Path, process: subprocess.Popen[bytes]) -> None:
    for _ in range(100):  # a bound, so that a follower that never gets ready fails below rather than hangs
        if process.poll() is not None or subprocess.run(probe(path), check=False).returncode == 0:
            return


def test_a_device_is_not_read_and_sigterm_ends_the_follower_at_once() -> None:
    process = follower(Path("/dev/zero"))
    try:
        wait_until_following(Path("/dev/zero"), process)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)  # before: 100% CPU, SIGTERM ignored for minutes
    finally:
        process.kill()
        process.communicate()  # reaped, its pipes closed: nothing left for a later test to trip on
    assert (process.returncode, out) == (0, b"")
    assert err == b"kubetune follow-file: /dev/zero is not a regular file: its metrics cannot be read\n"


def test_the_startup_probe_passes_once_the_follower_has_taken_over_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "metrics.log"
    assert subprocess.run(probe(path), check=False).returncode == 1, "no follower yet"
    process = follower(path)
    try:
        wait_until_following(path, process)
        assert subprocess.run(probe(path), check=False).returncode == 0
        path.write_text("loss=1\nloss=2")  # written, and the trainer gone, at once
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.communicate()  # reaped, its pipes closed: nothing left for a later test to trip on
    assert (out, err) == (b"loss=1\nloss=2\n", b""), "ready means nothing written after it is lost"


def test_pieces_are_bounded_and_end_at_the_size_the_file_had(tmp_path: Path) -> None:
    path = tmp_path / "metrics.log"
    path.write_bytes(b"a" * (3 * file_tail.READ_BYTES) + b"\nloss=1\n")
    tail = FileTail(path)
    pieces = tail.pieces()
    first = next(pieces)
    with path.open("ab") as f:
        f.write(b"loss=2\n")  # appended while a call reads: the next call's
    rest = list(pieces)
    assert max(len(p) for p in [first, *rest]) <= file_tail.READ_BYTES + file_tail.MAX_LINE_BYTES + 1
    assert b"".join([first, *rest]).endswith(b"\nloss=1\n")
    assert tail.read() == b"loss=2\n"
