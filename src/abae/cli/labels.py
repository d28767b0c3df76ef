"""``abae labels``: the label ledger per oracle version, the proxies' pilots, spend per query."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from abae.cli.store_option import add_db_option, open_store

DESCRIPTION = """\
Summarise what the store has paid for:

  labels per oracle version: count, yes/no answers and positives (for oracles
    that answer yes/no), mean number (for oracles that answer numbers),
    categories, money and tokens;
  proxies: the pilot each proxy was trained on (labels, oracle calls bought,
    money), the model chosen and its cross-validated AUC, and how many queries
    have used it (its cost per query);
  queries: records charged against ORACLE LIMIT, failed and lost calls, money.

--export writes the query log (with results) and every label as JSON.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "labels",
        help="summarise the label ledger, the proxies' pilots and the query log",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_db_option(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--export", metavar="PATH", help="write queries + labels to a JSON file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from abae.store import export_json, summarize_ledger
    from abae.store.proxy_catalog import proxy_entries

    store = open_store(args)
    summary = summarize_ledger(store)
    proxies = proxy_entries(store)
    if args.export:
        document = export_json(store, args.export)
        print(
            f"exported {len(document['queries'])} queries and {len(document['labels'])} labels "
            f"to {args.export}"
        )
    if args.json:
        print(
            json.dumps(
                {
                    "oracles": [asdict(o) for o in summary.oracles],
                    "proxies": [asdict(p) for p in proxies],
                    "queries": summary.queries,
                },
                indent=2,
                default=str,
            )
        )
        return 0
    print("labels per oracle:")
    if not summary.oracles:
        print("  none yet")
    for o in summary.oracles:
        name = f"{o.collection}.{o.oracle}" + (f"@{o.version}" if o.version else "")
        facts = [f"{o.labels} labels"]
        if o.yes_no_labels:
            facts.append(f"{o.positives} of {o.yes_no_labels} yes/no answers positive")
        if o.mean_statistic is not None:
            facts.append(f"mean number {o.mean_statistic:.4g}")
        if o.categories:
            facts.append(", ".join(f"{c} {n}" for c, n in o.categories.items()))
        facts.append(f"cost {o.total_cost:.4g}")
        if o.input_tokens or o.output_tokens:
            facts.append(f"tokens {o.input_tokens} in / {o.output_tokens} out")
        print(f"  {name}: {'; '.join(facts)}" + (f" ({o.description})" if o.description else ""))
    print("proxies (pilots):")
    if not proxies:
        print("  none trained here")
    for p in proxies:
        auc = "n/a" if p.cv_auc is None else f"{p.cv_auc:.3f}"
        per_use = "" if p.cost_per_use is None else f", {p.cost_per_use:.0f} calls per query"
        print(
            f"  {p.collection}.{p.proxy}: pilot {p.pilot_size} labels ({p.pilot_calls} oracle "
            f"calls bought, cost {p.cost:.4g}); {p.candidate}, cross-validated AUC {auc}; "
            f"used by {p.uses} queries{per_use}" + (f"; warning: {p.warning}" if p.warning else "")
        )
    print("queries:")
    if not summary.queries:
        print("  none yet")
    for q in summary.queries:
        text = " ".join(str(q["sql"]).split())[:80]
        money = f", cost {q['money']:.4g}" if q["money"] else ""
        print(
            f"  {q['query_id']} [{q['status']}, {q['runs']} run(s)]: records charged "
            f"{q['spent']}/{q['budget']}, failed {q['failed']}, lost {q['lost']}{money}: {text}"
        )
    return 0
