"""``abae labels``: summarise the label ledger (per oracle, per query); export it as JSON."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from abae.cli.store_option import add_db_option, open_store


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "labels",
        help="summarise the label ledger and the query log",
        description=(
            "Labels per oracle (count, positives, mean statistic, cost) and oracle calls "
            "per query (spent, failed, lost). --export writes results and labels as JSON."
        ),
    )
    add_db_option(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--export", metavar="PATH", help="write queries + labels to a JSON file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from abae.store import export_json, summarize_ledger

    store = open_store(args)
    summary = summarize_ledger(store)
    if args.export:
        document = export_json(store, args.export)
        print(
            f"exported {len(document['queries'])} queries and {len(document['labels'])} labels to {args.export}"
        )
    if args.json:
        print(
            json.dumps(
                {"oracles": [asdict(o) for o in summary.oracles], "queries": summary.queries},
                indent=2,
            )
        )
        return 0
    print("labels per oracle:")
    if not summary.oracles:
        print("  none yet")
    for o in summary.oracles:
        mean = "-" if o.mean_statistic is None else f"{o.mean_statistic:.4g}"
        print(
            f"  {o.collection}.{o.oracle}: {o.labels} labels, {o.positives} positive, "
            f"mean statistic {mean}, cost {o.total_cost:.4g}"
        )
    print("queries:")
    if not summary.queries:
        print("  none yet")
    for q in summary.queries:
        print(
            f"  {q['query_id']} [{q['status']}, {q['runs']} run(s)]: spent {q['spent']}/{q['budget']}, "
            f"failed {q['failed']}, lost {q['lost']}: {' '.join(str(q['sql']).split())[:80]}"
        )
    return 0
