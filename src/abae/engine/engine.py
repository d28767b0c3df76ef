"""The query engine: plan → population → sample → estimate, with exact accounting.

:class:`Engine` is the Python API behind every ``abae`` command. One run of a
query goes through four steps, each in its own module:

1. **plan**: parse the text once, train a proxy ``USING`` names but the store
   lacks (``--train-proxy``), compile against the catalog and the registered
   oracles (:mod:`abae.query`);
2. **population**: one DuckDB scan of the records passing the cheap
   conditions (:mod:`abae.engine.population`), and the census stratum of the
   proxy's pilot (:mod:`abae.engine.census`);
3. **sample**: the sampling-core design that fits the query
   (:mod:`abae.engine.sampling_step`), with every oracle call going through the
   oracle runtime (ledger, budget, retries) via the labeller;
4. **estimate**: every aggregate (× group) from the one sample
   (:mod:`abae.engine.aggregates`).

Example:
    >>> from abae.engine import Engine  # doctest: +SKIP
    >>> engine = Engine("frames.duckdb", oracles=load_oracle_file("oracles.py"))  # doctest: +SKIP
    >>> result = engine.run(  # doctest: +SKIP
    ...     "SELECT COUNT(*) FROM frames WHERE has_red_light(image) ORACLE LIMIT 500 USING p"
    ... )
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlglot import exp

from abae.engine.aggregates import GroupFilter, census_labels, estimate_aggregates
from abae.engine.census import Census, census_of, records_charged_among, weak_proxies
from abae.engine.cost_plan import first_call_price, plan_for_cost
from abae.engine.labeller import RecordLabeller
from abae.engine.population import load_population
from abae.engine.progress import ProgressHandler, ProgressTracker
from abae.engine.proxy_requests import (
    MissingProxyError,
    ProxyTrainer,
    missing_proxies,
    missing_proxy_message,
    request_for,
)
from abae.engine.query_identity import query_identity
from abae.engine.result import QueryResult, TargetOutcome
from abae.engine.result_warnings import merge_warnings
from abae.engine.sampling_step import SamplingSettings, draw_sample
from abae.oracles.registry import OracleRegistry
from abae.oracles.retry import RetryPolicy
from abae.oracles.runtime import DEFAULT_CONCURRENCY, OracleRuntime, RuntimeStats
from abae.query.compiler import CollectionInfo, compile_query
from abae.query.dialect import parse_query
from abae.query.plan import QueryPlan
from abae.sampling import KnownLabels
from abae.store.connection import Store
from abae.store.ledger import LabelLedger
from abae.store.pilot_records import pilot_records
from abae.store.proxy_catalog import note_proxy_use, proxy_entry
from abae.store.query_log import QueryLog
from abae.store.records import RecordCollection, list_collections

__all__ = ["Engine", "PreparedQuery", "ProgressHandler"]


@dataclass(frozen=True)
class PreparedQuery:
    """A query parsed once and compiled, with its identity.

    Attributes:
        sql: the text as given.
        tree: the parsed text.
        plan: the compiled plan.
        query_id, sampling_seed: from the normalised text and the user seed
            (:func:`abae.engine.query_identity.query_identity`).
        pilot_trained: whether this run trained the query's proxy (its pilot is
            then charged to the query).
    """

    sql: str
    tree: exp.Select
    plan: QueryPlan
    query_id: str
    sampling_seed: int
    pilot_trained: bool


class Engine:
    """Runs ABae queries on a store.

    Args:
        store: a :class:`Store` or a path (``None``: ``$ABAE_DB`` or ``./abae.duckdb``).
        oracles: the registered oracles (e.g. from :func:`abae.oracles.load_oracle_file`).
        concurrency: oracle calls in flight at once.
        retry: retry policy for transient oracle errors.
        strata: proxy strata ``K`` (per group under GROUP BY); fewer when the
            budget or the records cannot fill them.
        stage1_share: share of the sampling budget spent on the stage-1 pilot
            (less where the census already tells a stratum's rate).
        allocation: the stage-2 rule of :func:`abae.sampling.estimate`
            (``"robust"`` by default); a proxy whose cross-validated AUC is
            below :data:`abae.engine.census.WEAK_PROXY_AUC` is allocated
            ``"proportional"`` (as if there were no proxy).
        ci: interval method of the sampling core (``"studentized"``,
            ``"bootstrap"``, ``"bca"``, ``"normal"``).
        proxy_trainer: trains a proxy that ``USING`` names but the store lacks
            (``--train-proxy``); ``None``: such a query is an error saying how to train it.
        oracle_wrapper: applied to the registry before oracle calls (e.g. to run
            them as Ray tasks, :meth:`abae.scaleout.RayExecutor.oracles`); ``None``: in process.
        retry_failed: call again the records whose oracle calls failed in an
            earlier run of the same query (their claims are already charged).
    """

    def __init__(
        self,
        store: Store | str | os.PathLike[str] | None = None,
        oracles: OracleRegistry | None = None,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy | None = None,
        strata: int = 5,
        stage1_share: float = 0.4,
        allocation: str = "robust",
        ci: str = "studentized",
        proxy_trainer: ProxyTrainer | None = None,
        oracle_wrapper: Callable[[OracleRegistry], OracleRegistry] | None = None,
        retry_failed: bool = False,
    ) -> None:
        self.store = store if isinstance(store, Store) else Store(store)
        self.proxy_trainer = proxy_trainer
        self.oracle_wrapper = oracle_wrapper
        self.oracles = oracles or OracleRegistry()
        self.concurrency = concurrency
        self.retry = retry
        self.strata = strata
        self.stage1_share = stage1_share
        self.allocation = allocation
        self.ci = ci
        self.retry_failed = retry_failed

    # --- planning ---------------------------------------------------------------------

    def catalog(self) -> dict[str, CollectionInfo]:
        """Every collection's columns and proxies."""
        catalog = {}
        for name in list_collections(self.store):
            collection = RecordCollection(self.store, name)
            catalog[name] = CollectionInfo(collection.column_types(), collection.proxy_names())
        return catalog

    def compile(self, sql: str, tree: exp.Select | None = None) -> QueryPlan:
        """Compile ``sql`` (parsed as ``tree`` when given) against the store and the oracles."""
        return compile_query(sql, self.catalog(), self.oracles, tree=tree)

    def prepare(self, sql: str, *, seed: int = 0) -> PreparedQuery:
        """Parse once, train a missing proxy (with a trainer), compile.

        Raises:
            MissingProxyError: ``USING`` names a proxy the store lacks and there
                is no trainer (or several are missing).
        """
        tree = parse_query(sql)
        query_id, sampling_seed = query_identity(tree, seed)
        trained = self._train_missing_proxies(sql, tree, query_id, sampling_seed)
        plan = self.compile(sql, tree)
        return PreparedQuery(sql, tree, plan, query_id, sampling_seed, trained)

    # --- running ------------------------------------------------------------------------

    def run(
        self, sql: str, *, seed: int = 0, on_progress: ProgressHandler | None = None
    ) -> QueryResult:
        """Run a query: spend at most its ``ORACLE LIMIT`` (over all its runs) and estimate.

        Args:
            sql: the query text.
            seed: a user seed; the same text and seed draw the same records, so a
                repeat (or a resume after an interruption) reuses the ledger's labels.
            on_progress: called with a :class:`~abae.engine.progress.QueryProgress`
                while the oracles work.

        Raises:
            abae.errors.AbaeError: a query the store or the oracles cannot answer
                (the message says why); the query log marks the run ``failed``.
        """
        started = time.perf_counter()
        prepared = self.prepare(sql, seed=seed)
        log = QueryLog(self.store)
        plan = prepared.plan
        entry = log.begin(
            prepared.query_id, sql, plan.collection, prepared.sampling_seed, plan.budget
        )
        try:
            result = self._execute(prepared, entry.runs, started, on_progress)
        except KeyboardInterrupt:
            log.finish(prepared.query_id, "interrupted", None)
            raise
        except BaseException:
            log.finish(prepared.query_id, "failed", None)
            raise
        log.finish(prepared.query_id, "done", result.to_dict())
        return result

    def _execute(
        self,
        prepared: PreparedQuery,
        runs: int,
        started: float,
        on_progress: ProgressHandler | None,
    ) -> QueryResult:
        plan = prepared.plan
        ledger = LabelLedger(self.store, plan.collection)
        collection = RecordCollection(self.store, plan.collection)
        population = load_population(self.store, plan)
        census = census_of(self.store, plan, population)
        weak = weak_proxies(self.store, plan)
        settings = SamplingSettings(
            strata=self.strata,
            stage1_share=self.stage1_share,
            allocation="proportional" if weak else self.allocation,
            ci=self.ci,
        )
        tracker = ProgressTracker(on_progress)
        runtime = OracleRuntime(
            ledger,
            self.oracle_wrapper(self.oracles) if self.oracle_wrapper else self.oracles,
            query_id=prepared.query_id,
            budget=plan.budget,
            concurrency=self.concurrency,
            retry=self.retry,
            seed=prepared.sampling_seed,
            cost_limit=math.inf if plan.cost_limit is None else plan.cost_limit,
            retry_failed=self.retry_failed,
            on_update=tracker.runtime_update,
        )
        try:
            labeller = RecordLabeller(
                plan,
                population,
                collection,
                runtime,
                with_groups=plan.group_oracle is not None,
            )
            known = self._label_census(plan, census, labeller)
            before_sampling = records_charged_among(
                self.store, plan.collection, prepared.query_id, self._pilot_ids(plan)
            )
            cost_plan = plan_for_cost(
                plan.cost_limit,
                first_call_price(plan, self.oracles),
                plan.budget - before_sampling,
                before_sampling,
            )
            budget = cost_plan.budget
            tracker.start_sampling(budget)
            rng = np.random.default_rng(prepared.sampling_seed)
            drawn = draw_sample(plan, population, labeller, budget, known, settings, rng, tracker)
            aggregates, estimates = estimate_aggregates(
                plan, population, drawn, labeller, census, rng
            )
        finally:
            runtime.close()
        warnings = list(drawn.warnings)
        if cost_plan.note:
            warnings.append(cost_plan.note)
        for (group, k), estimate_ in estimates.items():
            if k == 0:
                warnings += [
                    w if group is None else f"group {group!r}: {w}" for w in estimate_.warnings
                ]
        warnings += _weak_proxy_warnings(weak)
        if plan.budget_defaulted:
            warnings.append(
                f"no ORACLE LIMIT given: the default cap of {plan.budget} records applied"
            )
        stats = runtime.stats
        left_out = sorted(labeller.left_out)
        if left_out:
            warnings.append(
                f"{len(left_out)} sampled records lack a label they needed (failed, over "
                "budget or lost in an interrupted run); they count as missing at random "
                "within their stratum, and COUNT still counts a match whose statistic is missing"
            )
        for proxy in plan.proxy_columns:
            note_proxy_use(self.store, plan.collection, proxy)
        first = next(iter(estimates.values()))
        return QueryResult(
            query_id=prepared.query_id,
            sql=prepared.sql,
            collection=plan.collection,
            proxy=plan.proxy_text,
            aggregates=aggregates,
            confidence=plan.probability,
            ci_method=first.ci_method,
            budget=plan.budget,
            calls_spent=runtime.spent_this_run(),
            calls_spent_total=ledger.spent(prepared.query_id),
            labels_reused=stats.reused_labels,
            fresh_labels=stats.fresh_labels,
            oracle_attempts=stats.attempts,
            retries=stats.retries,
            left_out=_left_out_rows(stats),
            population=len(population),
            wall_time_s=time.perf_counter() - started,
            strata=first.strata.rows(),
            warnings=merge_warnings(warnings),
            runs=runs,
            proxy_scores=population.proxy,
            census_labels=0 if census is None else len(census),
            pilot_records_charged=before_sampling if prepared.pilot_trained else 0,
            sampling_records_charged=ledger.spent(prepared.query_id) - before_sampling,
            money_spent=stats.money,
            money_spent_total=runtime.money_spent(),
            input_tokens=stats.input_tokens,
            output_tokens=stats.output_tokens,
            cost_limit=plan.cost_limit,
            proxies=[_proxy_facts(self.store, plan.collection, p) for p in plan.proxy_columns],
            allocation=settings.allocation,
            target=TargetOutcome.of(plan.error_target, aggregates),
            budget_defaulted=plan.budget_defaulted,
        )

    def _label_census(
        self, plan: QueryPlan, census: Census | None, labeller: RecordLabeller
    ) -> KnownLabels | None:
        """Label the census records (free where the ledger has them) and return the first
        aggregate's known labels; under GROUP BY the sampling step takes them out instead."""
        if census is None:
            return None
        labeller(census.positions)
        if plan.group_by or plan.group_oracle is not None:
            return KnownLabels(
                indices=census.positions,
                predicate=np.zeros(len(census), dtype=np.bool_),
                statistic=np.full(len(census), np.nan),
                scores=census.planning_scores,
            )
        every: GroupFilter = lambda positions, _: np.ones(positions.size, dtype=np.bool_)  # noqa: E731
        return census_labels(census, labeller, 0, None, every)

    def _pilot_ids(self, plan: QueryPlan) -> NDArray[np.int64]:
        return pilot_records(self.store, plan.collection, plan.proxy_columns)

    def _train_missing_proxies(
        self, sql: str, tree: exp.Select, query_id: str, sampling_seed: int
    ) -> bool:
        """Train the proxy ``USING`` names but the store lacks; whether one was trained.

        Raises:
            MissingProxyError: a proxy is missing and the engine has no trainer.
        """
        catalog = self.catalog()
        missing = missing_proxies(tree, catalog, self.oracles)
        if not missing:
            return False
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
        self.proxy_trainer(request)
        return True


def _weak_proxy_warnings(weak: list[Any]) -> list[str]:
    return [
        f"proxy {entry.proxy!r} ranks poorly (cross-validated AUC {entry.cv_auc:.2f} < 0.6): "
        "the budget was allocated in proportion to the strata, as if there were no proxy"
        for entry in weak
    ]


def _proxy_facts(store: Store, collection: str, proxy: str) -> dict[str, Any]:
    entry = proxy_entry(store, collection, proxy)
    if entry is None:
        return {"name": proxy}
    return {
        "name": proxy,
        "candidate": entry.candidate,
        "cv_auc": entry.cv_auc,
        "pilot_size": entry.pilot_size,
        "pilot_calls": entry.pilot_calls,
        "cost": entry.cost,
        "uses": entry.uses,
    }


def _left_out_rows(stats: RuntimeStats) -> list[dict[str, Any]]:
    """One row per record left without a needed label, with the reason."""
    rows: list[dict[str, Any]] = []
    for (oracle, record_id), message in sorted(stats.failed.items()):
        rows.append({"record_id": record_id, "oracle": oracle, "reason": f"failed: {message}"})
    for oracle, record_id in sorted(stats.over_budget):
        rows.append({"record_id": record_id, "oracle": oracle, "reason": "budget spent"})
    for oracle, record_id in sorted(stats.over_cost):
        rows.append({"record_id": record_id, "oracle": oracle, "reason": "COST LIMIT reached"})
    for oracle, record_id in sorted(stats.lost):
        rows.append(
            {"record_id": record_id, "oracle": oracle, "reason": "lost in an interrupted run"}
        )
    return rows
