"""Where the store lives: ``--db`` beats the ``ABAE_DB`` environment variable beats ``./abae.duckdb``."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB_FILENAME = "abae.duckdb"
DB_ENV_VAR = "ABAE_DB"


def resolve_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The store path to use.

    Args:
        explicit: a path given by the user (``--db``); wins when set.

    Returns:
        ``explicit``, else ``$ABAE_DB``, else ``./abae.duckdb`` in the working directory.
    """
    if explicit is not None and str(explicit) != "":
        return Path(explicit)
    from_env = os.environ.get(DB_ENV_VAR, "")
    if from_env:
        return Path(from_env)
    return Path.cwd() / DEFAULT_DB_FILENAME
