"""Write experiment results: CSV tables, Markdown tables and a ``run_info.json``.

Every table is a list of rows (dicts with the same keys, in column order).
Floats are written with the precision the caller rounded them to.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

Row = Mapping[str, Any]


def write_csv(path: Path, rows: Sequence[Row]) -> None:
    """Write ``rows`` (dicts with identical keys) to ``path`` as CSV with a header line."""
    if not rows:
        raise ValueError(f"no rows to write to {path}; an experiment produced an empty table")
    columns = list(rows[0])
    for row in rows:
        if list(row) != columns:
            raise ValueError(
                f"rows for {path.name} have different columns: {columns} vs {list(row)}"
            )
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows: Sequence[Row], columns: Sequence[str] | None = None) -> str:
    """``rows`` as a GitHub Markdown table over ``columns`` (default: every key of the first row)."""
    if not rows:
        raise ValueError("no rows to render as a Markdown table")
    names = list(columns) if columns is not None else list(rows[0])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(str(row[name]) for name in names) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def mean_and_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("mean_and_sd needs at least one value")
    sd = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return float(array.mean()), sd


def command_line(script: str, argv: Sequence[str]) -> str:
    """The shell command that reruns ``script`` with ``argv`` from the repository root
    (with this run's ``OMP_NUM_THREADS``, 2 when it is unset)."""
    threads = os.environ.get("OMP_NUM_THREADS", "2")
    return " ".join(
        [f"OMP_NUM_THREADS={threads} .venv/bin/python", f"experiments/afno/{script}", *argv]
    )


def write_run_info(out_dir: Path, command: str, mode: str, extra: Mapping[str, Any]) -> None:
    """Record how a result folder was made: command, mode, versions, threads and ``extra``."""
    info = {
        "command": command,
        "mode": mode,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "platform": platform.platform(),
        "argv": sys.argv,
        **extra,
    }
    (out_dir / "run_info.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
