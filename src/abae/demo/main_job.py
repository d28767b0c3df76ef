"""The main job, ``abae demo``: import, train the AFNO proxy, query, compare, report.

Steps (each timed):

1. import a built-in dataset into a store (a fresh temporary one, or ``db``);
   a store that already holds the demo's collection is reused as it is;
2. train the AFNO proxy on pilot labels bought through the oracle runtime
   (query id ``pilot:afno_proxy``) and score every record (skipped when the
   proxy column exists);
3. run ``SELECT AVG(stat(image)) FROM ... WHERE pred(image) ORACLE LIMIT 1000
   USING afno_proxy WITH PROBABILITY 0.95`` through the engine;
4. compare with the exact answer (the dataset's ground truth) and with uniform
   sampling at the same budget over the same records;
5. write the report (PNG + HTML).
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abae.demo.builtin_datasets import PROXY_NAME, DemoDataset, load_dataset
from abae.engine import Engine, QueryResult
from abae.engine.engine import ProgressHandler
from abae.errors import AbaeError
from abae.proxy.ranking_quality import roc_auc
from abae.proxy.store_pipeline import train_collection_proxy
from abae.query.plan import OracleCall
from abae.sampling import Estimate, estimate_uniform
from abae.scaleout.executor import Executor, LocalExecutor
from abae.store import Store, import_arrays
from abae.store.pilot_records import pilot_records
from abae.store.records import RecordCollection, list_collections


@dataclass(frozen=True)
class DemoOptions:
    """What ``abae demo`` runs.

    Args:
        dataset: ``"fashion"`` or ``"scenes"``.
        predicate: the query's predicate (``None``: the dataset's default, see
            :data:`abae.demo.builtin_datasets.PREDICATES`).
        records: records to import (``None``: the dataset's default).
        db: the store file; ``None``: a fresh temporary folder (kept, with the report).
        report_dir: where the PNG + HTML go (default: beside the store).
        budget: the query's ``ORACLE LIMIT`` (``None``: the dataset's default).
        pilot, epochs: proxy training (``None``: the dataset's defaults).
        seed: seeds the data subset, the pilot, training and sampling.
        oracle_latency_s: seconds each oracle call sleeps (the stand-in for cost).
        executor: where scoring and oracle calls run (default in process).
        progress: show progress bars.
    """

    dataset: str = "fashion"
    predicate: str | None = None
    records: int | None = None
    db: Path | None = None
    report_dir: Path | None = None
    budget: int | None = None
    pilot: int | None = None
    epochs: int | None = None
    seed: int = 0
    oracle_latency_s: float = 0.002
    executor: Executor | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.budget is not None and self.budget < 10:
            raise ValueError(f"the demo's budget must be at least 10 labels, got {self.budget}")
        if not self.oracle_latency_s >= 0:
            raise ValueError(f"oracle latency must be >= 0 s, got {self.oracle_latency_s}")


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo found.

    Attributes:
        dataset: the dataset's one-line description.
        sql: the query run.
        result: the engine's result.
        exact: the true answer over all records.
        uniform: uniform sampling with the same budget over the same records.
        proxy_auc: the proxy's AUC on every record it was not trained on.
        held_out_auc: its AUC on the held-out part of the pilot (what training saw).
        pilot_calls: oracle labels bought for the pilot (0 when the proxy existed).
        store: the store file; report: the PNG and HTML written.
        seconds: wall time per step and in total.
    """

    dataset: str
    sql: str
    result: QueryResult
    exact: float
    uniform: Estimate
    proxy_auc: float
    held_out_auc: float
    pilot_calls: int
    store: Path
    report: tuple[Path, Path]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def estimate(self) -> float:
        return self.result.aggregates[0].estimate

    @property
    def error(self) -> float:
        return self.estimate - self.exact


def _import(store: Store, data: DemoDataset, source: str) -> RecordCollection:
    if data.name in list_collections(store):
        with store.transaction() as con:
            row = con.execute(
                "SELECT source FROM abae_collections WHERE name = ?", [data.name]
            ).fetchone()
        if row is None or row[0] != source:
            raise AbaeError(
                f"store {store.path} already has a collection {data.name!r} from another "
                f"source ({row[0] if row else '?'}); use another --db or the same --limit, --seed and --predicate"
            )
        return RecordCollection(store, data.name)
    return import_arrays(
        store, data.name, images=data.references, image_arrays=data.images, source=source
    )


def run_demo(options: DemoOptions, on_progress: ProgressHandler | None = None) -> DemoOutcome:
    """Run the main job; see the module docstring. Returns what it found."""
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    data = load_dataset(
        options.dataset, options.records, seed=options.seed, predicate=options.predicate
    )
    if options.db is None:
        folder = Path(tempfile.mkdtemp(prefix=f"abae-demo-{data.name}-"))
        db_path = folder / "demo.duckdb"
    else:
        db_path = Path(options.db)
    store = Store(db_path)
    source = f"abae demo: {data.description}, seed {options.seed}, {data.predicate_oracle}"
    collection = _import(store, data, source)
    seconds["load and import"] = time.perf_counter() - started

    step = time.perf_counter()
    executor = options.executor or LocalExecutor()
    oracles = data.oracles(options.oracle_latency_s)
    pilot_calls = 0
    held_out_auc = math.nan
    if PROXY_NAME not in collection.proxy_names():
        settings = dataclasses.replace(
            data.settings,
            pilot_size=options.pilot or data.settings.pilot_size,
            epochs=options.epochs or data.settings.epochs,
        )
        trained = train_collection_proxy(
            store,
            data.name,
            PROXY_NAME,
            oracles,
            predicate=OracleCall(data.predicate_oracle, ("image",)),
            settings=settings,
            executor=executor,
            progress=options.progress,
        )
        pilot_calls = trained.pilot.calls
        held_out_auc = float(trained.proxy.metadata.get("held_out_auc", math.nan))
    seconds["pilot, train and score"] = time.perf_counter() - step

    step = time.perf_counter()
    budget = options.budget or data.budget
    sql = data.query(budget)
    engine = Engine(
        store,
        oracles,
        strata=data.strata,
        stage1_share=data.stage1_share,
        oracle_wrapper=executor.oracles,
    )
    result = engine.run(sql, seed=options.seed, on_progress=on_progress)
    seconds["query"] = time.perf_counter() - step

    step = time.perf_counter()
    unseen = _unseen_rows(store, data)
    scores = _scores(collection, len(data))
    uniform = _uniform(data, unseen, scores, budget, options.seed)
    proxy_auc = roc_auc(scores[unseen], data.predicate[unseen])
    from abae.report import write_report

    report = write_report(result, options.report_dir or db_path.parent / "report")
    seconds["baseline and report"] = time.perf_counter() - step
    seconds["total"] = time.perf_counter() - started
    return DemoOutcome(
        dataset=data.description,
        sql=sql,
        result=result,
        exact=data.exact_answer(),
        uniform=uniform,
        proxy_auc=proxy_auc,
        held_out_auc=held_out_auc,
        pilot_calls=pilot_calls,
        store=db_path,
        report=report,
        seconds=seconds,
    )


def _unseen_rows(store: Store, data: DemoDataset) -> np.ndarray:
    """Rows (= record ids) the proxy was not trained on: the population the query samples."""
    pilot = pilot_records(store, data.name, [PROXY_NAME])
    return np.setdiff1d(np.arange(len(data), dtype=np.int64), pilot)


def _scores(collection: RecordCollection, count: int) -> np.ndarray:
    scores = np.full(count, np.nan)
    for batch in collection.iter_batches(batch_size=65536, columns=[PROXY_NAME]):
        scores[batch.ids] = batch.columns[PROXY_NAME].astype(np.float64)
    return scores


def _uniform(
    data: DemoDataset, rows: np.ndarray, scores: np.ndarray, budget: int, seed: int
) -> Estimate:
    """Uniform sampling, same budget, same records, answered from the ground truth."""

    def oracle(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        picked = rows[indices]
        return data.predicate[picked], data.statistic[picked]

    return estimate_uniform(
        scores[rows], oracle, budget, aggregate="avg", rng=np.random.default_rng(seed)
    )


def format_outcome(outcome: DemoOutcome) -> str:
    """The demo's printout: estimate, interval, exact answer, error, spend, uniform baseline."""
    result = outcome.result
    aggregate = result.aggregates[0]
    uniform = outcome.uniform
    lines = [
        outcome.dataset,
        f"query: {outcome.sql}",
        f"proxy: AFNO, AUC {outcome.proxy_auc:.3f} on the {result.population:,} records it did "
        f"not train on"
        + (
            f" (held-out pilot AUC {outcome.held_out_auc:.3f})"
            if not math.isnan(outcome.held_out_auc)
            else ""
        ),
        f"ABae estimate:   {aggregate.estimate:.5g}  ({result.confidence:.0%} CI "
        f"[{aggregate.ci_low:.5g}, {aggregate.ci_high:.5g}], {result.ci_method})",
        f"exact answer:    {outcome.exact:.5g}  (error {outcome.error:+.3g}, "
        f"{abs(outcome.error) / abs(outcome.exact):.2%})",
        f"uniform, same budget: {uniform.estimate:.5g}  (CI [{uniform.ci_low:.5g}, "
        f"{uniform.ci_high:.5g}], error {uniform.estimate - outcome.exact:+.3g})",
        f"oracle calls: {result.calls_spent} for the query (ORACLE LIMIT {result.budget}), "
        f"{outcome.pilot_calls} for the proxy's pilot",
        f"store: {outcome.store}",
        f"report: {outcome.report[0]}  {outcome.report[1]}",
        "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in outcome.seconds.items()),
    ]
    lines.extend(f"warning: {w}" for w in result.warnings)
    return "\n".join(lines)
