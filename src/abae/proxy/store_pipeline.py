"""Proxies for stored collections: pretrain → pilot → select → checkpoint → score column.

The Python API behind ``abae proxy train``, ``abae proxy score`` and
``abae query --train-proxy``:

- :func:`train_collection_proxy`:

  1. takes the collection's pretrained backbone from the cache beside the
     store, or pretrains it now by masked inpainting on the collection's own
     images (no oracle call; :mod:`abae.proxy.backbone`);
  2. buys pilot labels for uniformly drawn records through the oracle runtime
     and the ledger, in one go (``pilot_size=N``) or in growing rounds until the
     cross-validated AUC stops improving (``pilot_size="auto"``); labels of
     earlier rounds (and runs) are reused for free, and a pilot that got fewer
     labels than asked is an error unless accepted explicitly;
  3. chooses the proxy by cross-validated AUC among the candidates
     (:mod:`abae.proxy.selection`): the fine-tuned AFNO network, a linear probe
     on its pretrained features, logistic regression on downsampled pixels;
  4. saves the checkpoint, scores every record into the proxy column, records
     the pilot with each record's cross-fitted score (``abae_proxy_pilots``) and
     the proxy's entry in the catalog (``abae_proxy_catalog``: candidate, AUC,
     pilot size, calls, cost, uses);

- :func:`score_collection` scores every record with any proxy checkpoint;
- :class:`QueryProxyTrainer` is the engine's ``--train-proxy`` hook: it trains
  within the query's budget and reports what the pilot spent.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from abae.engine.proxy_requests import ProxyTrainingRequest
from abae.errors import AbaeError
from abae.oracles.registry import OracleRegistry
from abae.proxy.backbone import (
    PretrainedBackbone,
    collection_backbone,
    collection_ids,
    proxies_folder,
)
from abae.proxy.batch_scorer import ProxyBatchScorer
from abae.proxy.checkpoint import ProxyCheckpointError, load_proxy, save_proxy
from abae.proxy.image_spec import ImageSpec
from abae.proxy.pilot_labels import PilotLabels, label_pilot, pilot_order, pilot_query_id
from abae.proxy.pilot_rounds import PilotRound, grow_pilot, say
from abae.proxy.pilot_scores import align_to_scores
from abae.proxy.record_images import read_collection_images, spec_of_collection
from abae.proxy.selection import ProxySelection
from abae.proxy.trained_proxy import Proxy
from abae.proxy.training import train_proxy
from abae.proxy.training_settings import AUTO, PilotSize, ProxyTrainingSettings
from abae.query.plan import OracleCall
from abae.scaleout.executor import Executor, LocalExecutor
from abae.store.connection import Store
from abae.store.ledger import LabelLedger
from abae.store.pilot_records import record_pilot
from abae.store.proxy_catalog import ProxyEntry, record_proxy
from abae.store.records import RecordCollection

__all__ = [
    "AUTO",
    "DEFAULT_SCORE_BATCH",
    "PilotRound",
    "PilotSize",
    "ProxyTrainingSettings",
    "QueryProxyTrainer",
    "TrainedCollectionProxy",
    "proxy_checkpoint_path",
    "score_collection",
    "train_collection_proxy",
]

DEFAULT_SCORE_BATCH = 256
"""Records per scoring batch (the unit an executor runs)."""


@dataclass(frozen=True)
class TrainedCollectionProxy:
    """What :func:`train_collection_proxy` made.

    Attributes:
        proxy: the chosen classifier (or, with no predicate oracle, the regressor).
        checkpoint: where it is saved.
        pilot: the pilot labels it was trained on (the last round's).
        selection: the selection (candidates' AUCs, out-of-fold scores); None
            for a regressor-only proxy.
        pilot_ids: int64 ``(m,)`` the pilot records, sorted.
        pilot_scores: float64 ``(m,)`` their cross-fitted scores on the scale of
            the proxy's score column (NaN for a regressor-only proxy).
        rounds: the pilot rounds (one unless ``pilot_size="auto"``).
        calls: oracle calls the pilot bought, all rounds (and the statistic's labels) together.
        spent: records the pilot claimed against its query id's budget in this
            call (calls and failed calls; labels reused from the ledger are free).
        cost: money the pilot's calls cost.
        backbone: the pretrained backbone used (None when no candidate needs one).
        warnings: what the user should know (weak proxy, smaller pilot, ...).
        regressor: the statistic regressor, when asked for (column ``<name>_statistic``).
        regressor_checkpoint: where that is saved.
    """

    proxy: Proxy
    checkpoint: Path
    pilot: PilotLabels
    selection: ProxySelection | None = None
    pilot_ids: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    pilot_scores: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    rounds: list[PilotRound] = field(default_factory=list)
    calls: int = 0
    spent: int = 0
    cost: float = 0.0
    backbone: PretrainedBackbone | None = None
    warnings: list[str] = field(default_factory=list)
    regressor: Proxy | None = None
    regressor_checkpoint: Path | None = None

    @property
    def candidate(self) -> str:
        """The chosen candidate (``"regressor"`` for a regressor-only proxy)."""
        return self.selection.chosen if self.selection is not None else "regressor"

    @property
    def cv_auc(self) -> float | None:
        """The chosen candidate's cross-validated AUC (None for a regressor-only proxy)."""
        return self.selection.cv_auc if self.selection is not None else None

    @property
    def weak(self) -> bool:
        """True when the engine should allocate as if there were no proxy."""
        return self.selection is not None and self.selection.weak


def proxy_checkpoint_path(store: Store, collection: str, name: str) -> Path:
    """``<db folder>/<db name>.proxies/<collection>/<name>.pt``: beside the database.

    The folder is created if needed.
    """
    return proxies_folder(store, collection) / f"{name}.pt"


def score_collection(
    store: Store,
    collection: str,
    proxy: Proxy | str | os.PathLike[str],
    *,
    name: str | None = None,
    executor: Executor | None = None,
    batch_size: int = DEFAULT_SCORE_BATCH,
    progress: bool = True,
) -> NDArray[np.float64]:
    """Score every record of ``collection`` and store the scores as proxy column ``name``.

    Args:
        proxy: a :class:`Proxy`, or the path of a proxy checkpoint (one trained
            elsewhere works: the checkpoint carries the network, the image spec and
            the calibration).
        name: the score column (default: the proxy's name).
        executor: where batches are scored (default in process).
        batch_size: records per batch.

    Returns:
        float64 ``(N,)`` scores in record-id order.

    Raises:
        abae.proxy.ImageInputError: a record the proxy cannot read (names it); no
            column is written then.
        abae.proxy.ProxyCheckpointError: a checkpoint that is not a proxy, or one for
            images of another size or mode than the records (names the file).
    """
    records = RecordCollection(store, collection)
    total = records.count()
    if total == 0:
        raise AbaeError(f"collection {collection!r} is empty: nothing to score")
    if not isinstance(proxy, Proxy):
        proxy = _load_for(records, proxy)
    column = name or proxy.name
    scorer = ProxyBatchScorer(proxy)
    ids, scores = (executor or LocalExecutor()).score(
        scorer,
        records.iter_batches(batch_size=batch_size),
        total=total,
        progress=progress,
        description=scorer.description,
    )
    description = f"{proxy.task} proxy {proxy.name} ({proxy.spec.describe()})"
    records.write_proxy_scores(column, ids, scores, description=description)
    return scores


def _load_for(records: RecordCollection, checkpoint: str | os.PathLike[str]) -> Proxy:
    """Load a proxy checkpoint and check it reads images of the records' size and mode."""
    proxy = load_proxy(checkpoint)
    found = spec_of_collection(records)
    if (found.height, found.width, found.channels) != (
        proxy.spec.height,
        proxy.spec.width,
        proxy.spec.channels,
    ):
        raise ProxyCheckpointError(
            f"proxy checkpoint {checkpoint} reads {proxy.spec.describe()} images, but the "
            f"records of {records.name!r} are {found.describe()}; train a proxy on these "
            f"records with `abae proxy train {records.name}`"
        )
    return proxy


def train_collection_proxy(
    store: Store,
    collection: str,
    name: str,
    oracles: OracleRegistry,
    *,
    predicate: OracleCall | None,
    statistic: OracleCall | None = None,
    settings: ProxyTrainingSettings | None = None,
    query_id: str | None = None,
    budget: int | None = None,
    max_pilot: int | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> TrainedCollectionProxy:
    """Pretrain (or reuse) the backbone, label a pilot, choose and calibrate a proxy,
    save it, score every record, record the pilot's cross-fitted scores and the catalog entry.

    Args:
        name: the proxy (and score column) name, e.g. ``"afno_proxy"``.
        predicate: the oracle call a classifier learns, e.g. ``is_footwear(image)``;
            ``None`` trains only a regressor for ``statistic``.
        statistic: the statistic oracle call (labelled on the pilot only when a
            regressor is trained).
        settings: see :class:`ProxyTrainingSettings`.
        query_id: the ledger id the pilot is charged to (default ``pilot:<name>``).
        budget: most records that id may claim in all (default
            ``settings.pilot_budget``, else the largest pilot asked for).
        max_pilot: most pilot labels (e.g. a share of a query's ``ORACLE LIMIT``);
            default: the pilot size asked for.
        executor: where scoring and oracle calls run (default in process).
        progress: show progress bars.
        log: called with one line per step worth telling the user (rounds, choice).

    Raises:
        AbaeError: no oracle to learn, an empty collection, too small a pilot
            (:class:`~abae.proxy.cross_validation.PilotTooSmallError`), or a pilot
            with fewer labels than asked
            (:class:`~abae.proxy.pilot_labels.PilotShortfallError`);
            abae.proxy.ImageInputError for unreadable images.
    """
    settings = settings or ProxyTrainingSettings()
    run_on = executor or LocalExecutor()
    if predicate is None and statistic is None:
        raise AbaeError(f"proxy {name!r} needs a predicate or a statistic oracle to learn")
    records = RecordCollection(store, collection)
    spec = spec_of_collection(records)
    charged_to = query_id or pilot_query_id(name)
    largest = settings.max_pilot if settings.pilot_size == AUTO else int(settings.pilot_size)
    cap = min(largest, max_pilot) if max_pilot is not None else largest
    budget = budget if budget is not None else (settings.pilot_budget or cap)
    ledger = LabelLedger(store, collection)
    spent_before = ledger.spent(charged_to)
    registry = run_on.oracles(oracles)
    if predicate is None:
        assert statistic is not None
        return _train_regressor_only(
            store, collection, name, registry, statistic, settings, spec, charged_to, budget,
            cap, run_on, progress, ledger, spent_before,
        )  # fmt: skip
    backbone = None
    if settings.needs_backbone():
        backbone = collection_backbone(
            store,
            collection,
            spec,
            network=settings.network,
            pretraining=settings.pretraining,
            progress=progress,
        )
        say(
            log,
            f"backbone: {'reused from' if backbone.reused else 'pretrained and saved to'} "
            f"{backbone.path} ({backbone.images} images, {backbone.seconds:.1f} s of pretraining)",
        )
    grown = grow_pilot(
        store, collection, name, registry, predicate, settings, cap=cap, query_id=charged_to,
        budget=budget, backbone=backbone, spec=spec, log=log, progress=progress,
    )  # fmt: skip
    pilot, selection, rounds = grown.pilot, grown.selection, grown.rounds
    calls, cost = grown.calls, grown.cost
    warnings = [*grown.warnings, *selection.warnings]
    proxy = selection.proxy
    proxy.metadata.update(
        {
            "pilot_calls": calls,
            "pilot_cost": cost,
            "pilot_requested": settings.pilot_size,
            "pilot_rounds": [dataclasses.asdict(r) for r in rounds],
            "oracle": str(predicate),
            "warnings": warnings,
            "backbone": None
            if backbone is None
            else {"key": backbone.key, "file": backbone.path.name, "images": backbone.images},
        }
    )
    checkpoint = save_proxy(proxy_checkpoint_path(store, collection, name), proxy)
    scores = score_collection(store, collection, proxy, executor=run_on, progress=progress)
    record_ids = collection_ids(store, collection)
    others = np.isin(record_ids, pilot.ids, invert=True)
    pilot_scores = align_to_scores(selection.out_of_fold_scores, scores[others])
    record_pilot(store, collection, name, pilot.ids, pilot_scores)
    spent = ledger.spent(charged_to) - spent_before
    regressor, regressor_path = None, None
    if statistic is not None and settings.regress_statistic:
        regressor, regressor_path, statistic_pilot = _train_regressor(
            store, collection, f"{name}_statistic", registry, statistic, settings, pilot.ids,
            spec, charged_to, budget, run_on, progress,
        )  # fmt: skip
        spent = ledger.spent(charged_to) - spent_before
        calls, cost = calls + statistic_pilot.calls, cost + statistic_pilot.money
    record_proxy(
        store,
        ProxyEntry(
            collection=collection,
            proxy=name,
            candidate=selection.chosen,
            cv_auc=selection.cv_auc,
            pilot_size=int(pilot.ids.size),
            pilot_calls=int(proxy.metadata["pilot_calls"]),
            cost=float(proxy.metadata["pilot_cost"]),
            warning="; ".join(warnings) or None,
            checkpoint=str(checkpoint),
        ),
    )
    return TrainedCollectionProxy(
        proxy=proxy,
        checkpoint=checkpoint,
        pilot=pilot,
        selection=selection,
        pilot_ids=pilot.ids,
        pilot_scores=pilot_scores,
        rounds=rounds,
        calls=calls,
        spent=spent,
        cost=cost,
        backbone=backbone,
        warnings=warnings,
        regressor=regressor,
        regressor_checkpoint=regressor_path,
    )


def _train_regressor(
    store: Store,
    collection: str,
    name: str,
    oracles: OracleRegistry,
    statistic: OracleCall,
    settings: ProxyTrainingSettings,
    record_ids: NDArray[np.int64],
    spec: ImageSpec,
    query_id: str,
    budget: int,
    executor: Executor,
    progress: bool,
) -> tuple[Proxy, Path, PilotLabels]:
    """Label ``record_ids`` with the statistic, fit a regressor on them, save it, score
    every record into column ``name`` and record its pilot and catalog entry."""
    labelled = label_pilot(
        store, collection, oracles, record_ids, predicate=None, statistic=statistic,
        query_id=query_id, budget=budget, seed=settings.seed,
    )  # fmt: skip
    labelled.check_complete(accept_smaller=settings.accept_smaller_pilot)
    images = read_collection_images(RecordCollection(store, collection), labelled.ids, spec)
    regressor = _fit_regressor(images, labelled, settings, name, progress)
    path = save_proxy(proxy_checkpoint_path(store, collection, name), regressor)
    score_collection(store, collection, regressor, executor=executor, progress=progress)
    record_pilot(store, collection, name, labelled.ids)
    record_proxy(
        store,
        ProxyEntry(
            collection, name, "regressor", None, int(labelled.ids.size), labelled.calls,
            labelled.money, checkpoint=str(path),
        ),
    )  # fmt: skip
    return regressor, path, labelled


def _fit_regressor(
    images: NDArray[np.uint8],
    labelled: PilotLabels,
    settings: ProxyTrainingSettings,
    name: str,
    progress: bool,
) -> Proxy:
    regressor = train_proxy(
        images,
        labelled.statistic,
        task="regress",
        name=name,
        mixer=settings.mixer,
        patch_size=settings.patch_size,
        model_kwargs=settings.model_kwargs,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        calibration_share=settings.calibration_share,
        seed=settings.seed,
        progress=progress,
    )
    regressor.metadata["pilot_calls"] = labelled.calls
    return regressor


def _train_regressor_only(
    store: Store,
    collection: str,
    name: str,
    oracles: OracleRegistry,
    statistic: OracleCall,
    settings: ProxyTrainingSettings,
    spec: ImageSpec,
    query_id: str,
    budget: int,
    cap: int,
    executor: Executor,
    progress: bool,
    ledger: LabelLedger,
    spent_before: int,
) -> TrainedCollectionProxy:
    """A proxy for a statistic alone (no predicate): one pilot, one regressor, no selection."""
    order = pilot_order(store, collection, np.random.default_rng(settings.seed))
    size = settings.round_sizes(min(cap, order.size))[-1]
    regressor, path, labelled = _train_regressor(
        store, collection, name, oracles, statistic, settings, np.sort(order[:size]), spec,
        query_id, budget, executor, progress,
    )  # fmt: skip
    return TrainedCollectionProxy(
        proxy=regressor,
        checkpoint=path,
        pilot=labelled,
        pilot_ids=labelled.ids,
        pilot_scores=np.full(labelled.ids.size, np.nan),
        rounds=[PilotRound(size, int(labelled.ids.size), 0, None, "regressor")],
        calls=labelled.calls,
        spent=ledger.spent(query_id) - spent_before,
        cost=labelled.money,
    )


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class QueryProxyTrainer:
    """The engine's ``--train-proxy`` hook: trains the missing proxy on a pilot that is
    charged to the query and takes at most ``max_pilot_share`` of its ``ORACLE LIMIT``.

    After each call, :attr:`trained` ends with what was made, and :attr:`pilot_spent`
    holds what the pilot claimed against the query's budget: plan the stratified
    sample on ``budget - pilot_spent`` (the ledger's ``spent(query_id)`` says the same).

    Args:
        settings: training settings (``pilot_size`` is capped by the budget share;
            ``"auto"`` grows the pilot in rounds up to that cap).
        max_pilot_share: most of the query's budget the pilot may spend.
        executor: where scoring and oracle calls run.
        progress: show progress bars.
        log: called with one line per training step (default: stderr).
    """

    def __init__(
        self,
        settings: ProxyTrainingSettings | None = None,
        *,
        max_pilot_share: float = 0.5,
        executor: Executor | None = None,
        progress: bool = True,
        log: Callable[[str], None] | None = _stderr,
    ) -> None:
        if not 0.0 < max_pilot_share < 1.0:
            raise ValueError(f"max_pilot_share must be in (0, 1), got {max_pilot_share}")
        self.settings = settings or ProxyTrainingSettings(pilot_size=AUTO)
        self.max_pilot_share = max_pilot_share
        self.executor = executor
        self.progress = progress
        self.log = log
        self.trained: list[TrainedCollectionProxy] = []

    @property
    def pilot_spent(self) -> int:
        """Records the pilots trained so far claimed against their queries' budgets."""
        return sum(t.spent for t in self.trained)

    def __call__(self, request: ProxyTrainingRequest) -> TrainedCollectionProxy:
        if request.predicate is None:
            raise AbaeError(
                f"--train-proxy: the query has no oracle predicate in WHERE for proxy "
                f"{request.proxy!r} to learn; train it with `abae proxy train` instead"
            )
        cap = int(request.budget * self.max_pilot_share)
        if cap < 4:
            raise AbaeError(
                f"--train-proxy: ORACLE LIMIT {request.budget} leaves {cap} labels for a pilot; "
                "raise the limit or train the proxy first with `abae proxy train`"
            )
        trained = train_collection_proxy(
            request.store,
            request.collection,
            request.proxy,
            request.oracles,
            predicate=request.predicate,
            statistic=request.statistic,
            settings=self.settings,
            query_id=request.query_id,
            budget=request.budget,
            max_pilot=cap,
            executor=self.executor,
            progress=self.progress,
            log=self.log,
        )
        self.trained.append(trained)
        return trained
