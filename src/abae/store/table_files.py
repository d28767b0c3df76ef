"""CSV and Parquet files as collections, read by DuckDB's own readers.

The file is described (column names and types) on a private in-memory DuckDB
connection, without touching the store; the roles the user gives (id, image,
proxy columns) are checked against those types with messages that say what
is wrong and how to fix it; then the store copies the file in one statement
(:func:`abae.store.collection_publish.publish_collection`).

DuckDB expands ``*``, ``?`` and ``[...]`` in file names. A file whose name
holds one of them is read through a link with a plain name, so the file the
user named is read, never a set of other files matching it as a pattern.

Example:
    >>> from pathlib import Path
    >>> file_kind(Path("frames.csv.gz")), file_kind(Path("scores.parquet"))
    ('csv', 'parquet')
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from abae.store.collection_publish import CollectionImportError
from abae.store.identifiers import InvalidIdentifierError, validate_identifier

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
_COMPRESSED = (".gz", ".zst")
_GLOB_CHARACTERS = frozenset("*?[]{}")

_SIGNED_INTEGERS = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT"})
_WIDE_INTEGERS = frozenset({"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "HUGEINT", "UHUGEINT"})
_FLOATS = frozenset({"FLOAT", "DOUBLE", "REAL"})
_NUMBERS = _SIGNED_INTEGERS | _WIDE_INTEGERS | _FLOATS | {"BOOLEAN"}


@dataclass(frozen=True)
class TableFile:
    """A CSV or Parquet file and what DuckDB sees in it.

    Attributes:
        path: the file as the user named it.
        kind: ``"csv"`` or ``"parquet"``.
        reader_path: the path DuckDB reads (a plain-named link for glob-like names).
        columns: column name → DuckDB type, in file order.
    """

    path: Path
    kind: str
    reader_path: str
    columns: dict[str, str]

    @property
    def reader_sql(self) -> str:
        """The table function reading the file; its one parameter is :attr:`reader_path`."""
        return "read_csv(?)" if self.kind == "csv" else "read_parquet(?)"


def file_kind(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` from the suffix (``.gz``/``.zst`` compression allowed for CSV).

    Raises:
        CollectionImportError: another suffix.
    """
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in CSV_SUFFIXES:
        return "csv"
    if last in PARQUET_SUFFIXES:
        return "parquet"
    raise CollectionImportError(
        f"cannot import {path}: expected a .csv or .parquet file, got {path.suffix or 'no suffix'!r}"
    )


@contextmanager
def opened_table_file(path: str | os.PathLike[str]) -> Iterator[TableFile]:
    """Describe a CSV/Parquet file; the reader path stays valid inside the block.

    Raises:
        FileNotFoundError: no such file.
        CollectionImportError: not a CSV/Parquet name, or DuckDB cannot read it
            (binary data, bad encoding, broken Parquet): DuckDB's reason is kept.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    kind = file_kind(path)
    with _plain_named(path) as reader_path:
        con = duckdb.connect()
        try:
            reader = "read_csv(?)" if kind == "csv" else "read_parquet(?)"
            described = con.execute(f"DESCRIBE SELECT * FROM {reader}", [reader_path]).fetchall()
        except duckdb.Error as error:
            message = " ".join(str(error).strip().splitlines()[:2])
            raise CollectionImportError(
                f"cannot read {path} as {kind.upper()}: {message}"
            ) from error
        finally:
            con.close()
        yield TableFile(
            path=path,
            kind=kind,
            reader_path=reader_path,
            columns={str(row[0]): str(row[1]) for row in described},
        )


@contextmanager
def _plain_named(path: Path) -> Iterator[str]:
    resolved = path.resolve()
    if not _GLOB_CHARACTERS & set(str(resolved)):
        yield str(resolved)
        return
    suffixes = [s for s in path.suffixes[-2:] if not _GLOB_CHARACTERS & set(s)]
    with tempfile.TemporaryDirectory(prefix="abae-import-") as folder:
        link = Path(folder) / ("input" + "".join(suffixes))
        link.symlink_to(resolved)
        yield str(link)


def check_roles(
    table: TableFile,
    *,
    id_column: str | None,
    image_column: str | None,
    proxy_columns: Sequence[str],
) -> None:
    """Check that the id, image and proxy columns exist and have usable types.

    Raises:
        CollectionImportError: a column name that is not a plain identifier, a
            missing column, ids that are not integers, an image column that is
            neither text nor arrays, a text proxy column; the message gives an
            offending value where there is one.
    """
    name = table.path.name
    listed = ", ".join(table.columns)
    for column in table.columns:
        try:
            validate_identifier(column, what=f"column name in {name}")
        except InvalidIdentifierError as error:
            raise CollectionImportError(f"{error}; rename it in the file") from error
    for wanted, option in ((id_column, "--id-column"), (image_column, "--image-column")):
        if wanted is not None and wanted not in table.columns:
            raise CollectionImportError(f"{option} {wanted!r} is not in {name} (columns: {listed})")
    for proxy in proxy_columns:
        if proxy not in table.columns:
            raise CollectionImportError(
                f"--proxy-column {proxy!r} is not in {name} (columns: {listed})"
            )
        if proxy in (id_column, image_column):
            raise CollectionImportError(
                f"column {proxy!r} cannot be both a proxy and the id or image column"
            )
    if id_column is not None:
        _check_ids(table, id_column)
    if image_column is not None:
        image_type = table.columns[image_column]
        if image_type != "VARCHAR" and not _is_list(image_type):
            raise CollectionImportError(
                f"--image-column {image_column!r} holds {image_type}; it must hold image paths "
                "(text) or pixel arrays (lists)"
            )
    for proxy in proxy_columns:
        proxy_type = table.columns[proxy]
        if _base_type(proxy_type) in _NUMBERS or proxy_type.startswith("DECIMAL"):
            continue
        # Text that all reads as numbers (e.g. "inf", which CSV type detection leaves
        # as text) is cast when copied; the first value that does not is refused.
        example = _first_value(table, proxy, f"TRY_CAST({_q(proxy)} AS DOUBLE) IS NULL")
        if example is not None:
            raise CollectionImportError(
                f"proxy column {proxy!r} in {name} holds {proxy_type}, not numbers "
                f"(e.g. {example!r}); a proxy score is a number per record (higher = more "
                "likely to match)"
            )


def is_text_column(table: TableFile, column: str) -> bool:
    """Whether ``column`` holds text (an image column of paths) rather than arrays."""
    return table.columns[column] == "VARCHAR"


def _check_ids(table: TableFile, column: str) -> None:
    id_type = table.columns[column]
    base = _base_type(id_type)
    if base in _SIGNED_INTEGERS:
        return
    if base in _FLOATS or (id_type.startswith("DECIMAL") and not id_type.endswith(",0)")):
        raise CollectionImportError(
            f"--id-column {column!r} in {table.path.name} holds {id_type}; ids must be integers "
            "(write them without a decimal point)"
        )
    example = _first_value(table, column, f"TRY_CAST({_q(column)} AS BIGINT) IS NULL")
    if example is not None:
        raise CollectionImportError(
            f"--id-column {column!r} in {table.path.name} has an id that is not an integer "
            f"between -2^63 and 2^63-1: {example!r}; ids must be 64-bit signed integers"
        )


def _first_value(table: TableFile, column: str, bad: str) -> str | None:
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"SELECT CAST({_q(column)} AS VARCHAR) FROM {table.reader_sql} "
            f"WHERE {_q(column)} IS NOT NULL AND {bad} LIMIT 1",
            [table.reader_path],
        ).fetchall()
    except duckdb.Error as error:
        message = " ".join(str(error).strip().splitlines()[:2])
        raise CollectionImportError(f"cannot read {table.path}: {message}") from error
    finally:
        con.close()
    return str(rows[0][0]) if rows else None


def _q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _base_type(sql_type: str) -> str:
    return sql_type.upper().split("(")[0].strip()


def _is_list(sql_type: str) -> bool:
    return re.search(r"\[\d*\]$", sql_type) is not None or sql_type.upper().startswith(
        ("LIST", "ARRAY")
    )
