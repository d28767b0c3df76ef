"""Oracle runtime: registry, oracle files, retries, failures, budget, HTTP adapter."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import abae
from abae.oracles import (
    HttpOracle,
    OracleFileError,
    OracleRegistry,
    OracleRuntime,
    RetryPolicy,
    TransientOracleError,
    collecting_into,
    load_oracle_file,
    oracle,
)
from abae.store import LabelLedger, Store

FAST_RETRY = RetryPolicy(max_attempts=8, base_delay_s=0.001, max_delay_s=0.01)


@pytest.fixture
def ledger(tmp_path: Path) -> LabelLedger:
    # The ledger only needs the collection's name; no records are read.
    return LabelLedger(Store(tmp_path / "o.duckdb"), "r")


def test_decorator_registers_into_the_active_registry() -> None:
    registry = OracleRegistry()
    with collecting_into(registry):

        @abae.oracle("is_even", cost=0.5)
        def is_even(x: int) -> bool:
            return x % 2 == 0

    assert registry.names() == ["is_even"]
    assert registry.get("IS_EVEN").cost == 0.5
    assert is_even(2) is True
    with pytest.raises(ValueError, match="cost must be >= 0"):
        oracle("bad", cost=-1)(lambda x: x)


def test_load_oracle_file(tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text(
        "import abae\n@abae.oracle('f', batch_size=4)\ndef f(batch):\n    return [1.0] * len(batch)\n"
    )
    registry = load_oracle_file(good)
    assert registry.get("f").batch_size == 4
    broken = tmp_path / "broken.py"
    broken.write_text("import abae\nraise RuntimeError('no GPU')\n")
    with pytest.raises(OracleFileError, match=r"RuntimeError: no GPU \(line 2\)"):
        load_oracle_file(broken)
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(OracleFileError, match="registers no oracle"):
        load_oracle_file(empty)
    with pytest.raises(OracleFileError, match="does not exist"):
        load_oracle_file(tmp_path / "missing.py")


def _flaky_registry(failure_rate: float, seed: int) -> tuple[OracleRegistry, dict[str, int]]:
    counts = {"invocations": 0, "failures": 0}
    lock = threading.Lock()
    rng = np.random.default_rng(seed)
    registry = OracleRegistry()
    with collecting_into(registry):

        @oracle("flaky", cost=1.0)
        def flaky(v: int) -> tuple[bool, float]:
            with lock:
                counts["invocations"] += 1
                fail = rng.random() < failure_rate
                counts["failures"] += int(fail)
            if fail:
                raise TransientOracleError("503 from the model server")
            return v % 3 == 0, float(v)

    return registry, counts


def test_thirty_percent_transient_failures_exact_accounting(ledger: LabelLedger) -> None:
    registry, counts = _flaky_registry(0.3, seed=1)
    ids = list(range(150))
    with OracleRuntime(
        ledger, registry, query_id="q", budget=150, concurrency=8, retry=FAST_RETRY
    ) as runtime:
        labels = runtime.labels("flaky", ids, {i: (i,) for i in ids})
    stats = runtime.stats
    assert len(labels) == 150
    assert not stats.failed
    assert all(labels[i].predicate == (i % 3 == 0) and labels[i].statistic == i for i in ids)
    assert stats.fresh_labels == 150
    assert stats.attempts == counts["invocations"]
    assert stats.retries == counts["failures"] > 20
    assert ledger.spent("q") == 150
    assert ledger.claim_states("q") == {"done": 150}
    assert sum(lb.cost for lb in ledger.lookup("flaky", ids).values()) == 150.0


def test_permanent_failures_are_reported_and_left_out(ledger: LabelLedger) -> None:
    registry = OracleRegistry()
    with collecting_into(registry):

        @oracle("picky")
        def picky(v: int) -> object:
            if v == 3:
                raise KeyError("no such frame")
            if v == 4:
                return "yes"
            if v == 5:
                raise TransientOracleError("always busy")
            return True

    ids = list(range(8))
    with OracleRuntime(
        ledger, registry, query_id="q", budget=8, retry=RetryPolicy(3, 0.0, 0.0)
    ) as runtime:
        labels = runtime.labels("picky", ids, {i: (i,) for i in ids})
    assert sorted(labels) == [0, 1, 2, 6, 7]
    failed = runtime.stats.failed
    assert set(failed) == {("picky", 3), ("picky", 4), ("picky", 5)}
    assert "KeyError" in failed[("picky", 3)]
    assert "expected True/False" in failed[("picky", 4)]
    assert "after 3 attempts" in failed[("picky", 5)]
    assert runtime.stats.left_out() == {3, 4, 5}
    assert ledger.claim_states("q") == {"done": 5, "failed": 3}


def test_budget_is_never_exceeded_and_cache_is_free(ledger: LabelLedger) -> None:
    calls: list[int] = []
    registry = OracleRegistry()
    with collecting_into(registry):
        oracle("o")(lambda v: calls.append(v) or True)
    args = {i: (i,) for i in range(100)}
    with OracleRuntime(ledger, registry, query_id="q", budget=30) as runtime:
        first = runtime.labels("o", list(range(20)), args)
        second = runtime.labels("o", list(range(10, 50)), args)
    assert len(first) == 20
    assert len(second) == 20  # 10 cached + 10 fresh, then the budget is spent
    assert len(calls) == 30
    assert ledger.spent("q") == 30
    assert len(runtime.stats.over_budget) == 20
    with OracleRuntime(ledger, registry, query_id="other", budget=5) as runtime:
        cached = runtime.labels("o", list(range(30)), args)
    assert len(cached) == 30
    assert len(calls) == 30
    assert runtime.stats.reused_labels == 30
    assert ledger.spent("other") == 0


def test_batched_oracle_and_concurrency_limit(ledger: LabelLedger) -> None:
    active = {"now": 0, "peak": 0}
    lock = threading.Lock()
    registry = OracleRegistry()
    with collecting_into(registry):

        @oracle("batchy", batch_size=5, max_concurrency=2)
        def batchy(batch: list[tuple[int]]) -> list[float]:
            with lock:
                active["now"] += 1
                active["peak"] = max(active["peak"], active["now"])
            time.sleep(0.02)
            with lock:
                active["now"] -= 1
            return [float(v) * 2 for (v,) in batch]

    ids = list(range(40))
    with OracleRuntime(ledger, registry, query_id="q", budget=40, concurrency=8) as runtime:
        labels = runtime.labels("batchy", ids, {i: (i,) for i in ids})
    assert [labels[i].statistic for i in ids] == [2.0 * i for i in ids]
    assert active["peak"] <= 2
    assert runtime.stats.attempts == 8


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict[str, object]] = []  # noqa: RUF012
    fail_first = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        if self.path == "/bad":
            self.send_response(400)
            self.end_headers()
            return
        outputs = [[args[0] % 2 == 0, args[0] * 1.5] for args in body["inputs"]]
        payload = json.dumps({"outputs": outputs}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.requests = []
    _Handler.fail_first = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_oracle_batches_retries_and_labels(ledger: LabelLedger, server: str) -> None:
    _Handler.fail_first = 2
    registry = OracleRegistry()
    with collecting_into(registry):
        abae.oracles.http_oracle("remote", f"{server}/label", batch_size=10, max_concurrency=3)
    ids = list(range(25))
    with OracleRuntime(ledger, registry, query_id="q", budget=25, retry=FAST_RETRY) as runtime:
        labels = runtime.labels("remote", ids, {i: (i,) for i in ids})
    assert [(labels[i].predicate, labels[i].statistic) for i in ids] == [
        (i % 2 == 0, i * 1.5) for i in ids
    ]
    assert runtime.stats.retries == 2
    assert len(_Handler.requests) == 3 + 2
    assert _Handler.requests[0]["oracle"] == "remote"


def test_http_oracle_permanent_errors_and_validation(server: str) -> None:
    adapter = HttpOracle("remote", f"{server}/bad")
    with pytest.raises(abae.oracles.OracleHttpError, match="HTTP 400"):
        adapter([(1,)])
    with pytest.raises(ValueError, match="http"):
        HttpOracle("x", "file:///etc/passwd")
    assert HttpOracle("x", "https://example.org").ssl_context.verify_mode.name == "CERT_REQUIRED"
    unreachable = HttpOracle("x", "http://127.0.0.1:9/none", timeout_s=0.5)
    with pytest.raises(TransientOracleError):
        unreachable([(1,)])
