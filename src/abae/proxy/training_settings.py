"""How a collection's proxy is trained: pilot size (or ``"auto"``), candidates, folds,
fine-tuning and pretraining, in one frozen object (:class:`ProxyTrainingSettings`).

Example:
    >>> settings = ProxyTrainingSettings(pilot_size="auto", first_round=100, max_pilot=1000)
    >>> settings.round_sizes(cap=700)
    [100, 200, 400, 700]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from abae.proxy.backbone import Pretraining, ProxyNetwork
from abae.proxy.candidates import FineTuning
from abae.proxy.selection import CANDIDATE_NAMES, WEAK_AUC, SelectionSettings

AUTO: Literal["auto"] = "auto"
PilotSize = int | Literal["auto"]


@dataclass(frozen=True)
class ProxyTrainingSettings:
    """How to train a collection's proxy.

    Args:
        pilot_size: records to label uniformly at random (fewer if the collection
            is smaller), or ``"auto"``: rounds of ``first_round``, then doubling,
            until the best cross-validated AUC gains less than ``min_auc_gain``
            or ``max_pilot`` labels are reached.
        max_pilot: most pilot labels with ``"auto"`` (inside a query also at most
            the trainer's share of its ``ORACLE LIMIT``).
        first_round: the first round's size with ``"auto"``.
        min_auc_gain: ``"auto"`` stops when a round improves the AUC by less.
        pilot_budget: most records the pilot's query id may claim in all (default:
            the largest pilot it may ask for). A rerun after a kill may need more:
            claims a killed run made stay spent.
        accept_smaller_pilot: train on a pilot that got fewer labels than asked
            (saying so in the metadata and the catalog) instead of stopping.
        epochs, lr, batch_size, patience: fine-tuning the network candidates (at
            most ``epochs``, early stopping on the held-out folds' AUC).
        patch_size, model_kwargs, mixer: the AFNO network (see
            :class:`abae.proxy.backbone.ProxyNetwork`).
        candidates: the candidates the selection compares
            (:data:`abae.proxy.selection.KNOWN_CANDIDATES`).
        folds: cross-validation folds.
        pretraining: the backbone's self-supervised pretraining.
        weak_auc: below this best AUC the proxy is flagged as weak.
        calibration_share: held-out share for the statistic regressor.
        regress_statistic: also train a regressor for the statistic oracle.
        seed: seeds the pilot order, the folds, the weights and the shuffling.
    """

    pilot_size: PilotSize = 1000
    max_pilot: int = 1000
    first_round: int = 100
    min_auc_gain: float = 0.005
    pilot_budget: int | None = None
    accept_smaller_pilot: bool = False
    epochs: int = 15
    lr: float = 5e-3
    batch_size: int = 16
    patience: int = 3
    patch_size: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    mixer: str = "afno"
    candidates: tuple[str, ...] = CANDIDATE_NAMES
    folds: int = 5
    pretraining: Pretraining = field(default_factory=Pretraining)
    weak_auc: float = WEAK_AUC
    calibration_share: float = 0.2
    regress_statistic: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.pilot_size != AUTO and (
            not isinstance(self.pilot_size, int) or self.pilot_size < 4
        ):
            raise ValueError(
                f"pilot_size must be 'auto' or at least 4 records, got {self.pilot_size!r}"
            )
        if self.max_pilot < 4 or self.first_round < 4:
            raise ValueError(
                f"max_pilot and first_round must be at least 4, got {self.max_pilot}, "
                f"{self.first_round}"
            )
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.pilot_budget is not None and self.pilot_budget < 1:
            raise ValueError(f"pilot_budget must be positive, got {self.pilot_budget}")
        if not self.min_auc_gain >= 0:
            raise ValueError(f"min_auc_gain must be non-negative, got {self.min_auc_gain}")

    @property
    def network(self) -> ProxyNetwork:
        """The AFNO network of the proxies."""
        return ProxyNetwork(
            mixer=self.mixer, patch_size=self.patch_size, model_kwargs=dict(self.model_kwargs)
        )

    def selection(self) -> SelectionSettings:
        """The selection's settings."""
        return SelectionSettings(
            candidates=self.candidates,
            folds=self.folds,
            fine_tuning=FineTuning(
                max_epochs=self.epochs,
                patience=self.patience,
                lr=self.lr,
                batch_size=self.batch_size,
                seed=self.seed,
            ),
            weak_auc=self.weak_auc,
            seed=self.seed,
        )

    def round_sizes(self, cap: int) -> list[int]:
        """Pilot sizes to try, up to ``cap`` labels: ``[pilot_size]`` or the auto rounds."""
        if self.pilot_size != AUTO:
            return [min(int(self.pilot_size), cap)]
        limit = min(self.max_pilot, cap)
        sizes, size = [], min(self.first_round, limit)
        while size < limit:
            sizes.append(size)
            size *= 2
        return [*sizes, limit]

    def needs_backbone(self) -> bool:
        """Whether a candidate starts from the pretrained backbone."""
        return bool({"afno_finetuned", "afno_linear_probe"} & set(self.candidates))
