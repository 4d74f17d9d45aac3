"""Following a metrics file as a trainer appends to it: the file source with ``follow: true``.

On a cluster, ``kubetune follow-file PATH`` runs as a native sidecar of the primary pod and prints
the file's lines on its own output, which the operator reads as it reads any trial's log (bounded,
from where it left off). ``kubetune run`` reads the same way, in the trial's output thread.

The sidecar's startup probe (``--check-following``) passes once the follower has taken over
SIGTERM, and the kubelet starts the main containers only then: however soon the trainer ends, the
follower is there to read its file. On SIGTERM (the kubelet's, once the main containers ended) it
prints what the file holds up to its size at that moment, then exits; a second signal ends it at once.

Memory is bounded whatever the file holds: a read takes at most :data:`READ_BYTES`, a line longer
than :data:`MAX_LINE_BYTES` is passed on in pieces, and what is read is written out before more is
read. Only a regular file is read: a device (``/dev/zero``) or a pipe has no end to read to.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

READ_BYTES = 1024 * 1024
"""Most bytes read from the file at once."""
MAX_LINE_BYTES = 1024 * 1024
"""A line longer than this is passed on in pieces, so memory stays bounded whatever the trainer writes."""
POLL_SECONDS = 0.5
"""How often the sidecar looks for new lines."""
CHECK_FLAG = "--check-following"
"""The sidecar's startup probe: ``kubetune follow-file PATH --check-following``."""

Pieces = Callable[..., Iterable[bytes]]
"""A reader: ``pieces(final=False)`` yields what was appended since its last call, in bounded pieces."""


@dataclass
class FileTail:
    """Where one reader is in a file that is appended to; a file replaced or truncated is read from its start."""

    path: Path
    offset: int = 0
    inode: int | None = None
    partial: bytes = b""
    """The start of a line whose end is not written yet."""
    problem: str | None = None
    """Why the file cannot be read (not a regular file), once found; None while it can be."""

    @classmethod
    def from_end(cls, path: Path) -> FileTail:
        """A reader of what is appended to ``path`` from now on (or of the file written anew)."""
        try:
            found = path.stat()
        except OSError:
            return cls(path)
        return cls(path, offset=found.st_size, inode=found.st_ino)

    def pieces(self, *, final: bool = False) -> Iterator[bytes]:
        """Whole lines appended since the last call, in pieces of at most READ_BYTES + MAX_LINE_BYTES,
        up to the size the file had when called; with ``final``, then a last line without its newline."""
        try:
            file = self.path.open("rb")
        except OSError:  # not written yet (or not readable yet): nothing to pass on
            file = None
        if file is not None:
            with file:
                yield from self._appended(file)
        if final and self.partial:
            last, self.partial = self.partial + b"\n", b""
            yield last

    def read(self, *, final: bool = False) -> bytes:
        """All of :meth:`pieces` at once, for a file known to be small."""
        return b"".join(self.pieces(final=final))

    def _appended(self, file: BinaryIO) -> Iterator[bytes]:
        found = os.fstat(file.fileno())
        if not stat.S_ISREG(found.st_mode):
            self.problem = f"{self.path} is not a regular file: its metrics cannot be read"
            return
        self.problem = None
        if self.inode is not None and (found.st_ino != self.inode or found.st_size < self.offset):
            self.offset, self.partial = 0, b""  # rewritten: what it holds now is new
        self.inode = found.st_ino
        end = found.st_size  # what is appended meanwhile waits for the next call: each call ends
        file.seek(self.offset)
        while self.offset < end:
            data = file.read(min(READ_BYTES, end - self.offset))
            if not data:
                return
            self.offset += len(data)
            if lines := self._lines(data):
                yield lines

    def _lines(self, data: bytes) -> bytes:
        buffered = self.partial + data
        done, newline, rest = buffered.rpartition(b"\n")
        if len(rest) > MAX_LINE_BYTES:
            done, newline, rest = buffered, b"\n", b""
        self.partial = rest
        return done + newline


def follow(
    pieces: Pieces,
    out: BinaryIO,
    stop: threading.Event,
    poll: float = POLL_SECONDS,
    hurry: threading.Event | None = None,
) -> None:
    """Write what ``pieces`` finds to ``out`` until ``stop`` is set, then what is left (its ``final`` read),
    unless ``hurry`` is set meanwhile."""
    while not stop.wait(poll):
        for piece in pieces():
            out.write(piece)
            out.flush()
            if stop.is_set():
                break
    for piece in pieces(final=True):
        if hurry is not None and hurry.is_set():
            break
        out.write(piece)
    out.flush()


def follow_until_terminated(tail: FileTail | Pieces, out: BinaryIO, poll: float = POLL_SECONDS) -> int:
    """The sidecar's life: follow until SIGTERM (the kubelet's, once the main containers ended) or SIGINT,
    print what the file then holds, and exit; a second signal exits at once."""
    stop, hurry = threading.Event(), threading.Event()

    def on_signal(*_: object) -> None:
        (hurry if stop.is_set() else stop).set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)  # from here on, --check-following passes: the follower is ready
    pieces = tail.pieces if isinstance(tail, FileTail) else tail
    said: list[str] = []

    def checked(*, final: bool = False) -> Iterator[bytes]:
        yield from pieces(final=final)
        problem = tail.problem if isinstance(tail, FileTail) else None
        if problem and problem not in said:  # once, on stderr: a line the metrics parser would not read
            said.append(problem)
            print(f"kubetune follow-file: {problem}", file=sys.stderr, flush=True)

    follow(checked, out, stop, poll, hurry)
    return 0


def following(path: str, proc: Path = Path("/proc")) -> bool:
    """True when a ``kubetune follow-file PATH`` process here has taken over SIGTERM, so that it reads the
    file to its end when the kubelet stops it (the sidecar's startup probe; a container sees its own processes)."""
    term = 1 << (signal.SIGTERM - 1)
    wanted = os.fsencode(path)
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text(encoding="ascii", errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if b"follow-file" not in argv or wanted not in argv or CHECK_FLAG.encode() in argv:
            continue
        caught = next((line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), "0")
        if int(caught, 16) & term:
            return True
    return False
