"""The main job, ``abae demo``: import, train the proxy, query, compare at equal spend, report.

Steps (each timed):

1. import a built-in dataset into a store (a fresh temporary one, or ``db``);
   a store that already holds the demo's collection is reused as it is;
2. train the proxy (:func:`abae.proxy.store_pipeline.train_collection_proxy`):
   the AFNO backbone is pretrained on the collection's images (or taken from
   the cache beside the store), a pilot of oracle labels is grown in rounds
   (``pilot="auto"``) and the candidate with the best cross-validated AUC is
   chosen; every record is scored. Skipped when the store has the proxy already
   (a second run on the same ``db`` reuses the backbone, the proxy and every label);
3. run ``SELECT AVG(stat(image)) FROM ... WHERE pred(image) ORACLE LIMIT B
   USING afno_proxy WITH PROBABILITY 0.95`` through the engine over **all**
   records: the pilot's records are a census stratum (their predicate labels
   are reused from the ledger; the statistic of each pilot positive is bought
   within ``B``), the rest is sampled by ABae;
4. compare with the exact answer (the dataset's ground truth) and with uniform
   sampling at the **same total spend** (pilot labels + the query's records
   charged) over the same records;
5. write the report (PNG + HTML).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from abae.demo.builtin_datasets import PROXY_NAME, DemoDataset, load_dataset
from abae.engine import Engine, QueryResult
from abae.engine.engine import ProgressHandler
from abae.errors import AbaeError
from abae.oracles.registry import OracleRegistry
from abae.proxy.ranking_quality import roc_auc
from abae.proxy.store_pipeline import AUTO, PilotSize, train_collection_proxy
from abae.query.plan import OracleCall
from abae.sampling import Estimate, estimate_uniform
from abae.scaleout.executor import Executor, LocalExecutor
from abae.store import Store, import_arrays
from abae.store.pilot_records import pilot_records
from abae.store.proxy_catalog import proxy_entry
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
        pilot: pilot labels, or ``"auto"`` (grow in rounds until the
            cross-validated AUC stops improving); ``None``: the dataset's default.
        epochs: most fine-tuning epochs of the network candidates (``None``: default).
        pretrain_epochs: epochs of the backbone's masked-inpainting pretraining
            (``None``: the dataset's default).
        seed: seeds the data subset, the pilot, training and sampling.
        oracle_latency_s: seconds each oracle call sleeps (the stand-in for cost).
        executor: where scoring and oracle calls run (default in process).
        progress: show progress bars and the training steps (on stderr).
    """

    dataset: str = "fashion"
    predicate: str | None = None
    records: int | None = None
    db: Path | None = None
    report_dir: Path | None = None
    budget: int | None = None
    pilot: PilotSize | None = None
    epochs: int | None = None
    pretrain_epochs: int | None = None
    seed: int = 0
    oracle_latency_s: float = 0.002
    executor: Executor | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.budget is not None and self.budget < 10:
            raise ValueError(f"the demo's budget must be at least 10 labels, got {self.budget}")
        if self.pilot not in (None, AUTO) and (not isinstance(self.pilot, int) or self.pilot < 4):
            raise ValueError(f"the pilot must be 'auto' or at least 4 labels, got {self.pilot!r}")
        for name in ("epochs", "pretrain_epochs"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if not self.oracle_latency_s >= 0:
            raise ValueError(f"oracle latency must be >= 0 s, got {self.oracle_latency_s}")


@dataclass(frozen=True)
class TrainingFacts:
    """What training the proxy in this run did (the defaults: it was not trained now).

    Attributes:
        candidate_aucs: every candidate's cross-validated AUC.
        bought_now: pilot labels bought (labels already in the ledger are free).
        rounds: pilot size after each round.
        backbone: ``"pretrained"`` (now, then cached), ``"cached"`` (reused),
            ``"none"`` (no candidate needed one) or ``""`` (not trained now).
        pretrain_seconds: wall time of the pretraining (0 when cached).
        warnings: what the pipeline warned about (weak proxy, smaller pilot, ...).
    """

    candidate_aucs: dict[str, float] = field(default_factory=dict)
    bought_now: int = 0
    rounds: list[int] = field(default_factory=list)
    backbone: str = ""
    pretrain_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProxyFacts:
    """The proxy the query ranked by, and what it cost.

    Attributes:
        candidate: the model the selection chose (e.g. ``"pixels_logistic"``).
        cv_auc: its cross-validated AUC on the pilot (from the store's catalog).
        pilot_labels: pilot records the proxy was trained on: labels paid for, by
            this run or an earlier one (the pilot's spend in the comparison).
        trained_now: whether this run trained it (else it came from the store).
        unseen_auc: the proxy's AUC against the truth on every record outside its pilot.
        training: what this run's training did.
    """

    candidate: str
    cv_auc: float
    pilot_labels: int
    trained_now: bool
    unseen_auc: float
    training: TrainingFacts


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo found.

    Attributes:
        dataset: the dataset's one-line description.
        records: records in the collection (all of them are the query's population).
        sql: the query run.
        result: the engine's result.
        exact: the true answer over all records.
        proxy: the proxy and its pilot.
        uniform: uniform sampling of ``uniform_records`` records drawn from all
            records, answered from the ground truth.
        uniform_records: the uniform baseline's records: the pilot's labels plus
            the query's records charged (the same total spend as ABae).
        store: the store file; report: the PNG and HTML written.
        seconds: wall time per step and in total.
    """

    dataset: str
    records: int
    sql: str
    result: QueryResult
    exact: float
    proxy: ProxyFacts
    uniform: Estimate
    uniform_records: int
    store: Path
    report: tuple[Path, Path]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def estimate(self) -> float:
        return self.result.aggregates[0].estimate

    @property
    def error(self) -> float:
        return self.estimate - self.exact

    @property
    def pilot_spend(self) -> int:
        """Oracle labels the proxy's pilot rests on (records, one predicate label each)."""
        return self.proxy.pilot_labels

    @property
    def query_spend(self) -> int:
        """Records the query charged over all its runs (census statistics and sample)."""
        return self.result.calls_spent_total

    @property
    def total_spend(self) -> int:
        return self.pilot_spend + self.query_spend


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


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    trained_now = PROXY_NAME not in collection.proxy_names()
    training = TrainingFacts()
    if trained_now:
        training = _train(store, data, options, oracles, executor)
        if training.pretrain_seconds:
            seconds["backbone pretraining"] = training.pretrain_seconds
        seconds["pilot, selection and scoring"] = (
            time.perf_counter() - step - training.pretrain_seconds
        )
    else:
        seconds["proxy (reused from the store)"] = time.perf_counter() - step

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
    proxy = _proxy_facts(store, collection, data, trained_now, training)
    uniform_records = proxy.pilot_labels + result.calls_spent_total
    uniform = _uniform(data, uniform_records, options.seed)
    from abae.report import write_report

    report = write_report(result, options.report_dir or db_path.parent / "report")
    seconds["baseline and report"] = time.perf_counter() - step
    seconds["total"] = time.perf_counter() - started
    return DemoOutcome(
        dataset=data.description,
        records=len(data),
        sql=sql,
        result=result,
        exact=data.exact_answer(),
        proxy=proxy,
        uniform=uniform,
        uniform_records=uniform_records,
        store=db_path,
        report=report,
        seconds=seconds,
    )


def _train(
    store: Store,
    data: DemoDataset,
    options: DemoOptions,
    oracles: OracleRegistry,
    executor: Executor,
) -> TrainingFacts:
    """Train the demo's proxy with the dataset's settings as ``options`` change them."""
    settings = data.settings
    pilot = settings.pilot_size if options.pilot is None else options.pilot
    settings = dataclasses.replace(
        settings,
        pilot_size=pilot,
        max_pilot=settings.max_pilot if pilot == AUTO else max(settings.max_pilot, int(pilot)),
        epochs=options.epochs or settings.epochs,
        pretraining=dataclasses.replace(
            settings.pretraining, epochs=options.pretrain_epochs or settings.pretraining.epochs
        ),
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
        log=_stderr if options.progress else None,
    )
    backbone = trained.backbone
    selection = trained.selection
    aucs = {} if selection is None else {n: r.auc for n, r in selection.results.items()}
    return TrainingFacts(
        candidate_aucs=aucs,
        bought_now=trained.calls,
        rounds=[r.labels for r in trained.rounds],
        backbone="none" if backbone is None else "cached" if backbone.reused else "pretrained",
        pretrain_seconds=0.0 if backbone is None or backbone.reused else backbone.seconds,
        warnings=list(trained.warnings),
    )


def _proxy_facts(
    store: Store,
    collection: RecordCollection,
    data: DemoDataset,
    trained_now: bool,
    training: TrainingFacts,
) -> ProxyFacts:
    """The catalog's entry of the demo's proxy, its pilot, and its AUC outside the pilot."""
    entry = proxy_entry(store, data.name, PROXY_NAME)
    if entry is None:
        raise AbaeError(
            f"store {store.path} has a score column {PROXY_NAME!r} for {data.name!r} but no "
            "catalog entry (it was not trained by the proxy pipeline); use another --db"
        )
    pilot = pilot_records(store, data.name, [PROXY_NAME])
    unseen = np.setdiff1d(np.arange(len(data), dtype=np.int64), pilot)
    scores = _scores(collection, len(data))
    return ProxyFacts(
        candidate=entry.candidate,
        cv_auc=math.nan if entry.cv_auc is None else float(entry.cv_auc),
        pilot_labels=int(pilot.size),
        trained_now=trained_now,
        unseen_auc=roc_auc(scores[unseen], data.predicate[unseen]),
        training=training,
    )


def _scores(collection: RecordCollection, count: int) -> NDArray[np.float64]:
    scores = np.full(count, np.nan)
    for batch in collection.iter_batches(batch_size=65536, columns=[PROXY_NAME]):
        scores[batch.ids] = batch.columns[PROXY_NAME].astype(np.float64)
    return scores


def _uniform(data: DemoDataset, records: int, seed: int) -> Estimate:
    """Uniform sampling of ``records`` records drawn from all of them, answered from the truth."""

    def oracle(indices: NDArray[np.int64]) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
        return data.predicate[indices], data.statistic[indices]

    return estimate_uniform(len(data), oracle, records, aggregate="avg", rng=seed)


def format_outcome(outcome: DemoOutcome) -> str:
    """The demo's printout: the proxy, the spend, ABae against uniform at the same total spend."""
    result = outcome.result
    aggregate = result.aggregates[0]
    proxy = outcome.proxy
    uniform = outcome.uniform
    census = result.census_labels
    census_statistics = result.calls_spent_total - result.sampling_records_charged
    lines = [
        outcome.dataset,
        f"query: {outcome.sql}",
        _proxy_line(proxy, outcome.records),
        _pilot_line(proxy),
        f"population: all {result.population:,} records = {census:,} pilot records (a census: "
        f"labels reused) + {result.population - census:,} sampled by ABae",
        f"spend (records labelled): pilot {outcome.pilot_spend:,} + query "
        f"{outcome.query_spend:,} ({census_statistics:,} statistics of pilot positives, "
        f"{result.sampling_records_charged:,} sampled; ORACLE LIMIT {result.budget:,}) "
        f"= {outcome.total_spend:,} in all",
        f"ABae estimate:          {aggregate.estimate:.5g}  ({result.confidence:.0%} CI "
        f"[{aggregate.ci_low:.5g}, {aggregate.ci_high:.5g}], ±{aggregate.half_width:.3g}, "
        f"{result.ci_method}; error {outcome.error:+.3g})",
        f"uniform, same spend:    {uniform.estimate:.5g}  ({result.confidence:.0%} CI "
        f"[{uniform.ci_low:.5g}, {uniform.ci_high:.5g}], ±{_half(uniform):.3g}; error "
        f"{uniform.estimate - outcome.exact:+.3g}; {outcome.uniform_records:,} records drawn "
        f"uniformly from all {outcome.records:,})",
        f"exact answer:           {outcome.exact:.5g}  (ABae off by "
        f"{abs(outcome.error) / abs(outcome.exact):.2%}, uniform by "
        f"{abs(uniform.estimate - outcome.exact) / abs(outcome.exact):.2%})",
        f"interval width, uniform / ABae at the same spend: "
        f"{_ratio(_half(uniform), aggregate.half_width)}",
        f"store: {outcome.store}",
        f"report: {outcome.report[0]}  {outcome.report[1]}",
        "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in outcome.seconds.items()),
    ]
    lines.extend(f"warning: {w}" for w in [*proxy.training.warnings, *result.warnings])
    return "\n".join(lines)


def _half(estimate: Estimate) -> float:
    return (estimate.ci_high - estimate.ci_low) / 2.0


def _ratio(numerator: float, denominator: float) -> str:
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator <= 0:
        return "n/a"
    return f"{numerator / denominator:.2f}×"


def _proxy_line(proxy: ProxyFacts, records: int) -> str:
    others = ", ".join(f"{n} {a:.3f}" for n, a in sorted(proxy.training.candidate_aucs.items()))
    aucs = f" ({others})" if others else " (from the store's catalog)"
    chosen = f"proxy: {proxy.candidate}, chosen by cross-validated AUC {proxy.cv_auc:.3f}{aucs}"
    return (
        f"{chosen}; AUC {proxy.unseen_auc:.3f} on the {records - proxy.pilot_labels:,} records "
        "outside its pilot"
    )


def _pilot_line(proxy: ProxyFacts) -> str:
    if not proxy.trained_now:
        return (
            f"pilot: {proxy.pilot_labels:,} labels, bought by an earlier run (0 bought now; "
            "backbone, proxy and labels reused from the store)"
        )
    rounds = " → ".join(f"{r:,}" for r in proxy.training.rounds)
    backbone = {
        "pretrained": f"backbone pretrained now ({proxy.training.pretrain_seconds:.1f} s, cached)",
        "cached": "backbone reused from the cache",
        "none": "no backbone needed",
    }[proxy.training.backbone]
    return (
        f"pilot: {proxy.pilot_labels:,} labels (rounds {rounds}), {proxy.training.bought_now:,} bought "
        f"now; {backbone}"
    )
