"""Oracle attempts on daemon threads, so that the runtime can abandon them.

A Python thread cannot be killed. The runtime therefore runs each attempt on a
daemon thread and waits for its answer only until the oracle's deadline; an
attempt still running then is abandoned (its answer, if it ever comes, is
ignored) and its thread stays busy with it. Daemon threads do not keep the
interpreter alive, so Ctrl-C ends the process even while an oracle hangs
(``ThreadPoolExecutor`` threads are joined at exit, which is why they are not
used here).

Threads are reused: an attempt goes to an idle worker when there is one and to
a new one otherwise, so a hung attempt never delays another, and a fast oracle
does not pay a thread start per call (starting threads dominated the runtime's
overhead on a busy machine). A worker idle for :data:`IDLE_EXIT_S` ends.

Anything the oracle raises, ``SystemExit`` and other ``BaseException`` included,
is caught and handed back as the attempt's error.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from abae.oracles.errors import OracleCallError
from abae.oracles.registry import OracleSpec


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt gave: an answer per record, or the error it raised."""

    outputs: list[Any] | None = None
    error: BaseException | None = None


def batch_outputs(oracle: str, value: Any, expected: int) -> list[Any]:
    """A batch oracle's return value as a list of ``expected`` answers, in input order.

    Raises:
        OracleCallError: the value is not an ordered sequence of that length.
    """
    hint = "return a list with one answer per input, in input order"
    if isinstance(value, Mapping | str | bytes | set | frozenset):
        raise OracleCallError(f"batch oracle {oracle!r} returned a {type(value).__name__}; {hint}")
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise OracleCallError(
                f"batch oracle {oracle!r} returned an array of shape {value.shape}; {hint}"
            )
        answers = list(value.tolist())
    elif isinstance(value, Sequence | Iterable):
        answers = list(value)
    else:
        raise OracleCallError(f"batch oracle {oracle!r} returned {type(value).__name__}; {hint}")
    if len(answers) != expected:
        raise OracleCallError(
            f"batch oracle {oracle!r} returned {len(answers)} answers for {expected} inputs; {hint}"
        )
    return answers


def _attempt(
    spec: OracleSpec, inputs: list[tuple[Any, ...]], deliver: Callable[[AttemptResult], None]
) -> None:
    try:
        if spec.batch_size == 1:
            outputs = [spec.fn(*inputs[0])]
        else:
            outputs = batch_outputs(spec.name, spec.fn(inputs), len(inputs))
    except BaseException as error:  # an oracle's SystemExit must not end the run
        deliver(AttemptResult(error=error))
        return
    deliver(AttemptResult(outputs=outputs))


IDLE_EXIT_S = 30.0
"""Seconds an idle worker waits for another attempt before its thread ends."""

_Job = tuple[OracleSpec, list[tuple[Any, ...]], Callable[[AttemptResult], None]]


class _Workers:
    """Daemon worker threads: each takes attempts from one queue, one at a time."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, job: _Job) -> None:
        with self._lock:
            if self._idle > 0:
                self._idle -= 1  # that worker is spoken for
                spawn = False
            else:
                spawn = True
        self._jobs.put(job)
        if spawn:
            threading.Thread(target=self._work, name="abae-oracle", daemon=True).start()

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # nobody counted on this worker: end it
                        self._idle -= 1
                        return
                continue  # a job was promised to an idle worker: wait for it
            _attempt(*job)
            with self._lock:
                self._idle += 1


_WORKERS = _Workers()


def start_attempt(
    spec: OracleSpec, inputs: list[tuple[Any, ...]], deliver: Callable[[AttemptResult], None]
) -> None:
    """Call ``spec.fn`` on ``inputs`` (one argument tuple per record) on a daemon thread.

    ``deliver`` is called on that thread with the result, exactly once, unless the
    oracle never returns.
    """
    _WORKERS.submit((spec, inputs, deliver))
