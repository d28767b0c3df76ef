"""The census stratum: the records whose labels trained the query's proxy (its pilot).

A proxy's pilot is a uniform random sample of the collection, and its labels
were paid for, so every query ranked by that proxy uses them: the pilot records
that pass the query's cheap conditions form a census stratum (every one is
labelled, so it adds its exact total and no variance), and the proxy strata
cover the rest. Each pilot record also carries a cross-fitted score (from a
model that never saw its label), which places it in the strata to plan the
allocation (see ``docs/proxies.md`` and ``docs/statistics.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from abae.engine.population import Population
from abae.query.plan import QueryPlan
from abae.store.connection import Store
from abae.store.pilot_records import pilot_records_with_scores
from abae.store.proxy_catalog import ProxyEntry, proxy_entry

WEAK_PROXY_AUC = 0.6
"""Below this cross-validated AUC a proxy ranks too poorly to allocate by."""


@dataclass(frozen=True)
class Census:
    """The pilot records inside a query's population.

    Attributes:
        positions: their population positions, int64 ``(m,)``, ascending.
        planning_scores: float64 ``(m,)``: each one's cross-fitted proxy score
            (its score column value where none was recorded, or when the query
            ranks by an expression over several proxies).
        proxies: the proxies whose pilots these are.
    """

    positions: NDArray[np.int64]
    planning_scores: NDArray[np.float64]
    proxies: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.positions.shape[0])


def census_of(store: Store, plan: QueryPlan, population: Population) -> Census | None:
    """The census stratum of ``plan`` over ``population``, or ``None`` when its proxies
    were not trained on a pilot (e.g. score columns the user imported)."""
    ids: list[NDArray[np.int64]] = []
    scores: list[NDArray[np.float64]] = []
    for proxy in plan.proxy_columns:
        pilot_ids, pilot_scores = pilot_records_with_scores(store, plan.collection, proxy)
        ids.append(pilot_ids)
        scores.append(pilot_scores)
    if not ids or not any(part.size for part in ids):
        return None
    all_ids = np.concatenate(ids)
    unique_ids, first = np.unique(all_ids, return_index=True)
    positions = population.positions(unique_ids)
    if positions.size == 0:
        return None
    planning = population.proxy[positions].copy()
    if _ranks_by_one_column(plan):
        crossed = np.concatenate(scores)[first]
        inside = np.isin(unique_ids, population.ids[positions])
        crossed = crossed[inside]
        planning = np.where(np.isfinite(crossed), crossed, planning)
    return Census(positions, planning, plan.proxy_columns)


def _ranks_by_one_column(plan: QueryPlan) -> bool:
    """Whether the ranking score is one proxy column as it is (cross-fitted scores apply)."""
    return (
        len(plan.proxy_columns) == 1
        and plan.proxy_text.strip().strip('"').lower() == plan.proxy_columns[0].lower()
    )


def weak_proxies(store: Store, plan: QueryPlan) -> list[ProxyEntry]:
    """The catalog entries of the query's proxies that rank too poorly to allocate by."""
    weak = []
    for proxy in plan.proxy_columns:
        entry = proxy_entry(store, plan.collection, proxy)
        if entry is not None and entry.cv_auc is not None and entry.cv_auc < WEAK_PROXY_AUC:
            weak.append(entry)
    return weak


def records_charged_among(
    store: Store, collection: str, query_id: str, record_ids: NDArray[np.int64]
) -> int:
    """Distinct records among ``record_ids`` that ``query_id`` has claimed (any oracle).

    The engine charges the pilot (when the query trained its proxy) and the
    census's statistic labels before sampling; counting only among the pilot's
    records keeps the sampling budget the same on every run of the query, so a
    resumed run draws the same records.
    """
    if record_ids.size == 0:
        return 0
    with store.transaction() as con:
        con.register("abae_pilot_ids", {"id": np.asarray(record_ids, dtype=np.int64)})
        try:
            ((charged,),) = con.execute(
                "SELECT count(DISTINCT c.record_id) FROM abae_claims c "
                "JOIN abae_pilot_ids p ON c.record_id = p.id "
                "WHERE c.query_id = ? AND c.collection = ?",
                [query_id, collection],
            ).fetchall()
        finally:
            con.unregister("abae_pilot_ids")
    return int(charged)
