"""Record collections: one DuckDB table per collection, with id, image and the user's columns.

A collection table has the columns ``id BIGINT`` (unique and never NULL,
checked when the collection is imported; records are stored in id order),
``image VARCHAR`` (a file path or URL, may be NULL), ``image_blob BLOB``
(encoded image bytes, may be NULL), the user's cheap columns, and proxy score
columns (``DOUBLE``, listed in ``abae_proxies``). Collections are made only by
the importers (:mod:`abae.store.importers`), each in one transaction.
:class:`RecordCollection` is the API the engine and the proxy trainers use:
iterate records in batches, read columns by record id, and write a proxy
score column.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from abae.errors import AbaeError
from abae.store.connection import Store
from abae.store.identifiers import quote, validate_identifier, validate_user_table

BASE_COLUMNS = ("id", "image", "image_blob")


class UnknownCollectionError(AbaeError):
    """A collection (table of records) that the store does not hold."""


@dataclass(frozen=True)
class RecordBatch:
    """A batch of records in id order.

    Attributes:
        ids: int64 array (B,) of record ids.
        images: (B,) image references (paths/URLs) or ``None``.
        blobs: (B,) encoded image bytes or ``None``.
        columns: the requested user/proxy columns, each a NumPy array (B,).
    """

    ids: NDArray[np.int64]
    images: list[str | None]
    blobs: list[bytes | None]
    columns: dict[str, NDArray[np.generic]] = field(default_factory=dict)


class RecordCollection:
    """One collection of records in a :class:`Store`.

    Args:
        store: the store holding it.
        name: the collection (table) name; must exist (see :mod:`abae.store.importers`).
    """

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = validate_user_table(name)
        with store.transaction() as con:
            row = con.execute(
                "SELECT count(*) FROM abae_collections WHERE name = ?", [name]
            ).fetchall()[0]
        if row[0] == 0:
            known = ", ".join(list_collections(store)) or "none yet"
            raise UnknownCollectionError(
                f"collection {name!r} is not in store {store.path} (collections: {known}); "
                "import records first with `abae import`"
            )

    def count(self) -> int:
        """Number of records."""
        with self.store.transaction() as con:
            row = con.execute(f"SELECT count(*) FROM {quote(self.name)}").fetchall()[0]
        return int(row[0])

    def column_types(self) -> dict[str, str]:
        """All columns (base, user and proxy) → DuckDB type name."""
        with self.store.transaction() as con:
            rows = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = ? ORDER BY ordinal_position",
                [self.name],
            ).fetchall()
        return {str(n): str(t) for n, t in rows}

    def proxy_names(self) -> list[str]:
        """Names of the proxy score columns."""
        with self.store.transaction() as con:
            rows = con.execute(
                "SELECT name FROM abae_proxies WHERE collection = ? ORDER BY name", [self.name]
            ).fetchall()
        return [str(r[0]) for r in rows]

    def iter_batches(
        self, batch_size: int = 256, columns: Sequence[str] = ()
    ) -> Iterator[RecordBatch]:
        """Yield all records in id order, ``batch_size`` at a time (for proxy training/scoring).

        The ids are read once; each batch then reads one id range, which touches
        only the stored blocks of that range (records are stored in id order).
        The store is not held between batches.
        """
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        wanted = self._checked_columns(columns)
        select = ", ".join(["id", "image", "image_blob", *(quote(c) for c in wanted)])
        with self.store.transaction() as con:
            data = con.execute(f"SELECT id FROM {quote(self.name)} ORDER BY id").fetchnumpy()
        ids = np.asarray(data["id"], dtype=np.int64)
        for start in range(0, ids.size, batch_size):
            first, last = int(ids[start]), int(ids[min(start + batch_size, ids.size) - 1])
            with self.store.transaction() as con:
                rows = con.execute(
                    f"SELECT {select} FROM {quote(self.name)} WHERE id BETWEEN ? AND ? ORDER BY id",
                    [first, last],
                ).fetchall()
            if rows:
                yield _batch_from_rows(rows, wanted)

    def fetch(self, ids: NDArray[np.int64], columns: Sequence[str] = ()) -> RecordBatch:
        """The records with these ids, in the order given (missing ids raise)."""
        wanted = self._checked_columns(columns)
        ids = np.asarray(ids, dtype=np.int64)
        select = ", ".join(["r.id", "r.image", "r.image_blob", *(f"r.{quote(c)}" for c in wanted)])
        with self.store.transaction() as con:
            con.register("abae_wanted_ids", {"id": ids, "pos": np.arange(ids.size)})
            try:
                rows = con.execute(
                    f"SELECT {select} FROM abae_wanted_ids w JOIN {quote(self.name)} r "
                    "ON r.id = w.id ORDER BY w.pos"
                ).fetchall()
            finally:
                con.unregister("abae_wanted_ids")
        if len(rows) != ids.size:
            found = {int(r[0]) for r in rows}
            missing = [int(i) for i in ids if int(i) not in found][:5]
            raise AbaeError(f"records {missing} are not in collection {self.name!r}")
        return _batch_from_rows(rows, wanted)

    def write_proxy_scores(
        self,
        name: str,
        ids: NDArray[np.int64],
        scores: NDArray[np.floating],
        *,
        description: str = "",
    ) -> None:
        """Store proxy scores as a ``DOUBLE`` column ``name`` (created if needed).

        Args:
            ids: int64 (M,) record ids; records not listed keep NULL.
            scores: float (M,) scores, finite; higher = more likely to match.
        """
        validate_identifier(name, what="proxy column name")
        ids = np.asarray(ids, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float64)
        if ids.ndim != 1 or ids.shape != scores.shape:
            raise ValueError(
                f"ids and scores must be 1-D of equal length, got shapes {ids.shape} and "
                f"{scores.shape}"
            )
        if not np.all(np.isfinite(scores)):
            raise ValueError(f"proxy scores for {name!r} contain NaN or infinity")
        if np.unique(ids).size != ids.size:
            raise ValueError(f"ids for proxy {name!r} contain duplicates")
        with self.store.transaction() as con:
            existing = self.column_types()
            if name in existing and name not in self.proxy_names():
                raise ValueError(
                    f"{name!r} is already a non-proxy column of {self.name!r}; choose another name"
                )
            if name not in existing:
                con.execute(f"ALTER TABLE {quote(self.name)} ADD COLUMN {quote(name)} DOUBLE")
            con.register("abae_new_scores", {"id": ids, "score": scores})
            try:
                con.execute(
                    f"UPDATE {quote(self.name)} AS r SET {quote(name)} = s.score "
                    "FROM abae_new_scores s WHERE r.id = s.id"
                )
            finally:
                con.unregister("abae_new_scores")
            con.execute(
                "INSERT OR REPLACE INTO abae_proxies (collection, name, description) "
                "VALUES (?, ?, ?)",
                [self.name, name, description],
            )

    def _checked_columns(self, columns: Sequence[str]) -> list[str]:
        known = self.column_types()
        for column in columns:
            validate_identifier(column, what="column name")
            if column not in known:
                raise ValueError(
                    f"column {column!r} is not in collection {self.name!r} "
                    f"(columns: {', '.join(known)})"
                )
        return [c for c in columns if c not in BASE_COLUMNS]


def list_collections(store: Store) -> list[str]:
    """Names of all collections in the store."""
    with store.transaction() as con:
        rows = con.execute("SELECT name FROM abae_collections ORDER BY name").fetchall()
    return [str(r[0]) for r in rows]


def drop_collection(store: Store, name: str) -> None:
    """Remove a collection with everything the store keeps about it, except the query log.

    Rows of ``name`` go from every store table with a ``collection`` column
    (proxies, pilots, labels, claims, and any such table added later, e.g. the
    proxy catalog); the query log keeps its history.
    """
    validate_user_table(name)
    with store.transaction() as con:
        con.execute(f"DROP TABLE IF EXISTS {quote(name)}")
        con.execute("DELETE FROM abae_collections WHERE name = ?", [name])
        tables = con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns "
            "WHERE column_name = 'collection' AND starts_with(table_name, 'abae_') "
            "AND table_name <> 'abae_queries' ORDER BY table_name"
        ).fetchall()
        for (table,) in tables:
            con.execute(f"DELETE FROM {quote(str(table))} WHERE collection = ?", [name])


def _batch_from_rows(rows: list[tuple[object, ...]], wanted: list[str]) -> RecordBatch:
    ids = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))  # type: ignore[call-overload]
    images = [None if r[1] is None else str(r[1]) for r in rows]
    blobs = [None if r[2] is None else bytes(r[2]) for r in rows]  # type: ignore[call-overload]
    columns = {c: np.array([r[3 + j] for r in rows]) for j, c in enumerate(wanted)}
    return RecordBatch(ids=ids, images=images, blobs=blobs, columns=columns)
