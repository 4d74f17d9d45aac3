"""TensorFlow event files (format: tfevent), written by TensorBoard's own writer as a trainer's
summary writer does, read as they grow: each scalar one JSON line, named after its subdirectory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.scalar import summary_v2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from kubetune.executors.event_files import EXTRA_MISSING, EventDirTail


def scalar_event(step: int, tag: str, value: float, *, tf1: bool = False) -> event_pb2.Event:
    """An event as tf.summary.scalar writes it (a scalar tensor), or as TF1's summary did (simple_value)."""
    summary = (
        summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        if tf1
        else summary_v2.scalar_pb(tag, value)
    )
    return event_pb2.Event(step=step, wall_time=time.time(), summary=summary)


def lines(data: bytes) -> list[dict[str, float]]:
    return [json.loads(line) for line in data.decode().splitlines()]


def test_scalars_are_read_as_they_are_written_named_after_their_subdirectory(tmp_path: Path) -> None:
    tail = EventDirTail(tmp_path / "logs")
    assert tail.read() == b"", "no directory yet"
    test, train = EventFileWriter(str(tmp_path / "logs" / "test")), EventFileWriter(str(tmp_path / "logs"))
    test.add_event(scalar_event(1, "accuracy", 0.5))
    train.add_event(scalar_event(1, "loss", 2.0, tf1=True))
    test.flush()
    train.flush()
    assert sorted(lines(tail.read()), key=str) == [{"step": 1, "loss": 2.0}, {"step": 1, "test/accuracy": 0.5}]
    test.add_event(scalar_event(2, "accuracy", 0.75))
    histogram = summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag="weights", histo=summary_pb2.HistogramProto())]
    )
    test.add_event(event_pb2.Event(step=2, summary=histogram))
    test.flush()
    assert lines(tail.read()) == [{"step": 2, "test/accuracy": 0.75}], "new scalars only; no histogram"
    test.close()
    train.close()


def test_event_files_of_an_earlier_run_are_left_out(tmp_path: Path) -> None:
    old = EventFileWriter(str(tmp_path))
    old.add_event(scalar_event(1, "loss", 9.0))
    old.close()
    tail = EventDirTail.from_now(tmp_path)
    new = EventFileWriter(str(tmp_path), filename_suffix=".new")
    new.add_event(scalar_event(1, "loss", 1.0))
    new.close()
    assert lines(tail.read()) == [{"step": 1, "loss": 1.0}]


def test_the_sidecar_prints_scalars_of_event_files_as_json_lines(tmp_path: Path) -> None:
    kubetune = Path(sys.executable).parent / "kubetune"
    process = subprocess.Popen(
        [str(kubetune), "follow-file", str(tmp_path), "--format", "tfevent", "--poll", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        writer = EventFileWriter(str(tmp_path / "test"))
        writer.add_event(scalar_event(1, "accuracy", 0.5))
        writer.flush()
        assert process.stdout is not None
        assert json.loads(process.stdout.readline()) == {"step": 1, "test/accuracy": 0.5}
        writer.add_event(scalar_event(2, "accuracy", 0.9))
        writer.close()
        process.send_signal(signal.SIGTERM)  # read or not yet, the record is printed once
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert lines(out) == [{"step": 2, "test/accuracy": 0.9}]
    assert (process.returncode, err) == (0, b"")


def test_the_sidecar_loads_its_reader_before_it_is_ready(tmp_path: Path) -> None:
    """Ready (its startup probe passes once it takes over SIGTERM) means able to read at once: the first
    event file may come only as the kubelet stops it, and TensorBoard's reader, imported then on a busy
    node, ate the grace period in which the values had to be printed. Without tensorboard the follower
    therefore says so as it starts, in one line, instead of starting and failing at the first file."""
    hidden = tmp_path / "hidden" / "tensorboard"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('No module named tensorboard')\n")
    path = os.pathsep.join([str(hidden.parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    kubetune = Path(sys.executable).parent / "kubetune"
    done = subprocess.run(
        [str(kubetune), "follow-file", str(tmp_path / "logs"), "--format", "tfevent"],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,  # before, it waited for event files (and SIGTERM) without a reader
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"kubetune: {EXTRA_MISSING}"]
