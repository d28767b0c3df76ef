"""JSON export of the store's query results and label ledger.

The destination is checked before the store is read (a folder, a missing
folder or a path that cannot be written is refused with one clear error), and
the file is written whole to a temporary name beside it and then renamed, so
a failed export never leaves half a file.

Example:
    >>> import json, os, tempfile
    >>> from abae.store import Store
    >>> folder = tempfile.mkdtemp()
    >>> document = export_json(Store(os.path.join(folder, "s.duckdb")), os.path.join(folder, "o.json"))
    >>> sorted(document), document["labels"]
    (['labels', 'queries', 'store'], [])
    >>> export_json(Store(os.path.join(folder, "s.duckdb")), folder)
    Traceback (most recent call last):
    ...
    abae.errors.AbaeError: cannot export to ...: it is a folder; give a file path such as .../labels.json
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from abae.errors import AbaeError
from abae.store.connection import Store
from abae.store.ledger import split_oracle_key
from abae.store.query_log import QueryLog


def check_export_path(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` if a file can be written there.

    Raises:
        AbaeError: ``path`` is a folder, its folder does not exist or is not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise AbaeError(
            f"cannot export to {path}: it is a folder; give a file path such as "
            f"{path / 'labels.json'}"
        )
    folder = path.parent
    if not folder.is_dir():
        raise AbaeError(f"cannot export to {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise AbaeError(f"cannot export to {path}: permission denied")
    return path


def export_json(store: Store, path: str | Path, *, include_labels: bool = True) -> dict[str, Any]:
    """Write the query log (with results) and, optionally, every ledger label to ``path``.

    Labels carry every column of the ledger (``collection``, ``record_id``,
    ``oracle``, ``predicate``, ``statistic``, ``cost``, ``labelled_at``,
    ``query_id``, and any the ledger adds); times are ISO 8601 text.

    Returns:
        The exported document: ``{"store", "queries": [...], "labels": [...]}``.

    Raises:
        AbaeError: ``path`` cannot be written (see :func:`check_export_path`).
    """
    destination = check_export_path(path)
    queries = [
        {
            "query_id": e.query_id,
            "sql": e.sql,
            "collection": e.collection,
            "seed": e.seed,
            "budget": e.budget,
            "status": e.status,
            "runs": e.runs,
            "started_at": e.started_at.isoformat() if e.started_at else None,
            "finished_at": e.finished_at.isoformat() if e.finished_at else None,
            "result": e.result,
        }
        for e in QueryLog(store).entries()
    ]
    labels: list[dict[str, Any]] = []
    if include_labels:
        with store.transaction() as con:
            result = con.execute("SELECT * FROM abae_labels ORDER BY collection, oracle, record_id")
            names = [column[0] for column in result.description or []]
            rows = result.fetchall()
        labels = [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in rows]
        for label in labels:  # the ledger keys labels by name@version: split it for readers
            label["oracle"], label["version"] = split_oracle_key(str(label["oracle"]))
    document = {"store": str(store.path), "queries": queries, "labels": labels}
    _write_atomically(destination, json.dumps(document, indent=2))
    return document


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _write_atomically(path: Path, text: str) -> None:
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "w") as file:
                file.write(text)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise AbaeError(f"cannot export to {path}: {error.strerror or error}") from error
