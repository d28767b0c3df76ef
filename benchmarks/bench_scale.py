"""Benchmark the store at scale: imports from Parquet, CSV and NumPy ``.npz``.

Rows (issue 15, point 3; query rows are added to this script later):

1. Parquet: 10M records (id, image path, camera text, lane integer, speed
   float, night boolean, time stamp, proxy score) through
   :func:`abae.store.import_table_file`. Target: >= 1M records/s. Beside it, in
   the same run and on the same file: DuckDB's own ``read_parquet`` scan of
   every column (an aggregate, nothing stored) and DuckDB's own copy of the
   file into a new database file (``CREATE TABLE AS SELECT * FROM
   read_parquet``); the ratio is our import over DuckDB's copy.
2. CSV: 1M records of the same columns through ``import_table_file``, beside
   DuckDB's own copy of the CSV.
3. ``.npz``: 70,000 images of 28×28 (Fashion-MNIST's training and test sets
   when installed, else random pixels), a label column and a proxy through
   :func:`abae.store.import_npz` (PNG encoding included), beside encoding the
   same images with Pillow alone, one by one, as the importer used to.

Every measurement runs in a fresh subprocess (so its peak resident memory is
its own), the cases alternate side by side, and each is repeated (``--repeats``,
the best time is kept). Timings on a shared machine are noisy: compare the
ratios, and re-measure on a quiet machine for absolute figures.

Usage::

    python benchmarks/bench_scale.py            # full sizes (a few minutes)
    python benchmarks/bench_scale.py --quick    # small sizes, seconds

Prints a table and writes ``benchmarks/results/scale_import.{csv,json}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")

ROW_SQL = (
    "SELECT range AS frame_id, '/data/frames/' || lpad(range::VARCHAR, 9, '0') || '.png' AS path, "
    "['north', 'south', 'east', 'west', 'bridge'][1 + range % 5] AS camera, "
    "(range % 4)::INTEGER AS lane, (range * 7 % 1000) / 10.0 AS speed, range % 3 = 0 AS night, "
    "TIMESTAMP '2026-01-01' + to_seconds(range) AS seen, hash(range) / 18446744073709551615.0 "
    "AS score FROM range({n})"
)


# --- children: one measurement each, in a fresh process ----------------------------------


def _peak_rss_mib() -> float:
    """This process's peak resident memory (MiB).

    Linux's ``VmHWM`` belongs to the process's own memory map; ``ru_maxrss`` can
    carry the parent's peak over ``fork`` + ``exec``, so it is only the fallback.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child_abae_table(source: str, db: str) -> float:
    from abae.store import Store, import_table_file

    store = Store(db)
    started = time.perf_counter()
    collection = import_table_file(
        store, "frames", source, id_column="frame_id", image_column="path", proxy_columns=["score"]
    )
    elapsed = time.perf_counter() - started
    assert collection.proxy_names() == ["score"]
    store.close()
    return elapsed


def _child_abae_npz(source: str, db: str) -> float:
    from abae.store import Store, import_npz

    store = Store(db)
    started = time.perf_counter()
    import_npz(store, "images", source, proxy_columns=["guess"])
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def _child_duckdb_copy(source: str, db: str) -> float:
    import duckdb

    reader = "read_parquet" if source.endswith(".parquet") else "read_csv"
    started = time.perf_counter()
    con = duckdb.connect(db)
    con.execute(f"CREATE TABLE frames AS SELECT * FROM {reader}(?)", [source])
    con.close()
    return time.perf_counter() - started


def _child_duckdb_scan(source: str, db: str) -> float:
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        "SELECT count(*), max(frame_id), max(path), max(camera), max(lane), max(speed), "
        "bool_or(night), max(seen), max(score) FROM read_parquet(?)",
        [source],
    ).fetchall()
    con.close()
    return time.perf_counter() - started


def _child_pillow_png(source: str, db: str) -> float:
    import io

    import numpy as np
    from PIL import Image

    with np.load(source) as archive:
        images = archive["image_arrays"]
    started = time.perf_counter()
    for pixels in images:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
    return time.perf_counter() - started


CHILDREN: dict[str, Callable[[str, str], float]] = {
    "abae_table": _child_abae_table,
    "abae_npz": _child_abae_npz,
    "duckdb_copy": _child_duckdb_copy,
    "duckdb_scan": _child_duckdb_scan,
    "pillow_png": _child_pillow_png,
}


def _measure(kind: str, source: Path, workdir: Path) -> dict[str, float]:
    """Run one child; returns its time (s) and peak RSS (MiB)."""
    db = workdir / f"{kind}-{time.monotonic_ns()}.duckdb"
    completed = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(source), str(db)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{completed.stderr[-3000:]}")
    for path in workdir.glob(db.name + "*"):
        path.unlink()
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    return min(runs, key=lambda r: r["seconds"])


# --- data ---------------------------------------------------------------------------------


def _write_table(path: Path, records: int) -> None:
    import duckdb

    kind = "parquet" if path.suffix == ".parquet" else "csv"
    duckdb.sql(f"COPY ({ROW_SQL.format(n=records)}) TO '{path}' (FORMAT {kind})")


def _write_npz(path: Path, records: int) -> str:
    import numpy as np

    rng = np.random.default_rng(0)
    if FASHION_MNIST.exists():
        from abae.datasets.fashion_mnist import load_fashion_mnist

        both = [load_fashion_mnist(split).images for split in ("train", "test")]
        images = np.concatenate(both)[:records]
        origin = "Fashion-MNIST train + test"
    else:
        images = rng.integers(0, 256, size=(records, 28, 28), dtype=np.uint8)
        origin = "random pixels"
    np.savez(
        path,
        image_arrays=images,
        label=rng.integers(0, 10, size=records),
        guess=rng.random(records),
    )
    return origin


# --- rows ---------------------------------------------------------------------------------


def parquet_row(workdir: Path, records: int, repeats: int) -> dict[str, object]:
    source = workdir / "frames.parquet"
    _write_table(source, records)
    runs: dict[str, list[dict[str, float]]] = {
        "abae_table": [],
        "duckdb_copy": [],
        "duckdb_scan": [],
    }
    for _ in range(repeats):
        for kind in runs:
            runs[kind].append(_measure(kind, source, workdir))
    ours, copy, scan = (_best(runs[k]) for k in ("abae_table", "duckdb_copy", "duckdb_scan"))
    rate = records / ours["seconds"]
    return {
        "measure": f"import Parquet ({records:,} records, 8 columns)",
        "records": records,
        "seconds": round(ours["seconds"], 3),
        "records_per_s": round(rate),
        "reference": "DuckDB copy (CTAS read_parquet)",
        "reference_s": round(copy["seconds"], 3),
        "ratio": round(ours["seconds"] / copy["seconds"], 2),
        "peak_rss_mib": round(ours["peak_rss_mib"]),
        "target": ">= 1,000,000 rec/s",
        "ok": rate >= 1_000_000,
        "detail": (
            f"DuckDB scan of every column {scan['seconds']:.2f} s "
            f"(import / scan {ours['seconds'] / scan['seconds']:.1f}x); DuckDB copy peak RSS "
            f"{copy['peak_rss_mib']:.0f} MiB; file {source.stat().st_size / 2**20:.0f} MiB"
        ),
    }


def csv_row(workdir: Path, records: int, repeats: int) -> dict[str, object]:
    source = workdir / "frames.csv"
    _write_table(source, records)
    runs: dict[str, list[dict[str, float]]] = {"abae_table": [], "duckdb_copy": []}
    for _ in range(repeats):
        for kind in runs:
            runs[kind].append(_measure(kind, source, workdir))
    ours, copy = _best(runs["abae_table"]), _best(runs["duckdb_copy"])
    return {
        "measure": f"import CSV ({records:,} records, 8 columns)",
        "records": records,
        "seconds": round(ours["seconds"], 3),
        "records_per_s": round(records / ours["seconds"]),
        "reference": "DuckDB copy (CTAS read_csv)",
        "reference_s": round(copy["seconds"], 3),
        "ratio": round(ours["seconds"] / copy["seconds"], 2),
        "peak_rss_mib": round(ours["peak_rss_mib"]),
        "target": "-",
        "ok": True,
        "detail": f"file {source.stat().st_size / 2**20:.0f} MiB",
    }


def npz_row(workdir: Path, records: int, repeats: int) -> dict[str, object]:
    source = workdir / "images.npz"
    origin = _write_npz(source, records)
    runs: dict[str, list[dict[str, float]]] = {"abae_npz": [], "pillow_png": []}
    for _ in range(repeats):
        for kind in runs:
            runs[kind].append(_measure(kind, source, workdir))
    ours, pillow = _best(runs["abae_npz"]), _best(runs["pillow_png"])
    return {
        "measure": f"import .npz ({records:,} images 28x28, PNG)",
        "records": records,
        "seconds": round(ours["seconds"], 3),
        "records_per_s": round(records / ours["seconds"]),
        "reference": "Pillow PNG encoding alone",
        "reference_s": round(pillow["seconds"], 3),
        "ratio": round(ours["seconds"] / pillow["seconds"], 2),
        "peak_rss_mib": round(ours["peak_rss_mib"]),
        "target": "much faster than 58 s",
        "ok": ours["seconds"] < pillow["seconds"],
        "detail": f"{origin}; npz {source.stat().st_size / 2**20:.0f} MiB",
    }


def _print_table(rows: list[dict[str, object]]) -> None:
    header = ("measure", "time s", "rec/s", "reference", "ref s", "ratio", "peak RSS", "ok")
    cells = [
        (
            str(r["measure"]),
            f"{r['seconds']}",
            f"{r['records_per_s']:,}",
            str(r["reference"]),
            f"{r['reference_s']}",
            f"{r['ratio']}x",
            f"{r['peak_rss_mib']} MiB",
            "yes" if r["ok"] else "NO",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)))
    for r in rows:
        print(f"- {r['measure']}: {r['detail']}")


def main(argv: Sequence[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per case (best kept)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 2)
    parquet_records = 50_000 if args.quick else 10_000_000
    csv_records = 5_000 if args.quick else 1_000_000
    images = 500 if args.quick else 70_000
    with tempfile.TemporaryDirectory(prefix="abae-bench-scale-") as tmp:
        workdir = Path(tmp)
        rows = [
            parquet_row(workdir, parquet_records, repeats),
            csv_row(workdir, csv_records, repeats),
            npz_row(workdir, images, repeats),
        ]
    _print_table(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    with open(args.out / f"scale_import{suffix}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    meta: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "quick": args.quick,
        "repeats": repeats,
        "command": " ".join(["python", "benchmarks/bench_scale.py", *(argv or sys.argv[1:])]),
    }
    (args.out / f"scale_import{suffix}.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=2)
    )
    return rows


def _child_main(kind: str, source: str, db: str) -> None:
    seconds = CHILDREN[kind](source, db)
    print(json.dumps({"seconds": seconds, "peak_rss_mib": _peak_rss_mib()}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child_main(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
