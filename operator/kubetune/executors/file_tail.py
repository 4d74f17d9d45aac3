"""Following a metrics file as a trainer appends to it: the file source with ``follow: true``.

On a cluster, ``kubetune follow-file PATH`` runs as a native sidecar of the primary pod and prints
the file's lines on its own output, which the operator reads as it reads any trial's log (bounded,
from where it left off). ``kubetune run`` reads the same way, in the trial's output thread. The
trial never waits for the follower: a native sidecar is stopped once the pod's main containers have
ended, and the follower prints what the file still holds when it is told to stop.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

READ_BYTES = 1024 * 1024
"""Most bytes read from the file at once."""
MAX_LINE_BYTES = 1024 * 1024
"""A line longer than this is passed on in pieces, so memory stays bounded whatever the trainer writes."""
POLL_SECONDS = 0.5
"""How often the sidecar looks for new lines."""


@dataclass
class FileTail:
    """Where one reader is in a file that is appended to; a file replaced or truncated is read from its start."""

    path: Path
    offset: int = 0
    inode: int | None = None
    partial: bytes = b""
    """The start of a line whose end is not written yet."""

    @classmethod
    def from_end(cls, path: Path) -> FileTail:
        """A reader of what is appended to ``path`` from now on (or of the file written anew)."""
        try:
            stat = path.stat()
        except OSError:
            return cls(path)
        return cls(path, offset=stat.st_size, inode=stat.st_ino)

    def read(self, *, final: bool = False) -> bytes:
        """Whole lines appended since the last read; with ``final``, also a last line without its newline."""
        out = b""
        while True:
            chunk = self._chunk()
            out += self._lines(chunk)
            if len(chunk) < READ_BYTES:
                break
        if final and self.partial:
            out, self.partial = out + self.partial + b"\n", b""
        return out

    def _chunk(self) -> bytes:
        try:
            with self.path.open("rb") as file:
                stat = os.fstat(file.fileno())
                if self.inode is not None and (stat.st_ino != self.inode or stat.st_size < self.offset):
                    self.offset, self.partial = 0, b""  # rewritten: what it holds now is new
                self.inode = stat.st_ino
                file.seek(self.offset)
                data = file.read(READ_BYTES)
        except (FileNotFoundError, NotADirectoryError):
            return b""  # not written yet
        self.offset += len(data)
        return data

    def _lines(self, data: bytes) -> bytes:
        buffered = self.partial + data
        done, newline, rest = buffered.rpartition(b"\n")
        if len(rest) > MAX_LINE_BYTES:
            done, newline, rest = buffered, b"\n", b""
        self.partial = rest
        return done + newline


def follow(reader: Callable[..., bytes], out: BinaryIO, stop: threading.Event, poll: float = POLL_SECONDS) -> None:
    """Write what ``reader`` finds to ``out`` until ``stop`` is set, then what is left (its ``final`` read)."""
    while not stop.wait(poll):
        if data := reader():
            out.write(data)
            out.flush()
    out.write(reader(final=True))
    out.flush()


def follow_until_terminated(reader: Callable[..., bytes], out: BinaryIO, poll: float = POLL_SECONDS) -> int:
    """The sidecar's life: follow until SIGTERM (the kubelet's, once the main containers ended) or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    follow(reader, out, stop, poll)
    return 0
