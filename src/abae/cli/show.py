"""``abae show QUERY_ID``: reprint a past query's result from the query log."""

from __future__ import annotations

import argparse
import json
from typing import Any

from abae.cli.result_output import add_result_output_options, print_result
from abae.cli.store_option import add_db_option, open_store
from abae.errors import AbaeError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "show",
        help="reprint a past query's result",
        description=(
            "Reprint the last result of a logged query (ids are listed by `abae list` and "
            "printed after every query), optionally exporting it as CSV or Parquet."
        ),
    )
    parser.add_argument("query_id", metavar="QUERY_ID", help="the query's id")
    add_db_option(parser)
    add_result_output_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from abae.engine.result import QueryResult
    from abae.store.query_log import QueryLog

    entry = QueryLog(open_store(args)).get(args.query_id)
    if entry is None:
        raise AbaeError(f"no query {args.query_id!r} in the log; `abae list` shows the query ids")
    if entry.result is None:
        raise AbaeError(
            f"query {args.query_id} has no result yet (status {entry.status}); rerun it with "
            "`abae query` to finish it"
        )
    result = QueryResult.from_dict(entry.result)
    if args.json:
        print(json.dumps(entry.result, indent=2))
    print_result(result, args)
    return 0
