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
    """The result as a few readable lines: estimates, accounting, proxy, target, warnings."""
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
    if result.target is not None:
        unit = " of the estimate" if result.target.relative else ""
        worst = max(result.target.reached, default=math.inf)
        shown = f"{worst:.3%}" if result.target.relative else f"{worst:.4g}"
        wanted = (
            f"{result.target.half_width:.3%}"
            if result.target.relative
            else f"{result.target.half_width:g}"
        )
        verdict = "met" if result.target.met else "NOT met"
        lines.append(f"error target ±{wanted}{unit}: {verdict} (widest half-width reached {shown})")
    split = []
    if result.pilot_records_charged:
        split.append(f"pilot {result.pilot_records_charged}")
    split.append(f"census and sampling {result.sampling_records_charged}")
    limit = f"{result.budget} (default cap)" if result.budget_defaulted else str(result.budget)
    lines.append(
        f"records charged to ORACLE LIMIT: {result.calls_spent} this run, "
        f"{result.calls_spent_total}/{limit} in all ({', '.join(split)}); "
        f"oracle calls (labels bought) {result.fresh_labels}, labels reused "
        f"{result.labels_reused}, retries {result.retries}"
    )
    money = f"cost {result.money_spent:.4g} this run, {result.money_spent_total:.4g} in all"
    if result.cost_limit is not None:
        money += f" (COST LIMIT {result.cost_limit:g})"
    if result.input_tokens or result.output_tokens:
        money += f", tokens {result.input_tokens} in / {result.output_tokens} out"
    lines.append(
        f"{money}; population {result.population:,} records, census {result.census_labels} "
        f"(pilot labels reused), left out {len(result.left_out)}; "
        f"{result.wall_time_s:.2f} s; query {result.query_id}"
    )
    from abae.engine.result import proxy_summary

    lines.extend(line for proxy in result.proxies if (line := proxy_summary(proxy)))
    lines.extend(f"warning: {w}" for w in result.warnings)
    return "\n".join(lines)
