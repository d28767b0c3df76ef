"""What a query returns: estimates with intervals, exact accounting, and the strata table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from abae.errors import AbaeError


@dataclass(frozen=True)
class AggregateResult:
    """One aggregate (per group under GROUP BY).

    Attributes:
        name: the output name (alias or expression).
        kind: ``"avg"``, ``"sum"`` or ``"count"``.
        group: the group key, or ``None`` without GROUP BY.
        estimate, ci_low, ci_high: the point estimate and its interval (NaN if undefined).
        labels_used: labelled records the estimate rests on.
    """

    name: str
    kind: str
    group: Any
    estimate: float
    ci_low: float
    ci_high: float
    labels_used: int


@dataclass(frozen=True)
class QueryProgress:
    """A progress report while the oracles work.

    Attributes:
        labelled: records the sampler has had labelled so far (cached or fresh).
        budget: the query's ``ORACLE LIMIT``.
        fresh_labels: labels bought in this run so far.
        reused_labels: labels taken from the ledger so far.
        running_estimate: the sampler's current estimate (NaN while undefined).
    """

    labelled: int
    budget: int
    fresh_labels: int
    reused_labels: int
    running_estimate: float


@dataclass(frozen=True)
class QueryResult:
    """The answer to one query run.

    Attributes:
        query_id: stable id of the query (same text and seed → same id).
        aggregates: the estimates, in SELECT order (× groups).
        confidence: the intervals' probability; ``ci_method`` how they were computed.
        budget: ``ORACLE LIMIT``.
        calls_spent: records charged to the budget in this run (fresh oracle calls).
        calls_spent_total: records charged over all runs of this query (≤ budget).
        labels_reused: labels answered from the ledger without paying.
        fresh_labels: labels bought in this run (one per record and oracle).
        oracle_attempts, retries: oracle invocations including retries, and retries.
        left_out: records without a needed label, with the reason; not in any estimate.
        population: records that passed the cheap conditions (the sampling frame).
        wall_time_s: seconds from start to result.
        strata: the primary aggregate's per-stratum table (list of dicts).
        warnings: notes from the sampler and the runtime.
        proxy_scores: the population's proxy scores (for reports; not in ``to_dict``).
    """

    query_id: str
    sql: str
    collection: str
    proxy: str
    aggregates: list[AggregateResult]
    confidence: float
    ci_method: str
    budget: int
    calls_spent: int
    calls_spent_total: int
    labels_reused: int
    fresh_labels: int
    oracle_attempts: int
    retries: int
    left_out: list[dict[str, Any]]
    population: int
    wall_time_s: float
    strata: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    runs: int = 1
    proxy_scores: NDArray[np.float64] = field(default_factory=lambda: np.empty(0), repr=False)

    def to_frame(self) -> Any:
        """The estimates as a pandas DataFrame, one row per aggregate (× group).

        Columns: :data:`abae.engine.result_table.COLUMNS`.

        Raises:
            AbaeError: pandas is not installed (it is the ``dataframe`` extra).
        """
        from abae.engine.result_table import COLUMNS, result_rows

        try:
            import pandas
        except ImportError:
            raise AbaeError(
                "QueryResult.to_frame needs pandas: pip install -c constraints.txt "
                '-e ".[dataframe]" (or export with write_result_table, which needs nothing)'
            ) from None
        return pandas.DataFrame(result_rows(self), columns=list(COLUMNS))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryResult:
        """Rebuild a result from :meth:`to_dict` output (e.g. the query log's copy).

        Undefined numbers (``None`` in JSON) come back as NaN; the proxy scores,
        which :meth:`to_dict` leaves out, come back empty.
        """
        aggregates = [
            AggregateResult(
                name=a["name"],
                kind=a["kind"],
                group=_group_key(a["group"]),
                estimate=_number(a["estimate"]),
                ci_low=_number(a["ci_low"]),
                ci_high=_number(a["ci_high"]),
                labels_used=int(a["labels_used"]),
            )
            for a in data["aggregates"]
        ]
        plain = {
            name: data[name]
            for name in (
                "query_id",
                "sql",
                "collection",
                "proxy",
                "confidence",
                "ci_method",
                "budget",
                "calls_spent",
                "calls_spent_total",
                "labels_reused",
                "fresh_labels",
                "oracle_attempts",
                "retries",
                "left_out",
                "population",
                "wall_time_s",
                "warnings",
                "runs",
            )
        }
        strata = [
            {k: (float("nan") if v is None else v) for k, v in row.items()}
            for row in data["strata"]
        ]
        return cls(aggregates=aggregates, strata=strata, **plain)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (NaN → ``None``)."""
        return {
            "query_id": self.query_id,
            "sql": self.sql,
            "collection": self.collection,
            "proxy": self.proxy,
            "aggregates": [
                {
                    "name": a.name,
                    "kind": a.kind,
                    "group": _json_key(a.group),
                    "estimate": _finite(a.estimate),
                    "ci_low": _finite(a.ci_low),
                    "ci_high": _finite(a.ci_high),
                    "labels_used": a.labels_used,
                }
                for a in self.aggregates
            ],
            "confidence": self.confidence,
            "ci_method": self.ci_method,
            "budget": self.budget,
            "calls_spent": self.calls_spent,
            "calls_spent_total": self.calls_spent_total,
            "labels_reused": self.labels_reused,
            "fresh_labels": self.fresh_labels,
            "oracle_attempts": self.oracle_attempts,
            "retries": self.retries,
            "left_out": self.left_out,
            "population": self.population,
            "wall_time_s": self.wall_time_s,
            "strata": [{k: _finite(v) for k, v in row.items()} for row in self.strata],
            "warnings": self.warnings,
            "runs": self.runs,
        }


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _group_key(value: Any) -> Any:
    """Inverse of :func:`_json_key`: JSON lists (several GROUP BY columns) back to tuples."""
    return tuple(value) if isinstance(value, list) else value


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_key(key: Any) -> Any:
    if isinstance(key, tuple):
        return [_json_key(k) for k in key]
    if isinstance(key, np.generic):
        return key.item()
    return key
