"""Proxies for stored collections: pilot → train → calibrate → checkpoint → score column.

The Python API behind ``abae proxy train`` and ``abae proxy score``:

- :func:`train_collection_proxy` buys pilot labels for uniformly drawn records
  (through the oracle runtime and the ledger), trains an AFNO classifier on
  their images (and optionally a regressor for the statistic), calibrates it,
  saves the checkpoint beside the database (:func:`proxy_checkpoint_path`),
  scores every record into a proxy column and records the pilot set, which
  queries ranked by this proxy then leave out (the proxy has seen those records);
- :func:`score_collection` scores every record with any proxy checkpoint, in
  batches with a progress bar, on an executor (in process or Ray);
- :class:`QueryProxyTrainer` is the engine's ``--train-proxy`` hook.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from abae.engine.proxy_requests import ProxyTrainingRequest
from abae.errors import AbaeError
from abae.oracles.registry import OracleRegistry
from abae.proxy.batch_scorer import ProxyBatchScorer
from abae.proxy.checkpoint import ProxyCheckpointError, load_proxy, save_proxy
from abae.proxy.image_spec import ImageSpec
from abae.proxy.pilot_labels import PilotLabels, draw_pilot, label_pilot, pilot_query_id
from abae.proxy.record_images import decode_record_images, spec_of_collection
from abae.proxy.trained_proxy import Proxy
from abae.proxy.training import train_proxy
from abae.query.plan import OracleCall
from abae.scaleout.executor import Executor, LocalExecutor
from abae.store.connection import Store
from abae.store.pilot_records import record_pilot
from abae.store.records import RecordBatch, RecordCollection

DEFAULT_SCORE_BATCH = 256
"""Records per scoring batch (the unit an executor runs)."""


@dataclass(frozen=True)
class ProxyTrainingSettings:
    """How to train a collection's proxy.

    Args:
        pilot_size: records to label uniformly at random (fewer if the collection
            is smaller; inside a query, at most half its ``ORACLE LIMIT``).
        epochs, lr, batch_size: training (AdamW, cosine schedule).
        patch_size: patch side; ``None``: :func:`abae.proxy.default_patch_size`.
        model_kwargs: :func:`afno.create_model` arguments over
            :data:`abae.proxy.training.PROXY_SIZE` (which max-pools the tokens).
        calibration_share: share of the pilot held out to calibrate and evaluate.
        regress_statistic: also train a regressor for the statistic oracle.
        seed: seeds the pilot draw, the split, the weights and the shuffling.
    """

    pilot_size: int = 1000
    epochs: int = 6
    lr: float = 5e-3
    batch_size: int = 64
    patch_size: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    calibration_share: float = 0.2
    regress_statistic: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.pilot_size < 4:
            raise ValueError(f"pilot_size must be at least 4 records, got {self.pilot_size}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")


@dataclass(frozen=True)
class TrainedCollectionProxy:
    """What :func:`train_collection_proxy` made.

    Attributes:
        proxy: the classifier (or, with no predicate oracle, the regressor).
        checkpoint: where it is saved.
        pilot: the pilot labels it was trained on.
        regressor: the statistic regressor, when asked for (column ``<name>_statistic``).
        regressor_checkpoint: where that is saved.
    """

    proxy: Proxy
    checkpoint: Path
    pilot: PilotLabels
    regressor: Proxy | None = None
    regressor_checkpoint: Path | None = None


def proxy_checkpoint_path(store: Store, collection: str, name: str) -> Path:
    """``<db folder>/<db name>.proxies/<collection>/<name>.pt``: beside the database.

    The folder is created if needed.
    """
    folder = store.path.parent / f"{store.path.name}.proxies" / collection
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.pt"


def _record_batches(
    collection: RecordCollection, ids: NDArray[np.int64] | None, batch_size: int
) -> Iterator[RecordBatch]:
    if ids is None:
        yield from collection.iter_batches(batch_size=batch_size)
        return
    for start in range(0, ids.size, batch_size):
        yield collection.fetch(ids[start : start + batch_size])


def read_collection_images(
    collection: RecordCollection, ids: NDArray[np.int64], spec: ImageSpec
) -> NDArray[np.uint8]:
    """Decoded uint8 images ``(n, H, W, C)`` of the records ``ids``, in that order."""
    out = np.empty((ids.size, spec.height, spec.width, spec.channels), dtype=np.uint8)
    position = 0
    for batch in _record_batches(collection, ids, DEFAULT_SCORE_BATCH):
        out[position : position + batch.ids.size] = decode_record_images(batch, spec)
        position += batch.ids.size
    return out


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
    executor: Executor | None = None,
    progress: bool = True,
) -> TrainedCollectionProxy:
    """Label a pilot, train and calibrate a proxy, save it, score every record.

    Args:
        name: the proxy (and score column) name, e.g. ``"afno_proxy"``.
        predicate: the oracle call a classifier learns, e.g. ``is_footwear(image)``;
            ``None`` trains only a regressor for ``statistic``.
        statistic: the statistic oracle call (labelled on the pilot only when a
            regressor is trained).
        query_id: the ledger id the pilot is charged to (default ``pilot:<name>``).
        budget: most records that id may claim (default: the pilot size).
        executor: where scoring and oracle calls run (default in process).

    Raises:
        AbaeError: no oracle to learn, an empty collection, or a pilot without
            both classes; abae.proxy.ImageInputError for unreadable images.
    """
    settings = settings or ProxyTrainingSettings()
    run_on = executor or LocalExecutor()
    if predicate is None and statistic is None:
        raise AbaeError(f"proxy {name!r} needs a predicate or a statistic oracle to learn")
    records = RecordCollection(store, collection)
    spec = spec_of_collection(records)
    rng = np.random.default_rng(settings.seed)
    ids = draw_pilot(records, settings.pilot_size, rng)
    regress = statistic is not None and (settings.regress_statistic or predicate is None)
    pilot = label_pilot(
        store,
        collection,
        run_on.oracles(oracles),
        ids,
        predicate=predicate,
        statistic=statistic if regress else None,
        query_id=query_id or pilot_query_id(name),
        budget=budget if budget is not None else int(ids.size),
        seed=settings.seed,
    )
    images = read_collection_images(records, pilot.ids, spec)
    common: dict[str, Any] = {
        "patch_size": settings.patch_size,
        "model_kwargs": settings.model_kwargs,
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "lr": settings.lr,
        "calibration_share": settings.calibration_share,
        "seed": settings.seed,
        "progress": progress,
    }
    regressor: Proxy | None = None
    regressor_path: Path | None = None
    if regress:
        regressor_name = name if predicate is None else f"{name}_statistic"
        regressor = train_proxy(
            images, pilot.statistic, task="regress", name=regressor_name, **common
        )
        regressor.metadata["pilot_calls"] = pilot.calls
        regressor_path = save_proxy(
            proxy_checkpoint_path(store, collection, regressor_name), regressor
        )
        score_collection(store, collection, regressor, executor=run_on, progress=progress)
        record_pilot(store, collection, regressor_name, pilot.ids)
    if predicate is None:
        assert regressor is not None
        assert regressor_path is not None
        return TrainedCollectionProxy(regressor, regressor_path, pilot)
    proxy = train_proxy(images, pilot.predicate, task="classify", name=name, **common)
    proxy.metadata["pilot_calls"] = pilot.calls
    proxy.metadata["oracle"] = str(predicate)
    checkpoint = save_proxy(proxy_checkpoint_path(store, collection, name), proxy)
    score_collection(store, collection, proxy, executor=run_on, progress=progress)
    record_pilot(store, collection, name, pilot.ids)
    return TrainedCollectionProxy(proxy, checkpoint, pilot, regressor, regressor_path)


class QueryProxyTrainer:
    """The engine's ``--train-proxy`` hook: trains the missing proxy on a pilot that is
    charged to the query and takes at most ``max_pilot_share`` of its ``ORACLE LIMIT``.

    Args:
        settings: training settings (their ``pilot_size`` is capped by the budget share).
        max_pilot_share: most of the query's budget the pilot may spend.
        executor: where scoring and oracle calls run.
        progress: show progress bars.
    """

    def __init__(
        self,
        settings: ProxyTrainingSettings | None = None,
        *,
        max_pilot_share: float = 0.5,
        executor: Executor | None = None,
        progress: bool = True,
    ) -> None:
        if not 0.0 < max_pilot_share < 1.0:
            raise ValueError(f"max_pilot_share must be in (0, 1), got {max_pilot_share}")
        self.settings = settings or ProxyTrainingSettings()
        self.max_pilot_share = max_pilot_share
        self.executor = executor
        self.progress = progress
        self.trained: list[TrainedCollectionProxy] = []

    def __call__(self, request: ProxyTrainingRequest) -> None:
        if request.predicate is None:
            raise AbaeError(
                f"--train-proxy: the query has no oracle predicate in WHERE for proxy "
                f"{request.proxy!r} to learn; train it with `abae proxy train` instead"
            )
        cap = int(request.budget * self.max_pilot_share)
        pilot_size = min(self.settings.pilot_size, cap)
        if pilot_size < 4:
            raise AbaeError(
                f"--train-proxy: ORACLE LIMIT {request.budget} leaves {cap} labels for a pilot; "
                "raise the limit or train the proxy first with `abae proxy train`"
            )
        settings = dataclasses.replace(self.settings, pilot_size=pilot_size)
        self.trained.append(
            train_collection_proxy(
                request.store,
                request.collection,
                request.proxy,
                request.oracles,
                predicate=request.predicate,
                statistic=request.statistic,
                settings=settings,
                query_id=request.query_id,
                budget=request.budget,
                executor=self.executor,
                progress=self.progress,
            )
        )
