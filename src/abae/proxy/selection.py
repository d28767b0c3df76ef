"""Choose the proxy by cross-validated AUC among candidates, and cross-fit the pilot's scores.

:func:`select_proxy` cross-validates each candidate of
:mod:`abae.proxy.candidates` on the same stratified folds of the pilot, picks
the one with the highest pooled out-of-fold AUC (among candidates within
:data:`TIE_MARGIN` of it, the cheapest), fits it on the whole pilot and
calibrates it (Platt scaling fitted on its out-of-fold logits, which no model
fitted on the whole pilot could provide honestly). What it returns:

- the calibrated :class:`~abae.proxy.trained_proxy.Proxy` of the chosen candidate,
  with its cross-validated AUC and every candidate's in ``proxy.metadata``;
- the *cross-fitted* pilot scores: each pilot record's calibrated out-of-fold
  score, from the fold model that never saw its label. The engine places pilot
  records in the strata by these scores to plan its allocation (the records
  themselves are a census stratum; see ``docs/proxies.md``);
- a warning when even the best AUC is below :data:`WEAK_AUC`: the engine should
  then allocate as if there were no proxy.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> images = rng.integers(0, 50, (60, 8, 8), dtype=np.uint8)
    >>> labels = np.arange(60) % 3 == 0
    >>> images[labels, :4] = 250                       # positives: bright top half
    >>> chosen = select_proxy(images, labels, candidates=("pixels_logistic",))
    >>> chosen.chosen, chosen.cv_auc, chosen.out_of_fold_scores.shape
    ('pixels_logistic', 1.0, (60,))
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from abae.proxy.backbone import ProxyNetwork
from abae.proxy.calibration import PlattCalibration
from abae.proxy.candidates import (
    Candidate,
    CrossValidated,
    FineTunedNetwork,
    FineTuning,
    LinearProbe,
    PilotImages,
    PixelLogistic,
)
from abae.proxy.cross_validation import fold_count, stratified_folds
from abae.proxy.image_spec import ImageSpec
from abae.proxy.trained_proxy import Proxy

CANDIDATE_NAMES = ("afno_finetuned", "afno_linear_probe", "pixels_logistic")
"""The candidates compared by default (all need the pretrained backbone but the last)."""
KNOWN_CANDIDATES = (*CANDIDATE_NAMES, "afno_scratch")
"""Every candidate :func:`select_proxy` can build (``afno_scratch``: the network from random weights)."""
SIMPLICITY = ("pixels_logistic", "afno_linear_probe", "afno_finetuned", "afno_scratch")
"""Candidates from the cheapest to train and score to the dearest: among candidates whose
cross-validated AUCs tie (within ``tie_margin``), the cheapest is chosen."""
TIE_MARGIN = 0.005
"""Cross-validated AUCs closer than this are a tie, broken by :data:`SIMPLICITY`."""
WEAK_AUC = 0.6
"""Below this cross-validated AUC a proxy ranks barely better than chance: allocate as if
there were none."""
_NEEDS_BACKBONE = frozenset({"afno_finetuned", "afno_linear_probe"})


@dataclass(frozen=True)
class SelectionSettings:
    """How :func:`select_proxy` chooses.

    Args:
        candidates: names from :data:`KNOWN_CANDIDATES`.
        folds: cross-validation folds (fewer when a class has fewer records).
        fine_tuning: how the network candidates train.
        weak_auc: below this best AUC the selection warns that the proxy is weak.
        tie_margin: candidates within this of the best AUC tie; the cheapest of
            them (:data:`SIMPLICITY`) is chosen.
        seed: seeds the folds, the new heads and every fit.
    """

    candidates: tuple[str, ...] = CANDIDATE_NAMES
    folds: int = 5
    fine_tuning: FineTuning = field(default_factory=FineTuning)
    weak_auc: float = WEAK_AUC
    tie_margin: float = TIE_MARGIN
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.candidates) - set(KNOWN_CANDIDATES))
        if unknown or not self.candidates:
            raise ValueError(
                f"candidates must be a non-empty subset of {KNOWN_CANDIDATES}, got "
                f"{self.candidates}"
            )
        if self.folds < 2:
            raise ValueError(f"folds must be at least 2, got {self.folds}")


@dataclass(frozen=True)
class ProxySelection:
    """What :func:`select_proxy` chose.

    Attributes:
        proxy: the chosen candidate fitted on the whole pilot, calibrated.
        chosen: its name.
        cv_auc: its cross-validated (pooled out-of-fold) AUC.
        results: every candidate's cross-validation, by name.
        out_of_fold_scores: float64 ``(n,)`` in pilot order: each record's
            calibrated score from the fold model that never saw its label.
        folds: the folds used.
        warnings: what the user should know (a weak proxy).
    """

    proxy: Proxy
    chosen: str
    cv_auc: float
    results: dict[str, CrossValidated]
    out_of_fold_scores: NDArray[np.float64]
    folds: int
    warnings: list[str]

    @property
    def weak(self) -> bool:
        """True when even the best candidate's AUC is below the weak threshold."""
        return any("allocate as if there were no proxy" in w for w in self.warnings)


def fresh_head(backbone: nn.Module, seed: int) -> nn.Module:
    """A copy of ``backbone`` whose one-output head is re-initialised from ``seed``."""
    network = copy.deepcopy(backbone)
    head: nn.Linear = network.head  # type: ignore[assignment]
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        head.weight.copy_(0.02 * torch.randn(head.weight.shape, generator=generator))
        head.bias.zero_()
    return network.train()


def build_candidates(
    names: Sequence[str],
    spec: ImageSpec,
    *,
    backbone: nn.Module | None,
    network: ProxyNetwork,
    fine_tuning: FineTuning,
    seed: int,
    progress: bool = False,
) -> list[Candidate]:
    """The candidates ``names``, in that order.

    Raises:
        ValueError: a candidate needs the pretrained backbone and none was given.
    """
    missing = sorted(set(names) & _NEEDS_BACKBONE) if backbone is None else []
    if missing:
        raise ValueError(
            f"candidates {missing} start from a pretrained backbone; pass backbone= "
            "(abae.proxy.backbone.collection_backbone) or choose other candidates"
        )
    built: list[Candidate] = []
    for name in names:
        if name == "afno_finetuned":
            assert backbone is not None
            initial = fresh_head(backbone, seed)
            built.append(FineTunedNetwork(name, initial, fine_tuning, progress=progress))
        elif name == "afno_scratch":
            initial = network.build(spec, seed=seed).train()
            built.append(FineTunedNetwork(name, initial, fine_tuning, progress=progress))
        elif name == "afno_linear_probe":
            assert backbone is not None
            built.append(LinearProbe(backbone))
        elif name == "pixels_logistic":
            built.append(PixelLogistic())
        else:
            raise ValueError(f"unknown candidate {name!r}; choose from {KNOWN_CANDIDATES}")
    return built


def choose(results: Mapping[str, CrossValidated], tie_margin: float = TIE_MARGIN) -> int:
    """Position (in ``results``' order) of the chosen candidate: the cheapest
    (:data:`SIMPLICITY`) of those within ``tie_margin`` of the best cross-validated AUC."""
    names = list(results)
    best = max(r.auc for r in results.values())
    tied = [n for n in names if results[n].auc >= best - tie_margin]
    rank = {name: position for position, name in enumerate(SIMPLICITY)}
    return names.index(min(tied, key=lambda n: (rank.get(n, len(rank)), names.index(n))))


def _checked_labels(labels: ArrayLike, count: int) -> NDArray[np.bool_]:
    values = np.asarray(labels)
    if values.shape != (count,):
        raise ValueError(
            f"need one label per image: {count} images, labels of shape {values.shape}"
        )
    if values.dtype != np.bool_ and not np.all((values == 0) | (values == 1)):
        raise ValueError("labels must be bool or 0/1 (the predicate's answers)")
    return values.astype(bool)


def select_proxy(
    images: NDArray[Any],
    labels: ArrayLike,
    *,
    backbone: nn.Module | None = None,
    network: ProxyNetwork | None = None,
    candidates: Sequence[str] | None = None,
    settings: SelectionSettings | None = None,
    name: str = "afno_proxy",
    progress: bool = False,
) -> ProxySelection:
    """Cross-validate the candidates on a labelled pilot and return the best, fitted and calibrated.

    Args:
        images: uint8 pilot images ``(n, H, W)`` or ``(n, H, W, C)``; the proxy
            reads images of exactly this size and mode.
        labels: bool ``(n,)``, the predicate per image.
        backbone: the collection's pretrained network (needed by ``afno_finetuned``
            and ``afno_linear_probe``; see :func:`abae.proxy.backbone.collection_backbone`).
        network: the proxy network (for ``afno_scratch``; default :class:`ProxyNetwork`).
        candidates: overrides ``settings.candidates``.
        settings: folds, fine-tuning, the weak threshold and the seed.
        name: the proxy's name (and score column).
        progress: show training progress bars.

    Raises:
        abae.proxy.cross_validation.PilotTooSmallError: fewer than 2 positives or negatives.
        ValueError: bad images or labels, or a candidate without its backbone.
    """
    settings = settings or SelectionSettings()
    if candidates is not None:
        settings = SelectionSettings(
            tuple(candidates),
            settings.folds,
            settings.fine_tuning,
            settings.weak_auc,
            settings.seed,
        )
    batch = np.asarray(images)
    spec = ImageSpec.of_batch(batch)
    values = _checked_labels(labels, batch.shape[0])
    pilot = PilotImages(spec.to_pixels(batch), values, spec)
    folds = fold_count(values, settings.folds)
    assignment = stratified_folds(values, folds, np.random.default_rng(settings.seed))
    built = build_candidates(
        settings.candidates,
        spec,
        backbone=backbone,
        network=network or ProxyNetwork(),
        fine_tuning=settings.fine_tuning,
        seed=settings.seed,
        progress=progress,
    )
    results = {candidate.name: candidate.cross_validate(pilot, assignment) for candidate in built}
    best = built[choose(results, settings.tie_margin)]
    chosen = results[best.name]
    final = best.fit_final(pilot, chosen)
    calibration = PlattCalibration.fit(chosen.out_of_fold, values)
    warnings: list[str] = []
    if chosen.auc < settings.weak_auc:
        warnings.append(
            f"weak proxy: the best candidate ({best.name}) has cross-validated AUC "
            f"{chosen.auc:.3f} < {settings.weak_auc} on {values.size} pilot labels; "
            "allocate as if there were no proxy"
        )
    metadata: dict[str, Any] = {
        "candidate": best.name,
        "cv_auc": chosen.auc,
        "held_out_auc": chosen.auc,
        "setting": dict(chosen.setting),
        "candidates": {
            key: {"cv_auc": r.auc, "setting": dict(r.setting), "seconds": round(r.seconds, 3)}
            for key, r in results.items()
        },
        "folds": folds,
        "pilot_size": int(values.size),
        "pilot_positives": int(values.sum()),
        "seed": settings.seed,
        "warnings": list(warnings),
    }
    if not calibration.informative:
        metadata["warnings"].append(
            "the calibration found no link between scores and labels; scores sit near the base rate"
        )
    proxy = Proxy(
        final, spec, task="classify", calibration=calibration, name=name, metadata=metadata
    )
    return ProxySelection(
        proxy=proxy,
        chosen=best.name,
        cv_auc=chosen.auc,
        results=results,
        out_of_fold_scores=calibration(chosen.out_of_fold),
        folds=folds,
        warnings=list(metadata["warnings"]),
    )
