"""Benchmark the query path at scale: 10M records, an instant oracle, proxy scores given.

Rows (issue 15, point 3):

1. ``SELECT COUNT(*) ... WHERE hit(id) ORACLE LIMIT 10000 USING p``: the whole
   ``Engine.run`` with an oracle that answers instantly from memory, so every
   second is the engine's own (compile, scan, strata, sampling, claims and
   ledger writes, estimate). Target: <= 2 s.
2. The same with ``GROUP BY camera`` over a 10-value column. Target: <= 3 s.
3. Peak resident memory of either run. Target: <= 1.5 GiB.

Beside each, in the same run, DuckDB's own scan of the columns the query reads
(``SELECT id, p[, camera] ... ORDER BY id`` fetched as NumPy arrays), and the
ratio of the two. Every measurement runs in a fresh subprocess (its peak
memory is its own), the cases alternate, and each is repeated (best kept).

Usage::

    python benchmarks/bench_query_scale.py            # 10M records (a few minutes)
    python benchmarks/bench_query_scale.py --quick    # 200k records, seconds

Prints a table and writes ``benchmarks/results/scale_query.{csv,json}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
BUDGET = 10_000
TARGETS = {"count": 2.0, "group_by": 3.0}
RSS_TARGET_MIB = 1536.0

COUNT_SQL = "SELECT COUNT(*) FROM frames WHERE hit(id) ORACLE LIMIT {budget} USING p"
GROUP_SQL = (
    "SELECT camera, COUNT(*) FROM frames WHERE hit(id) GROUP BY camera "
    "ORACLE LIMIT {budget} USING p"
)


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _make_store(db: Path, records: int) -> None:
    """A collection of ``records`` rows: id, a 10-value camera, proxy score ``p``."""
    import duckdb

    from abae.store import Store, import_table_file

    parquet = db.with_suffix(".parquet")
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT range AS id, 'cam' || (range % 10)::VARCHAR AS camera, "
        f"hash(range) / 18446744073709551615.0 AS p FROM range({records})) "
        f"TO '{parquet}' (FORMAT parquet)"
    )
    con.close()
    store = Store(db)
    import_table_file(store, "frames", parquet, id_column="id", proxy_columns=["p"])
    store.close()
    parquet.unlink()


def _child_query(db: str, sql: str) -> dict[str, float]:
    import numpy as np

    from abae.engine import Engine
    from abae.oracles import OracleRegistry, OracleSpec

    started = time.perf_counter()
    registry = OracleRegistry()
    # an instant oracle: a record's truth depends on its id only (about 20% positives)
    registry.add(
        OracleSpec(
            "hit",
            lambda batch: [bool((rid * 2654435761) % 997 < 200) for (rid,) in batch],
            batch_size=1024,
            returns="bool",
        )
    )
    engine = Engine(db, registry, concurrency=4)
    ready = time.perf_counter()
    result = engine.run(sql)
    finished = time.perf_counter()
    assert result.calls_spent_total <= BUDGET
    assert np.isfinite(result.aggregates[0].estimate)
    return {
        "seconds": finished - ready,
        "setup_seconds": ready - started,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _child_duckdb(db: str, columns: str) -> dict[str, float]:
    from abae.store import Store

    store = Store(db)
    started = time.perf_counter()
    with store.transaction() as con:
        data = con.execute(f"SELECT {columns} FROM frames ORDER BY id").fetchnumpy()
    seconds = time.perf_counter() - started
    assert len(data["id"]) > 0
    return {"seconds": seconds, "peak_rss_mib": _peak_rss_mib()}


def _measure(kind: str, db: Path, argument: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(db), argument],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _fresh_copy(source: Path, workdir: Path, name: str) -> Path:
    """A copy of the store, so every query run starts with an empty ledger."""
    import shutil

    target = workdir / f"{name}.duckdb"
    target.unlink(missing_ok=True)
    shutil.copyfile(source, target)
    return target


def measure_rows(workdir: Path, records: int, repeats: int, budget: int) -> list[dict[str, Any]]:
    source = workdir / "frames.duckdb"
    _make_store(source, records)
    cases = [
        ("count", COUNT_SQL.format(budget=budget), "id, p"),
        ("group_by", GROUP_SQL.format(budget=budget), "id, p, camera"),
    ]
    rows = []
    for name, sql, columns in cases:
        ours: list[dict[str, float]] = []
        duck: list[dict[str, float]] = []
        for _ in range(repeats):
            ours.append(_measure("query", _fresh_copy(source, workdir, name), sql))
            duck.append(_measure("duckdb", source, columns))
        best = min(ours, key=lambda r: r["seconds"])
        scan = min(duck, key=lambda r: r["seconds"])
        peak = max(r["peak_rss_mib"] for r in ours)
        rows.append(
            {
                "measure": f"{name} query, {records:,} records, budget {budget:,}",
                "seconds": round(best["seconds"], 3),
                "target_s": TARGETS[name],
                "duckdb_scan_s": round(scan["seconds"], 3),
                "ratio_to_scan": round(best["seconds"] / scan["seconds"], 2),
                "peak_rss_mib": round(peak, 1),
                "duckdb_peak_rss_mib": round(max(r["peak_rss_mib"] for r in duck), 1),
                "ok": best["seconds"] <= TARGETS[name] and peak <= RSS_TARGET_MIB,
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="200k records, one repeat")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    records = 200_000 if args.quick else args.records
    repeats = 1 if args.quick else args.repeats
    budget = 1_000 if args.quick else args.budget
    with tempfile.TemporaryDirectory(prefix="abae-scale-") as tmp:
        rows = measure_rows(Path(tmp), records, repeats, budget)
    print(f"{'measure':<48} {'ours':>8} {'target':>7} {'duckdb scan':>12} {'ratio':>6} {'RSS':>9}")
    for row in rows:
        print(
            f"{row['measure']:<48} {row['seconds']:>7.2f}s {row['target_s']:>6.1f}s "
            f"{row['duckdb_scan_s']:>11.2f}s {row['ratio_to_scan']:>6.1f} "
            f"{row['peak_rss_mib']:>7.0f}MiB {'ok' if row['ok'] else 'MISSED'}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "scale_query.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "records": records,
        "repeats": repeats,
    }
    (args.out / "scale_query.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, db, argument = sys.argv[2], sys.argv[3], sys.argv[4]
        outcome = _child_query(db, argument) if kind == "query" else _child_duckdb(db, argument)
        print(json.dumps(outcome))
    else:
        main()
