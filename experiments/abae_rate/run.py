"""Run the ABae rate experiments: the seed's MSE = O(1/N1 + 1/N2 + N1^½ N2^−³ᐟ²) on our code.

1. MSE over an (N1, N2) grid, fitted by non-negative least squares.
2. The log–log slope of MSE against N at constant stage shares.
3. N·MSE against the oracle-allocation constant (Σ√p_kσ_k)²/(Σp_k)².
4. MSE against the stage-1 share at fixed N (the U-shape).

Every estimate is one call of ``abae.estimate`` (AVG, K = 5, the paper's
``allocation="abae"`` unless a table says otherwise, normal interval) on a
synthetic population (see ``populations.py``); run ``r`` of every design point
uses ``numpy.random.default_rng([RUN_SEED_ROOT, r])`` (see ``mse_runs.py``).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python experiments/abae_rate/run.py            # full, ~10 min
    OMP_NUM_THREADS=1 .venv/bin/python experiments/abae_rate/run.py --quick    # seconds

Outputs (CSV, Markdown, PNG, JSON) go to ``experiments/abae_rate/results/``
(``--quick``: ``experiments/abae_rate/results/quick/``), or ``--results-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy
from experiment_constant import run_constant
from experiment_context import ExperimentContext, Section
from experiment_grid import run_grid
from experiment_share import run_share
from experiment_slope import run_slope
from mse_runs import RUN_SEED_ROOT, MonteCarlo
from populations import POPULATION_SEED_ROOT
from scales import FULL, QUICK

HERE = Path(__file__).resolve().parent
EXPERIMENTS: dict[str, Callable[[ExperimentContext], Section]] = {
    "grid": run_grid,
    "slope": run_slope,
    "constant": run_constant,
    "share": run_share,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (seconds)")
    parser.add_argument("--results-dir", type=Path, default=None, help="where to write")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (results do not depend on it)"
    )
    parser.add_argument("--seeds", type=int, default=None, help="override runs per point")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(EXPERIMENTS), default=None, help="a subset"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the experiments and write every table, plot and summary; returns 0."""
    args = parse_args(argv)
    scale = QUICK if args.quick else FULL
    seeds = args.seeds if args.seeds is not None else scale.seeds
    if seeds != scale.seeds:
        from dataclasses import replace

        scale = replace(scale, seeds=seeds)
    default_dir = HERE / "results" / "quick" if args.quick else HERE / "results"
    out_dir: Path = args.results_dir or default_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    context = ExperimentContext(scale, MonteCarlo(scale.seeds, args.workers), out_dir)
    names = args.only or list(EXPERIMENTS)
    sections: list[Section] = []
    timings: dict[str, float] = {}
    for name in names:
        start = time.perf_counter()
        section = EXPERIMENTS[name](context)
        timings[name] = round(time.perf_counter() - start, 1)
        sections.append(section)
        print(f"\n## {section.title}  ({timings[name]} s)\n\n{section.markdown}", flush=True)
    command = "OMP_NUM_THREADS=1 .venv/bin/python experiments/abae_rate/run.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    write_summary(out_dir, sections, command.strip())
    info = {
        "command": command.strip(),
        "mode": "quick" if args.quick else "full",
        "records": scale.records,
        "seeds": scale.seeds,
        "bootstrap": scale.bootstrap,
        "workers": args.workers,
        "seconds": timings,
        "run_seed_root": RUN_SEED_ROOT,
        "population_seed_root": POPULATION_SEED_ROOT,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    (out_dir / "run_info.json").write_text(json.dumps(info, indent=2) + "\n")
    (out_dir / "summary.json").write_text(
        json.dumps({name: s.headline for name, s in zip(names, sections, strict=True)}, indent=2)
        + "\n"
    )
    print(f"\nwrote {out_dir} in {sum(timings.values()):.0f} s")
    return 0


def write_summary(out_dir: Path, sections: list[Section], command: str) -> None:
    """All sections' tables as one Markdown file, with the command that made them."""
    parts = [f"# ABae rate experiments: results\n\nMade by `{command}`.\n"]
    for section in sections:
        files = ", ".join(f"`{name}`" for name in section.files)
        parts.append(f"\n## {section.title}\n\nFiles: {files}.\n\n{section.markdown}")
    (out_dir / "summary.md").write_text("".join(parts))


if __name__ == "__main__":
    raise SystemExit(main())
