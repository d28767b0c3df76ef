"""Create a collection atomically: its table, checks and catalog rows in one transaction.

Every importer ends here. The rows come from a SQL relation (a DuckDB reader
over a CSV/Parquet file, NumPy arrays registered on the connection, or a
private staging file attached read-only); one store transaction creates the
table from them, checks them (ids present and unique, proxy scores finite),
replaces an existing collection when asked, and writes the catalog. When
anything fails, the transaction rolls back: the store is as it was, no empty
or partial collection is left behind, and the same import can simply be
retried.

Collection tables keep their records in id order, which lets batch reads by
id range skip the rest of the table. Rows usually arrive in id order already;
one pass over the stored ids (in chunks, in NumPy) confirms it and proves the
ids unique at the same time. Only rows that arrive out of order pay for a
distinct count and a sorted copy.

Example:
    >>> import os, tempfile
    >>> from abae.store import Store
    >>> store = Store(os.path.join(tempfile.mkdtemp(), "example.duckdb"))
    >>> rows = RowSource("SELECT range AS id, NULL AS image, NULL AS image_blob, "
    ...                  "range * 0.1 AS p FROM range(3)")
    >>> publish_collection(store, NewCollection("r", proxies=["p"]), rows)
    >>> publish_collection(store, NewCollection("r"), rows)
    Traceback (most recent call last):
    ...
    abae.store.collection_publish.CollectionImportError: collection 'r' already exists in ...
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from abae.errors import AbaeError
from abae.store.connection import Store
from abae.store.identifiers import quote, validate_identifier, validate_user_table
from abae.store.import_progress import statement_progress
from abae.store.records import BASE_COLUMNS, drop_collection

_STAGING_ALIAS = "abae_staging"
_SORTING_TABLE = "abae_import_sorting"
_ID_CHUNK = 1 << 21
_ALLOWED_TYPES = frozenset(
    {
        "BOOLEAN",
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "HUGEINT",
        "FLOAT",
        "DOUBLE",
        "VARCHAR",
        "DATE",
        "TIMESTAMP",
        "TIMESTAMP WITH TIME ZONE",
        "BLOB",
    }
)


class CollectionImportError(AbaeError):
    """An import that was refused or failed; the store is unchanged."""


@dataclass(frozen=True)
class NewCollection:
    """What a new collection will hold.

    Attributes:
        name: the collection (table) name.
        columns: user column name → DuckDB type, without the base columns.
        proxies: proxy score columns (stored as ``DOUBLE``, listed in ``abae_proxies``).
        source: where the records come from (kept in the catalog).
        proxy_description: the catalog description of the imported proxy columns.
    """

    name: str
    columns: Mapping[str, str] = field(default_factory=dict)
    proxies: Sequence[str] = ()
    source: str = ""
    proxy_description: str = ""

    def __post_init__(self) -> None:
        validate_user_table(self.name)
        seen: set[str] = set()
        for column in [*self.columns, *self.proxies]:
            validate_identifier(column, what="column name")
            lowered = column.lower()
            if lowered in BASE_COLUMNS:
                raise CollectionImportError(
                    f"column {column!r} clashes with a built-in column {BASE_COLUMNS}; rename it"
                )
            if lowered in seen:
                raise CollectionImportError(f"column {column!r} is given twice (names ignore case)")
            seen.add(lowered)
        for column, sql_type in self.columns.items():
            check_sql_type(column, sql_type)


def check_sql_type(column: str, sql_type: str) -> None:
    """Refuse column types the query engine does not handle.

    Raises:
        CollectionImportError: ``sql_type`` is not a plain scalar type (or a list of one).
    """
    base = sql_type.upper()
    if base.endswith("[]"):
        base = base[:-2]
    if base.startswith("DECIMAL("):
        if all(ch.isdigit() or ch in "(,) " for ch in base[7:]):
            return
        raise CollectionImportError(f"column {column!r}: malformed DECIMAL type {sql_type!r}")
    if base not in _ALLOWED_TYPES:
        raise CollectionImportError(
            f"column {column!r} has type {sql_type}, which collections do not hold; use one of "
            f"{', '.join(sorted(_ALLOWED_TYPES))} (convert it before importing)"
        )


@dataclass(frozen=True)
class RowSource:
    """Where the new rows come from, as SQL over the store connection.

    ``sql`` selects columns named ``id``, ``image``, ``image_blob``, the user
    columns and the proxies (in any order; they are cast to their types).

    Attributes:
        sql: a ``SELECT`` statement.
        params: its parameters.
        register: NumPy columns to register on the connection under the name
            each key gives (e.g. ``{"abae_import_rows": {"id": ids, ...}}``).
        attach: a private DuckDB file to attach read-only as ``abae_staging``.
    """

    sql: str
    params: Sequence[object] = ()
    register: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    attach: Path | None = None


def publish_collection(
    store: Store,
    spec: NewCollection,
    rows: RowSource,
    *,
    replace: bool = False,
    progress: bool = False,
) -> None:
    """Create collection ``spec.name`` from ``rows`` in one store transaction.

    Args:
        replace: drop an existing collection of that name (and its labels) in the
            same transaction; if the import then fails, the old one stays.
        progress: show DuckDB's progress for a long copy.

    Raises:
        CollectionImportError: the name is taken (without ``replace``), an id is missing or
            repeated, a proxy score is NaN or infinite, or DuckDB could not read
            or convert the rows (its message is kept).
    """
    with store.transaction() as con:
        _make_room(con, store, spec.name, replace=replace)
        with _row_source(con, rows), statement_progress(con, "import", enabled=progress):
            _create_table(con, spec, rows)
        _check_rows(con, spec)
        con.execute(
            "INSERT INTO abae_collections (name, source) VALUES (?, ?)", [spec.name, spec.source]
        )
        for proxy in spec.proxies:
            con.execute(
                "INSERT OR REPLACE INTO abae_proxies (collection, name, description) "
                "VALUES (?, ?, ?)",
                [spec.name, proxy, spec.proxy_description],
            )


def _make_room(con: duckdb.DuckDBPyConnection, store: Store, name: str, *, replace: bool) -> None:
    # Results are fetched whole: DuckDB refuses to register a view on a connection
    # whose last result was only partly fetched (fetchone).
    exists = con.execute("SELECT count(*) FROM abae_collections WHERE name = ?", [name]).fetchall()
    if exists[0][0] > 0:
        if not replace:
            raise CollectionImportError(
                f"collection {name!r} already exists in {store.path}; pass --replace to "
                "overwrite it or choose another --table name"
            )
        drop_collection(store, name)
        return
    table = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE lower(table_name) = lower(?)",
        [name],
    ).fetchall()
    if table[0][0] > 0:
        raise CollectionImportError(
            f"store {store.path} has a table {name!r} that is not an abae collection (made by "
            "another program?); choose another --table name"
        )


@contextmanager
def _row_source(con: duckdb.DuckDBPyConnection, rows: RowSource) -> Iterator[None]:
    registered: list[str] = []
    attached = False
    try:
        for view, columns in rows.register.items():
            con.register(view, dict(columns))
            registered.append(view)
        if rows.attach is not None:
            literal = str(rows.attach).replace("'", "''")
            con.execute(f"ATTACH '{literal}' AS {_STAGING_ALIAS} (READ_ONLY)")
            attached = True
        yield
    finally:
        for view in registered:
            _quietly(con, lambda v=view: con.unregister(v))
        if attached:
            _quietly(con, lambda: con.execute(f"DETACH {_STAGING_ALIAS}"))


def _quietly(con: duckdb.DuckDBPyConnection, action: Any) -> None:
    # Clean-up after a failed statement must not hide that statement's error;
    # the store closes the connection after a failed transaction anyway.
    with suppress(duckdb.Error):
        action()


def _create_table(con: duckdb.DuckDBPyConnection, spec: NewCollection, rows: RowSource) -> None:
    casts = [
        "CAST(id AS BIGINT) AS id",
        "CAST(image AS VARCHAR) AS image",
        "CAST(image_blob AS BLOB) AS image_blob",
        *(f"CAST({quote(c)} AS {t}) AS {quote(c)}" for c, t in spec.columns.items()),
        *(f"CAST({quote(p)} AS DOUBLE) AS {quote(p)}" for p in spec.proxies),
    ]
    try:
        con.execute(
            f"CREATE TABLE {quote(spec.name)} AS SELECT {', '.join(casts)} "
            f"FROM ({rows.sql}) AS abae_rows",
            list(rows.params),
        )
    except duckdb.Error as error:
        raise CollectionImportError(
            f"cannot import {spec.source or spec.name}: {_first_lines(error)}"
        ) from error


def _check_rows(con: duckdb.DuckDBPyConnection, spec: NewCollection) -> None:
    table = quote(spec.name)
    finite = "".join(f", count(*) FILTER (WHERE NOT isfinite({quote(p)}))" for p in spec.proxies)
    row = con.execute(f"SELECT count(*), count(id){finite} FROM {table}").fetchall()[0]
    records, with_id = int(row[0]), int(row[1])
    if with_id < records:
        raise CollectionImportError(
            f"{records - with_id} of {records} records have no id; every record needs a "
            "unique integer id"
        )
    for proxy, bad in zip(spec.proxies, row[2:], strict=True):
        if bad:
            raise CollectionImportError(
                f"proxy column {proxy!r} has {bad} NaN or infinite scores; a proxy score is a "
                "finite number per record (higher = more likely to match)"
            )
    if _ids_strictly_ascending(con, table, records):
        return
    distinct = con.execute(f"SELECT count(DISTINCT id) FROM {table}").fetchall()[0][0]
    if distinct < records:
        repeated = con.execute(
            f"SELECT id, count(*) FROM {table} GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT 3"
        ).fetchall()
        examples = ", ".join(f"{r[0]} ({r[1]} times)" for r in repeated)
        raise CollectionImportError(
            f"ids must be unique, but {records - distinct} records repeat an id, e.g. {examples}"
        )
    sorting = quote(_SORTING_TABLE)
    con.execute(f"CREATE TABLE {sorting} AS SELECT * FROM {table} ORDER BY id")
    con.execute(f"DROP TABLE {table}")
    con.execute(f"ALTER TABLE {sorting} RENAME TO {table}")


def _ids_strictly_ascending(con: duckdb.DuckDBPyConnection, table: str, records: int) -> bool:
    """Whether the stored ids increase strictly in storage order (so are sorted and unique).

    Reads the id column in chunks of storage positions (``rowid``; rows not yet
    committed have positions far above 0, so the range is asked for first); a
    query without ``ORDER BY`` returns rows in storage order (DuckDB preserves
    insertion order), and each chunk is compared in NumPy. Any doubt (rows
    missing from the chunks) answers ``False``, which only costs a sort.
    """
    if records == 0:
        return True
    first, last_position = con.execute(f"SELECT min(rowid), max(rowid) FROM {table}").fetchall()[0]
    last: int | None = None
    seen = 0
    for start in range(int(first), int(last_position) + 1, _ID_CHUNK):
        ids = np.asarray(
            con.execute(
                f"SELECT id FROM {table} WHERE rowid >= ? AND rowid < ?",
                [start, start + _ID_CHUNK],
            ).fetchnumpy()["id"],
            dtype=np.int64,
        )
        if ids.size == 0:
            continue
        if (last is not None and ids[0] <= last) or not np.all(ids[1:] > ids[:-1]):
            return False
        last = int(ids[-1])
        seen += ids.size
    return seen == records


def _first_lines(error: BaseException, lines: int = 2) -> str:
    return " ".join(str(error).strip().splitlines()[:lines])
