"""Which records trained which proxy, and their cross-fitted scores: ``abae_proxy_pilots``.

A proxy's pilot is a uniform sample of the collection whose labels were paid
for. Queries use those labels as a census stratum (every pilot record is
labelled, so it adds its exact total and no variance) and stratify the rest by
the proxy. To plan the allocation, each pilot record also needs a proxy score
from a model that never saw its label: the cross-fitted score the proxy
pipeline stores here beside the record id (see ``docs/proxies.md``). This
module only records and reads the sets; it knows nothing of models.

Table ``abae_proxy_pilots(collection, proxy, record_id, score)``; ``score`` is a
DOUBLE, NULL where none was recorded (pilots of regressor proxies, or pilots
recorded before scores were kept).
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import numpy as np
from numpy.typing import ArrayLike, NDArray

from abae.store.connection import Store
from abae.store.identifiers import validate_identifier, validate_user_table

SCORE_COLUMN_DDL = "ALTER TABLE abae_proxy_pilots ADD COLUMN IF NOT EXISTS score DOUBLE"
"""Adds the score column to a store made before scores were kept (idempotent)."""


def ensure_pilot_scores(con: duckdb.DuckDBPyConnection) -> None:
    """Make sure ``abae_proxy_pilots`` has its ``score`` column (inside a transaction)."""
    con.execute(SCORE_COLUMN_DDL)


def record_pilot(
    store: Store,
    collection: str,
    proxy: str,
    record_ids: Iterable[int],
    scores: ArrayLike | None = None,
) -> int:
    """Replace the pilot set of ``proxy`` in ``collection`` with ``record_ids`` (and their scores).

    Args:
        record_ids: distinct ids of the records whose labels trained the proxy.
        scores: float ``(m,)``, one cross-fitted score per id (in the same order),
            or None to record no scores. NaN is stored as NULL.

    Returns:
        The number of pilot records stored.

    Raises:
        ValueError: repeated ids, or scores that do not match the ids.
    """
    validate_user_table(collection)
    validate_identifier(proxy, what="proxy name")
    ids = np.fromiter((int(i) for i in record_ids), dtype=np.int64)
    if np.unique(ids).size != ids.size:
        raise ValueError(f"the pilot of proxy {proxy!r} repeats a record id")
    values = np.full(ids.size, np.nan) if scores is None else np.asarray(scores, dtype=np.float64)
    if values.shape != ids.shape:
        raise ValueError(
            f"the pilot of proxy {proxy!r} has {ids.size} records but {values.size} scores"
        )
    with store.transaction() as con:
        ensure_pilot_scores(con)
        con.execute(
            "DELETE FROM abae_proxy_pilots WHERE collection = ? AND proxy = ?", [collection, proxy]
        )
        if ids.size:
            frame = {"record_id": ids, "score": values}
            con.register("abae_pilot_rows", frame)
            try:
                con.execute(
                    "INSERT INTO abae_proxy_pilots (collection, proxy, record_id, score) "
                    "SELECT ?, ?, record_id, CASE WHEN isnan(score) THEN NULL ELSE score END "
                    "FROM abae_pilot_rows",
                    [collection, proxy],
                )
            finally:
                con.unregister("abae_pilot_rows")
    return int(ids.size)


def pilot_records(store: Store, collection: str, proxies: Iterable[str]) -> NDArray[np.int64]:
    """Sorted distinct int64 ids of the records that trained any of ``proxies`` (may be empty)."""
    validate_user_table(collection)
    names = [validate_identifier(p, what="proxy name") for p in proxies]
    if not names:
        return np.empty(0, dtype=np.int64)
    marks = ", ".join("?" for _ in names)
    with store.transaction() as con:
        rows = con.execute(
            f"SELECT DISTINCT record_id FROM abae_proxy_pilots WHERE collection = ? "
            f"AND proxy IN ({marks}) ORDER BY record_id",
            [collection, *names],
        ).fetchall()
    return np.array([int(r[0]) for r in rows], dtype=np.int64)


def pilot_records_with_scores(
    store: Store, collection: str, proxy: str
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The pilot of ``proxy``: ``(ids, scores)``, int64 and float64 ``(m,)`` in id order.

    ``scores[i]`` is record ``ids[i]``'s cross-fitted proxy score (from a model
    that never saw its label, on the scale of the proxy's score column), NaN
    where none was recorded. Both arrays are empty when the proxy has no pilot.
    """
    validate_user_table(collection)
    validate_identifier(proxy, what="proxy name")
    with store.transaction() as con:
        ensure_pilot_scores(con)
        rows = con.execute(
            "SELECT record_id, score FROM abae_proxy_pilots WHERE collection = ? AND proxy = ? "
            "ORDER BY record_id",
            [collection, proxy],
        ).fetchall()
    ids = np.array([int(r[0]) for r in rows], dtype=np.int64)
    scores = np.array([np.nan if r[1] is None else float(r[1]) for r in rows], dtype=np.float64)
    return ids, scores


def proxies_with_pilots(store: Store, collection: str) -> list[str]:
    """Names of the proxies of ``collection`` that have a recorded pilot set."""
    validate_user_table(collection)
    with store.transaction() as con:
        rows = con.execute(
            "SELECT DISTINCT proxy FROM abae_proxy_pilots WHERE collection = ? ORDER BY proxy",
            [collection],
        ).fetchall()
    return [str(r[0]) for r in rows]
