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
    scan = _coded_scan(plan)
    try:
        with store.transaction() as con:
            data = con.execute(scan.sql, list(scan.params)).fetchnumpy()
            keys = _group_keys(con, plan) if plan.group_by else []
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
    proxy = _finite_scores(data["abae_proxy"], ids, plan.proxy_text)
    tests = {
        t.index: np.asarray(np.ma.filled(data[f"abae_test_{t.index}"], False), dtype=np.bool_)
        for t in plan.cheap_tests
    }
    column_stats = {
        k: np.asarray(np.ma.filled(data[f"abae_stat_{k}"], np.nan), dtype=np.float64)
        for k, aggregate in enumerate(plan.aggregates)
        if aggregate.column is not None
    }
    group_codes = np.asarray(data["abae_group_code"], dtype=np.int64) if plan.group_by else None
    group_proxies = None
    if plan.group_oracle is not None and plan.group_oracle.per_group:
        group_proxies = [
            _finite_scores(data[f"abae_group_proxy_{j}"], ids, text)
            for j, text in enumerate(plan.group_oracle.proxy_texts)
        ]
    return Population(ids, proxy, tests, column_stats, group_codes, keys, group_proxies)


def _coded_scan(plan: QueryPlan) -> SqlFragment:
    """The plan's scan, plus ``abae_group_code`` (the dense rank of the GROUP BY key)."""
    scan = plan.scan_sql()
    if not plan.group_by:
        return scan
    keys = [f"abae_group_{j}" for j in range(len(plan.group_by))]
    order = ", ".join(f"{k} NULLS LAST" for k in keys)
    match = " AND ".join(f"s.{k} IS NOT DISTINCT FROM g.{k}" for k in keys)
    return SqlFragment(
        f"WITH s AS ({scan.sql}), g AS (SELECT {', '.join(keys)}, "
        f"row_number() OVER (ORDER BY {order}) - 1 AS abae_group_code "
        f"FROM (SELECT DISTINCT {', '.join(keys)} FROM s)) "
        f"SELECT s.*, g.abae_group_code FROM s JOIN g ON {match} ORDER BY s.id",
        scan.params,
    )


def _group_keys(con: duckdb.DuckDBPyConnection, plan: QueryPlan) -> list[Any]:
    """The distinct GROUP BY keys in code order (one value, or a tuple for several columns)."""
    scan = plan.scan_sql()
    keys = [f"abae_group_{j}" for j in range(len(plan.group_by))]
    order = ", ".join(f"{k} NULLS LAST" for k in keys)
    rows = con.execute(
        f"SELECT DISTINCT {', '.join(keys)} FROM ({scan.sql}) ORDER BY {order}",
        list(scan.params),
    ).fetchall()
    return [row[0] if len(row) == 1 else tuple(row) for row in rows]


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
