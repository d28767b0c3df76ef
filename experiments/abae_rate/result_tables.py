"""Writing result rows as CSV files and Markdown tables."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Row = Mapping[str, Any]


def write_csv(rows: Sequence[Row], path: Path) -> None:
    """Write ``rows`` (dicts sharing the first row's keys) to ``path`` as CSV."""
    if not rows:
        raise ValueError(f"no rows to write to {path}")
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def format_value(value: Any) -> str:
    """Numbers with 4 significant digits (integers as they are), anything else as ``str``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    return f"{value:.4g}"


def markdown_table(rows: Sequence[Row], columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (all keys, or ``columns``)."""
    if not rows:
        raise ValueError("no rows to tabulate")
    names = list(columns) if columns is not None else list(rows[0])
    lines = [
        "| " + " | ".join(names) + " |",
        "|" + "|".join("---" for _ in names) + "|",
    ]
    lines += ["| " + " | ".join(format_value(row[name]) for name in names) + " |" for row in rows]
    return "\n".join(lines) + "\n"
