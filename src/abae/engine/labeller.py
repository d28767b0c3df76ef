"""The oracle the sampling core sees: population indices in, (predicate, statistic[, group]) out.

For a batch of population indices the labeller

1. evaluates the query's WHERE condition left to right, calling an oracle only
   where the cheap tests and earlier answers have not decided the record yet
   (cheap conditions that are top-level AND terms were already pushed into the
   scan, so records they exclude are never here);
2. for the records that match, asks the ``GROUP BY`` oracle for their category;
3. for the records that match (and have a group), computes every aggregate's
   statistic, asking the statistic oracles.

Every answer comes through the oracle runtime (ledger, budget, retries), and
each oracle is asked at most once per record for the whole run, however many
times the query mentions it: answers (and their absence) are kept here.

Missing labels follow the sampling core's convention: a record drawn but left
without a needed label (failed, lost or over budget) has predicate NaN; a
match whose statistic is missing (its oracle failed, or the statistic is NULL
or not finite) keeps predicate 1 with statistic NaN, so it still counts for
COUNT. The records whose missing oracle labels caused either are in
:attr:`RecordLabeller.left_out`, for reporting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
from numpy.typing import NDArray

from abae.engine.population import Population
from abae.errors import AbaeError
from abae.oracles.runtime import OracleRuntime
from abae.query.evaluation import evaluate
from abae.query.plan import (
    AllOf,
    AnyOf,
    CheapTest,
    NoneOf,
    OracleCall,
    OracleCondition,
    OracleTest,
    Predicate,
    QueryPlan,
    predicate_calls,
)
from abae.query.values import OracleOutput, oracle_outputs
from abae.store.ledger import Label
from abae.store.records import RecordCollection

Bools = NDArray[np.bool_]
Rows = NDArray[np.int64]

MAX_STATISTIC = 1e150
"""Largest statistic magnitude accepted: its square (in variances) must stay finite in float64."""


class RecordLabeller:
    """``labeller(indices) -> (predicate, statistic[, group])`` for the sampling core.

    Args:
        plan: the compiled query.
        population: the records sampled from.
        collection: where oracle arguments and cheap values are read.
        runtime: the oracle runtime (charges the query's budget).
        primary: position of the aggregate whose statistic the core receives.
        with_groups: also return each record's group key (GROUP BY a column, or
            the category of :attr:`QueryPlan.group_oracle`).

    Returns (of a call with ``indices``, int64 ``(n,)`` population positions):
        ``predicate``: bool ``(n,)``, or float64 ``(n,)`` with NaN where a needed
        label is missing; ``statistic``: float64 ``(n,)``, the primary
        aggregate's statistic for matches (NaN if missing, and for non-matches);
        ``group`` (with ``with_groups``): object ``(n,)`` group keys (``None``
        where there is none: no match, or no label).

    Attributes:
        outcome: float64 ``(N,)`` over the population: 1.0 match, 0.0 no match,
            NaN no label (or not drawn yet).
        predicate: bool ``(N,)``: labelled matches (``outcome == 1``).
        statistics: float64 ``(aggregates, N)``: each aggregate's statistic for
            the matches (NaN if missing, and elsewhere).
        groups: object ``(N,)``: each labelled match's group (oracle GROUP BY), else ``None``.
        left_out: population positions of records missing a needed oracle label.

    Raises:
        AbaeError: the plan groups by an oracle output but ``with_groups`` is false.
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
        if plan.group_oracle is not None and not with_groups:
            raise AbaeError(
                f"the query groups by the oracle output {plan.group_oracle.name}; "
                "its labeller must return the groups (with_groups=True)"
            )
        self.plan = plan
        self.population = population
        self.collection = collection
        self.runtime = runtime
        self.primary = primary
        self.with_groups = with_groups
        n = len(population)
        self.left_out: set[int] = set()
        self.outcome = np.full(n, np.nan)
        self.predicate = np.zeros(n, dtype=np.bool_)
        self.statistics = np.full((len(plan.aggregates), n), np.nan)
        self.groups = np.full(n, None, dtype=object)
        self._answers: dict[str, dict[int, Label | None]] = {}
        self._args: dict[int, dict[str, Any]] = {}
        self._cheap = {
            v.index: np.full(n, np.nan) if v.kind != "text" else np.full(n, None, dtype=object)
            for v in plan.cheap_values
        }
        self._cheap_loaded = np.zeros(n, dtype=np.bool_)
        self._argument_names = _argument_names(plan)

    def __call__(self, indices: NDArray[np.int64]) -> tuple[Any, ...]:
        rows = np.asarray(indices, dtype=np.int64)
        value, known = self._evaluate(self.plan.predicate, rows)
        self._mark_left_out(rows[~known])
        matches = value & known
        if self.plan.group_oracle is not None:
            matched = rows[matches]
            categories = self._categories(self.plan.group_oracle.call, matched)
            self.groups[matched] = categories
            has_group = np.fromiter((c is not None for c in categories), np.bool_, matched.size)
            self._mark_left_out(matched[~has_group])
            lost = np.zeros(rows.size, dtype=np.bool_)
            lost[np.flatnonzero(matches)[~has_group]] = True
            known &= ~lost
            matches &= ~lost
        positive = rows[matches]
        for k in range(len(self.plan.aggregates)):
            self.statistics[k, positive] = self._statistic(k, positive)
        outcome = np.where(known, matches.astype(np.float64), np.nan)
        self.outcome[rows] = outcome
        self.predicate[rows] = matches
        statistic = np.where(matches, self.statistics[self.primary, rows], np.nan)
        predicate: NDArray[Any] = matches if known.all() else outcome
        if not self.with_groups:
            return predicate, statistic
        return predicate, statistic, self.group_keys(rows)

    def group_keys(self, rows: NDArray[np.int64]) -> NDArray[np.object_]:
        """Group key of each row: the GROUP BY value (a tuple for several columns), or the
        oracle's category for labelled matches (``None`` otherwise)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.plan.group_oracle is not None:
            return np.asarray(self.groups[rows], dtype=object)
        keys = np.empty(rows.size, dtype=object)
        if self.population.group_codes is None:
            return keys
        for i, code in enumerate(self.population.group_codes[rows].tolist()):
            keys[i] = self.population.group_keys[code]
        return keys

    # --- the WHERE condition ----------------------------------------------------------

    def _evaluate(self, node: Predicate | None, rows: Rows) -> tuple[Bools, Bools]:
        """(value, known) for each row; unknown = a needed label is missing."""
        everywhere = np.ones(rows.size, np.bool_)
        if node is None:
            return everywhere, everywhere.copy()
        if isinstance(node, CheapTest):
            return self.population.tests[node.index][rows], everywhere
        if isinstance(node, OracleTest):
            output = OracleOutput(node.call, "predicate")
            values, known = self._outputs((output,), rows)[output]
            return values == 1.0, known
        if isinstance(node, OracleCondition):
            outputs = self._outputs(oracle_outputs(node.condition), rows)
            values, known = evaluate(node.condition, outputs, self._cheap_values(rows), rows.size)
            return np.asarray(values, dtype=np.float64) == 1.0, known
        if isinstance(node, NoneOf):
            value, known = self._evaluate(node.part, rows)
            return ~value, known
        assert isinstance(node, AllOf | AnyOf)
        conjunction = isinstance(node, AllOf)
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

    # --- statistics and groups --------------------------------------------------------

    def _statistic(self, k: int, rows: Rows) -> NDArray[np.float64]:
        """Aggregate ``k``'s statistic for matching rows; NaN where missing, NULL or not finite."""
        aggregate = self.plan.aggregates[k]
        if aggregate.kind == "count":
            return np.ones(rows.size)
        if aggregate.column is not None:
            values = self.population.column_stats[k][rows]
            known = np.ones(rows.size, np.bool_)
        elif aggregate.oracle is not None:
            output = OracleOutput(aggregate.oracle, "statistic")
            values, known = self._outputs((output,), rows)[output]
        else:
            assert aggregate.expression is not None
            outputs = self._outputs(oracle_outputs(aggregate.expression), rows)
            values, known = evaluate(
                aggregate.expression, outputs, self._cheap_values(rows), rows.size
            )
        self._mark_left_out(rows[~known])
        values = np.asarray(values, dtype=np.float64)
        values = np.where(known & np.isfinite(values), values, np.nan)
        huge = np.abs(np.nan_to_num(values)) > MAX_STATISTIC
        if huge.any():
            raise AbaeError(
                f"the statistic of {aggregate.name} is {values[huge][0]:g} for record "
                f"{int(self.population.ids[rows[huge][0]])}, too large to estimate with (its "
                f"square overflows); keep statistics within ±{MAX_STATISTIC:g}, e.g. divide "
                "them by a constant in the query"
            )
        return values

    def _categories(self, call: OracleCall, rows: Rows) -> list[str | None]:
        output = OracleOutput(call, "category")
        values, known = self._outputs((output,), rows)[output]
        categories = self.plan.group_oracle.categories if self.plan.group_oracle else ()
        found: list[str | None] = []
        for value, has in zip(values.tolist(), known.tolist(), strict=True):
            if has and value not in categories:
                raise AbaeError(
                    f"oracle {call.name!r} returned the category {value!r}, which it does not "
                    f"declare (declared: {', '.join(repr(c) for c in categories)})"
                )
            found.append(value if has else None)
        return found

    # --- oracle answers ---------------------------------------------------------------

    def _outputs(
        self, outputs: Sequence[OracleOutput], rows: Rows
    ) -> dict[OracleOutput, tuple[NDArray[Any], Bools]]:
        """Each output's values over ``rows`` (float64, or object for categories) and known mask."""
        result: dict[OracleOutput, tuple[NDArray[Any], Bools]] = {}
        for output in outputs:
            labels = self._labels(output.call, rows)
            ids = self.population.ids[rows].tolist()
            known = np.zeros(rows.size, np.bool_)
            if output.part == "category":
                values: NDArray[Any] = np.full(rows.size, None, dtype=object)
            else:
                values = np.full(rows.size, np.nan)
            for i, record_id in enumerate(ids):
                label = labels.get(record_id)
                if label is None:
                    continue
                part = self._part(output, label, record_id)
                if part is None:
                    continue
                values[i] = part
                known[i] = True
            result[output] = (values, known)
        return result

    def _part(self, output: OracleOutput, label: Label, record_id: int) -> float | str | None:
        """The part of ``label`` that ``output`` reads; ``None`` = missing (a pair without a number)."""
        name = output.call.name
        if output.part == "predicate":
            if label.predicate is None:
                raise AbaeError(
                    f"oracle {name!r} returned {_answer(label)} for record {record_id}, but the "
                    "query uses it as a condition; return True/False (or a (bool, number) pair)"
                )
            return 1.0 if label.predicate else 0.0
        if output.part == "statistic":
            if label.statistic is None:
                if label.predicate is not None and self._returns(name) == "pair":
                    return None
                raise AbaeError(
                    f"oracle {name!r} returned {_answer(label)} for record {record_id}, but the "
                    "query uses it as a number; return a number (or a (bool, number) pair)"
                )
            return float(label.statistic)
        category = label.category
        if category is None:
            raise AbaeError(
                f"oracle {name!r} returned {_answer(label)} for record {record_id}, but the "
                "query compares it with text (a category); return one of its declared categories"
            )
        return str(category)

    def _returns(self, oracle: str) -> str:
        registry = getattr(self.runtime, "registry", None)
        try:
            return str(getattr(registry.get(oracle), "returns", "any")) if registry else "any"
        except AbaeError:
            return "any"

    def _labels(self, call: OracleCall, rows: Rows) -> dict[int, Label]:
        """Labels of ``call`` for ``rows``; each record is asked of the runtime once per run."""
        answers = self._answers.setdefault(call.name, {})
        ids = self.population.ids[rows].tolist()
        new = [i for i in dict.fromkeys(ids) if i not in answers]
        if new:
            args = self._arguments(call, np.asarray(new, dtype=np.int64))
            labelled = self.runtime.labels(call.name, new, args)
            for record_id in new:
                answers[record_id] = labelled.get(record_id)
        found: dict[int, Label] = {}
        for record_id in ids:
            label = answers[record_id]
            if label is not None:
                found[record_id] = label
        return found

    def _arguments(self, call: OracleCall, ids: NDArray[np.int64]) -> dict[int, tuple[Any, ...]]:
        if set(call.args) <= {"id"}:
            return {i: (i,) * len(call.args) for i in ids.tolist()}
        missing = [i for i in ids.tolist() if i not in self._args]
        if missing:
            batch = self.collection.fetch(np.asarray(missing, dtype=np.int64), self._argument_names)
            for position, record_id in enumerate(batch.ids.tolist()):
                row: dict[str, Any] = {
                    "id": record_id,
                    "image": batch.images[position],
                    "image_blob": batch.blobs[position],
                }
                for name in self._argument_names:
                    row[name] = _plain(batch.columns[name][position])
                self._args[record_id] = row
        return {i: tuple(self._args[i][a] for a in call.args) for i in ids.tolist()}

    # --- cheap values -----------------------------------------------------------------

    def _cheap_values(self, rows: Rows) -> dict[int, NDArray[Any]]:
        """The plan's cheap values over ``rows``, read from the store once per record."""
        if not self._cheap:
            return {}
        needed = np.unique(rows[~self._cheap_loaded[rows]])
        if needed.size:
            self._load_cheap(needed)
        return {index: values[rows] for index, values in self._cheap.items()}

    def _load_cheap(self, rows: Rows) -> None:
        query = self.plan.cheap_values_sql()
        ids = self.population.ids[rows]
        try:
            with self.collection.store.transaction() as con:
                con.register("abae_wanted_ids", {"id": ids})
                try:
                    fetched = con.execute(query.sql, list(query.params)).fetchall()
                finally:
                    con.unregister("abae_wanted_ids")
        except duckdb.Error as error:
            raise AbaeError(
                f"DuckDB could not compute the cheap parts of the oracle expressions: {error}"
            ) from None
        positions = np.searchsorted(self.population.ids, [r[0] for r in fetched])
        for column, value in enumerate(self.plan.cheap_values, start=1):
            target = self._cheap[value.index]
            for position, row in zip(positions.tolist(), fetched, strict=True):
                item = row[column]
                if value.kind == "text":
                    target[position] = None if item is None else str(item)
                else:
                    target[position] = np.nan if item is None else float(item)
        self._cheap_loaded[rows] = True

    def _mark_left_out(self, rows: Rows) -> None:
        self.left_out.update(int(r) for r in rows.tolist())


def _argument_names(plan: QueryPlan) -> list[str]:
    """Columns (besides id and the image) that some oracle call of the plan takes."""
    calls = [*predicate_calls(plan.predicate)]
    calls += [c for a in plan.aggregates for c in a.calls]
    if plan.group_oracle is not None:
        calls.append(plan.group_oracle.call)
    names = {arg for call in calls for arg in call.args}
    return sorted(names - {"id", "image", "image_blob"})


def _answer(label: Label) -> str:
    if label.category is not None:
        return f"the category {label.category!r}"
    if label.predicate is not None and label.statistic is not None:
        return f"({label.predicate}, {label.statistic})"
    if label.predicate is not None:
        return str(label.predicate)
    if label.statistic is not None:
        return f"the number {label.statistic}"
    return "nothing usable"


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
