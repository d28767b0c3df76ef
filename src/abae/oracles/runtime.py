"""The oracle runtime: cached, claimed, batched, concurrent and retried oracle calls.

For each request (one oracle, some records) the runtime

1. answers records already in the label ledger from the ledger (free);
2. claims the others in small chunks just ahead of calling them — a claim is
   granted only within the query's budget (see :mod:`abae.store.ledger`);
3. calls the oracle on granted records in batches on a thread pool, retrying
   transient errors with exponential backoff;
4. writes finished labels to the ledger (and closes their claims) every
   ``flush_s`` seconds, and only then hands them to the caller.

Records that still fail, that another process lost, or for which the budget is
spent get no label: they are reported in :class:`RuntimeStats` and left out.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from abae.oracles.registry import OracleRegistry, OracleSpec
from abae.oracles.retry import CallOutcome, RetryPolicy, call_with_retries
from abae.store.ledger import ClaimOwner, Label, LabelLedger, abandon_claims

DEFAULT_CONCURRENCY = 16


@dataclass
class RuntimeStats:
    """Exact accounting of one runtime (all requests so far).

    Attributes:
        fresh_labels: labels bought from an oracle (one per record and oracle).
        reused_labels: labels answered from the ledger without a call.
        attempts: oracle invocations per record, retries included.
        retries: attempts beyond the first.
        failed: (oracle, record id) → error, for calls that failed for good.
        over_budget: (oracle, record id) refused because the budget was spent.
        lost: (oracle, record id) claimed earlier by this query without a label
            (a killed run); charged, never called again.
    """

    fresh_labels: int = 0
    reused_labels: int = 0
    attempts: int = 0
    retries: int = 0
    failed: dict[tuple[str, int], str] = field(default_factory=dict)
    over_budget: set[tuple[str, int]] = field(default_factory=set)
    lost: set[tuple[str, int]] = field(default_factory=set)

    def left_out(self) -> set[int]:
        """Record ids that have no label for some oracle they needed."""
        keys = set(self.failed) | self.over_budget | self.lost
        return {record_id for _, record_id in keys}


def label_from_output(
    oracle: str, record_id: int, output: Any, cost: float, query_id: str
) -> Label:
    """Turn an oracle's answer into a :class:`Label`; ``ValueError`` if it is not one."""
    predicate: bool | None = None
    statistic: float | None = None
    if isinstance(output, bool | np.bool_):
        predicate = bool(output)
    elif isinstance(output, int | float | np.integer | np.floating):
        statistic = float(output)
    elif (
        isinstance(output, tuple | list)
        and len(output) == 2
        and isinstance(output[0], bool | np.bool_)
    ):
        predicate = bool(output[0])
        statistic = None if output[1] is None else float(output[1])
    else:
        raise ValueError(
            f"oracle {oracle!r} returned {output!r} for record {record_id}; expected True/False, "
            "a number, or a (True/False, number) pair"
        )
    if statistic is not None and not math.isfinite(statistic):
        raise ValueError(f"oracle {oracle!r} returned {statistic} for record {record_id}")
    return Label(record_id, oracle, predicate, statistic, cost, query_id)


class OracleRuntime:
    """Calls oracles for one query, within its budget, through the label ledger.

    Args:
        ledger: the collection's ledger.
        registry: the registered oracles.
        query_id: the query the calls are charged to.
        budget: most records the query may claim (across all its runs).
        concurrency: worker threads (calls in flight at once).
        retry: the retry policy for transient errors.
        seed: seeds the backoff jitter.
        flush_s: how often finished labels are written to the ledger (seconds).
        wait_timeout_s: how long to wait for records another live process is labelling.
        on_update: called with the stats after each ledger write.
    """

    def __init__(
        self,
        ledger: LabelLedger,
        registry: OracleRegistry,
        *,
        query_id: str,
        budget: int,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy | None = None,
        seed: int = 0,
        flush_s: float = 0.2,
        poll_s: float = 0.1,
        wait_timeout_s: float = 600.0,
        on_update: Callable[[RuntimeStats], None] | None = None,
    ) -> None:
        if budget < 0:
            raise ValueError(f"budget must be >= 0, got {budget}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.ledger = ledger
        self.registry = registry
        self.query_id = query_id
        self.budget = budget
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.flush_s = flush_s
        self.poll_s = poll_s
        self.wait_timeout_s = wait_timeout_s
        self.on_update = on_update
        self.owner = ClaimOwner.this_process()
        self.stats = RuntimeStats()
        self._jitter = random.Random(seed)
        self._jitter_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="abae-oracle")
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    def __enter__(self) -> OracleRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers and mark this process's unfinished claims ``lost``."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        abandon_claims(self.ledger.store, self.owner)

    def spent(self) -> int:
        """Records charged to the query so far (all runs)."""
        return self.ledger.spent(self.query_id)

    def labels(
        self, oracle: str, record_ids: Sequence[int], args: Mapping[int, tuple[Any, ...]]
    ) -> dict[int, Label]:
        """Labels of ``oracle`` for ``record_ids`` (cached or bought); unlabelled ones are left out.

        Args:
            args: record id → the oracle's argument values for that record.

        Returns:
            record id → label, for every record that has one now.
        """
        spec = self.registry.get(oracle)
        ids = [int(i) for i in dict.fromkeys(int(i) for i in record_ids)]
        result = self.ledger.lookup(spec.name, ids)
        self.stats.reused_labels += len(result)
        _Request(self, spec, args, result).run([i for i in ids if i not in result])
        return result

    # used by _Request --------------------------------------------------------------

    def _slot(self, spec: OracleSpec) -> threading.BoundedSemaphore:
        if spec.name not in self._slots:
            self._slots[spec.name] = threading.BoundedSemaphore(
                min(spec.max_concurrency or self.concurrency, self.concurrency)
            )
        return self._slots[spec.name]

    def _jitter_value(self) -> random.Random:
        with self._jitter_lock:
            return random.Random(self._jitter.random())


class _Request:
    """One ``labels`` call: the claim → call → flush loop."""

    def __init__(
        self,
        runtime: OracleRuntime,
        spec: OracleSpec,
        args: Mapping[int, tuple[Any, ...]],
        result: dict[int, Label],
    ) -> None:
        self.rt = runtime
        self.spec = spec
        self.args = args
        self.result = result
        self.inflight: dict[Future[list[tuple[int, CallOutcome]]], list[int]] = {}
        self.done: list[Label] = []
        self.attempts: dict[int, int] = {}
        self.failures: dict[int, tuple[str, int]] = {}

    def run(self, todo_ids: list[int]) -> None:
        todo = deque(todo_ids)
        waiting: list[int] = []
        window = max(32, 8 * self.rt.concurrency * self.spec.batch_size)
        last_flush = time.monotonic()
        wait_started = time.monotonic()
        try:
            while todo or self.inflight or waiting:
                inflight_records = sum(len(v) for v in self.inflight.values())
                now = time.monotonic()
                claim_room = window - inflight_records if todo else 0
                flush_due = bool(self.done or self.failures) and (
                    now - last_flush >= self.rt.flush_s or not self.inflight
                )
                if (todo and claim_room >= min(len(todo), window // 2)) or flush_due:
                    chunk = [todo.popleft() for _ in range(min(len(todo), max(claim_room, 0)))]
                    waiting.extend(self._sync(chunk))
                    last_flush = now
                if self.inflight:
                    finished, _ = wait(
                        list(self.inflight), timeout=0.05, return_when=FIRST_COMPLETED
                    )
                    for future in finished:
                        self.inflight.pop(future)
                        self._collect(future.result())
                    continue
                if waiting and not todo and not (self.done or self.failures):
                    time.sleep(self.rt.poll_s)
                    found = self.rt.ledger.lookup(self.spec.name, waiting)
                    self.result.update(found)
                    self.rt.stats.reused_labels += len(found)
                    still = [i for i in waiting if i not in found]
                    if time.monotonic() - wait_started > self.rt.wait_timeout_s:
                        for record_id in still:
                            self.rt.stats.failed[(self.spec.name, record_id)] = (
                                "another process held this record's claim for too long"
                            )
                        still = []
                    waiting = []
                    todo.extend(still)
        finally:
            if self.done or self.failures:
                self._sync([])

    def _sync(self, chunk: list[int]) -> list[int]:
        """Write finished labels, claim ``chunk``, submit what was granted; returns the waiting."""
        claim = self.rt.ledger.sync(
            self.rt.query_id,
            self.rt.budget,
            self.rt.owner,
            self.spec.name,
            claim_ids=chunk,
            labels=self.done,
            attempts=self.attempts,
            failures=self.failures,
        )
        self._after_flush()
        for record_id in claim.over_budget:
            self.rt.stats.over_budget.add((self.spec.name, record_id))
        for record_id in claim.lost:
            self.rt.stats.lost.add((self.spec.name, record_id))
        accounted = (
            set(claim.granted) | set(claim.waiting) | set(claim.over_budget) | set(claim.lost)
        )
        labelled_meanwhile = [i for i in chunk if i not in accounted]
        if labelled_meanwhile:
            found = self.rt.ledger.lookup(self.spec.name, labelled_meanwhile)
            self.result.update(found)
            self.rt.stats.reused_labels += len(found)
        size = self.spec.batch_size
        for start in range(0, len(claim.granted), size):
            batch = claim.granted[start : start + size]
            future = self.rt._pool.submit(self._call_batch, batch)
            self.inflight[future] = batch
        return list(claim.waiting)

    def _call_batch(self, batch: list[int]) -> list[tuple[int, CallOutcome]]:
        spec = self.spec
        jitter = self.rt._jitter_value()
        with self.rt._slot(spec):
            if spec.batch_size == 1:
                record_id = batch[0]
                values = self.args[record_id]
                return [
                    (record_id, call_with_retries(lambda: spec.fn(*values), self.rt.retry, jitter))
                ]
            inputs = [tuple(self.args[i]) for i in batch]
            outcome = call_with_retries(lambda: list(spec.fn(inputs)), self.rt.retry, jitter)
        if outcome.error is not None:
            return [(i, CallOutcome(None, outcome.error, outcome.attempts)) for i in batch]
        outputs = outcome.value
        assert isinstance(outputs, list)
        if len(outputs) != len(batch):
            error = f"oracle {spec.name!r} returned {len(outputs)} outputs for {len(batch)} inputs"
            return [(i, CallOutcome(None, error, outcome.attempts)) for i in batch]
        return [
            (i, CallOutcome(o, None, outcome.attempts)) for i, o in zip(batch, outputs, strict=True)
        ]

    def _collect(self, outcomes: list[tuple[int, CallOutcome]]) -> None:
        stats = self.rt.stats
        counted_batch = False
        for record_id, outcome in outcomes:
            if self.spec.batch_size == 1 or not counted_batch:
                stats.attempts += outcome.attempts
                stats.retries += outcome.attempts - 1
                counted_batch = True
            self.attempts[record_id] = outcome.attempts
            if outcome.error is None:
                try:
                    label = label_from_output(
                        self.spec.name, record_id, outcome.value, self.spec.cost, self.rt.query_id
                    )
                except ValueError as error:
                    outcome.error = str(error)
                else:
                    self.done.append(label)
                    continue
            self.failures[record_id] = (outcome.error, outcome.attempts)

    def _after_flush(self) -> None:
        """The labels just written are now usable: hand them over and update the stats."""
        for label in self.done:
            self.result[label.record_id] = label
        self.rt.stats.fresh_labels += len(self.done)
        for record_id, (message, _) in self.failures.items():
            self.rt.stats.failed[(self.spec.name, record_id)] = message
        wrote = bool(self.done or self.failures)
        self.done = []
        self.failures = {}
        if wrote and self.rt.on_update is not None:
            self.rt.on_update(self.rt.stats)
