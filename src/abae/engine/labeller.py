"""The oracle the sampling core sees: population indices in, (predicate, statistic) out.

For a batch of population indices it evaluates the query's WHERE condition
left to right, calling an oracle only where the cheap tests and earlier oracle
answers have not decided it yet, then asks the statistic oracles of every
aggregate for the positive records only. Every answer comes through the oracle
runtime (ledger, budget, retries). Records left without a needed label are
remembered in :attr:`RecordLabeller.left_out` and later removed from the
sample; to the core they look negative in the meantime.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from abae.engine.population import Population
from abae.errors import AbaeError
from abae.oracles.runtime import OracleRuntime
from abae.query.plan import (
    AllOf,
    AnyOf,
    CheapTest,
    NoneOf,
    OracleCall,
    OracleTest,
    Predicate,
    QueryPlan,
)
from abae.store.records import RecordCollection


class RecordLabeller:
    """``labeller(indices) -> (predicate, statistic[, group])`` for :func:`abae.estimate`.

    Args:
        plan: the compiled query.
        population: the records sampled from.
        collection: where oracle arguments are read.
        runtime: the oracle runtime (charges the query's budget).
        primary: position of the aggregate whose statistic the core receives.
        with_groups: also return each record's group key (GROUP BY).
    """

    def __init__(
        self,
        plan: QueryPlan,
        population: Population,
        collection: RecordCollection,
        runtime: OracleRuntime,
        *,
        primary: int = 0,
        with_groups: bool = False,
    ) -> None:
        self.plan = plan
        self.population = population
        self.collection = collection
        self.runtime = runtime
        self.primary = primary
        self.with_groups = with_groups
        n = len(population)
        self.left_out: set[int] = set()
        self.predicate = np.zeros(n, dtype=np.bool_)
        self.statistics = np.full((len(plan.aggregates), n), np.nan)
        self._args: dict[int, dict[str, Any]] = {}

    def __call__(self, indices: NDArray[np.int64]) -> tuple[Any, ...]:
        rows = np.asarray(indices, dtype=np.int64)
        value, known = self._evaluate(self.plan.predicate, rows)
        self._mark_left_out(rows[~known])
        positive = rows[value & known]
        for k, aggregate in enumerate(self.plan.aggregates):
            if aggregate.kind == "count":
                self.statistics[k, positive] = 1.0
            elif aggregate.column is not None:
                self.statistics[k, positive] = self.population.column_stats[k][positive]
            elif aggregate.oracle is not None:
                self.statistics[k, positive] = self._oracle_statistic(aggregate.oracle, positive)
        unusable = positive[~np.isfinite(self.statistics[:, positive]).all(axis=0)]
        self._mark_left_out(unusable)
        answered = value & known & ~np.isin(rows, unusable)
        self.predicate[rows] = answered
        statistic = np.where(answered, self.statistics[self.primary, rows], np.nan)
        if not self.with_groups:
            return answered, statistic
        keys = self.group_keys(rows)
        return answered, statistic, keys

    def group_keys(self, rows: NDArray[np.int64]) -> NDArray[np.object_]:
        """Group key of each row: the value, or a tuple for several GROUP BY columns."""
        keys = np.empty(rows.size, dtype=object)
        columns = self.population.groups
        for i, row in enumerate(rows.tolist()):
            values = tuple(_plain(column[row]) for column in columns)
            keys[i] = values[0] if len(values) == 1 else values
        return keys

    # --- predicate evaluation -------------------------------------------------------

    def _evaluate(
        self, node: Predicate | None, rows: NDArray[np.int64]
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """(value, known) for each row; unknown = a needed label is missing."""
        if node is None:
            return np.ones(rows.size, np.bool_), np.ones(rows.size, np.bool_)
        if isinstance(node, CheapTest):
            return self.population.tests[node.index][rows], np.ones(rows.size, np.bool_)
        if isinstance(node, OracleTest):
            return self._oracle_predicate(node.call, rows)
        if isinstance(node, NoneOf):
            value, known = self._evaluate(node.part, rows)
            return ~value, known
        conjunction = isinstance(node, AllOf)
        assert isinstance(node, AllOf | AnyOf)
        value = np.full(rows.size, conjunction)
        known = np.ones(rows.size, np.bool_)
        decided = np.zeros(rows.size, np.bool_)
        for part in node.parts:
            open_rows = np.flatnonzero(~decided)
            if open_rows.size == 0:
                break
            part_value, part_known = self._evaluate(part, rows[open_rows])
            deciding = part_known & (part_value != conjunction)
            value[open_rows[deciding]] = not conjunction
            decided[open_rows[deciding]] = True
            known[open_rows[~part_known]] = False
        known |= decided
        return value, known

    def _oracle_predicate(
        self, call: OracleCall, rows: NDArray[np.int64]
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        labels = self._labels(call, rows)
        value = np.zeros(rows.size, np.bool_)
        known = np.zeros(rows.size, np.bool_)
        for i, record_id in enumerate(self.population.ids[rows].tolist()):
            label = labels.get(record_id)
            if label is None:
                continue
            if label.predicate is None:
                raise AbaeError(
                    f"oracle {call.name!r} returned a number for record {record_id}, but the "
                    "query uses it as a condition; return True/False (or a (bool, number) pair)"
                )
            value[i] = label.predicate
            known[i] = True
        return value, known

    def _oracle_statistic(self, call: OracleCall, rows: NDArray[np.int64]) -> NDArray[np.float64]:
        labels = self._labels(call, rows)
        out = np.full(rows.size, np.nan)
        for i, record_id in enumerate(self.population.ids[rows].tolist()):
            label = labels.get(record_id)
            if label is None:
                continue
            if label.statistic is None:
                raise AbaeError(
                    f"oracle {call.name!r} returned True/False for record {record_id}, but the "
                    "query aggregates it; return a number (or a (bool, number) pair)"
                )
            out[i] = label.statistic
        return out

    def _labels(self, call: OracleCall, rows: NDArray[np.int64]) -> dict[int, Any]:
        ids = self.population.ids[rows]
        if ids.size == 0:
            return {}
        args = self._arguments(call, ids)
        return self.runtime.labels(call.name, ids.tolist(), args)

    def _arguments(self, call: OracleCall, ids: NDArray[np.int64]) -> dict[int, tuple[Any, ...]]:
        if set(call.args) <= {"id"}:
            return {i: (i,) * len(call.args) for i in ids.tolist()}
        missing = [i for i in ids.tolist() if i not in self._args]
        if missing:
            needed = sorted(
                {a for a in self._all_arguments() if a not in ("id", "image", "image_blob")}
            )
            batch = self.collection.fetch(np.asarray(missing, dtype=np.int64), needed)
            for position, record_id in enumerate(batch.ids.tolist()):
                row: dict[str, Any] = {
                    "id": record_id,
                    "image": batch.images[position],
                    "image_blob": batch.blobs[position],
                }
                for name in needed:
                    row[name] = _plain(batch.columns[name][position])
                self._args[record_id] = row
        return {i: tuple(self._args[i][a] for a in call.args) for i in ids.tolist()}

    def _all_arguments(self) -> set[str]:
        calls = [a.oracle for a in self.plan.aggregates if a.oracle is not None]
        calls += _predicate_calls(self.plan.predicate)
        return {arg for c in calls for arg in c.args}

    def _mark_left_out(self, rows: NDArray[np.int64]) -> None:
        self.left_out.update(int(r) for r in rows.tolist())


def _predicate_calls(node: Predicate | None) -> list[OracleCall]:
    if node is None or isinstance(node, CheapTest):
        return []
    if isinstance(node, OracleTest):
        return [node.call]
    if isinstance(node, NoneOf):
        return _predicate_calls(node.part)
    return [c for part in node.parts for c in _predicate_calls(part)]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
