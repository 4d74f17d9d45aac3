"""Evaluating the CEL conditions of a workload kind where a runaway expression cannot hurt the
operator: in small worker processes, each with a memory limit, stopped at a time budget.

cel-python is pure Python: an evaluation holds the interpreter lock for every step and allocates in
the heap of the process that runs it. In the operator's own process one costly expression would
slow every tenant's reconciles, its watches and its Lease renewal, and a large one could take it
past its memory limit. Validation already refuses expressions whose estimated cost is too high
(api/cel.py); this is the run-time guarantee, as Kubernetes pairs its static estimate with a
runtime cost budget. No CEL library for Python meters evaluation (cel-python has no cost
tracking; the Rust-based ``common-expression-language`` has neither cost nor time limits), so the
bound is the operating system's: ``RLIMIT_AS`` in the worker, and a kill at the time budget.

A worker is one ``python -m kubetune.executors.cel_sandbox`` reading one JSON request per line
and answering one per line; it exits when the operator closes its input.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import select
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from ..api import cel

TIME_BUDGET = 2.0
"""Seconds one evaluation of a workload's conditions may take before its worker is stopped."""
MEMORY_BUDGET = 256 * 1024 * 1024
"""Bytes of address space a worker may use (its Python and cel-python take about 60 MB)."""
WORKERS = 2
"""Workers at most: a runaway evaluation holds one of them for at most TIME_BUDGET."""
_START_TIMEOUT = 60.0
_READY = b"ready\n"
_CACHED = 1024
"""Verdicts kept by (object uid, resourceVersion): an unchanged object is not evaluated again."""


@dataclass(frozen=True)
class Verdict:
    """What one condition says of an object."""

    holds: bool = False
    error: str | None = None
    """Why it could not be evaluated: one line; the condition then holds neither way."""


class _Worker:
    """One worker process and its pipes."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        # The budget is the evaluation's: wait out the worker's start (its imports) first.
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], _START_TIMEOUT)
        if not ready or self.process.stdout.readline() != _READY:
            self.close()
            raise OSError(f"the CEL worker did not start within {_START_TIMEOUT:g} s")

    def ask(self, request: bytes, timeout: float) -> dict[str, Any] | str:
        """The worker's answer, or why there is none (then the worker is gone)."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(request)
            stdin.flush()
            ready, _, _ = select.select([stdout], [], [], timeout)
            line = stdout.readline() if ready else b""
        except OSError:
            line = b""
        if line:
            answer: dict[str, Any] = json.loads(line)
            return answer
        self.close()
        if not ready:
            return f"its evaluation was stopped after the time budget of {TIME_BUDGET:g} s"
        return f"its evaluation was stopped: it needed more than {MEMORY_BUDGET // 2**20} MiB"

    def close(self) -> None:
        """Stop the worker and reap it."""
        self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


_idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
for _ in range(WORKERS):
    _idle.put(None)  # a free slot: its worker starts when first needed
_cache: OrderedDict[tuple[object, ...], tuple[Verdict, ...]] = OrderedDict()
_cache_lock = threading.Lock()


def judge(expressions: Sequence[str], obj: Mapping[str, Any]) -> tuple[Verdict, ...]:
    """What each expression says of ``obj``, evaluated in a worker within the budgets."""
    metadata = obj.get("metadata") or {}
    version = metadata.get("resourceVersion")
    key = (tuple(expressions), metadata.get("uid"), version)
    if version is not None:
        with _cache_lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
    verdicts = _evaluate(expressions, obj)
    if version is not None:
        with _cache_lock:
            _cache[key] = verdicts
            while len(_cache) > _CACHED:
                _cache.popitem(last=False)
    return verdicts


def _evaluate(expressions: Sequence[str], obj: Mapping[str, Any]) -> tuple[Verdict, ...]:
    request = (json.dumps({"expressions": list(expressions), "object": obj}) + "\n").encode()
    worker = _idle.get()
    try:
        try:
            worker = worker or _Worker()
        except OSError as error:
            return tuple(Verdict(error=f"it could not be evaluated: {error}") for _ in expressions)
        answer = worker.ask(request, TIME_BUDGET)
        if isinstance(answer, str):
            worker = None
            return tuple(Verdict(error=answer) for _ in expressions)
        return tuple(Verdict(bool(a.get("holds")), a.get("error")) for a in answer["verdicts"])
    finally:
        _idle.put(worker)


# ----- the worker


def _verdict(text: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return {"holds": cel.evaluate(text, obj)}
    except cel.Absent:
        return {"holds": False}  # a field not written yet: the condition does not hold yet
    except ValueError as error:
        return {"error": f"its evaluation failed: {error}"}
    except MemoryError:
        return {"error": f"its evaluation was stopped: it needed more than {MEMORY_BUDGET // 2**20} MiB"}
    except RecursionError:
        return {"error": "its evaluation was stopped: it nests too deeply for the object"}


def serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """Answer requests, one JSON object per line, until ``source`` ends."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BUDGET, MEMORY_BUDGET))
    sink.write(_READY)
    sink.flush()
    for line in source:
        try:
            request = json.loads(line)
            verdicts = [_verdict(text, request["object"]) for text in request["expressions"]]
        except MemoryError:  # the request itself was too large to read
            verdicts = [{"error": f"the object needed more than {MEMORY_BUDGET // 2**20} MiB"}]
        sink.write((json.dumps({"verdicts": verdicts}) + "\n").encode())
        sink.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
