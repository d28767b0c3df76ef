"""The pilot: oracle labels of uniformly drawn records, bought to train a proxy.

Every pilot label goes through the oracle runtime, so it is cached in the label
ledger, claimed within a budget and charged to a query id: ``pilot:<proxy>``
when a proxy is trained on its own (``abae proxy train``), or the query's own id
when a query trains its missing proxy (so the pilot counts against the query's
``ORACLE LIMIT``). Labels already in the ledger are reused for free.

The pilot is a prefix of one seeded random order of the collection
(:func:`pilot_order`), so a larger pilot (the next round of ``--pilot auto``)
contains every smaller one and reuses its labels.

A pilot can come back smaller than asked: calls failed, or the query id's
budget was already spent (by an earlier run whose claims were lost in a kill).
:class:`PilotLabels` says how many labels were asked for and why some are
missing; :meth:`PilotLabels.check_complete` turns a shortfall into a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from abae.errors import AbaeError
from abae.oracles.registry import OracleRegistry
from abae.oracles.runtime import DEFAULT_CONCURRENCY, OracleRuntime
from abae.query.plan import OracleCall
from abae.store.connection import Store
from abae.store.identifiers import quote
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
        asked: records the pilot asked labels for.
        refused: records refused because the query id's budget was spent.
        failed: records whose oracle call failed (or was lost) without a label.
        money: what the fresh calls cost (0 for oracles without a price).
        query_id: the ledger id the calls were charged to.
        budget: the most records that id may claim in all.
        claimed_before: records that id had claimed before this pilot (earlier
            runs, earlier rounds).
        failures: up to 3 examples of failed calls, for messages.
    """

    ids: NDArray[np.int64]
    predicate: NDArray[np.bool_]
    statistic: NDArray[np.float64]
    calls: int
    reused: int
    asked: int = 0
    refused: int = 0
    failed: int = 0
    money: float = 0.0
    query_id: str = ""
    budget: int = 0
    claimed_before: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def shortfall(self) -> int:
        """Records asked for that got no label."""
        return max(0, self.asked - int(self.ids.size))

    def describe_shortfall(self) -> str:
        """Why the pilot is smaller than asked, in one sentence (empty when it is not)."""
        if not self.shortfall:
            return ""
        reasons = []
        if self.refused:
            before = (
                f", and {self.claimed_before} had been claimed before (by earlier rounds or "
                "runs: a killed run's claims stay spent)"
                if self.claimed_before
                else ""
            )
            reasons.append(
                f"{self.refused} refused because query id {self.query_id!r} may claim at most "
                f"{self.budget} records in all{before}"
            )
        if self.failed:
            example = f" (e.g. {self.failures[0]})" if self.failures else ""
            reasons.append(f"{self.failed} failed or lost oracle calls{example}")
        why = "; ".join(reasons) or "the oracle gave no answer for them"
        return (
            f"the pilot has {self.ids.size} labels of the {self.asked} asked: "
            f"{self.shortfall} are missing ({why})"
        )

    def check_complete(self, *, accept_smaller: bool = False) -> None:
        """Raise :class:`PilotShortfallError` when labels are missing, unless ``accept_smaller``."""
        if self.shortfall and not accept_smaller:
            raise PilotShortfallError(
                f"{self.describe_shortfall()}. Training on fewer labels than asked is refused: "
                "raise the pilot's budget (abae proxy train --pilot-budget N), fix the oracle "
                "(see `abae labels`), or pass --accept-smaller-pilot to train on the "
                f"{self.ids.size} labels there are"
            )


class PilotShortfallError(AbaeError):
    """The pilot got fewer labels than asked (budget already spent, or failed calls)."""


def pilot_query_id(proxy: str) -> str:
    """The ledger's query id for the pilot of a proxy trained on its own."""
    return f"pilot:{proxy}"


def pilot_order(store: Store, collection: str, rng: np.random.Generator) -> NDArray[np.int64]:
    """Every record id of ``collection`` in one uniformly random order (int64 ``(N,)``).

    A pilot of size ``k`` is ``order[:k]``: a uniform sample without replacement,
    and every larger pilot drawn from the same order contains it.

    Raises:
        AbaeError: the collection is empty.
    """
    with store.transaction() as con:
        data = con.execute(
            f"SELECT id FROM {quote(RecordCollection(store, collection).name)} ORDER BY id"
        ).fetchnumpy()
    ids = np.asarray(data["id"], dtype=np.int64)
    if ids.size == 0:
        raise AbaeError(f"collection {collection!r} is empty: nothing to label for a pilot")
    return rng.permutation(ids)


def draw_pilot(
    collection: RecordCollection, size: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """``size`` record ids drawn uniformly without replacement (all if fewer), sorted:
    the first ``size`` of :func:`pilot_order`."""
    if size < 1:
        raise ValueError(f"pilot size must be at least 1, got {size}")
    return np.sort(pilot_order(collection.store, collection.name, rng)[:size])


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
    ledger = LabelLedger(store, collection)
    claimed_before = ledger.spent(query_id)
    runtime = OracleRuntime(
        ledger,
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
    stats = runtime.stats
    failed = {key: value for key, value in getattr(stats, "failed", {}).items()}
    lost = set(getattr(stats, "lost", set()))
    return PilotLabels(
        ids=labelled,
        predicate=predicate_values,
        statistic=statistic_values,
        calls=stats.fresh_labels,
        reused=stats.reused_labels,
        asked=int(ids.size),
        refused=len({i for _, i in getattr(stats, "over_budget", set())}),
        failed=len({i for _, i in failed} | {i for _, i in lost}),
        money=float(getattr(stats, "money", 0.0)),
        query_id=query_id,
        budget=budget,
        claimed_before=claimed_before,
        failures=[f"record {i}: {error}" for (_, i), error in list(failed.items())[:3]],
    )
