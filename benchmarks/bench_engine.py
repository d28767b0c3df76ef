"""Benchmark the query engine: oracle throughput and engine overhead.

1. Oracle throughput: an oracle that sleeps 50 ms per call, 16 calls in flight;
   the ideal is 16 / 0.05 s = 320 calls/s. Measured through the full runtime
   (claims, ledger writes, retries machinery). Target: >= 90% of the ideal.
2. Engine overhead: a full ``Engine.run`` on a 1M-record store with an oracle
   that answers instantly, i.e. everything but oracle time (compile, scan,
   strata, sampling, ledger, estimate). Target: <= 2 s.

Usage::

    python benchmarks/bench_engine.py            # full sizes
    python benchmarks/bench_engine.py --quick    # small sizes, seconds

Prints a table and writes ``benchmarks/results/bench_engine.{csv,json}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from abae.engine import Engine
from abae.oracles import OracleRegistry, OracleRuntime, collecting_into, oracle
from abae.store import LabelLedger, Store, import_arrays

RESULTS = Path(__file__).resolve().parent / "results"


def oracle_throughput(
    workdir: Path, calls: int, sleep_s: float, concurrency: int
) -> dict[str, object]:
    store = Store(workdir / "throughput.duckdb")
    import_arrays(store, "r", columns={"v": np.arange(calls)})
    registry = OracleRegistry()
    with collecting_into(registry):

        @oracle("sleepy")
        def sleepy(v: int) -> bool:
            time.sleep(sleep_s)
            return v % 2 == 0

    ids = list(range(calls))
    with OracleRuntime(
        LabelLedger(store, "r"), registry, query_id="bench", budget=calls, concurrency=concurrency
    ) as runtime:
        started = time.perf_counter()
        labels = runtime.labels("sleepy", ids, {i: (i,) for i in ids})
        elapsed = time.perf_counter() - started
    store.close()
    assert len(labels) == calls
    limit = concurrency / sleep_s
    rate = calls / elapsed
    return {
        "measure": f"oracle throughput ({sleep_s * 1000:.0f} ms oracle, concurrency {concurrency})",
        "value": round(rate, 1),
        "unit": "calls/s",
        "target": f">= {0.9 * limit:.0f} (90% of {limit:.0f})",
        "ok": rate >= 0.9 * limit,
        "detail": f"{calls} calls in {elapsed:.2f} s",
    }


def engine_overhead(workdir: Path, records: int, budget: int) -> dict[str, object]:
    rng = np.random.default_rng(0)
    score = rng.random(records)
    store = Store(workdir / "overhead.duckdb")
    import_arrays(
        store,
        "frames",
        columns={"camera": np.where(np.arange(records) % 2 == 0, "north", "south")},
        proxies={"p": np.clip(score + rng.normal(0, 0.1, records), 0, 1)},
    )
    store.close()
    registry = OracleRegistry()
    with collecting_into(registry):
        oracle("instant")(lambda rid: (rid * 7919) % 1000 < 300)
    engine = Engine(store, registry, concurrency=16)
    sql = f"SELECT COUNT(*) FROM frames WHERE instant(id) ORACLE LIMIT {budget} USING p"
    started = time.perf_counter()
    result = engine.run(sql)
    elapsed = time.perf_counter() - started
    started = time.perf_counter()
    cached = engine.run(sql)
    cached_elapsed = time.perf_counter() - started
    store.close()
    assert result.calls_spent == budget
    assert cached.calls_spent == 0
    return {
        "measure": f"engine overhead ({records:,} records, budget {budget}, instant oracle)",
        "value": round(elapsed, 3),
        "unit": "s",
        "target": "<= 2",
        "ok": elapsed <= 2.0,
        "detail": f"rerun from the ledger cache {cached_elapsed:.3f} s",
    }


def main(argv: Sequence[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    calls = 320 if args.quick else 1600
    records = 50_000 if args.quick else 1_000_000
    budget = 500 if args.quick else 2000
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            oracle_throughput(Path(tmp), calls, 0.05, 16),
            engine_overhead(Path(tmp), records, budget),
        ]
    width = max(len(str(r["measure"])) for r in rows)
    print(f"{'measure'.ljust(width)}  {'value':>10}  unit     target             ok   detail")
    for r in rows:
        print(
            f"{str(r['measure']).ljust(width)}  {r['value']:>10}  {r['unit']!s:<7}  "
            f"{r['target']!s:<17}  {'yes' if r['ok'] else 'NO ':<3}  {r['detail']}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    with open(args.out / f"bench_engine{suffix}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "quick": args.quick}
    (args.out / f"bench_engine{suffix}.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=2)
    )
    return rows


if __name__ == "__main__":
    main()
