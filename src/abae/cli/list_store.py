"""``abae list``: what a store holds (collections, columns, proxies, queries)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from abae.cli.store_option import add_db_option, open_store

DESCRIPTION = """\
List the store's collections with their record counts, cheap columns (name and
type, usable in WHERE and GROUP BY) and proxy score columns (usable in USING,
with the candidate model and cross-validated AUC of proxies trained here), then
the logged queries with their id (for `abae show`), status, runs and budget.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "list",
        help="list collections, columns, proxies and queries",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_db_option(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from abae.store.overview import describe_store

    overview = describe_store(open_store(args))
    if args.json:
        print(json.dumps(overview.to_dict(), indent=2, default=str))
        return 0
    print(f"store {overview.path}")
    print("collections:" if overview.collections else "collections: none yet (see `abae import`)")
    for c in overview.collections:
        print(f"  {c.name}: {c.records:,} records ({c.source})")
        columns = ", ".join(f"{n} {t}" for n, t in c.columns.items()) or "none"
        print(f"    columns: {columns}")
        if not c.proxies:
            print("    proxies: none (see `abae proxy train`)")
        for p in c.proxies:
            facts = [p.description] if p.description else []
            facts += [f"{k} {v}" for k, v in p.details.items()]
            print(f"    proxy {p.name}" + (f": {'; '.join(facts)}" if facts else ""))
    print("queries:" if overview.queries else "queries: none yet")
    for q in overview.queries:
        text = " ".join(q.sql.split())
        print(
            f"  {q.query_id} [{q.status}, {q.runs} run(s), limit {q.budget}] "
            f"{q.collection}: {text[:90]}"
        )
    return 0
