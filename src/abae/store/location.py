"""Where the store lives, and what may be a store.

``--db`` beats the ``ABAE_DB`` environment variable beats ``./abae.duckdb``.
A store is a DuckDB database file: a folder, an existing file that is not a
DuckDB database (e.g. ``--db frames.csv`` given by mistake) or a new path named
like a data file is refused before anything is opened or created.

Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> check_store_path(os.path.join(folder, "traffic.duckdb")).name
    'traffic.duckdb'
    >>> check_store_path(os.path.join(folder, "frames.csv"))
    Traceback (most recent call last):
    ...
    abae.errors.AbaeError: --db .../frames.csv: a store is a DuckDB file (e.g. store.duckdb), and a name ending in .csv is a data file's; ...
"""

from __future__ import annotations

import os
from pathlib import Path

from abae.errors import AbaeError

DEFAULT_DB_FILENAME = "abae.duckdb"
DB_ENV_VAR = "ABAE_DB"

DUCKDB_MAGIC = b"DUCK"
"""DuckDB database files hold these bytes at offset 8 (after the header checksum)."""
_MAGIC_OFFSET = 8

DATA_FILE_SUFFIXES = frozenset(
    {
        ".csv",
        ".tsv",
        ".txt",
        ".json",
        ".jsonl",
        ".ndjson",
        ".parquet",
        ".pq",
        ".npz",
        ".npy",
        ".pkl",
        ".pickle",
        ".arrow",
        ".feather",
        ".xlsx",
        ".sqlite",
        ".sqlite3",
        ".png",
        ".jpg",
        ".jpeg",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".mp4",
        ".mov",
        ".mkv",
        ".avi",
        ".webm",
        ".py",
        ".html",
    }
)
"""Suffixes of files a user imports or writes, never of a new store."""


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


def check_store_file(path: Path) -> None:
    """Refuse an existing file that is not a DuckDB database (an empty one included).

    Raises:
        AbaeError: saying so, and how to name a store instead.
    """
    if path.exists() and not is_duckdb_file(path):
        what = "an empty file" if path.stat().st_size == 0 else "not a DuckDB database"
        raise AbaeError(
            f"--db {path}: the file exists and is {what}, so it is not a store; give the "
            "path of a DuckDB store (a new path creates one), and import data files with "
            "`abae import FILE --db STORE.duckdb`"
        )


def is_duckdb_file(path: Path) -> bool:
    """Whether ``path`` is a file that starts like a DuckDB database."""
    try:
        with open(path, "rb") as file:
            header = file.read(_MAGIC_OFFSET + len(DUCKDB_MAGIC))
    except OSError:
        return False
    return header[_MAGIC_OFFSET:] == DUCKDB_MAGIC


def check_store_path(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` (as a :class:`~pathlib.Path`) if it is, or may become, a store.

    A file shorter than a DuckDB header may be a store another process is
    creating right now; it is left to :func:`check_store_file`, which the store
    calls once it holds the lock.

    Raises:
        AbaeError: ``path`` is a folder or another non-file; an existing file that
            is not a DuckDB database; or a new path whose suffix is a data file's
            (``.csv``, ``.parquet``, ``.npz``, images, ...).
    """
    path = Path(path)
    if path.is_dir():
        raise AbaeError(
            f"--db {path}: is a folder; a store is a DuckDB file, e.g. {path / DEFAULT_DB_FILENAME}"
        )
    if path.exists():
        if not path.is_file():
            raise AbaeError(f"--db {path}: is not a regular file, so it cannot be a store")
        if path.stat().st_size >= _MAGIC_OFFSET + len(DUCKDB_MAGIC):
            check_store_file(path)
        return path
    if path.suffix.lower() in DATA_FILE_SUFFIXES:
        raise AbaeError(
            f"--db {path}: a store is a DuckDB file (e.g. store.duckdb), and a name ending in "
            f"{path.suffix} is a data file's; to load {path.name} into a store, run "
            f"`abae import {path.name} --db store.duckdb`"
        )
    return path
