"""``abae proxy train`` and ``abae proxy score``: AFNO proxies for a stored collection."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from abae.cli.executor_option import add_executor_option, chosen_executor
from abae.cli.store_option import add_db_option, open_store
from abae.errors import AbaeError
from abae.query.plan import OracleCall

TRAIN_DESCRIPTION = """\
Train an AFNO proxy for a collection:

  1. label a pilot of uniformly drawn records with the --oracle predicate (through
     the oracle runtime and the label ledger; charged to query id pilot:NAME);
  2. train an AFNO classifier on their images (max-pooled tokens), hold out a
     share to calibrate it (Platt scaling) and to report its AUC;
  3. save the checkpoint beside the database (DB.proxies/COLLECTION/NAME.pt);
  4. score every record into the proxy column NAME, usable in USING NAME.

The pilot records are then left out of every query ranked by NAME: the proxy
has seen them, so they are not reused as stratified samples (docs/proxies.md).

Example:
  abae proxy train fashion --name afno_proxy --oracle 'is_footwear(image)' \\
      --oracles oracles.py --pilot 1000 --epochs 6
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
    train.add_argument("--pilot", type=int, default=1000, help="pilot labels (default 1000)")
    train.add_argument("--epochs", type=int, default=6, help="training epochs (default 6)")
    train.add_argument("--lr", type=float, default=5e-3, help="peak learning rate")
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
    from abae.proxy.store_pipeline import ProxyTrainingSettings, train_collection_proxy

    if args.oracle is None and args.statistic is None:
        raise AbaeError("give --oracle (a predicate to learn) or --statistic with --regress")
    settings = ProxyTrainingSettings(
        pilot_size=args.pilot,
        epochs=args.epochs,
        lr=args.lr,
        patch_size=args.patch_size,
        model_kwargs={"global_pool": args.pool},
        regress_statistic=args.regress,
        seed=args.seed,
    )
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
    )
    for proxy, path in (
        (trained.proxy, trained.checkpoint),
        (trained.regressor, trained.regressor_checkpoint),
    ):
        if proxy is None:
            continue
        quality = proxy.metadata.get("held_out_auc", proxy.metadata.get("held_out_correlation"))
        measure = "held-out AUC" if proxy.task == "classify" else "held-out correlation"
        print(f"proxy {proxy.name}: {proxy.task}, {measure} {quality:.3f}; checkpoint {path}")
    print(
        f"pilot: {trained.pilot.ids.size} records, {trained.pilot.calls} oracle labels bought "
        f"({trained.pilot.reused} labels reused); scores written to column {args.name!r}",
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
