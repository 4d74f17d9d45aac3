"""Following a directory of TensorFlow event files (the file source's ``format: tfevent``).

The files are read with TensorBoard's own event-file loader, which reads each file's new records as
they are written, as TensorBoard itself does while training runs; no TensorFlow is needed. Each
scalar becomes one JSON line, ``{"step": 3, "test/accuracy": 0.97}``, so the follower sidecar's
output (and ``kubetune run``'s reading) goes through the json format's parser. This is the only
module that imports ``tensorboard``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

EXTRA_MISSING = (
    "reading TensorFlow event files (format: tfevent) needs the tensorboard package: pip install 'kubetune[tfevent]'"
)
SCALARS_PLUGIN = "scalars"


def _loader_class() -> Any:
    try:
        from tensorboard.backend.event_processing.event_file_loader import (  # noqa: PLC0415 - an optional extra
            EventFileLoader,
        )
    except ImportError:
        raise UsageError(EXTRA_MISSING) from None
    return EventFileLoader


def _loader(path: Path) -> Any:
    return _loader_class()(str(path))


def load_reader() -> None:
    """Import TensorBoard's reader now, or say it is missing (a UsageError).

    The follower sidecar does this before it is ready: its first event file may come only as the
    kubelet stops it (a trainer that ended at once), and an import then, slow on a busy node, would
    eat the grace period in which the file's values must be printed."""
    _loader_class()
    from tensorboard.util import tensor_util  # noqa: PLC0415, F401 - what _value needs, loaded with the reader


def _value(value: Any) -> float | None:
    """A summary value's scalar, or None for images, histograms, text. TensorBoard's loader has already
    written TF1's ``simple_value`` as a scalar tensor, the form ``tf.summary.scalar`` writes in TF2."""
    from tensorboard.util import tensor_util  # noqa: PLC0415 - an optional extra, there once a loader is

    if value.metadata.plugin_data.plugin_name != SCALARS_PLUGIN or not value.HasField("tensor"):
        return None
    array = tensor_util.make_ndarray(value.tensor)
    if array.size != 1 or array.dtype.kind not in "fiu":
        return None
    # The shortest text of the stored value: a float32 0.9 reads 0.9, as TensorBoard (and Katib) show it,
    # not 0.8999999761581421.
    number = float(str(array.reshape(())[()]))
    return number if math.isfinite(number) else None


@dataclass
class EventDirTail:
    """Where one reader is in the event files under a directory; new files are found on each read."""

    directory: Path
    loaders: dict[Path, Any] = field(default_factory=dict)
    skipped: frozenset[Path] = frozenset()
    """Files left by earlier runs (``from_now``): a writer of this run makes files of its own."""

    @classmethod
    def from_now(cls, directory: Path) -> EventDirTail:
        """A reader of the event files written under ``directory`` from now on."""
        return cls(directory, skipped=frozenset(cls(directory)._files()))

    def read(self, *, final: bool = False) -> bytes:
        """JSON lines of the scalars written since the last read (``final`` changes nothing: a record
        is only read once whole)."""
        lines = []
        for path in self._files():
            if path in self.skipped:
                continue
            loader = self.loaders.get(path)
            if loader is None:
                loader = self.loaders[path] = _loader(path)
            where = path.parent.relative_to(self.directory).as_posix()
            prefix = "" if where == "." else f"{where}/"
            for event in loader.Load():
                for value in event.summary.value:
                    number = _value(value)
                    if number is not None:
                        lines.append(json.dumps({"step": event.step, f"{prefix}{value.tag}": number}) + "\n")
        return "".join(lines).encode()

    def pieces(self, *, final: bool = False) -> Iterator[bytes]:
        """:meth:`read` as the follower takes it (each new record is read once, whole)."""
        if data := self.read(final=final):
            yield data

    def _files(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.rglob("*") if "tfevents" in p.name and p.is_file())
        except OSError:
            return []  # not made yet
