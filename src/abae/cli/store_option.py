"""The ``--db`` option shared by the store commands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from abae.store.location import DB_ENV_VAR, DEFAULT_DB_FILENAME

if TYPE_CHECKING:
    from abae.store import Store


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help=f"the DuckDB store file (default: ${DB_ENV_VAR}, else ./{DEFAULT_DB_FILENAME})",
    )


def open_store(args: argparse.Namespace) -> Store:
    from abae.store import Store

    return Store(args.db)
