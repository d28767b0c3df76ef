"""Benchmark how fast the ``abae`` command answers, and what it loads.

Each case runs in a fresh interpreter (``python -c`` importing the CLI and running
the command in process, so the figure is the command's own start-up plus its
work, without the console-script shim), ``--repeats`` times; the table gives the
median wall time and whether torch or Ray were imported. Targets (issue 15):
``abae --help``, ``abae COMMAND --help``, ``abae labels`` and ``abae list``
import neither torch nor Ray.

Usage::

    python benchmarks/bench_startup.py            # 5 repeats
    python benchmarks/bench_startup.py --quick    # 1 repeat

Prints a table and writes ``benchmarks/results/startup.{csv,json}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

PROBE = """
import sys, time
started = time.perf_counter()
from abae.cli import main
try:
    status = main({argv!r})
except SystemExit as exit:
    status = exit.code
elapsed = time.perf_counter() - started
print("torch" in sys.modules, "ray" in sys.modules, elapsed)
"""


def cases(db: Path) -> list[tuple[str, list[str], bool]]:
    """(label, argv, must stay light) for every command measured."""
    light = [
        ("abae --help", ["--help"]),
        ("abae query --help", ["query", "--help"]),
        ("abae proxy train --help", ["proxy", "train", "--help"]),
        ("abae demo --help", ["demo", "--help"]),
        ("abae labels", ["labels", "--db", str(db)]),
        ("abae list", ["list", "--db", str(db)]),
    ]
    return [(label, argv, True) for label, argv in light]


def measure(argv: list[str], repeats: int) -> dict[str, object]:
    times: list[float] = []
    in_process: list[float] = []
    loaded_torch = loaded_ray = False
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", PROBE.format(argv=argv)],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(time.perf_counter() - started)
        torch_flag, ray_flag, seconds = done.stdout.strip().splitlines()[-1].split()
        loaded_torch |= torch_flag == "True"
        loaded_ray |= ray_flag == "True"
        in_process.append(float(seconds))
    return {
        "wall_s": round(statistics.median(times), 3),
        "import_and_run_s": round(statistics.median(in_process), 3),
        "torch": loaded_torch,
        "ray": loaded_ray,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one repeat")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "empty.duckdb"
        for label, command, must_be_light in cases(db):
            row: dict[str, object] = {"command": label, **measure(command, repeats)}
            row["ok"] = not (must_be_light and (row["torch"] or row["ray"]))
            rows.append(row)
    print(f"{'command':<26} {'wall':>7} {'in process':>11} {'torch':>6} {'ray':>5}  ok")
    for row in rows:
        print(
            f"{row['command']:<26} {row['wall_s']:>6.2f}s {row['import_and_run_s']:>10.2f}s "
            f"{row['torch']!s:>6} {row['ray']!s:>5}  {'yes' if row['ok'] else 'NO'}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "startup.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "repeats": repeats}
    (args.out / "startup.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
