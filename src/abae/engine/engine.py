"""The query engine: compile, scan, sample through the oracle runtime, estimate, log.

:class:`Engine` is the Python API behind every ``abae`` command.

Example:
    >>> from abae.engine import Engine  # doctest: +SKIP
    >>> engine = Engine("frames.duckdb", oracles=load_oracle_file("oracles.py"))  # doctest: +SKIP
    >>> result = engine.run(  # doctest: +SKIP
    ...     "SELECT COUNT(*) FROM frames WHERE has_red_light(image) ORACLE LIMIT 500 USING p"
    ... )
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from abae.engine.labeller import RecordLabeller
from abae.engine.population import Population, load_population
from abae.engine.proxy_requests import (
    MissingProxyError,
    ProxyTrainer,
    missing_proxies,
    missing_proxy_message,
    request_for,
)
from abae.engine.query_identity import query_identity
from abae.engine.result import AggregateResult, QueryProgress, QueryResult
from abae.errors import AbaeError
from abae.oracles.registry import OracleRegistry
from abae.oracles.retry import RetryPolicy
from abae.oracles.runtime import DEFAULT_CONCURRENCY, OracleRuntime, RuntimeStats
from abae.query.compiler import CollectionInfo, compile_query
from abae.query.dialect import parse_query
from abae.query.plan import QueryPlan
from abae.sampling import (
    Estimate,
    Progress,
    StratifiedSample,
    estimate,
    estimate_from_labels,
    estimate_groups,
)
from abae.store.connection import Store
from abae.store.ledger import LabelLedger
from abae.store.pilot_records import pilot_records
from abae.store.query_log import QueryLog
from abae.store.records import RecordCollection, list_collections

ProgressHandler = Callable[[QueryProgress], None]


class Engine:
    """Runs ABae queries on a store.

    Args:
        store: a :class:`Store` or a path (``None``: ``$ABAE_DB`` or ``./abae.duckdb``).
        oracles: the registered oracles (e.g. from :func:`abae.oracles.load_oracle_file`).
        concurrency: oracle calls in flight at once.
        retry: retry policy for transient oracle errors.
        strata: number of proxy strata ``K``.
        stage1_share: share of the budget spent on the stage-1 pilot.
        ci: interval method of the sampling core (``"bootstrap"``, ``"bca"``, ``"normal"``).
        proxy_trainer: trains a proxy that ``USING`` names but the store lacks
            (``--train-proxy``); ``None``: such a query is an error saying how to train it.
        oracle_wrapper: applied to the registry before oracle calls (e.g. to run
            them as Ray tasks, :func:`abae.scaleout.ray_oracles`); ``None``: in process.

    Records whose labels trained the query's proxy (its pilot) are left out of the
    sampled population: the proxy has seen them, so they are not reused as
    stratified samples. AVG is estimated over the other records (a uniform random
    subset, since the pilot is drawn uniformly); SUM and COUNT are scaled by
    ``all records / records left``.
    """

    def __init__(
        self,
        store: Store | str | os.PathLike[str] | None = None,
        oracles: OracleRegistry | None = None,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy | None = None,
        strata: int = 5,
        stage1_share: float = 0.5,
        ci: str = "bootstrap",
        proxy_trainer: ProxyTrainer | None = None,
        oracle_wrapper: Callable[[OracleRegistry], OracleRegistry] | None = None,
    ) -> None:
        self.store = store if isinstance(store, Store) else Store(store)
        self.proxy_trainer = proxy_trainer
        self.oracle_wrapper = oracle_wrapper
        self.oracles = oracles or OracleRegistry()
        self.concurrency = concurrency
        self.retry = retry
        self.strata = strata
        self.stage1_share = stage1_share
        self.ci = ci

    # --- planning ---------------------------------------------------------------------

    def catalog(self) -> dict[str, CollectionInfo]:
        """Every collection's columns and proxies."""
        catalog = {}
        for name in list_collections(self.store):
            collection = RecordCollection(self.store, name)
            catalog[name] = CollectionInfo(collection.column_types(), collection.proxy_names())
        return catalog

    def compile(self, sql: str) -> QueryPlan:
        """Parse and compile ``sql`` against the store and the registered oracles."""
        return compile_query(sql, self.catalog(), self.oracles.names())

    # --- running ------------------------------------------------------------------------

    def run(
        self, sql: str, *, seed: int = 0, on_progress: ProgressHandler | None = None
    ) -> QueryResult:
        """Run a query: spend at most its ``ORACLE LIMIT`` (over all its runs) and estimate.

        Args:
            seed: a user seed; the same text and seed draw the same records, so a
                repeat (or a resume after an interruption) reuses the ledger's labels.
            on_progress: called with a :class:`QueryProgress` while the oracles work.
        """
        started = time.perf_counter()
        tree = parse_query(sql)
        query_id, sampling_seed = query_identity(tree, seed)
        spent_before = self._train_missing_proxies(sql, tree, query_id, sampling_seed)
        plan = self.compile(sql)
        log = QueryLog(self.store)
        entry = log.begin(query_id, sql, plan.collection, sampling_seed, plan.budget)
        ledger = LabelLedger(self.store, plan.collection)
        if spent_before is None:
            spent_before = ledger.spent(query_id)
        collection = RecordCollection(self.store, plan.collection)
        full_population = load_population(self.store, plan)
        used = [p for p in collection.proxy_names() if f'"{p.lower()}"' in plan.proxy.sql.lower()]
        pilot = pilot_records(self.store, plan.collection, used)
        population = full_population.without(pilot, f"pilot records of proxy {used}")
        tracker = _ProgressTracker(plan.budget, on_progress)
        runtime = OracleRuntime(
            ledger,
            self.oracle_wrapper(self.oracles) if self.oracle_wrapper else self.oracles,
            query_id=query_id,
            budget=plan.budget,
            concurrency=self.concurrency,
            retry=self.retry,
            seed=sampling_seed,
            on_update=tracker.runtime_update,
        )
        try:
            labeller = RecordLabeller(
                plan, population, collection, runtime, with_groups=bool(plan.group_by)
            )
            rng = np.random.default_rng(sampling_seed)
            estimates = self._sample(plan, population, labeller, rng, tracker)
            aggregates, strata_rows, warnings = self._finish(plan, estimates, labeller, rng)
        except BaseException:
            runtime.close()
            log.finish(query_id, "interrupted", None)
            raise
        runtime.close()
        left_for_sampling = len(population)
        if left_for_sampling < len(full_population):
            scale = len(full_population) / left_for_sampling
            aggregates = [_scaled(a, scale) for a in aggregates]
            warnings.append(
                f"{len(full_population) - left_for_sampling} records whose labels trained the "
                f"proxy are left out of sampling (the proxy has seen them); AVG is over the other "
                f"{left_for_sampling} records, SUM and COUNT are scaled by {scale:.4f}"
            )
        stats = runtime.stats
        spent_total = ledger.spent(query_id)
        left_out = _left_out_rows(stats, population)
        if left_out:
            warnings.append(
                f"{len(left_out)} sampled records have no label (failed, budget spent, or lost "
                "in an interrupted run) and are left out of the estimates"
            )
        result = QueryResult(
            query_id=query_id,
            sql=sql,
            collection=plan.collection,
            proxy=plan.proxy_text,
            aggregates=aggregates,
            confidence=plan.probability,
            ci_method=self.ci,
            budget=plan.budget,
            calls_spent=spent_total - spent_before,
            calls_spent_total=spent_total,
            labels_reused=stats.reused_labels,
            fresh_labels=stats.fresh_labels,
            oracle_attempts=stats.attempts,
            retries=stats.retries,
            left_out=left_out,
            population=len(population),
            wall_time_s=time.perf_counter() - started,
            strata=strata_rows,
            warnings=warnings,
            runs=entry.runs,
            proxy_scores=population.proxy,
        )
        log.finish(query_id, "done", result.to_dict())
        return result

    def _train_missing_proxies(
        self, sql: str, tree: Any, query_id: str, sampling_seed: int
    ) -> int | None:
        """Train proxies ``USING`` names but the store lacks; returns the spend before, if any.

        Raises:
            MissingProxyError: a proxy is missing and the engine has no trainer.
        """
        catalog = self.catalog()
        missing = missing_proxies(tree, catalog)
        if not missing:
            return None
        request = request_for(
            sql,
            tree,
            catalog,
            self.oracles,
            missing[0],
            store=self.store,
            query_id=query_id,
            seed=sampling_seed,
            missing=missing,
        )
        if self.proxy_trainer is None or len(missing) > 1:
            raise MissingProxyError(missing_proxy_message(request.collection, missing))
        spent_before = LabelLedger(self.store, request.collection).spent(query_id)
        self.proxy_trainer(request)
        return spent_before

    def _sample(
        self,
        plan: QueryPlan,
        population: Population,
        labeller: RecordLabeller,
        rng: np.random.Generator,
        tracker: _ProgressTracker,
    ) -> dict[Hashable, Estimate]:
        primary = plan.aggregates[0].kind
        common: dict[str, Any] = {
            "aggregate": primary,
            "strata": min(self.strata, len(population)),
            "stage1_share": self.stage1_share,
            "confidence": plan.probability,
            "ci": self.ci,
            "rng": rng,
            "on_progress": tracker.sampler_update,
        }
        if not plan.group_by:
            return {None: estimate(population.proxy, labeller, plan.budget, **common)}
        keys = labeller.group_keys(np.arange(len(population), dtype=np.int64))
        distinct = list(dict.fromkeys(keys.tolist()))
        floor = float(population.proxy.min()) - 1.0
        key_list = keys.tolist()
        scores = {
            key: np.where(np.array([k == key for k in key_list]), population.proxy, floor)
            for key in distinct
        }
        groups = estimate_groups(scores, labeller, plan.budget, **common)
        return dict(groups.estimates)

    def _finish(
        self,
        plan: QueryPlan,
        estimates: dict[Hashable, Estimate],
        labeller: RecordLabeller,
        rng: np.random.Generator,
    ) -> tuple[list[AggregateResult], list[dict[str, Any]], list[str]]:
        results: list[AggregateResult] = []
        warnings: list[str] = []
        strata_rows: list[dict[str, Any]] = []
        left_out = np.asarray(sorted(labeller.left_out), dtype=np.int64)
        for group, primary in estimates.items():
            warnings.extend(
                primary.warnings
                if group is None
                else [f"group {group!r}: {w}" for w in primary.warnings]
            )
            if not strata_rows:
                strata_rows = primary.strata.rows()
            for k, aggregate in enumerate(plan.aggregates):
                final = self._recompute(primary, k, aggregate.kind, labeller, left_out, rng)
                results.append(
                    AggregateResult(
                        name=aggregate.name,
                        kind=aggregate.kind,
                        group=group,
                        estimate=final.estimate,
                        ci_low=final.ci_low,
                        ci_high=final.ci_high,
                        labels_used=int(final.labelled_indices.size),
                    )
                )
        return results, strata_rows, warnings

    def _recompute(
        self,
        primary: Estimate,
        k: int,
        kind: str,
        labeller: RecordLabeller,
        left_out: np.ndarray[Any, np.dtype[np.int64]],
        rng: np.random.Generator,
    ) -> Estimate:
        keep = ~np.isin(primary.labelled_indices, left_out)
        if k == 0 and keep.all():
            return primary
        indices = primary.labelled_indices[keep]
        stratum = primary.labelled_stratum[keep]
        sizes = primary.strata.size
        empty = np.setdiff1d(np.arange(sizes.size), stratum)
        if empty.size:
            raise AbaeError(
                f"strata {empty.tolist()} have no usable label left (all failed or were "
                "left out); check the oracle's errors with `abae labels` and rerun"
            )
        predicate = primary.labelled_predicate[keep] & labeller.predicate[indices]
        sample = StratifiedSample(
            sizes=sizes,
            indices=indices,
            predicate=predicate,
            statistic=np.where(predicate, labeller.statistics[k, indices], np.nan),
            stratum=stratum,
            stage=primary.labelled_stage[keep],
        )
        return estimate_from_labels(
            sample,
            aggregate=kind,
            allocation=primary.allocation,
            budget=primary.budget,
            oracle_calls=int(keep.sum()),
            confidence=primary.confidence,
            ci=primary.ci_method,
            rng=rng,
        )


class _ProgressTracker:
    """Merges the sampler's and the runtime's updates into :class:`QueryProgress` events."""

    def __init__(self, budget: int, handler: ProgressHandler | None) -> None:
        self.budget = budget
        self.handler = handler
        self.labelled = 0
        self.fresh = 0
        self.reused = 0
        self.running = float("nan")

    def sampler_update(self, progress: Progress) -> None:
        self.labelled = progress.oracle_calls
        self.running = progress.running_estimate
        self._emit()

    def runtime_update(self, stats: RuntimeStats) -> None:
        self.fresh = stats.fresh_labels
        self.reused = stats.reused_labels
        self._emit()

    def _emit(self) -> None:
        if self.handler is not None:
            self.handler(
                QueryProgress(self.labelled, self.budget, self.fresh, self.reused, self.running)
            )


def _scaled(result: AggregateResult, scale: float) -> AggregateResult:
    """SUM and COUNT over a uniform subset, scaled to the whole population; AVG unchanged."""
    if result.kind == "avg":
        return result
    return dataclasses.replace(
        result,
        estimate=result.estimate * scale,
        ci_low=result.ci_low * scale,
        ci_high=result.ci_high * scale,
    )


def _left_out_rows(stats: RuntimeStats, population: Population) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for (oracle, record_id), message in sorted(stats.failed.items()):
        rows.append({"record_id": record_id, "oracle": oracle, "reason": f"failed: {message}"})
    for oracle, record_id in sorted(stats.over_budget):
        rows.append({"record_id": record_id, "oracle": oracle, "reason": "budget spent"})
    for oracle, record_id in sorted(stats.lost):
        rows.append(
            {"record_id": record_id, "oracle": oracle, "reason": "lost in an interrupted run"}
        )
    return rows
