"""A private staging file for imports whose rows are made slowly, chunk by chunk.

Reading image files or decoding video takes far longer than storing the
result. Such an importer writes its rows to a private DuckDB file beside the
store (``.STORE.import-PID-TOKEN.duckdb``, hidden), without holding the
store's lock, and the new collection is then published from it in one short
store transaction (:func:`abae.store.collection_publish.publish_collection`
with ``RowSource(attach=...)``). The file is deleted afterwards; one left by a
killed process is deleted by the next import into that store once its process
is gone.

Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> store_path = os.path.join(tempfile.mkdtemp(), "example.duckdb")
    >>> with StagingRows(store_path, {"id": "BIGINT", "x": "DOUBLE"}) as staging:
    ...     staging.append({"id": np.arange(3), "x": np.ones(3)})
    ...     staging.rows
    3
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

from abae.store.identifiers import quote

STAGING_TABLE = "rows"
_NAME = re.compile(r"\.(?P<store>.+)\.import-(?P<pid>\d+)-[0-9a-f]{12}\.duckdb(\.wal)?")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging_files(store_path: Path) -> list[Path]:
    """Delete staging files of ``store_path`` whose process no longer runs; returns them."""
    folder = store_path.parent
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _NAME.fullmatch(name)
        if match is None or match["store"] != store_path.name:
            continue
        if _process_alive(int(match["pid"])):
            continue
        try:
            (folder / name).unlink()
            removed.append(folder / name)
        except OSError:
            pass
    return removed


class StagingRows:
    """Rows appended chunk by chunk to a private DuckDB file (see the module docstring).

    Args:
        store_path: the store the rows are for (the file is made in its folder).
        columns: column name → DuckDB type of the staged rows.
    """

    def __init__(self, store_path: str | os.PathLike[str], columns: Mapping[str, str]) -> None:
        store_path = Path(store_path)
        remove_stale_staging_files(store_path)
        token = uuid.uuid4().hex[:12]
        self.path = store_path.with_name(f".{store_path.name}.import-{os.getpid()}-{token}.duckdb")
        self.columns = dict(columns)
        self.rows = 0
        self._con: duckdb.DuckDBPyConnection | None = duckdb.connect(str(self.path))
        column_sql = ", ".join(f"{quote(c)} {t}" for c, t in self.columns.items())
        self._con.execute(f"CREATE TABLE {STAGING_TABLE} ({column_sql})")

    def append(self, chunk: Mapping[str, Any]) -> None:
        """Add rows: ``chunk`` maps every column to a NumPy array (or list) of one length."""
        if self._con is None:
            raise RuntimeError("the staging file is already closed")
        names = ", ".join(quote(c) for c in self.columns)
        self._con.register("abae_chunk", {c: chunk[c] for c in self.columns})
        try:
            self._con.execute(
                f"INSERT INTO {STAGING_TABLE} ({names}) SELECT {names} FROM abae_chunk"
            )
        finally:
            self._con.unregister("abae_chunk")
        self.rows += len(chunk[next(iter(self.columns))])

    def close(self) -> None:
        """Finish writing (the file can then be attached by the store)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def remove(self) -> None:
        """Close and delete the file."""
        self.close()
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            path.unlink(missing_ok=True)

    def __enter__(self) -> StagingRows:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()
