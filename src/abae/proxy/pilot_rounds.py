"""Grow a pilot in rounds until the cross-validated AUC stops improving (``--pilot auto``).

Round ``k`` labels the first ``s_k`` records of one seeded random order of the
collection (:func:`abae.proxy.pilot_labels.pilot_order`), so every round
contains the previous one and buys only its new records; labels already in the
ledger (earlier rounds, earlier runs) are free. After each round the candidates
are cross-validated on the whole pilot so far; growth stops when the best
candidate's AUC gained less than ``min_auc_gain`` over the previous round's best,
or at the cap. The
last round's selection is the proxy: every label bought is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from abae.oracles.registry import OracleRegistry
from abae.proxy.backbone import PretrainedBackbone
from abae.proxy.cross_validation import PilotTooSmallError
from abae.proxy.image_spec import ImageSpec
from abae.proxy.pilot_labels import PilotLabels, label_pilot, pilot_order
from abae.proxy.record_images import read_collection_images
from abae.proxy.selection import ProxySelection, select_proxy
from abae.proxy.training_settings import AUTO, ProxyTrainingSettings
from abae.query.plan import OracleCall
from abae.store.connection import Store
from abae.store.records import RecordCollection


@dataclass(frozen=True)
class PilotRound:
    """One round of pilot growth: its size, labels and the selection's verdict."""

    asked: int
    labels: int
    positives: int
    cv_auc: float | None
    chosen: str | None
    note: str = ""


@dataclass(frozen=True)
class GrownPilot:
    """The last round's pilot and selection, every round, and what all rounds bought."""

    pilot: PilotLabels
    selection: ProxySelection
    rounds: list[PilotRound]
    calls: int
    cost: float
    warnings: list[str]


class _PilotImages:
    """Decoded pilot images, each record decoded once however many rounds ask for it."""

    def __init__(self, records: RecordCollection, spec: ImageSpec) -> None:
        self.records, self.spec = records, spec
        self.cache: dict[int, NDArray[np.uint8]] = {}

    def __call__(self, ids: NDArray[np.int64]) -> NDArray[np.uint8]:
        new = np.array([i for i in ids.tolist() if i not in self.cache], dtype=np.int64)
        if new.size:
            for record, image in zip(
                new.tolist(), read_collection_images(self.records, new, self.spec), strict=True
            ):
                self.cache[record] = image
        return np.stack([self.cache[i] for i in ids.tolist()])


def best_auc(selection: ProxySelection) -> float:
    """The best cross-validated AUC of any candidate (what the rounds try to raise)."""
    return max(result.auc for result in selection.results.values())


def say(log: Callable[[str], None] | None, message: str) -> None:
    if log is not None:
        log(message)


def grow_pilot(
    store: Store,
    collection: str,
    name: str,
    oracles: OracleRegistry,
    predicate: OracleCall,
    settings: ProxyTrainingSettings,
    *,
    cap: int,
    query_id: str,
    budget: int,
    backbone: PretrainedBackbone | None,
    spec: ImageSpec,
    log: Callable[[str], None] | None,
    progress: bool,
) -> GrownPilot:
    """Label pilots of growing size and select a proxy on each; the last round wins."""
    order = pilot_order(store, collection, np.random.default_rng(settings.seed))
    sizes = settings.round_sizes(min(cap, order.size))
    images = _PilotImages(RecordCollection(store, collection), spec)
    rounds: list[PilotRound] = []
    warnings: list[str] = []
    calls, cost = 0, 0.0
    best: tuple[PilotLabels, ProxySelection] | None = None
    for position, size in enumerate(sizes):
        last = position == len(sizes) - 1
        pilot = label_pilot(
            store,
            collection,
            oracles,
            np.sort(order[:size]),
            predicate=predicate,
            query_id=query_id,
            budget=budget,
            seed=settings.seed,
        )
        calls, cost = calls + pilot.calls, cost + pilot.money
        if pilot.shortfall:
            pilot.check_complete(accept_smaller=settings.accept_smaller_pilot)
            warnings.append(pilot.describe_shortfall())
            say(log, f"warning: {pilot.describe_shortfall()}")
        positives = int(pilot.predicate.sum())
        try:
            selection = select_proxy(
                images(pilot.ids),
                pilot.predicate,
                backbone=backbone.network if backbone is not None else None,
                network=settings.network,
                settings=settings.selection(),
                name=name,
                progress=progress,
            )
        except PilotTooSmallError as error:
            if last or settings.pilot_size != AUTO:
                raise
            rounds.append(PilotRound(size, pilot.ids.size, positives, None, None, str(error)))
            say(log, f"pilot round {size}: {positives} positives, too few to cross-validate")
            continue
        rounds.append(
            PilotRound(size, pilot.ids.size, positives, selection.cv_auc, selection.chosen)
        )
        say(
            log,
            f"pilot round {len(rounds)}: {pilot.ids.size} labels ({positives} positive), best "
            f"{selection.chosen} with cross-validated AUC {selection.cv_auc:.3f} "
            f"({', '.join(f'{k} {v.auc:.3f}' for k, v in selection.results.items())})",
        )
        previous = best_auc(best[1]) if best is not None else None
        best = (pilot, selection)
        gain = best_auc(selection) - previous if previous is not None else None
        if gain is not None and gain < settings.min_auc_gain:
            say(log, f"pilot: the best AUC gained {gain:+.3f}; stopping here")
            break
    assert best is not None
    return GrownPilot(best[0], best[1], rounds, calls, cost, warnings)
