"""The records a query samples from, with everything cheap precomputed by one DuckDB scan.

The scan (:meth:`abae.query.plan.QueryPlan.scan_sql`) runs once per query and
returns columns, not rows: ids, the proxy score, each cheap test, each column
statistic, and, under GROUP BY columns, a dense group code per record computed
by DuckDB (so 10M records with a text key never become 10M Python strings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
from numpy.typing import NDArray

from abae.errors import AbaeError
from abae.query.plan import QueryPlan, SqlFragment
from abae.store.connection import Store


@dataclass(frozen=True)
class Population:
    """Records passing the query's cheap prefilter, in id order (arrays ``(M,)``).

    Attributes:
        ids: record ids, int64, ascending.
        proxy: the ranking score, float64.
        tests: cheap predicate index → bool values.
        column_stats: aggregate position → float64 column statistic (NaN for NULL).
        group_codes: GROUP BY columns: each record's group, int64 in
            ``[0, len(group_keys))``; ``None`` without GROUP BY columns.
        group_keys: the group of each code: the column's value, or a tuple for
            several columns (``None`` for NULL), in SQL sort order.
        group_proxies: GROUP BY an oracle output with per-group proxies: one
            float64 score array per category, in the plan's category order.
    """

    ids: NDArray[np.int64]
    proxy: NDArray[np.float64]
    tests: dict[int, NDArray[np.bool_]] = field(default_factory=dict)
    column_stats: dict[int, NDArray[np.float64]] = field(default_factory=dict)
    group_codes: NDArray[np.int64] | None = None
    group_keys: list[Any] = field(default_factory=list)
    group_proxies: list[NDArray[np.float64]] | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def positions(self, record_ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Population positions of the records with these ids; ids not in it are dropped."""
        ids = np.asarray(record_ids, dtype=np.int64)
        where = np.searchsorted(self.ids, ids)
        inside = where < self.ids.size
        found = np.zeros(ids.size, dtype=np.bool_)
        found[inside] = self.ids[where[inside]] == ids[inside]
        return where[found].astype(np.int64)


def load_population(store: Store, plan: QueryPlan) -> Population:
    """Run the plan's scan and split its columns.

    Raises:
        AbaeError: no record passes the prefilter, the proxy is NULL somewhere,
            or DuckDB cannot evaluate a cheap expression (e.g. a cast that fails
            on some record).
    """
    try:
        with store.transaction() as con:
            keys, scan = _group_coding(con, plan)
            data = con.execute(scan.sql, list(scan.params)).fetchnumpy()
            if plan.group_by:
                con.execute("DROP TABLE IF EXISTS abae_group_keys")
    except duckdb.Error as error:
        raise AbaeError(
            f"DuckDB could not evaluate the cheap parts of the query over {plan.collection!r}: "
            f"{str(error).splitlines()[0]}"
        ) from None
    ids = np.asarray(data["id"], dtype=np.int64)
    if ids.size == 0:
        raise AbaeError(
            f"no record of {plan.collection!r} passes the cheap conditions of WHERE; "
            "nothing to estimate"
        )
    order = None if bool(np.all(ids[1:] > ids[:-1])) else np.argsort(ids, kind="stable")

    def column(name: str) -> Any:
        values = data[name]
        return values if order is None else values[order]

    ids = ids if order is None else ids[order]
    proxy = _finite_scores(column("abae_proxy"), ids, plan.proxy_text)
    tests = {
        t.index: np.asarray(np.ma.filled(column(f"abae_test_{t.index}"), False), dtype=np.bool_)
        for t in plan.cheap_tests
    }
    column_stats = {
        k: np.asarray(np.ma.filled(column(f"abae_stat_{k}"), np.nan), dtype=np.float64)
        for k, aggregate in enumerate(plan.aggregates)
        if aggregate.column is not None
    }
    group_codes = np.asarray(column("abae_group_code"), dtype=np.int64) if plan.group_by else None
    group_proxies = None
    if plan.group_oracle is not None and plan.group_oracle.per_group:
        group_proxies = [
            _finite_scores(column(f"abae_group_proxy_{j}"), ids, text)
            for j, text in enumerate(plan.group_oracle.proxy_texts)
        ]
    return Population(ids, proxy, tests, column_stats, group_codes, keys, group_proxies)


def _group_coding(con: duckdb.DuckDBPyConnection, plan: QueryPlan) -> tuple[list[Any], SqlFragment]:
    """The distinct GROUP BY keys in SQL order, and the scan with ``abae_group_code``.

    The keys go to a temporary table (one small list); each scanned record's code
    is its key's position in that list, computed by DuckDB in the scan itself,
    so the scan keeps the table's order and no join or sort is needed, and the
    keys themselves (e.g. 10M strings) never reach Python.
    """
    scan = plan.scan_sql()
    if not plan.group_by:
        return [], scan
    columns = [f"abae_group_{j}" for j in range(len(plan.group_by))]
    if len(columns) == 1:
        key = columns[0]  # one column: its values themselves (building structs costs)
    else:
        key = "{" + ", ".join(f"'k{j}': {c}" for j, c in enumerate(columns)) + "}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE abae_group_keys AS SELECT list(k ORDER BY k NULLS LAST) "
        f"AS keys FROM (SELECT DISTINCT {key} AS k FROM ({scan.sql}))",
        list(scan.params),
    )
    ((listed,),) = con.execute("SELECT keys FROM abae_group_keys").fetchall()
    keys = [tuple(row.values()) if isinstance(row, dict) else row for row in (listed or [])]
    coded = SqlFragment(
        f"SELECT * EXCLUDE ({', '.join(columns)}), "
        f"list_position((SELECT keys FROM abae_group_keys), {key}) - 1 AS abae_group_code "
        f"FROM ({scan.sql})",
        scan.params,
    )
    return keys, coded


def _finite_scores(values: Any, ids: NDArray[np.int64], text: str) -> NDArray[np.float64]:
    scores = np.asarray(np.ma.filled(values, np.nan), dtype=np.float64)
    bad = ~np.isfinite(scores)
    if bad.any():
        raise AbaeError(
            f"the proxy {text!r} is NULL or not finite for {int(bad.sum())} of "
            f"{ids.size} records (e.g. id {int(ids[np.flatnonzero(bad)[0]])}); score every "
            "record or choose another proxy with USING"
        )
    return scores
