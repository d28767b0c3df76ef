"""What a query returns: estimates with intervals, exact accounting, and the strata table.

Two units are counted, and named so:

- **records charged**: distinct records a query has claimed, the unit of
  ``ORACLE LIMIT`` (a record asked for a predicate and a statistic is one);
- **oracle calls** (labels bought): one per record and oracle.

Labels reused from the ledger cost nothing and count in neither.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from abae.errors import AbaeError

if TYPE_CHECKING:
    from abae.query.plan import ErrorTarget


@dataclass(frozen=True)
class AggregateResult:
    """One aggregate (per group under GROUP BY).

    Attributes:
        name: the output name (alias or expression).
        kind: ``"avg"``, ``"sum"`` or ``"count"``.
        group: the group key, or ``None`` without GROUP BY.
        estimate, ci_low, ci_high: the point estimate and its interval (NaN if undefined).
        labels_used: labelled records the estimate rests on (sampled and census).
    """

    name: str
    kind: str
    group: Any
    estimate: float
    ci_low: float
    ci_high: float
    labels_used: int

    @property
    def half_width(self) -> float:
        """Half the interval's width (NaN if undefined)."""
        return (self.ci_high - self.ci_low) / 2.0


@dataclass(frozen=True)
class TargetOutcome:
    """Whether ``ERROR WITHIN`` was met, and the half-widths reached.

    Attributes:
        half_width: the target, in the aggregate's unit or, when ``relative``, as
            a fraction of each estimate.
        relative: whether the target is relative.
        met: every reported estimate's interval is at least that narrow.
        reached: per reported estimate (SELECT order × groups), the half-width it
            reached, in the target's terms (relative when the target is).
    """

    half_width: float
    relative: bool
    met: bool
    reached: list[float]

    @classmethod
    def of(
        cls, target: ErrorTarget | None, aggregates: Sequence[AggregateResult]
    ) -> TargetOutcome | None:
        """Compare ``aggregates`` with ``target`` (``None`` when the query set no target)."""
        if target is None:
            return None
        reached = []
        for a in aggregates:
            half = a.half_width
            if target.relative:
                half = half / abs(a.estimate) if a.estimate else math.inf
            reached.append(half if math.isfinite(half) else math.inf)
        met = bool(reached) and all(r <= target.half_width * (1 + 1e-9) for r in reached)
        return cls(target.half_width, target.relative, met, reached)

    def to_dict(self) -> dict[str, Any]:
        return {
            "half_width": self.half_width,
            "relative": self.relative,
            "met": self.met,
            "reached": [_finite(r) for r in self.reached],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetOutcome:
        return cls(
            float(data["half_width"]),
            bool(data["relative"]),
            bool(data["met"]),
            [math.inf if r is None else float(r) for r in data["reached"]],
        )


@dataclass(frozen=True)
class QueryResult:
    """The answer to one query run.

    Attributes:
        query_id: stable id of the query (same text and seed → same id).
        aggregates: the estimates, in SELECT order (× groups).
        confidence: the intervals' probability; ``ci_method`` how they were computed.
        budget: ``ORACLE LIMIT`` (or the default cap, see ``budget_defaulted``).
        calls_spent: records charged to the budget by this run (this process's claims).
        calls_spent_total: records charged over all runs of this query (≤ budget).
        labels_reused: labels answered from the ledger without paying (one per
            record and oracle).
        fresh_labels: oracle calls this run: labels bought, one per record and oracle.
        oracle_attempts, retries: oracle invocations including retries, and retries.
        left_out: records without a needed label, with the reason.
        population: records that passed the cheap conditions (the sampling frame).
        wall_time_s: seconds from start to result.
        strata: the first estimate's per-stratum table (list of dicts).
        warnings: notes from the sampler and the runtime, one line per kind.
        runs: how many times this query was started.
        proxy_scores: the population's proxy scores (for reports; not in ``to_dict``).
        census_labels: pilot records used as a census stratum (labelled, exact).
        pilot_records_charged: records this query's own pilot charged (``--train-proxy``).
        sampling_records_charged: records charged by the census and the
            stratified sample (over all runs).
        money_spent: what this run's oracle calls cost (the oracles' cost unit).
        money_spent_total: what the query's calls cost over all its runs (≤ ``COST LIMIT``).
        input_tokens, output_tokens: tokens this run's language-model oracle calls used.
        cost_limit: ``COST LIMIT``, or ``None``.
        proxies: per proxy the query ranks by: its name and, for a proxy trained
            here, the chosen candidate, its cross-validated AUC, its pilot's size,
            calls and cost, and how many queries have used it.
        allocation: the stage-2 allocation rule the sampler used.
        target: the ``ERROR WITHIN`` outcome, or ``None``.
        budget_defaulted: no ``ORACLE LIMIT`` was given; ``budget`` is the default cap.
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
    census_labels: int = 0
    pilot_records_charged: int = 0
    sampling_records_charged: int = 0
    money_spent: float = 0.0
    money_spent_total: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_limit: float | None = None
    proxies: list[dict[str, Any]] = field(default_factory=list)
    allocation: str = ""
    target: TargetOutcome | None = None
    budget_defaulted: bool = False

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
        plain = {name: data[name] for name in _PLAIN_FIELDS if name in data}
        strata = [
            {k: (float("nan") if v is None else v) for k, v in row.items()}
            for row in data["strata"]
        ]
        target = data.get("target")
        return cls(
            aggregates=aggregates,
            strata=strata,
            target=None if target is None else TargetOutcome.from_dict(target),
            **plain,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (NaN → ``None``)."""
        document: dict[str, Any] = {name: getattr(self, name) for name in _PLAIN_FIELDS}
        document["aggregates"] = [
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
        ]
        document["strata"] = [{k: _finite(v) for k, v in row.items()} for row in self.strata]
        document["proxies"] = [{k: _finite(v) for k, v in p.items()} for p in self.proxies]
        document["target"] = None if self.target is None else self.target.to_dict()
        return document


_PLAIN_FIELDS = (
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
    "census_labels",
    "pilot_records_charged",
    "sampling_records_charged",
    "money_spent",
    "money_spent_total",
    "input_tokens",
    "output_tokens",
    "cost_limit",
    "proxies",
    "allocation",
    "budget_defaulted",
)
"""Fields that go to JSON as they are."""


def proxy_summary(proxy: dict[str, Any]) -> str | None:
    """One line on a proxy the query ranked by, from ``QueryResult.proxies`` (``None``
    for a score column the user brought: nothing is known about it).

    Example:
        >>> proxy_summary({"name": "p", "candidate": "pixels_logistic", "cv_auc": 0.991,
        ...                "pilot_size": 200, "pilot_calls": 200, "uses": 3})
        'proxy p: pixels_logistic, cross-validated AUC 0.991, pilot 200 labels (200 calls bought), used by 3 queries'
    """
    if "candidate" not in proxy:
        return None
    auc = "n/a" if proxy.get("cv_auc") is None else f"{proxy['cv_auc']:.3f}"
    return (
        f"proxy {proxy['name']}: {proxy['candidate']}, cross-validated AUC {auc}, pilot "
        f"{proxy['pilot_size']} labels ({proxy['pilot_calls']} calls bought), used by "
        f"{proxy['uses']} queries"
    )


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
