"""``abae proxy train`` and ``abae proxy score``: AFNO proxies for a stored collection."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from abae.cli.executor_option import add_executor_option, chosen_executor
from abae.cli.pilot_option import add_pilot_option
from abae.cli.store_option import add_db_option, open_store
from abae.errors import AbaeError
from abae.query.plan import OracleCall

TRAIN_DESCRIPTION = """\
Train a proxy for a collection:

  1. pretrain the AFNO backbone on the collection's own images (masked
     inpainting, no oracle call), or reuse the one cached beside the database
     (DB.proxies/COLLECTION/backbone-KEY.pt; a changed collection gets a new one);
  2. label a pilot of uniformly drawn records with the --oracle predicate (through
     the oracle runtime and the label ledger; charged to query id pilot:NAME).
     --pilot auto grows it in rounds (100, 200, 400, ...) until the
     cross-validated AUC stops improving, up to --max-pilot labels;
  3. choose the proxy by cross-validated AUC among: the AFNO network fine-tuned
     from the backbone, a linear probe on its features, logistic regression on
     downsampled pixels; calibrate it (Platt scaling on out-of-fold scores);
  4. save the checkpoint (DB.proxies/COLLECTION/NAME.pt), score every record into
     the proxy column NAME (usable in USING NAME), record each pilot record's
     cross-fitted score and the proxy's catalog entry (candidate, AUC, cost).

Queries use the pilot's paid labels as a census stratum and stratify the rest
by the proxy (docs/proxies.md). A proxy whose AUC is below 0.6 is flagged.

Example:
  abae proxy train fashion --name afno_proxy --oracle 'is_trouser(image)' \\
      --oracles oracles.py --pilot auto
"""

SCORE_DESCRIPTION = """\
Score every record of a collection with a proxy checkpoint, in batches with a
progress bar, and store the scores as a proxy column. Any checkpoint written by
abae.proxy.save_proxy works, also one trained elsewhere: it carries the
network, the image size and mode it reads, and its calibration.

Example:
  abae proxy score fashion --checkpoint abae.duckdb.proxies/fashion/afno_proxy.pt
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "proxy",
        help="train AFNO proxies on pilot labels and score records with them",
        description="Train and apply AFNO proxy models for a collection.",
    )
    commands = parser.add_subparsers(dest="proxy_command", metavar="SUBCOMMAND")
    commands.required = True

    train = commands.add_parser(
        "train",
        help="label a pilot, train and calibrate an AFNO proxy, score every record",
        description=TRAIN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("collection", help="the collection (table) of records")
    train.add_argument("--name", default="afno_proxy", help="proxy / score column name")
    train.add_argument(
        "--oracle",
        metavar="CALL",
        default=None,
        help="the predicate oracle the classifier learns, e.g. 'is_footwear(image)'",
    )
    train.add_argument(
        "--statistic",
        metavar="CALL",
        default=None,
        help="with --regress: also train a regressor NAME_statistic for this oracle",
    )
    train.add_argument(
        "--regress", action="store_true", help="train the --statistic regressor as well"
    )
    train.add_argument("--oracles", required=True, metavar="FILE.py", help="oracle file")
    add_pilot_option(train, "to buy")
    train.add_argument(
        "--max-pilot", type=int, default=1000, help="most pilot labels with --pilot auto (1000)"
    )
    train.add_argument(
        "--pilot-budget",
        type=int,
        default=None,
        help="most oracle calls query id pilot:NAME may claim in all (default: the pilot size); "
        "raise it to finish a pilot a killed run left short",
    )
    train.add_argument(
        "--accept-smaller-pilot",
        action="store_true",
        help="train on the labels there are when the pilot got fewer than asked (else an error)",
    )
    train.add_argument(
        "--candidates",
        default=",".join(CANDIDATES),
        help=f"comma-separated candidates to choose from (default {','.join(CANDIDATES)}; "
        "also afno_scratch)",
    )
    train.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    train.add_argument(
        "--epochs", type=int, default=15, help="most fine-tuning epochs (default 15)"
    )
    train.add_argument("--lr", type=float, default=5e-3, help="fine-tuning learning rate")
    train.add_argument(
        "--pretrain-epochs", type=int, default=2, help="backbone pretraining epochs (default 2)"
    )
    train.add_argument("--patch-size", type=int, default=None, help="patch side in pixels")
    train.add_argument(
        "--pool",
        choices=("max", "mean"),
        default="max",
        help="how the network pools its tokens (max: small objects; default max)",
    )
    train.add_argument("--seed", type=int, default=0, help="pilot draw and training seed")
    add_db_option(train)
    add_executor_option(train)
    train.add_argument("--no-progress", action="store_true", help="hide progress bars")
    train.set_defaults(func=run_train)

    score = commands.add_parser(
        "score",
        help="score every record with a proxy checkpoint into a score column",
        description=SCORE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    score.add_argument("collection", help="the collection (table) of records")
    score.add_argument("--checkpoint", required=True, type=Path, help="proxy checkpoint file")
    score.add_argument("--name", default=None, help="score column (default: the proxy's name)")
    score.add_argument("--batch-size", type=int, default=256, help="records per batch")
    add_db_option(score)
    add_executor_option(score)
    score.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    score.set_defaults(func=run_score)


CANDIDATES = ("afno_finetuned", "afno_linear_probe", "pixels_logistic")


def parse_oracle_call(text: str) -> OracleCall:
    """``"is_footwear(image)"`` → ``OracleCall("is_footwear", ("image",))``.

    Raises:
        AbaeError: the text is not one function call over column names.
    """
    try:
        node = sqlglot.parse_one(text)
    except sqlglot.errors.ParseError as error:
        raise AbaeError(f"cannot read oracle call {text!r}: {error}") from error
    if not isinstance(node, exp.Anonymous) or not all(
        isinstance(a, exp.Column) for a in node.expressions
    ):
        raise AbaeError(
            f"expected an oracle call over columns such as 'is_footwear(image)', got {text!r}"
        )
    return OracleCall(str(node.name), tuple(a.name for a in node.expressions))


def run_train(args: argparse.Namespace) -> int:
    from abae.oracles import load_oracle_file
    from abae.proxy.backbone import Pretraining
    from abae.proxy.store_pipeline import ProxyTrainingSettings, train_collection_proxy

    if args.oracle is None and args.statistic is None:
        raise AbaeError("give --oracle (a predicate to learn) or --statistic with --regress")
    settings = ProxyTrainingSettings(
        pilot_size=args.pilot,
        max_pilot=args.max_pilot,
        pilot_budget=args.pilot_budget,
        accept_smaller_pilot=args.accept_smaller_pilot,
        candidates=tuple(c.strip() for c in args.candidates.split(",") if c.strip()),
        folds=args.folds,
        epochs=args.epochs,
        lr=args.lr,
        patch_size=args.patch_size,
        model_kwargs={"global_pool": args.pool},
        pretraining=Pretraining(epochs=args.pretrain_epochs, seed=args.seed),
        regress_statistic=args.regress,
        seed=args.seed,
    )

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    trained = train_collection_proxy(
        open_store(args),
        args.collection,
        args.name,
        load_oracle_file(args.oracles),
        predicate=parse_oracle_call(args.oracle) if args.oracle else None,
        statistic=parse_oracle_call(args.statistic) if args.statistic else None,
        settings=settings,
        executor=chosen_executor(args),
        progress=not args.no_progress,
        log=log,
    )
    if trained.selection is not None:
        others = ", ".join(
            f"{name} {result.auc:.3f}" for name, result in trained.selection.results.items()
        )
        print(
            f"proxy {trained.proxy.name}: {trained.candidate}, cross-validated AUC "
            f"{trained.cv_auc:.3f} on {trained.pilot_ids.size} pilot labels ({others}); "
            f"checkpoint {trained.checkpoint}"
        )
    for proxy, path in (
        (None if trained.selection is not None else trained.proxy, trained.checkpoint),
        (trained.regressor, trained.regressor_checkpoint),
    ):
        if proxy is None:
            continue
        quality = proxy.metadata.get("held_out_correlation", float("nan"))
        print(f"proxy {proxy.name}: regress, held-out correlation {quality:.3f}; checkpoint {path}")
    for warning in trained.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"pilot: {trained.pilot_ids.size} records, {trained.calls} oracle labels bought "
        f"({trained.pilot.reused} labels reused) in {len(trained.rounds)} round(s); scores "
        f"written to column {args.name!r}",
        file=sys.stderr,
    )
    return 0


def run_score(args: argparse.Namespace) -> int:
    from abae.proxy.store_pipeline import score_collection

    scores = score_collection(
        open_store(args),
        args.collection,
        args.checkpoint,
        name=args.name,
        executor=chosen_executor(args),
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    print(
        f"scored {scores.size} records of {args.collection!r}: scores in "
        f"[{scores.min():.4g}, {scores.max():.4g}], mean {scores.mean():.4g}"
    )
    return 0
