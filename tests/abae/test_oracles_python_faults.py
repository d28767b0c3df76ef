"""Hung and misbehaving Python oracles: deadlines, Ctrl-C, BaseExceptions, bad answers,
the failure brake and --retry-failed, per-run accounting, lost claims."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from abae.oracles import (
    DEFAULT_TIMEOUT_S,
    FailureBrake,
    OracleFailingError,
    OracleRegistry,
    OracleRuntime,
    RetryPolicy,
    collecting_into,
    oracle,
)
from abae.store import ClaimOwner, LabelLedger, Store

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.01)


@pytest.fixture
def ledger(tmp_path: Path) -> LabelLedger:
    return LabelLedger(Store(tmp_path / "p.duckdb"), "r")


def registry_of(name: str, fn: Callable[..., Any], **settings: Any) -> OracleRegistry:
    registry = OracleRegistry()
    with collecting_into(registry):
        oracle(name, **settings)(fn)
    return registry


def run(
    ledger: LabelLedger,
    registry: OracleRegistry,
    ids: list[int],
    name: str,
    **settings: Any,
) -> tuple[dict[int, Any], OracleRuntime]:
    options: dict[str, Any] = {"query_id": "q", "budget": 1000, "retry": FAST_RETRY}
    options.update(settings)
    with OracleRuntime(ledger, registry, **options) as rt:
        labels = rt.labels(name, ids, {i: (i,) for i in ids})
    return labels, rt


def test_a_hung_call_fails_its_record_at_the_deadline(ledger: LabelLedger) -> None:
    release = threading.Event()

    def sometimes_hangs(v: int) -> bool:
        if v == 3:
            release.wait()  # hangs until the test ends
        return v % 2 == 0

    registry = registry_of("slow", sometimes_hangs, timeout_s=0.2)
    assert registry_of("x", sometimes_hangs).get("x").timeout_s == DEFAULT_TIMEOUT_S
    labels, rt = run(ledger, registry, list(range(6)), "slow")
    release.set()
    assert sorted(labels) == [0, 1, 2, 4, 5]
    assert rt.stats.failed[("slow", 3)].startswith("no answer within timeout_s=0.2 s")
    assert rt.stats.timed_out == 1
    assert ledger.claim_states("q") == {"done": 5, "failed": 1}


HUNG_SCRIPT = """
import signal, sys, threading
# A shell starts background jobs with SIGINT ignored, and Python then installs no
# KeyboardInterrupt handler: restore it, as an interactive terminal would have it.
signal.signal(signal.SIGINT, signal.default_int_handler)
from pathlib import Path
from abae.oracles import OracleRegistry, OracleRuntime, collecting_into, oracle
from abae.store import LabelLedger, Store

registry = OracleRegistry()
with collecting_into(registry):
    @oracle("hangs", timeout_s=600)
    def hangs(v):
        threading.Event().wait()  # never returns

runtime = OracleRuntime(LabelLedger(Store(Path(sys.argv[1])), "r"), registry, query_id="q", budget=64)
print("calling", flush=True)
try:
    runtime.labels("hangs", list(range(32)), {i: (i,) for i in range(32)})
except KeyboardInterrupt:
    runtime.close()
    print("interrupted", flush=True)
    sys.exit(130)
"""


def test_ctrl_c_ends_the_process_while_oracles_hang(tmp_path: Path) -> None:
    script = tmp_path / "hung.py"
    script.write_text(HUNG_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "s.duckdb")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "calling"
    time.sleep(0.5)  # the calls are in flight (and hang)
    process.send_signal(signal.SIGINT)
    # a hang guard, not a speed target (benchmarks/bench_oracles.py measures the time)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 130
    assert out.strip() == "interrupted"
    ledger = LabelLedger(Store(tmp_path / "s.duckdb"), "r")
    states = ledger.claim_states("q")
    # the calls in flight stay charged (possibly paid); nothing else was claimed
    assert states == {"lost": states["lost"]}
    assert states["lost"] <= 16


class Weird(BaseException):
    pass


def test_base_exceptions_and_bad_answers_fail_only_their_record(ledger: LabelLedger) -> None:
    answers: dict[int, Callable[[], Any]] = {
        1: lambda: (_ for _ in ()).throw(SystemExit(3)),
        2: lambda: (_ for _ in ()).throw(KeyboardInterrupt()),
        3: lambda: (_ for _ in ()).throw(Weird("odd")),
        4: lambda: (True, 10**400),
        5: lambda: float("nan"),
        6: lambda: "yes",
        7: lambda: [True, "x"],
    }

    def misbehaves(v: int) -> Any:
        return answers[v]() if v in answers else (v % 2 == 0, float(v))

    labels, rt = run(
        ledger, registry_of("odd", misbehaves), list(range(10)), "odd", failure_brake=None
    )
    assert sorted(labels) == [0, 8, 9]
    failed = {r: m for (_, r), m in rt.stats.failed.items()}
    assert failed[1] == (
        "the oracle raised SystemExit(3); an oracle must return an answer or raise an Exception"
    )
    assert failed[2].startswith("the oracle raised KeyboardInterrupt()")
    assert failed[3].startswith("the oracle raised Weird(odd)")
    assert failed[4] == "oracle 'odd' returned a number too large for a float for record 4"
    assert "numbers must be finite" in failed[5]
    assert "declare them with returns=[...]" in failed[6]
    assert "expected True/False, a number, or a (True/False, number) pair" in failed[7]


def test_declared_returns_are_enforced(ledger: LabelLedger) -> None:
    labels, rt = run(ledger, registry_of("flag", lambda v: 3.0, returns="bool"), [1], "flag")
    assert labels == {}
    assert "expected True/False (declared returns='bool')" in rt.stats.failed[("flag", 1)]
    kinds = registry_of("kind", lambda v: ["cat", "dog", "emu"][v], returns=["cat", "dog"])
    labels, rt = run(ledger, kinds, [0, 1, 2], "kind")
    assert {i: labels[i].category for i in labels} == {0: "cat", 1: "dog"}
    assert "expected one of ['cat', 'dog']" in rt.stats.failed[("kind", 2)]


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ({0: True, 1: False}, "returned a dict; return a list with one answer per input"),
        ([True], "returned 1 answers for 2 inputs"),
        (np.zeros((2, 2)), "returned an array of shape (2, 2)"),
        (None, "returned NoneType"),
    ],
)
def test_bad_batch_returns_fail_the_batch_clearly(
    ledger: LabelLedger, returned: Any, message: str
) -> None:
    registry = registry_of("batchy", lambda batch: returned, batch_size=2)
    labels, rt = run(ledger, registry, [0, 1], "batchy")
    assert labels == {}
    assert message in rt.stats.failed[("batchy", 0)]


def test_batch_generators_and_arrays_are_accepted(ledger: LabelLedger) -> None:
    registry = OracleRegistry()
    with collecting_into(registry):
        oracle("gen", batch_size=3)(lambda batch: (float(v) for (v,) in batch))
        oracle("arr", batch_size=3)(lambda batch: np.array([v > 1 for (v,) in batch]))
    labels, _ = run(ledger, registry, [0, 1, 2, 3], "gen")
    assert [labels[i].statistic for i in range(4)] == [0.0, 1.0, 2.0, 3.0]
    labels, _ = run(ledger, registry, [0, 1, 2, 3], "arr")
    assert [labels[i].predicate for i in range(4)] == [False, False, True, True]


def test_a_broken_oracle_is_stopped_and_failed_records_can_be_retried(
    ledger: LabelLedger,
) -> None:
    state = {"broken": True, "calls": 0}
    lock = threading.Lock()

    def fragile(v: int) -> bool:
        with lock:
            state["calls"] += 1
        if state["broken"]:
            raise FileNotFoundError(f"model weights missing (record {v})")
        return v % 3 == 0

    registry = registry_of("fragile", fragile)
    ids = list(range(200))
    with pytest.raises(OracleFailingError) as raised:
        run(ledger, registry, ids, "fragile", budget=200, concurrency=4)
    message = str(raised.value)
    assert "FileNotFoundError: model weights missing" in message
    assert "--retry-failed" in message
    assert state["calls"] <= FailureBrake().min_calls + 4
    spent_first = ledger.spent("q")
    assert spent_first == state["calls"]  # unsent claims were given back, not charged
    assert ledger.claim_states("q") == {"failed": spent_first}
    # fixed; a plain rerun leaves the failed records out and says how to retry them
    state["broken"] = False
    labels, rt = run(ledger, registry, ids, "fragile", budget=200, concurrency=4)
    assert len(labels) == 200 - spent_first
    assert "rerun with --retry-failed" in next(iter(rt.stats.failed.values()))
    # --retry-failed calls them again without charging the budget again
    labels, rt = run(ledger, registry, ids, "fragile", budget=200, retry_failed=True)
    assert len(labels) == 200
    assert rt.stats.recalled == spent_first
    assert ledger.spent("q") == 200
    assert ledger.claim_states("q") == {"done": 200}


def test_a_record_that_failed_is_reported_as_failed_not_lost(ledger: LabelLedger) -> None:
    registry = registry_of("picky", lambda v: 1 / 0 if v == 2 else True)
    with OracleRuntime(ledger, registry, query_id="q", budget=10) as rt:
        rt.labels("picky", [1, 2], {1: (1,), 2: (2,)})
        rt.labels("picky", [2, 3], {2: (2,), 3: (3,)})  # asks for the failed record again
    assert rt.stats.lost == set()
    assert "ZeroDivisionError" in rt.stats.failed[("picky", 2)]
    assert ledger.claim_states("q") == {"done": 2, "failed": 1}


def test_calls_spent_this_run_count_only_this_runtimes_purchases(ledger: LabelLedger) -> None:
    registry = registry_of("o", lambda v: True)
    with OracleRuntime(ledger, registry, query_id="q", budget=100) as first:
        first.labels("o", list(range(5)), {i: (i,) for i in range(5)})
        with OracleRuntime(ledger, registry, query_id="q", budget=100) as second:
            second.labels("o", list(range(3, 12)), {i: (i,) for i in range(3, 12)})
            assert second.spent_this_run() == 7
        assert first.spent_this_run() == 5
        assert first.spent() == 12


def test_calls_lost_by_a_dead_run_are_called_again_without_a_new_charge(
    ledger: LabelLedger,
) -> None:
    dead = ClaimOwner(token="dead", host=ClaimOwner.this_process().host, pid=2**22 + 4242)
    assert ledger.claim("q", 10, dead, "o", [0, 1, 2]).granted == [0, 1, 2]
    calls: list[int] = []
    registry = registry_of("o", lambda v: calls.append(v) or True)
    labels, rt = run(ledger, registry, [0, 1, 2, 3], "o", budget=4)
    assert sorted(labels) == [0, 1, 2, 3]
    assert sorted(calls) == [0, 1, 2, 3]
    assert rt.stats.recalled == 3
    assert ledger.spent("q") == 4
    assert rt.spent_this_run() == 1  # only record 3 was a new purchase


def test_runtime_concurrency_stays_within_the_oracles_limit(ledger: LabelLedger) -> None:
    active = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def counted(v: int) -> bool:
        with lock:
            active["now"] += 1
            active["peak"] = max(active["peak"], active["now"])
        time.sleep(0.01)
        with lock:
            active["now"] -= 1
        return True

    registry = registry_of("counted", counted, max_concurrency=3)
    labels, _ = run(ledger, registry, list(range(40)), "counted", concurrency=8)
    assert len(labels) == 40
    assert active["peak"] <= 3
