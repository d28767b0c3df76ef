"""``abae explain``: show a query's plan, strata, allocation and predicted error (no oracle calls)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from abae.cli.store_option import add_db_option, open_store


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="show the plan, strata, allocation and predicted error of a query",
        description=(
            "Compile a query and describe what it would do, without calling any oracle: the "
            "plan (scan, cheap prefilter, oracle condition, aggregates, proxy), the strata "
            "with their proxy score ranges, the stage-1/stage-2 allocation, and a predicted "
            "error from labels already in the ledger."
        ),
    )
    parser.add_argument("sql", help="the query text (quote it)")
    parser.add_argument("--oracles", required=True, metavar="FILE.py", help="oracle file")
    add_db_option(parser)
    parser.add_argument("--strata", type=int, default=5, help="proxy strata K (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from abae.engine import Engine, explain_query
    from abae.oracles import load_oracle_file

    engine = Engine(open_store(args), load_oracle_file(args.oracles), strata=args.strata)
    explanation = explain_query(engine, args.sql, seed=args.seed)
    if args.json:
        print(json.dumps(explanation.to_dict(), indent=2))
        return 0
    print(f"query {explanation.query_id}")
    for line in explanation.plan:
        print(f"  {line}")
    print("strata (low → high proxy):")
    for row in explanation.strata:
        print(
            f"  {row['stratum']}: {row['size']} records, proxy [{row['proxy_min']:.4g}, "
            f"{row['proxy_max']:.4g}], stage-1 labels {row['stage1_labels']}, "
            f"in the ledger {row['ledger_labels']}"
        )
    print(
        f"sampling budget: {explanation.sampling_budget} records "
        f"(stage 2: {explanation.stage2_budget}, allocated after stage 1)"
    )
    print(f"already charged by earlier runs: {explanation.already_spent}")
    if explanation.predicted_error is None:
        print(f"predicted error: unknown ({explanation.prediction_note})")
    else:
        print(
            f"predicted standard error: {explanation.predicted_error:.4g} "
            f"({explanation.prediction_note})"
        )
    if explanation.labels_for_target is not None:
        print(f"labels the error target needs (predicted): {explanation.labels_for_target}")
    return 0
