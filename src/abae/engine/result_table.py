"""A query result as a flat table: rows for pandas, CSV and Parquet.

One row per reported estimate (aggregate × group), with the query's id, its
confidence and its spend repeated on each row so a table of many queries can be
concatenated. CSV and Parquet files are written by DuckDB (a core dependency),
so exporting needs neither pandas nor pyarrow.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from abae.errors import AbaeError

if TYPE_CHECKING:
    from abae.engine.result import QueryResult

TABLE_FORMATS = ("csv", "parquet")

COLUMNS = (
    "query_id",
    "collection",
    "name",
    "kind",
    "group",
    "estimate",
    "ci_low",
    "ci_high",
    "confidence",
    "labels_used",
    "calls_spent_total",
    "budget",
)
"""Column order of :func:`result_rows` and of the exported files."""


def result_rows(result: QueryResult) -> list[dict[str, Any]]:
    """One plain dict per estimate, keys in :data:`COLUMNS` order (NaN stays NaN).

    A GROUP BY key made of several columns is written as ``"a|b"``.
    """
    return [
        {
            "query_id": result.query_id,
            "collection": result.collection,
            "name": a.name,
            "kind": a.kind,
            "group": _group_text(a.group),
            "estimate": a.estimate,
            "ci_low": a.ci_low,
            "ci_high": a.ci_high,
            "confidence": result.confidence,
            "labels_used": a.labels_used,
            "calls_spent_total": result.calls_spent_total,
            "budget": result.budget,
        }
        for a in result.aggregates
    ]


def _group_text(group: Any) -> str | None:
    if group is None:
        return None
    if isinstance(group, tuple | list):
        return "|".join(str(g) for g in group)
    return str(group)


def write_result_table(result: QueryResult, path: str | Path, table_format: str) -> Path:
    """Write the result's rows to ``path`` as ``"csv"`` or ``"parquet"``; returns the path.

    Raises:
        AbaeError: an unknown format, a path that is a folder, or a folder that
            does not exist.
    """
    if table_format not in TABLE_FORMATS:
        raise AbaeError(f"unknown table format {table_format!r}; use one of {TABLE_FORMATS}")
    target = Path(path)
    if target.is_dir():
        raise AbaeError(f"cannot write the result to {target}: it is a folder; give a file name")
    if not target.parent.is_dir():
        raise AbaeError(
            f"cannot write the result to {target}: folder {target.parent} does not exist"
        )
    import duckdb  # the store's engine; imported here so the result module stays light

    rows = result_rows(result)
    con = duckdb.connect()
    try:
        con.execute(
            "CREATE TABLE result (query_id VARCHAR, collection VARCHAR, name VARCHAR, "
            'kind VARCHAR, "group" VARCHAR, estimate DOUBLE, ci_low DOUBLE, ci_high DOUBLE, '
            "confidence DOUBLE, labels_used BIGINT, calls_spent_total BIGINT, budget BIGINT)"
        )
        if rows:
            con.executemany(
                "INSERT INTO result VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [tuple(row[name] for name in COLUMNS) for row in rows],
            )
        options = "FORMAT csv, HEADER true" if table_format == "csv" else "FORMAT parquet"
        # COPY takes no parameter for its target; the path is quoted as a SQL string literal.
        literal = "'" + str(target).replace("'", "''") + "'"
        con.execute(f"COPY result TO {literal} ({options})")
    except duckdb.Error as error:
        raise AbaeError(f"cannot write the result to {target}: {error}") from error
    finally:
        con.close()
    return target
