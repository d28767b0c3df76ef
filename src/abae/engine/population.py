"""The records a query samples from, with everything cheap precomputed by one DuckDB scan."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from abae.errors import AbaeError
from abae.query.plan import QueryPlan
from abae.store.connection import Store


@dataclass(frozen=True)
class Population:
    """Records passing the query's cheap prefilter, in id order (arrays ``(M,)``).

    Attributes:
        ids: record ids, int64.
        proxy: the ranking score, float64.
        tests: cheap predicate index → bool values.
        groups: group key arrays, one per GROUP BY column (object or numeric).
        column_stats: aggregate position → float64 column statistic (NaN for NULL).
    """

    ids: NDArray[np.int64]
    proxy: NDArray[np.float64]
    tests: dict[int, NDArray[np.bool_]]
    groups: list[NDArray[np.generic]]
    column_stats: dict[int, NDArray[np.float64]]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def without(self, record_ids: NDArray[np.int64], reason: str) -> Population:
        """The population minus the records with these ids (e.g. a proxy's pilot records).

        Raises:
            AbaeError: no record would be left; ``reason`` says why they were removed.
        """
        keep = ~np.isin(self.ids, record_ids)
        if keep.all():
            return self
        if not keep.any():
            raise AbaeError(
                f"all {len(self)} records of the query are {reason}; nothing is left to sample"
            )
        return Population(
            ids=self.ids[keep],
            proxy=self.proxy[keep],
            tests={k: v[keep] for k, v in self.tests.items()},
            groups=[g[keep] for g in self.groups],
            column_stats={k: v[keep] for k, v in self.column_stats.items()},
        )


def load_population(store: Store, plan: QueryPlan) -> Population:
    """Run the plan's scan (:meth:`QueryPlan.scan_sql`) and split its columns.

    Raises:
        AbaeError: no record passes the prefilter, or the proxy is NULL somewhere.
    """
    scan = plan.scan_sql()
    with store.transaction() as con:
        data = con.execute(scan.sql, list(scan.params)).fetchnumpy()
    ids = np.asarray(data["id"], dtype=np.int64)
    if ids.size == 0:
        raise AbaeError(
            f"no record of {plan.collection!r} passes the cheap conditions of WHERE; "
            "nothing to estimate"
        )
    proxy = np.asarray(np.ma.filled(data["abae_proxy"], np.nan), dtype=np.float64)
    bad = ~np.isfinite(proxy)
    if bad.any():
        raise AbaeError(
            f"the proxy {plan.proxy_text!r} is NULL or not finite for {int(bad.sum())} of "
            f"{ids.size} records (e.g. id {int(ids[np.flatnonzero(bad)[0]])}); score every "
            "record or choose another proxy with USING"
        )
    tests = {
        t.index: np.asarray(np.ma.filled(data[f"abae_test_{t.index}"], False), dtype=np.bool_)
        for t in plan.cheap_tests
    }
    groups = [_without_mask(data[f"abae_group_{j}"]) for j in range(len(plan.group_by))]
    column_stats = {
        k: np.asarray(np.ma.filled(data[f"abae_stat_{k}"], np.nan), dtype=np.float64)
        for k, aggregate in enumerate(plan.aggregates)
        if aggregate.column is not None
    }
    return Population(ids, proxy, tests, groups, column_stats)


def _without_mask(values: NDArray[np.generic]) -> NDArray[np.generic]:
    """NULLs (masked entries) become ``None`` in an object array; other arrays pass through."""
    if not np.ma.isMaskedArray(values) or not np.ma.getmaskarray(values).any():
        return np.asarray(values)
    return np.asarray(np.ma.filled(values.astype(object), None))
