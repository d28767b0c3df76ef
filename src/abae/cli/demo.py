"""``abae demo``: the main job on a built-in dataset (a thin layer over :mod:`abae.demo`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from abae.cli.executor_option import add_executor_option, chosen_executor
from abae.cli.pilot_option import pilot_size
from abae.demo.choices import (
    DATASET_NAMES,
    DEFAULT_BUDGETS,
    DEFAULT_PREDICATES,
    DEFAULT_RECORDS,
    DEFAULT_SAMPLING,
    PREDICATES,
)

DESCRIPTION = f"""\
The main job, end to end:

  1. import a built-in dataset into a store (a fresh temporary one, or --db);
  2. train the proxy afno_proxy: pretrain the AFNO backbone on the collection's
     own images (no oracle call; cached beside the store), grow a pilot of
     oracle labels in rounds until the cross-validated AUC stops improving
     (--pilot auto), choose among the fine-tuned AFNO network, a linear probe
     on its features and logistic regression on pixels by cross-validated
     AUC, and score every record. A second run on the same --db reuses the
     backbone, the proxy and every label;
  3. run, through the engine, over all records (the pilot's records are a
     census stratum: their labels are used, not thrown away),
       SELECT AVG(ink(image)) FROM fashion WHERE {DEFAULT_PREDICATES["fashion"]}(image)
       ORACLE LIMIT {DEFAULT_BUDGETS["fashion"]} USING afno_proxy WITH PROBABILITY 0.95
     (--dataset scenes: AVG(count_cars(image)) WHERE {DEFAULT_PREDICATES["scenes"]}(image)
     over 256x256 street scenes whose traffic light is 15 px high, ORACLE
     LIMIT {DEFAULT_BUDGETS["scenes"]}), sampling with {DEFAULT_SAMPLING["fashion"][0]} proxy strata and
     {DEFAULT_SAMPLING["fashion"][1]:.0%} of the budget in stage 1 ({DEFAULT_SAMPLING["scenes"][0]} and {DEFAULT_SAMPLING["scenes"][1]:.0%} for scenes);
  4. print the chosen proxy and its AUCs, the pilot's and the query's spend,
     the estimate, its interval, the exact answer (known here), and what
     uniform sampling gave with the same total spend (pilot + query) over the
     same records; write the report (PNG + HTML) and say where.

The default Fashion-MNIST demo ({DEFAULT_RECORDS["fashion"]:,} images) took 25 s on 2 idle CPU
cores the first time (pretraining included) and 4 s on a second run with the
same --db; a busy machine can take several times longer.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the main job: import a dataset, train the AFNO proxy, run an ABae query",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dataset", choices=DATASET_NAMES, default="fashion", help="built-in dataset"
    )
    every = sorted({p for names in PREDICATES.values() for p in names})
    parser.add_argument(
        "--predicate",
        choices=every,
        default=None,
        metavar="NAME",
        help=(
            f"the query's predicate; fashion: {', '.join(PREDICATES['fashion'])} (default "
            f"{DEFAULT_PREDICATES['fashion']}); scenes: {', '.join(PREDICATES['scenes'])} "
            f"(default {DEFAULT_PREDICATES['scenes']}). Rarer predicates gain more from ABae"
        ),
    )
    parser.add_argument(
        "--limit", type=_positive_int, default=None, help="records to import (smaller = faster)"
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="store file (default: a fresh temporary folder, kept with the report)",
    )
    parser.add_argument("--report", type=Path, default=None, help="report folder")
    parser.add_argument(
        "--budget",
        type=_positive_int,
        default=None,
        help=f"the query's ORACLE LIMIT (default: {DEFAULT_BUDGETS['fashion']} for fashion, "
        f"{DEFAULT_BUDGETS['scenes']} for scenes)",
    )
    parser.add_argument(
        "--pilot",
        type=pilot_size,
        default=None,
        metavar="N|auto",
        help="pilot labels, or auto: rounds of 100, 200, 400, ... until the cross-validated "
        "AUC stops improving (the default; at most 1000 labels for fashion, 400 for scenes)",
    )
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="most fine-tuning epochs (default 15 for fashion, 10 for scenes)",
    )
    parser.add_argument(
        "--pretrain-epochs",
        type=_positive_int,
        default=None,
        help="epochs of the backbone's masked-inpainting pretraining (default 2)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of data, pilot and sampling")
    parser.add_argument(
        "--oracle-latency",
        type=float,
        default=0.002,
        help="seconds each oracle call sleeps, standing in for its cost (default 0.002)",
    )
    add_executor_option(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    from abae.cli.progress_bar import QueryProgressBar
    from abae.demo.main_job import DemoOptions, format_outcome, run_demo

    options = DemoOptions(
        dataset=args.dataset,
        predicate=args.predicate,
        records=args.limit,
        db=args.db,
        report_dir=args.report,
        budget=args.budget,
        pilot=args.pilot,
        epochs=args.epochs,
        pretrain_epochs=args.pretrain_epochs,
        seed=args.seed,
        oracle_latency_s=args.oracle_latency,
        executor=chosen_executor(args),
        progress=not args.no_progress,
    )
    bar = QueryProgressBar(enabled=not args.no_progress)
    try:
        outcome = run_demo(options, on_progress=bar)
    finally:
        bar.close()
    print(format_outcome(outcome))
    sys.stdout.flush()
    return 0
