"""``abae query``: run an approximate aggregation query with an oracle budget."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from abae.cli.executor_option import add_executor_option, chosen_executor
from abae.cli.pilot_option import add_pilot_option
from abae.cli.report_option import add_report_option
from abae.cli.result_output import add_result_output_options, print_result
from abae.cli.store_option import add_db_option, open_store

DESCRIPTION = """\
Run a query of the ABae SQL dialect, e.g.

  SELECT AVG(count_cars(image)), COUNT(*) FROM frames
  WHERE has_red_light(image) AND camera = 'north'
  ORACLE LIMIT 2000 USING red_light_score AT CONFIDENCE 0.95

One example of each form (docs/engine.md has the whole grammar):

  oracle predicate      WHERE has_red_light(image)
  condition on output   WHERE count_cars(image) > 2 AND vehicle_type(image) IN ('car', 'bus')
  arithmetic            SELECT AVG(count_cars(image) * 1.5), SUM(count_cars(image) + price)
  cheap conditions      WHERE camera = 'north' AND speed BETWEEN 10 AND 30
  GROUP BY a column     SELECT camera, COUNT(*) ... GROUP BY camera
  GROUP BY an oracle    SELECT vehicle_type(image), COUNT(*) ... GROUP BY vehicle_type(image)
  per-group proxies     USING (car: p_car, bus: p_bus)   or USING p  (uses p_car, p_bus, ...)
  call budget           ORACLE LIMIT 2000
  error target          ERROR WITHIN 0.01 RELATIVE  (or ERROR WITHIN 5; ORACLE LIMIT then
                        defaults to a cap of 10000 records, printed with the result)
  confidence            AT CONFIDENCE 0.95  (or WITH PROBABILITY 0.95)
  money cap             COST LIMIT 25  (in the oracles' cost unit, e.g. dollars)
  proxy expression      USING p_red * p_car

Oracle functions come from --oracles FILE.py (functions decorated with
@abae.oracle("name", cost=...), or openai_oracle / torch_oracle / http_oracle
specs; see docs/oracles.md). Labels go to the store's ledger before they are
used; rerunning the same query (same text and --seed) reuses them and, after an
interruption, spends only the rest of the budget.

USING may name a proxy the collection does not have yet: with --train-proxy a
proxy is first trained on a pilot of --pilot labels (by default grown in rounds
until its cross-validated AUC stops improving, at most half the ORACLE LIMIT,
charged to the query) for the first oracle predicate of WHERE; the stratified
sample then spends the rest. Without the flag the query stops and says how to
train the proxy (`abae proxy train`). The pilot's labels are used in the
estimate as a census stratum: no paid label is thrown away.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "query",
        help="run an approximate query with an oracle budget",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sql", help="the query text (quote it)")
    parser.add_argument("--oracles", required=True, metavar="FILE.py", help="oracle file")
    add_db_option(parser)
    add_result_output_options(parser)
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--concurrency", type=int, default=16, help="oracle calls in flight")
    parser.add_argument("--strata", type=int, default=5, help="proxy strata K (default 5)")
    parser.add_argument("--retries", type=int, default=5, help="retries per transient failure")
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help=(
            "call again the records whose oracle calls failed in an earlier run of this query "
            "(after fixing the oracle); they are already charged, so this costs no budget"
        ),
    )
    add_report_option(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--train-proxy",
        action="store_true",
        help="train a missing USING proxy first, on pilot labels from the query's budget",
    )
    add_pilot_option(parser, "for --train-proxy (at most half the ORACLE LIMIT)")
    add_executor_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from abae.cli.progress_bar import QueryProgressBar
    from abae.engine import Engine
    from abae.oracles import RetryPolicy, load_oracle_file

    executor = chosen_executor(args)
    trainer = None
    if args.train_proxy:
        from abae.proxy.store_pipeline import ProxyTrainingSettings, QueryProxyTrainer

        trainer = QueryProxyTrainer(
            ProxyTrainingSettings(pilot_size=args.pilot, seed=args.seed),
            executor=executor,
            progress=not args.no_progress and not args.json,
        )
    engine = Engine(
        open_store(args),
        load_oracle_file(args.oracles),
        concurrency=args.concurrency,
        retry=RetryPolicy(max_attempts=args.retries + 1),
        strata=args.strata,
        proxy_trainer=trainer,
        oracle_wrapper=executor.oracles,
        retry_failed=args.retry_failed,
    )
    bar = QueryProgressBar(enabled=not args.no_progress and not args.json)
    try:
        result = engine.run(args.sql, seed=args.seed, on_progress=bar)
    finally:
        bar.close()
    if args.report:
        from abae.report import write_report

        png, page = write_report(result, args.report)
        print(f"report: {png} {page}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    print_result(result, args)
    return 0
