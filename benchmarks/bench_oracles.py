"""Benchmark the oracle runtime with the OpenAI-compatible oracle against a local test server.

1. Throughput: the server answers after 200 ms; 16 calls in flight, so the ideal
   is 16 / 0.2 s = 80 calls/s. Measured through the real ``openai`` client and the
   full runtime (claims, money, ledger writes). Target: >= 90 % of 80 calls/s.
2. Rate limits: the same server answers 20 % of requests (at random) with 429 and
   ``Retry-After: 1``. Its allowed rate is the rate of answers it gives at the
   client's concurrency, 0.8 * 80 = 64 labels/s. Target: >= 60 % of that.
3. Money cap: 100 queries, each with its own money cap (random, seeded) and two
   runtimes (two claim owners, as two processes) labelling at once; answers of
   random length, some unparsable, some 429s. Target: the money spent (settled and
   reserved, from the ledger) is never above the cap.
4. Ctrl-C: a process whose 16 oracle calls hang gets SIGINT; the time until it
   has exited. Target: <= 2 s.

Usage::

    python benchmarks/bench_oracles.py            # full sizes (about 1 minute)
    python benchmarks/bench_oracles.py --quick    # small sizes, seconds

Prints a table and writes ``benchmarks/results/oracles.{csv,json}``
(``oracles_quick.*`` with ``--quick``). Timings on a shared machine are noisy:
re-measure the final figures on a quiet one.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from abae.oracles import OracleRegistry, OracleRuntime, RetryPolicy, collecting_into
from abae.oracles.openai_oracle import openai_oracle
from abae.store import LabelLedger, Store

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "tests"))

from servers.http_test_server import Faults, TestServer  # noqa: E402
from servers.openai_compatible import ChatService, prompt_text  # noqa: E402

KEY_ENV = "ABAE_BENCH_KEY"
CONCURRENCY = 16
LATENCY_S = 0.2


def _registry(server: TestServer | _ServerProcess, **settings: Any) -> OracleRegistry:
    registry = OracleRegistry()
    options: dict[str, Any] = {
        "model": "bench-vlm",
        "prompt": "Is record {v} a match? Answer yes or no.",
        "returns": "bool",
        "base_url": f"{server.url}/v1",
        "api_key_env": KEY_ENV,
        "args": ("v",),
        "max_concurrency": CONCURRENCY,
        "price_per_million_input": 0.15,
        "price_per_million_output": 0.6,
        "timeout_s": 30.0,
    }
    options.update(settings)
    with collecting_into(registry):
        openai_oracle("is_match", **options)
    return registry


class _ServerProcess:
    """The OpenAI-compatible test server in its own process (as a real server would be)."""

    def __init__(self, latency_s: float, rate_limited: float) -> None:
        command = [
            sys.executable, str(ROOT / "tests" / "servers" / "openai_compatible.py"),
            "--latency", str(latency_s), "--rate-limit", str(rate_limited),
            "--retry-after", "1", "--seed", "7", "--idle-exit", "30",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        self.url = self.base_url.removesuffix("/v1")

    def __enter__(self) -> _ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def throughput(workdir: Path, calls: int, rate_limited: float) -> dict[str, Any]:
    """Labels per second for ``calls`` records; ``rate_limited``: share answered 429."""
    with _ServerProcess(LATENCY_S, rate_limited) as server:
        registry = _registry(server)
        ledger = LabelLedger(Store(workdir / f"throughput_{rate_limited}.duckdb"), "r")
        ids = list(range(calls))
        retry = RetryPolicy(max_attempts=20, base_delay_s=0.05, max_delay_s=2.0)
        with OracleRuntime(
            ledger, registry, query_id="bench", budget=calls, concurrency=CONCURRENCY, retry=retry
        ) as runtime:
            started = time.perf_counter()
            labels = runtime.labels("is_match", ids, {i: (i,) for i in ids})
            elapsed = time.perf_counter() - started
        requests = runtime.stats.attempts
        limit_now = runtime.oracle_limit("is_match")
        ledger.store.close()
    if len(labels) != calls:
        raise RuntimeError(f"only {len(labels)} of {calls} records were labelled")
    ideal = CONCURRENCY / LATENCY_S
    allowed = ideal * (1.0 - rate_limited)
    rate = calls / elapsed
    return {
        "labels_per_s": rate,
        "allowed_per_s": allowed,
        "share": rate / allowed,
        "requests": requests,
        "rate_limited": runtime.stats.rate_limited,
        "final_limit": limit_now,
        "elapsed_s": elapsed,
    }


def money_caps(workdir: Path, queries: int, seed: int) -> dict[str, Any]:
    """Run ``queries`` capped queries; returns the largest spent/cap ratio and totals."""
    rng = random.Random(seed)
    lengths = {"calls": 0}

    def answer(request: Any) -> str:
        lengths["calls"] += 1
        digits = "".join(c for c in prompt_text(request) if c.isdigit())
        n = int(digits or 0)
        if n % 11 == 0:
            return "I cannot tell from this image, sorry"  # unparsable: charged, fails
        return "yes" if n % 2 else "no"

    faults = Faults(rate_limit_fraction=0.05, retry_after="0")
    ratios: list[float] = []
    over_cap = 0
    refused = 0
    with TestServer(ChatService(answer), faults, seed=seed) as server:
        store = Store(workdir / "caps.duckdb")
        ledger = LabelLedger(store, "r")
        registry = _registry(
            server,
            max_input_tokens=40,
            max_tokens=8,
            price_per_million_input=rng.uniform(0.1, 5.0),
            price_per_million_output=rng.uniform(1.0, 20.0),
        )
        worst = registry.get("is_match").worst_case_cost
        for q in range(queries):
            cap = worst * rng.uniform(0.5, 8.0)
            query_id = f"capped-{q}"
            ids = list(range(q * 1000, q * 1000 + rng.randint(20, 60)))

            def label(part: list[int], query_id: str = query_id, cap: float = cap) -> None:
                retry = RetryPolicy(max_attempts=4, base_delay_s=0.001, max_delay_s=0.01)
                with OracleRuntime(
                    ledger, registry, query_id=query_id, budget=10_000, concurrency=8,
                    retry=retry, cost_limit=cap, failure_brake=None,
                ) as runtime:  # fmt: skip
                    runtime.labels("is_match", part, {i: (i,) for i in part})

            halves = [ids[::2], ids[1::2]]
            threads = [threading.Thread(target=label, args=(half,)) for half in halves]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            spent = ledger.money_spent(query_id)
            ratios.append(spent / cap)
            over_cap += spent > cap
            refused += len(ids) - len(ledger.lookup(registry.get("is_match").key, ids))
        store.close()
    return {
        "queries": queries,
        "max_spent_over_cap": max(ratios),
        "mean_spent_over_cap": sum(ratios) / len(ratios),
        "queries_over_cap": over_cap,
        "records_left_out": refused,
        "requests": lengths["calls"],
    }


CTRL_C_SCRIPT = """
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
        threading.Event().wait()

runtime = OracleRuntime(LabelLedger(Store(Path(sys.argv[1])), "r"), registry, query_id="q", budget=64)
print("calling", flush=True)
try:
    runtime.labels("hangs", list(range(32)), {i: (i,) for i in range(32)})
except KeyboardInterrupt:
    runtime.close()
    sys.exit(130)
"""


def ctrl_c_exit(workdir: Path) -> float:
    """Seconds from SIGINT to the exit of a process whose oracle calls all hang."""
    script = workdir / "hung.py"
    script.write_text(CTRL_C_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), str(workdir / "hung.duckdb")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert process.stdout is not None
    process.stdout.readline()
    time.sleep(0.5)
    started = time.perf_counter()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    os.environ.setdefault(KEY_ENV, "sk-bench-not-a-real-key")
    calls, limited_calls, queries = (32, 32, 3) if args.quick else (800, 600, 100)
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        plain = throughput(workdir, calls, 0.0)
        limited = throughput(workdir, limited_calls, 0.2)
        caps = money_caps(workdir, queries, seed=2026)
        interrupt = ctrl_c_exit(workdir)
    rows = [
        {
            "measure": f"throughput, {LATENCY_S * 1000:.0f} ms latency, concurrency {CONCURRENCY}",
            "target": ">= 72 calls/s (90% of 80)",
            "value": round(plain["labels_per_s"], 1),
            "unit": "calls/s",
            "detail": f"{plain['share']:.0%} of 80 calls/s; {calls} calls",
        },
        {
            "measure": "throughput, 20% answered 429 (Retry-After: 1)",
            "target": ">= 38.4 labels/s (60% of the allowed 64/s)",
            "value": round(limited["labels_per_s"], 1),
            "unit": "labels/s",
            "detail": (
                f"{limited['share']:.0%} of the allowed rate; {limited['rate_limited']} 429s in "
                f"{limited['requests']} requests; concurrency ended at {limited['final_limit']}"
            ),
        },
        {
            "measure": f"money spent / cap, {caps['queries']} capped queries (2 owners each)",
            "target": "<= 1 in every query",
            "value": round(caps["max_spent_over_cap"], 4),
            "unit": "max ratio",
            "detail": (
                f"{caps['queries_over_cap']} queries over the cap; mean ratio "
                f"{caps['mean_spent_over_cap']:.3f}; {caps['requests']} requests"
            ),
        },
        {
            "measure": "Ctrl-C with 16 hung oracle calls: time to exit",
            "target": "<= 2 s",
            "value": round(interrupt, 3),
            "unit": "s",
            "detail": "SIGINT to process exit",
        },
    ]
    _print(rows)
    _save(rows, args.out, "oracles_quick" if args.quick else "oracles")
    return rows


def _print(rows: list[dict[str, Any]]) -> None:
    print(f"{'measure':<62} {'value':>10}  {'unit':<10} target; detail")
    for row in rows:
        print(
            f"{row['measure']:<62} {row['value']:>10}  {row['unit']:<10} "
            f"{row['target']}; {row['detail']}"
        )


def _save(rows: list[dict[str, Any]], folder: Path, stem: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "rows": rows,
    }
    (folder / f"{stem}.json").write_text(json.dumps(document, indent=2))
    with (folder / f"{stem}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if not all(math.isfinite(float(r["value"])) for r in rows):
        raise RuntimeError("a measure is not finite")


if __name__ == "__main__":
    main()
