"""Options shared by the commands that print a query result: ``--json``, ``--csv``, ``--parquet``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from abae.engine.result import QueryResult


def add_result_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--csv", metavar="FILE", default=None, help="also write the estimates to a CSV file"
    )
    parser.add_argument(
        "--parquet", metavar="FILE", default=None, help="also write the estimates to Parquet"
    )


def print_result(result: QueryResult, args: argparse.Namespace) -> None:
    """Print ``result`` (unless ``--json`` printed it already) and write the exports asked for."""
    from abae.engine.result_table import write_result_table

    if not args.json:
        print(format_result(result))
    for table_format in ("csv", "parquet"):
        target = getattr(args, table_format)
        if target:
            written = write_result_table(result, target, table_format)
            print(f"wrote {table_format.upper()}: {written}", file=sys.stderr)


def format_result(result: QueryResult) -> str:
    """The result as a few readable lines."""
    import math

    lines = []
    for a in result.aggregates:
        label = a.name if a.group is None else f"{a.name} [{a.group}]"
        if math.isnan(a.estimate):
            lines.append(f"{label}: undefined")
        else:
            lines.append(
                f"{label}: {a.estimate:.6g}  ({result.confidence:.0%} CI "
                f"[{a.ci_low:.6g}, {a.ci_high:.6g}], {result.ci_method})"
            )
    lines.append(
        f"oracle calls: {result.calls_spent} this run, {result.calls_spent_total}/{result.budget} "
        f"in all; labels reused: {result.labels_reused}; retries: {result.retries}; "
        f"left out: {len(result.left_out)}; {result.wall_time_s:.2f} s; query {result.query_id}"
    )
    lines.extend(f"warning: {w}" for w in result.warnings)
    return "\n".join(lines)
