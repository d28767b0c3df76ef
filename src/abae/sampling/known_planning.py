"""Where known labels (a census stratum) sit among the proxy strata of the other records."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from abae.sampling.known_labels import KnownLabels
from abae.sampling.strata import Strata, make_strata
from abae.sampling.stratum_stats import StratumStats, stratum_stats
from abae.sampling.validation import RandomState


@dataclass(frozen=True, eq=False)
class KnownPlan:
    """The proxy strata of the records not known, and the known labels placed in them.

    Attributes:
        strata: strata of the records left to sample (members are record
            indices of the whole population); ``K`` strata, fewer when fewer
            records are left, none when every record is known.
        known: the known labels (``None`` when there are none).
        placement: the stratum each known label falls in by its planning
            score, int64 ``(m,)`` (empty without known labels).
        per_stratum: known labels placed in each stratum, int64 ``(K,)``.
        placed: their statistics by stratum (planning information), or ``None``.
        census: their statistics as one stratum, and its size (for running
            estimates), or ``None``.
        notes: warnings for the result.
    """

    strata: Strata
    known: KnownLabels | None
    placement: npt.NDArray[np.int64]
    per_stratum: npt.NDArray[np.int64]
    placed: StratumStats | None
    census: tuple[StratumStats, int] | None
    notes: list[str]


def check_known(known: KnownLabels | None, n_records: int) -> KnownLabels | None:
    """``known`` if its indices are valid record indices; ``None`` when empty.

    Raises:
        ValueError: not a :class:`KnownLabels`, or an index outside ``[0, n_records)``.
    """
    if known is None:
        return None
    if not isinstance(known, KnownLabels):
        raise ValueError(
            f"known must be an abae.sampling.KnownLabels (or None), got {type(known).__name__}"
        )
    if len(known) == 0:
        return None
    low, high = int(known.indices.min()), int(known.indices.max())
    if low < 0 or high >= n_records:
        raise ValueError(
            f"known labels hold record index {low if low < 0 else high}, outside the "
            f"{n_records} records [0, {n_records}); give indices into proxy_scores"
        )
    return known


def place_known(strata: Strata, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """The stratum each planning score falls in, by the strata's cut scores, int64 ``(m,)``.

    Example:
        >>> layout = make_strata(np.arange(10.0), 2, np.random.default_rng(0))
        >>> place_known(layout, np.array([-1.0, 4.9, 5.0, 99.0])).tolist()
        [0, 0, 1, 1]
    """
    return np.searchsorted(strata.cut_scores, scores, side="right").astype(np.int64)


def plan_known(
    scores: npt.NDArray[np.float64],
    known: KnownLabels | None,
    strata: int,
    rng: RandomState,
) -> KnownPlan:
    """Cut the records not known into ``strata`` strata and place the known labels in them.

    Without known labels this is :func:`~abae.sampling.strata.make_strata` on
    every record (the same random draws).

    Args:
        scores: proxy scores of every record, shape ``(N,)``, finite.
        known: labels bought before sampling, or ``None``.
        strata: the number of strata asked for, ``<= N``.
        rng: randomness for tie-breaking.

    Raises:
        ValueError: see :func:`check_known`.
    """
    n_records = scores.shape[0]
    checked = check_known(known, n_records)
    if checked is None:
        layout = make_strata(scores, strata, rng)
        empty = np.zeros(0, np.int64)
        return KnownPlan(layout, None, empty, np.zeros(strata, np.int64), None, None, [])
    notes: list[str] = []
    keep = np.ones(n_records, np.bool_)
    keep[checked.indices] = False
    rest = np.flatnonzero(keep).astype(np.int64)
    k = min(strata, rest.size)
    if k < strata:
        notes.append(f"only {rest.size} records are not known: {k} strata instead of {strata}")
    if k == 0:
        layout = Strata((), np.zeros(0, np.int64), np.zeros(0, np.float64))
    else:
        within = make_strata(scores[rest], k, rng)
        layout = Strata(
            members=tuple(rest[m] for m in within.members),
            sizes=within.sizes,
            cut_scores=within.cut_scores,
        )
    placement = place_known(layout, checked.scores) if k else np.zeros(len(checked), np.int64)
    per_stratum = np.bincount(placement, minlength=k).astype(np.int64)[:k]
    placed = (
        stratum_stats(placement, checked.predicate, checked.statistic, k, checked.missing_mask)
        if k
        else None
    )
    census = stratum_stats(
        np.zeros(len(checked), np.int64),
        checked.predicate,
        checked.statistic,
        1,
        checked.missing_mask,
    )
    return KnownPlan(layout, checked, placement, per_stratum, placed, (census, len(checked)), notes)
