"""The pilot: oracle labels of uniformly drawn records, bought to train a proxy.

Every pilot label goes through the oracle runtime, so it is cached in the label
ledger, claimed within a budget and charged to a query id: ``pilot:<proxy>``
when a proxy is trained on its own (``abae proxy train``), or the query's own id
when a query trains its missing proxy (so the pilot counts against the query's
``ORACLE LIMIT``). Labels already in the ledger are reused for free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from abae.errors import AbaeError
from abae.oracles.registry import OracleRegistry
from abae.oracles.runtime import DEFAULT_CONCURRENCY, OracleRuntime
from abae.query.plan import OracleCall
from abae.store.connection import Store
from abae.store.ledger import Label, LabelLedger
from abae.store.records import BASE_COLUMNS, RecordCollection


@dataclass(frozen=True)
class PilotLabels:
    """The labelled pilot records, in id order (arrays ``(n,)``).

    Attributes:
        ids: int64 record ids that got every label asked for.
        predicate: bool, the predicate oracle's answer (all False without one).
        statistic: float64, the statistic oracle's answer (NaN without one, or for
            records the statistic oracle was not asked about).
        calls: oracle labels bought fresh for this pilot (reused ones excluded).
        reused: labels answered from the ledger.
    """

    ids: NDArray[np.int64]
    predicate: NDArray[np.bool_]
    statistic: NDArray[np.float64]
    calls: int
    reused: int


def pilot_query_id(proxy: str) -> str:
    """The ledger's query id for the pilot of a proxy trained on its own."""
    return f"pilot:{proxy}"


def draw_pilot(
    collection: RecordCollection, size: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """``size`` record ids drawn uniformly without replacement (all if fewer), sorted."""
    if size < 1:
        raise ValueError(f"pilot size must be at least 1, got {size}")
    ids = np.concatenate(
        [b.ids for b in collection.iter_batches(batch_size=65536)] or [np.empty(0, np.int64)]
    )
    if ids.size == 0:
        raise AbaeError(f"collection {collection.name!r} is empty: nothing to label for a pilot")
    chosen = rng.choice(ids.size, size=min(size, ids.size), replace=False)
    return np.sort(ids[chosen])


def _arguments(
    collection: RecordCollection, calls: list[OracleCall], ids: NDArray[np.int64]
) -> dict[int, dict[str, Any]]:
    needed = sorted({a for c in calls for a in c.args if a not in (*BASE_COLUMNS,)})
    batch = collection.fetch(ids, needed)
    rows: dict[int, dict[str, Any]] = {}
    for position, record_id in enumerate(batch.ids.tolist()):
        row: dict[str, Any] = {
            "id": record_id,
            "image": batch.images[position],
            "image_blob": batch.blobs[position],
        }
        for name in needed:
            value = batch.columns[name][position]
            row[name] = value.item() if isinstance(value, np.generic) else value
        rows[record_id] = row
    return rows


def label_pilot(
    store: Store,
    collection: str,
    oracles: OracleRegistry,
    ids: NDArray[np.int64],
    *,
    predicate: OracleCall | None,
    statistic: OracleCall | None = None,
    query_id: str,
    budget: int,
    seed: int = 0,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> PilotLabels:
    """Label the records ``ids`` with the predicate and/or statistic oracle.

    The statistic oracle is asked about every pilot record (a regressor proxy
    learns it over all records, not only the positives).

    Args:
        query_id: the ledger id the calls are charged to.
        budget: most records that query may claim in all (labels beyond it are
            refused and those records dropped from the pilot).

    Raises:
        AbaeError: neither oracle given, or no pilot record got its labels.
    """
    calls = [c for c in (predicate, statistic) if c is not None]
    if not calls:
        raise AbaeError("a pilot needs a predicate oracle or a statistic oracle to label with")
    rows = _arguments(RecordCollection(store, collection), calls, ids)
    runtime = OracleRuntime(
        LabelLedger(store, collection),
        oracles,
        query_id=query_id,
        budget=budget,
        concurrency=concurrency,
        seed=seed,
    )
    answers: list[dict[int, Label]] = []
    try:
        for call in calls:
            args = {i: tuple(rows[i][a] for a in call.args) for i in rows}
            answers.append(runtime.labels(call.name, list(rows), args))
    finally:
        runtime.close()
    labelled = np.array(
        [i for i in ids.tolist() if all(i in found for found in answers)], dtype=np.int64
    )
    if labelled.size == 0:
        raise AbaeError(
            f"no pilot record of {collection!r} got its labels (budget {budget}, "
            f"{len(runtime.stats.failed)} failed calls); check the oracles with `abae labels`"
        )
    predicate_values = np.zeros(labelled.size, dtype=np.bool_)
    statistic_values = np.full(labelled.size, np.nan)
    for position, record_id in enumerate(labelled.tolist()):
        for call, found in zip(calls, answers, strict=True):
            label = found[record_id]
            if call is predicate:
                if label.predicate is None:
                    raise AbaeError(
                        f"oracle {call.name!r} returned a number for record {record_id}; a "
                        "classifier proxy needs True/False labels"
                    )
                predicate_values[position] = label.predicate
            else:
                if label.statistic is None:
                    raise AbaeError(
                        f"oracle {call.name!r} returned True/False for record {record_id}; a "
                        "regressor proxy needs numbers"
                    )
                statistic_values[position] = label.statistic
    return PilotLabels(
        ids=labelled,
        predicate=predicate_values,
        statistic=statistic_values,
        calls=runtime.stats.fresh_labels,
        reused=runtime.stats.reused_labels,
    )
