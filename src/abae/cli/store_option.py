"""The ``--db`` and ``--lock-timeout`` options shared by the store commands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from abae.store.location import DB_ENV_VAR, DEFAULT_DB_FILENAME

if TYPE_CHECKING:
    from abae.store import Store

DEFAULT_LOCK_TIMEOUT_S = 60.0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help=f"the DuckDB store file (default: ${DB_ENV_VAR}, else ./{DEFAULT_DB_FILENAME})",
    )
    parser.add_argument(
        "--lock-timeout",
        metavar="SECONDS",
        type=_positive_seconds,
        default=DEFAULT_LOCK_TIMEOUT_S,
        help=(
            "how long to wait while other processes use the store before giving up "
            f"(default: {DEFAULT_LOCK_TIMEOUT_S:.0f})"
        ),
    )


def open_store(args: argparse.Namespace) -> Store:
    from abae.store import Store

    return Store(
        args.db, lock_timeout_s=getattr(args, "lock_timeout", None) or DEFAULT_LOCK_TIMEOUT_S
    )
