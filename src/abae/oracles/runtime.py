"""The oracle runtime: cached, claimed, concurrent, deadlined, retried and metered oracle calls.

For each request (one oracle, some records) the runtime

1. answers records already in the label ledger from the ledger (free);
2. claims the others just before calling them: a claim is granted only within
   the query's call budget and money cap (the oracle's worst-case price is
   reserved), in the ledger transaction that checks them (see
   :mod:`abae.store.ledger`). Records claimed but not yet sent are never more
   than the calls in flight (or, for an oracle faster than the ledger, the calls
   it finishes during one ledger write), so a ``kill -9`` wastes at most those;
3. runs each call on a daemon worker thread (:mod:`abae.oracles.attempts`) with a
   deadline (the oracle's ``timeout_s``): a call still running then is abandoned
   and its records fail; anything the oracle raises (``SystemExit`` included)
   fails its records with a message;
4. retries transient errors with exponential backoff and jitter, waiting at least
   the server's ``Retry-After``; a rate-limited answer also lowers the oracle's
   concurrency for a while (:mod:`abae.oracles.adaptive_limit`); each retry
   reserves its worst-case price again;
5. writes finished labels, failures and the money each call cost (settled from
   the answer's token usage, else the declared cost) to the ledger at least every
   ``flush_s`` seconds, and only then hands labels to the caller;
6. stops calling an oracle that keeps failing (:class:`FailureBrake`) and raises
   :class:`~abae.oracles.errors.OracleFailingError` saying what failed and how to
   retry.

Records that fail, that are over the budget or the money cap, get no label:
they are reported in :class:`RuntimeStats` and left out. A later run of the
same query calls again the records whose call was in flight when an earlier run
died (without charging the budget again), and, with ``retry_failed``, the
records whose call failed.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from abae.oracles.adaptive_limit import AdaptiveLimit
from abae.oracles.answers import MeteredAnswer, label_from_output
from abae.oracles.attempts import AttemptResult, start_attempt
from abae.oracles.errors import (
    TRANSIENT_ERRORS,
    OracleFailingError,
    TransientOracleError,
    UnusableAnswerError,
)
from abae.oracles.registry import OracleRegistry, OracleSpec
from abae.oracles.retry import RetryPolicy
from abae.store.ledger import (
    Claim,
    ClaimOwner,
    FailedCall,
    Label,
    LabelLedger,
    MoneyUpdate,
    abandon_claims,
)

__all__ = [
    "DEFAULT_CONCURRENCY",
    "FailureBrake",
    "OracleRuntime",
    "RuntimeStats",
    "label_from_output",
]

DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True)
class FailureBrake:
    """When the runtime stops calling an oracle whose calls keep failing.

    The oracle is stopped once at least ``min_calls`` of its calls have finished in
    this runtime and more than ``max_failure_rate`` of them failed for good
    (exceptions, unusable answers, deadlines, retries exhausted). With the
    defaults: the first 10 calls all failing stops it, as does a failure rate
    above 50 % later on. Records refused by the budget do not count.
    """

    min_calls: int = 10
    max_failure_rate: float = 0.5

    def __post_init__(self) -> None:
        if self.min_calls < 1:
            raise ValueError(f"min_calls must be >= 1, got {self.min_calls}")
        if not 0 <= self.max_failure_rate < 1:
            raise ValueError(f"max_failure_rate must be in [0, 1), got {self.max_failure_rate}")

    def tripped(self, finished: int, failed: int) -> bool:
        """Whether ``failed`` failures among ``finished`` calls should stop the oracle."""
        return finished >= self.min_calls and failed > self.max_failure_rate * finished


@dataclass
class RuntimeStats:
    """Exact accounting of one runtime (all requests so far).

    Attributes:
        fresh_labels: labels bought from an oracle (one per record and oracle).
        reused_labels: labels answered from the ledger without a call.
        attempts: oracle invocations (one per batch), retries included.
        retries: attempts beyond the first.
        failed: (oracle, record id) → error, for records without a label because
            their call failed for good (now or in an earlier run).
        over_budget: (oracle, record id) refused because the call budget was spent.
        lost: (oracle, record id) claimed earlier by this query without a label and
            not called again (only when the runtime does not recall lost records).
        over_cost: (oracle, record id) refused because the money cap was reached.
        recalled: records called again whose call an earlier run lost (or failed,
            with ``retry_failed``), without charging the budget again.
        timed_out: attempts abandoned at their deadline.
        rate_limited: attempts answered "too many requests".
        money: money this runtime's calls cost (settled; worst case for calls
            abandoned or failed without a known cost).
        input_tokens: prompt tokens this runtime's calls used.
        output_tokens: completion tokens this runtime's calls used.
        released: claims granted but never sent, given back (not charged).
    """

    fresh_labels: int = 0
    reused_labels: int = 0
    attempts: int = 0
    retries: int = 0
    failed: dict[tuple[str, int], str] = field(default_factory=dict)
    over_budget: set[tuple[str, int]] = field(default_factory=set)
    lost: set[tuple[str, int]] = field(default_factory=set)
    over_cost: set[tuple[str, int]] = field(default_factory=set)
    recalled: int = 0
    timed_out: int = 0
    rate_limited: int = 0
    money: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    released: int = 0

    def left_out(self) -> set[int]:
        """Record ids that have no label for some oracle they needed."""
        keys = set(self.failed) | self.over_budget | self.lost | self.over_cost
        return {record_id for _, record_id in keys}


@dataclass
class _OracleState:
    """Per-oracle state kept across requests: concurrency and failure counts."""

    limit: AdaptiveLimit
    finished: int = 0
    failed: int = 0
    last_error: str = ""
    described: bool = False


class OracleRuntime:
    """Calls oracles for one query, within its budget and money cap, through the label ledger.

    Args:
        ledger: the collection's ledger.
        registry: the registered oracles.
        query_id: the query the calls are charged to.
        budget: most records the query may claim (across all its runs).
        concurrency: most calls in flight at once (per oracle, also capped by the
            oracle's ``max_concurrency`` and lowered for a while after rate limits).
        retry: the retry policy for transient errors.
        seed: seeds the backoff jitter.
        flush_s: longest time finished labels wait before being written (seconds).
        poll_s: how often to look for labels another process is making (seconds).
        wait_timeout_s: how long to wait for records another live process is labelling.
        on_update: called with the stats after ledger writes (at most every 0.1 s).
        cost_limit: the query's money cap over all its runs (``inf``: none). Each
            call reserves its worst-case price first and is refused beyond the cap.
        retry_failed: call again records whose call failed in an earlier run of
            this query (without charging the budget again).
        recall_lost: call again records whose call an earlier run lost (killed in
            flight), without charging the budget again (default). ``False``: leave
            them out.
        failure_brake: when to stop an oracle that keeps failing (``None``: never).
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
        flush_s: float = 0.05,
        poll_s: float = 0.1,
        wait_timeout_s: float = 600.0,
        on_update: Callable[[RuntimeStats], None] | None = None,
        cost_limit: float = math.inf,
        retry_failed: bool = False,
        recall_lost: bool = True,
        failure_brake: FailureBrake | None = FailureBrake(),
    ) -> None:
        if budget < 0:
            raise ValueError(f"budget must be >= 0, got {budget}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if math.isnan(cost_limit) or cost_limit < 0:
            raise ValueError(f"cost_limit must be a money amount >= 0, got {cost_limit}")
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
        self.cost_limit = cost_limit
        self.retry_failed = retry_failed
        self.recall_lost = recall_lost
        self.failure_brake = failure_brake
        self.owner = ClaimOwner.this_process()
        self.stats = RuntimeStats()
        self._jitter = random.Random(seed)
        self._oracles: dict[str, _OracleState] = {}
        self._last_update = -math.inf
        self._closed = False
        self._ledger_worker = _LedgerWorker()

    def __enter__(self) -> OracleRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Mark this runtime's unfinished claims ``lost`` (calls possibly in flight)."""
        if self._closed:
            return
        self._closed = True
        abandon_claims(self.ledger.store, self.owner)

    def spent(self) -> int:
        """Records charged to the query so far (all runs, all processes)."""
        return self.ledger.spent(self.query_id)

    def spent_this_run(self) -> int:
        """Records this runtime charged to the query (not other processes', not earlier runs')."""
        return self.ledger.spent_by(self.query_id, self.owner)

    def money_spent(self) -> float:
        """The query's money so far (all runs, all processes; reserved money included)."""
        return self.ledger.money_spent(self.query_id)

    def oracle_limit(self, oracle: str) -> int:
        """The oracle's current concurrency limit (lowered after rate limits)."""
        return self._state(self.registry.get(oracle)).limit.limit

    def labels(
        self, oracle: str, record_ids: Sequence[int], args: Mapping[int, tuple[Any, ...]]
    ) -> dict[int, Label]:
        """Labels of ``oracle`` for ``record_ids`` (cached or bought); unlabelled ones are left out.

        Args:
            args: record id → the oracle's argument values for that record.

        Returns:
            record id → label, for every record that has one now.

        Raises:
            OracleFailingError: the oracle kept failing and was stopped (see
                :class:`FailureBrake`); labels bought before are in the ledger.
        """
        if self._closed:
            raise RuntimeError("this OracleRuntime is closed; make a new one")
        spec = self.registry.get(oracle)
        ids = list(dict.fromkeys(int(i) for i in record_ids))
        missing = [i for i in ids if i not in args]
        if missing:
            raise ValueError(f"no arguments given for records {missing[:5]} of oracle {oracle!r}")
        state = self._state(spec)
        if spec.version and not state.described:
            self.ledger.describe_version(spec.key, spec.description)
            state.described = True
        result = self.ledger.lookup(spec.key, ids)
        self.stats.reused_labels += len(result)
        _Request(self, spec, args, result).run([i for i in ids if i not in result])
        return result

    def _state(self, spec: OracleSpec) -> _OracleState:
        if spec.key not in self._oracles:
            maximum = min(spec.max_concurrency or self.concurrency, self.concurrency)
            self._oracles[spec.key] = _OracleState(AdaptiveLimit(maximum))
        return self._oracles[spec.key]

    def _updated(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.on_update is not None and (force or now - self._last_update >= 0.1):
            self._last_update = now
            self.on_update(self.stats)


@dataclass
class _Attempt:
    batch: list[int]
    deadline: float
    reserved_each: float
    started: float = 0.0


@dataclass
class _Money:
    spent: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0


def _describe(error: BaseException) -> str:
    text = str(error)
    if isinstance(error, Exception):
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
    return (
        f"the oracle raised {type(error).__name__}({text}); an oracle must return an answer "
        "or raise an Exception"
    )


class _LedgerWorker:
    """One daemon thread that runs a runtime's ledger writes one after another.

    The request loop hands it a write (with the claims for the next calls) and keeps
    starting calls that were claimed earlier while the transaction runs.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Claim], Future[Claim], Callable[[], None]]]
        self._jobs = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[], Claim], done: Callable[[], None]) -> Future[Claim]:
        """Run ``job`` on the worker; ``done()`` is called after its future is set."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="abae-ledger", daemon=True)
            self._thread.start()
        future: Future[Claim] = Future()
        self._jobs.put((job, future, done))
        return future

    def _work(self) -> None:
        while True:
            job, future, done = self._jobs.get()
            try:
                future.set_result(job())
            except BaseException as error:  # handed to the request loop, raised there
                future.set_exception(error)
            done()


@dataclass
class _SyncJob:
    """A ledger write in progress and what to do when it is done."""

    future: Future[Claim]
    chunk: list[int]
    retries: list[list[int]]
    labels: list[Label]
    failures: dict[int, FailedCall]
    released: int
    started: float = 0.0


_SYNC_DONE = -1


def _moving_average(average: float | None, value: float, weight: float = 0.2) -> float:
    """Exponential moving average (the first value starts it)."""
    return value if average is None else (1.0 - weight) * average + weight * value


class _Request:
    """One ``labels`` call: the claim → call → settle → write loop.

    The loop runs on the caller's thread; oracle calls run on daemon threads and
    ledger writes on the runtime's ledger worker, both reporting back through
    ``results``.
    """

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
        self.state = runtime._state(spec)
        self.price = spec.worst_case_cost
        self.todo: deque[int] = deque()
        self.ready: deque[list[int]] = deque()
        self.due: list[tuple[float, int, list[int]]] = []
        self.to_reserve: list[list[int]] = []
        self.inflight: dict[int, _Attempt] = {}
        self.results: queue.SimpleQueue[tuple[int, AttemptResult | None]] = queue.SimpleQueue()
        self.sync_job: _SyncJob | None = None
        self.waiting: list[int] = []
        self.tries: dict[int, int] = {}
        self.last_error: dict[int, str] = {}
        self.recalled_from: dict[int, str] = {}
        self.reserved: dict[int, float] = {}
        self.record_money: dict[int, float] = {}
        self.new_labels: list[Label] = []
        self.failures: dict[int, FailedCall] = {}
        self.money: dict[int, _Money] = {}
        self.release: dict[int, str] = {}
        self.stop_reason: str | None = None
        self.money_wait_until: float | None = None
        self.money_waiting_since: float | None = None
        self.last_write = time.monotonic()
        self.call_s: float | None = None  # moving average of one attempt's duration
        self.write_s: float | None = None  # ... and of one ledger write's
        self._ids = itertools.count()

    # --- the loop -------------------------------------------------------------------

    def run(self, todo_ids: list[int]) -> None:
        self.todo.extend(todo_ids)
        waiting_since: float | None = None
        interrupted = True
        try:
            while True:
                self._collect(timeout=None)
                now = time.monotonic()
                self._expire(now)
                brake = self.rt.failure_brake
                if (
                    self.stop_reason is None
                    and brake is not None
                    and brake.tripped(self.state.finished, self.state.failed)
                ):
                    self._stop()
                free = self._start_ready(now)
                unwritten = self._unwritten()
                if self.sync_job is None:
                    claim_n, claim_due = self._claim_size(free, now)
                    write_due = unwritten and (
                        now - self.last_write >= self.rt.flush_s or not self.inflight
                    )
                    if claim_due or self.to_reserve or write_due:
                        self._submit(claim_n)
                        continue
                if self.inflight or self.due or self.sync_job is not None:
                    self._collect(timeout=self._wait_time(now))
                    continue
                if self.ready or unwritten or self.to_reserve:
                    continue
                if self.waiting and not self.todo:
                    waiting_since = waiting_since or time.monotonic()
                    if time.monotonic() - waiting_since > self.rt.wait_timeout_s:
                        for record_id in self.waiting:
                            self.rt.stats.failed[(self.spec.name, record_id)] = (
                                "another process held this record's claim for too long"
                            )
                        self.waiting = []
                        continue
                    time.sleep(self.rt.poll_s)
                    self._poll_waiting()
                    continue
                if self.todo and self.stop_reason is None:
                    if self.money_wait_until is not None:
                        self._collect(timeout=max(self.money_wait_until - now, 0.001))
                    continue
                break
            interrupted = False
        finally:
            self._finish(interrupted)
        if self.stop_reason is not None:
            raise OracleFailingError(self.stop_reason)

    def _unwritten(self) -> bool:
        return bool(self.new_labels or self.failures or self.money or self.release)

    def _wait_time(self, now: float) -> float:
        wake = [a.deadline for a in self.inflight.values()]
        if self.due:
            wake.append(self.due[0][0])
        if self._unwritten() and self.sync_job is None:
            wake.append(self.last_write + self.rt.flush_s)
        return min(max(min(wake, default=now + 0.25) - now, 0.001), 0.25)

    def _collect(self, timeout: float | None) -> None:
        """Settle finished attempts and ledger writes (waiting up to ``timeout`` s for one)."""
        try:
            if timeout is None:
                item = self.results.get_nowait()
            else:
                item = self.results.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if item[0] == _SYNC_DONE:
                self._synced()
            else:
                attempt = self.inflight.pop(item[0], None)
                if attempt is not None:  # else: abandoned at its deadline, answer ignored
                    assert item[1] is not None
                    self.call_s = _moving_average(self.call_s, time.monotonic() - attempt.started)
                    self._settle(attempt, item[1])
            try:
                item = self.results.get_nowait()
            except queue.Empty:
                return

    def _expire(self, now: float) -> None:
        for attempt_id, attempt in list(self.inflight.items()):
            if attempt.deadline <= now:
                del self.inflight[attempt_id]
                self.money_wait_until = None
                self.rt.stats.timed_out += 1
                for record_id in attempt.batch:
                    self._charge(record_id, attempt.reserved_each)
                    self._fail(
                        record_id,
                        f"no answer within timeout_s={self.spec.timeout_s:g} s; the call was "
                        "abandoned (raise the oracle's timeout_s if it needs longer)",
                    )

    def _free_slots(self) -> int:
        return self.state.limit.limit - len(self.inflight) - len(self.to_reserve)

    def _start_ready(self, now: float) -> int:
        """Start claimed batches and due retries in free slots; returns the slots left."""
        free = self._free_slots()
        while free > 0 and self.ready:
            self._start(self.ready.popleft())
            free -= 1
        while free > 0 and self.due and self.due[0][0] <= now:
            batch = heapq.heappop(self.due)[2]
            if self.price > 0:
                self.to_reserve.append(batch)  # reserved by the next ledger write
            else:
                self._start(batch)
            free -= 1
        return free

    def _claim_size(self, free: int, now: float) -> tuple[int, bool]:
        """Records to claim with the next ledger write, and whether to write for them now.

        Enough for the free slots, plus at most as many as will be in flight, so the
        records claimed but not sent never outnumber the calls in flight, or, for an
        oracle faster than the ledger, the calls its slots finish during one ledger
        write (what they would send before the next write could claim more; a kill
        then leaves unsent at most what the next write's time would have sent). A
        write just for claims is due when slots are free or the claimed-ahead records
        have fallen to half that allowance; a write due anyway takes all the room
        there is. None while the money cap waits for calls in flight to settle.
        """
        if self.stop_reason is not None or not self.todo:
            return 0, False
        if self.money_wait_until is not None and now < self.money_wait_until:
            return 0, False
        size = self.spec.batch_size
        start_now = min(len(self.todo), max(free, 0) * size)
        in_flight = sum(len(a.batch) for a in self.inflight.values())
        in_flight += start_now + sum(len(b) for b in self.to_reserve)
        ahead = sum(len(b) for b in self.ready)
        allowance = max(in_flight, self._finished_per_write())
        room = max(allowance - ahead, 0) // size * size
        claim_n = min(len(self.todo), start_now + room)
        return claim_n, start_now > 0 or (claim_n > 0 and ahead <= allowance // 2)

    def _finished_per_write(self) -> int:
        """Records the oracle's slots finish during one ledger write (0 until both are timed)."""
        if self.call_s is None or self.write_s is None:
            return 0
        calls = self.state.limit.limit * self.write_s / max(self.call_s, 1e-6)
        return int(min(calls, 1e6)) * self.spec.batch_size

    def _start(self, batch: list[int]) -> None:
        inputs = [tuple(self.args[record_id]) for record_id in batch]
        for record_id in batch:
            self.tries[record_id] = self.tries.get(record_id, 0) + 1
        attempt_id = next(self._ids)
        started = time.monotonic()
        self.inflight[attempt_id] = _Attempt(
            batch, started + self.spec.timeout_s, self.price, started
        )
        self.rt.stats.attempts += 1
        if self.tries[batch[0]] > 1:
            self.rt.stats.retries += 1
        results = self.results
        start_attempt(self.spec, inputs, lambda result: results.put((attempt_id, result)))

    # --- outcomes -------------------------------------------------------------------

    def _charge(
        self, record_id: int, spent: float, input_tokens: int = 0, output_tokens: int = 0
    ) -> None:
        money = self.money.setdefault(record_id, _Money())
        money.spent += spent
        money.input_tokens += input_tokens
        money.output_tokens += output_tokens
        self.reserved[record_id] = 0.0
        self.record_money[record_id] = self.record_money.get(record_id, 0.0) + spent
        self.rt.stats.money += spent
        self.rt.stats.input_tokens += input_tokens
        self.rt.stats.output_tokens += output_tokens

    def _fail(self, record_id: int, message: str, raw_answer: str | None = None) -> None:
        self.failures[record_id] = FailedCall(message, self.tries.get(record_id, 0), raw_answer)
        self.state.finished += 1
        self.state.failed += 1
        self.state.last_error = message

    def _settle(self, attempt: _Attempt, result: AttemptResult) -> None:
        self.money_wait_until = None  # money may have been freed: claim again
        if result.error is None:
            assert result.outputs is not None
            self.state.limit.on_success()
            for record_id, output in zip(attempt.batch, result.outputs, strict=True):
                self._answer(record_id, output)
            return
        error = result.error
        batch = attempt.batch
        if isinstance(error, TRANSIENT_ERRORS):
            if isinstance(error, TransientOracleError) and error.spent is not None:
                spent_each = error.spent / len(batch)
            elif isinstance(error, TimeoutError):
                spent_each = attempt.reserved_each  # possibly answered and billed
            else:
                spent_each = 0.0
            retry_after = None
            if isinstance(error, TransientOracleError):
                retry_after = error.retry_after_s
                if error.rate_limited:
                    self.rt.stats.rate_limited += 1
                    self.state.limit.on_rate_limited(time.monotonic(), retry_after)
            for record_id in batch:
                self._charge(record_id, spent_each)
            tries = self.tries[batch[0]]
            if tries < self.rt.retry.max_attempts and self.stop_reason is None:
                wait = self.rt.retry.delay(tries, self.rt._jitter.random(), retry_after)
                heapq.heappush(self.due, (time.monotonic() + wait, next(self._ids), batch))
                for record_id in batch:
                    self.last_error[record_id] = _describe(error)
                return
            for record_id in batch:
                self._fail(record_id, f"still failing after {tries} attempts: {_describe(error)}")
            return
        spent = getattr(error, "spent", None)
        spent_each = attempt.reserved_each if spent is None else float(spent) / len(batch)
        for record_id in batch:
            self._charge(record_id, spent_each)
            self._fail(record_id, _describe(error))

    def _answer(self, record_id: int, output: Any) -> None:
        spec = self.spec
        if isinstance(output, MeteredAnswer):
            self._charge(record_id, output.cost, output.input_tokens, output.output_tokens)
        else:
            self._charge(record_id, spec.cost)
        try:
            label = label_from_output(
                spec.name,
                record_id,
                output,
                spec.cost,
                self.rt.query_id,
                returns=spec.returns,
                categories=spec.categories,
                version=spec.version,
            )
        except UnusableAnswerError as error:
            self._fail(record_id, str(error), error.raw_answer)
            return
        money = self.record_money.get(record_id, label.cost)  # every attempt's, retries too
        self.new_labels.append(
            label if money == label.cost else dataclasses.replace(label, cost=money)
        )
        self.state.finished += 1

    def _stop(self) -> None:
        """Stop calling the oracle: give back unsent claims, fail pending retries."""
        state = self.state
        self.stop_reason = (
            f"oracle {self.spec.name!r} is failing: {state.failed} of its {state.finished} "
            f"finished calls failed (last error: {state.last_error}); it was stopped so that "
            "the query's budget is not spent on failures. Fix the oracle, then run the query "
            "again with --retry-failed (Python: retry_failed=True) to call the failed records "
            "again without charging ORACLE LIMIT again"
        )
        self._give_back_unsent()
        for batch in self.to_reserve:
            for record_id in batch:
                self._fail(record_id, self.last_error.get(record_id, "stopped"))
        self.to_reserve = []
        while self.due:
            for record_id in heapq.heappop(self.due)[2]:
                self._fail(record_id, self.last_error.get(record_id, "stopped"))

    def _give_back_unsent(self) -> None:
        while self.ready:
            for record_id in self.ready.popleft():
                self.release[record_id] = self.recalled_from.get(record_id, "new")

    def _poll_waiting(self) -> None:
        found = self.rt.ledger.lookup(self.spec.key, self.waiting)
        self.result.update(found)
        self.rt.stats.reused_labels += len(found)
        self.todo.extend(i for i in self.waiting if i not in found)
        self.waiting = []

    # --- the ledger -----------------------------------------------------------------

    def _submit(self, claim_n: int) -> None:
        """Hand the finished work and the next claims to the ledger worker."""
        chunk = [self.todo.popleft() for _ in range(claim_n)]
        retries, self.to_reserve = self.to_reserve, []
        write = self._write_job(chunk, [r for batch in retries for r in batch])
        self.sync_job = _SyncJob(
            future=self.rt._ledger_worker.submit(
                write, lambda: self.results.put((_SYNC_DONE, None))
            ),
            chunk=chunk,
            retries=retries,
            labels=self.new_labels,
            failures=self.failures,
            released=len(self.release),
            started=time.monotonic(),
        )
        self.new_labels, self.failures, self.money, self.release = [], {}, {}, {}
        self.last_write = time.monotonic()

    def _write_job(self, chunk: list[int], reserve_ids: list[int]) -> Callable[[], Claim]:
        """A ledger write of everything finished so far (a snapshot), plus the claims."""
        money = {
            record_id: MoneyUpdate(
                spent=m.spent,
                reserved=self.reserved.get(record_id, 0.0),
                input_tokens=m.input_tokens,
                output_tokens=m.output_tokens,
            )
            for record_id, m in self.money.items()
        }
        labels = list(self.new_labels)
        attempts = {label.record_id: self.tries.get(label.record_id, 1) for label in labels}
        failures = dict(self.failures)
        release = dict(self.release)
        rt, key, price = self.rt, self.spec.key, self.price

        def write() -> Claim:
            return rt.ledger.sync(
                rt.query_id,
                rt.budget,
                rt.owner,
                key,
                claim_ids=chunk,
                labels=labels,
                attempts=attempts,
                failures=failures,
                money=money,
                release=release,
                reserve_ids=reserve_ids,
                price=price,
                cost_limit=rt.cost_limit,
                retry_failed=rt.retry_failed,
                recall_lost=rt.recall_lost,
            )

        return write

    def _synced(self) -> None:
        """A ledger write finished: hand its labels over, start or queue what it granted."""
        job = self.sync_job
        assert job is not None
        self.sync_job = None
        self.write_s = _moving_average(self.write_s, time.monotonic() - job.started)
        claim = job.future.result()
        self._written(job.labels, job.failures, job.released)
        refused = set(claim.reserve_refused)
        later = set(claim.reserve_later)
        for batch in job.retries:
            if later.intersection(batch):
                wait = time.monotonic() + self.rt.poll_s
                heapq.heappush(self.due, (wait, next(self._ids), batch))
            elif refused.intersection(batch):
                for record_id in batch:
                    self._fail(record_id, "the query's money cap was reached before a retry")
            else:
                for record_id in batch:
                    self.reserved[record_id] = self.price
                self.ready.appendleft(batch)
        self._claimed(job.chunk, claim)

    def _written(self, labels: list[Label], failures: dict[int, FailedCall], released: int) -> None:
        stats = self.rt.stats
        for label in labels:
            self.result[label.record_id] = label
        stats.fresh_labels += len(labels)
        for record_id, failure in failures.items():
            stats.failed[(self.spec.name, record_id)] = failure.message
        stats.released += released
        if labels or failures:
            self.rt._updated()

    def _claimed(self, chunk: list[int], claim: Claim) -> None:
        name = self.spec.name
        stats = self.rt.stats
        stats.over_budget.update((name, i) for i in claim.over_budget)
        stats.over_cost.update((name, i) for i in claim.over_cost)
        stats.lost.update((name, i) for i in claim.lost)
        for record_id, error in claim.failed.items():
            stats.failed[(name, record_id)] = (
                f"failed in an earlier run: {error} (rerun with --retry-failed to call it again)"
            )
        stats.recalled += len(claim.recalled)
        self.recalled_from.update(claim.recalled)
        self.waiting.extend(claim.waiting)
        self._wait_for_money(claim.money_waiting)
        accounted = (
            set(claim.granted)
            | set(claim.waiting)
            | set(claim.over_budget)
            | set(claim.over_cost)
            | set(claim.lost)
            | set(claim.failed)
            | set(claim.money_waiting)
        )
        labelled_meanwhile = [i for i in chunk if i not in accounted]
        if labelled_meanwhile:
            found = self.rt.ledger.lookup(self.spec.key, labelled_meanwhile)
            self.result.update(found)
            stats.reused_labels += len(found)
        size = self.spec.batch_size
        for record_id in claim.granted:
            self.reserved[record_id] = self.price
        for start in range(0, len(claim.granted), size):
            self.ready.append(claim.granted[start : start + size])
        if self.stop_reason is not None:
            self._give_back_unsent()

    def _wait_for_money(self, records: list[int]) -> None:
        """Records that fit under the money cap once calls in flight settle: claim later.

        They wait for one of this request's calls to finish, or ``poll_s`` when the
        calls in flight belong to another process; after ``wait_timeout_s`` without
        room they are left out as over the cap.
        """
        now = time.monotonic()
        if not records:
            self.money_waiting_since = None
            return
        self.money_waiting_since = self.money_waiting_since or now
        if now - self.money_waiting_since > self.rt.wait_timeout_s:
            self.rt.stats.over_cost.update((self.spec.name, i) for i in records)
            return
        self.todo.extendleft(reversed(records))
        self.money_wait_until = math.inf if self.inflight else now + self.rt.poll_s

    def _finish(self, interrupted: bool) -> None:
        """Give back unsent claims and write what finished (best effort when interrupted)."""
        job = self.sync_job
        if job is not None:
            try:
                job.future.result(timeout=1.0 if interrupted else None)
                self._synced()
            except Exception:
                if not interrupted:
                    raise
        self._give_back_unsent()
        if self._unwritten():
            try:
                self._write_job([], [])()
                self._written(self.new_labels, self.failures, len(self.release))
                self.new_labels, self.failures, self.money, self.release = [], {}, {}, {}
            except Exception:
                if not interrupted:
                    raise
        self.rt._updated(force=True)
