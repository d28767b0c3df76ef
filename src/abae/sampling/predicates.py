"""Proxy scores for several predicates combined with AND / OR."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abae.sampling.validation import check_scores


def _check_probabilities(scores: tuple[npt.ArrayLike, ...], how: str) -> npt.NDArray[np.float64]:
    if len(scores) == 0:
        raise ValueError(f"{how} needs at least one proxy score array")
    arrays = [check_scores(s, f"proxy scores #{i}") for i, s in enumerate(scores)]
    lengths = {a.shape[0] for a in arrays}
    if len(lengths) != 1:
        raise ValueError(
            f"{how}: the proxy score arrays have different lengths {[a.shape[0] for a in arrays]}; "
            "give one score per record in every array"
        )
    stacked = np.stack(arrays)
    if (stacked < 0).any() or (stacked > 1).any():
        raise ValueError(
            f"{how} treats scores as probabilities and needs them in [0, 1]; got range "
            f"[{stacked.min():.4g}, {stacked.max():.4g}] (calibrate or rescale the proxies)"
        )
    return stacked


def combine_and(*scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Proxy for a conjunction: the product of the predicates' scores.

    Args:
        *scores: one array ``(N,)`` per predicate, probabilities in [0, 1].

    Returns:
        float64 ``(N,)``, ``Π_i s_i`` (exact when the predicates are independent).

    Example:
        >>> combine_and([0.5, 1.0], [0.5, 0.2]).tolist()
        [0.25, 0.2]
    """
    return np.asarray(np.prod(_check_probabilities(scores, "combine_and"), axis=0))


def combine_or(*scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Proxy for a disjunction: ``1 − Π_i (1 − s_i)``.

    Args:
        *scores: one array ``(N,)`` per predicate, probabilities in [0, 1].

    Returns:
        float64 ``(N,)`` (exact when the predicates are independent).

    Example:
        >>> combine_or([0.5, 0.0], [0.5, 0.25]).tolist()
        [0.75, 0.25]
    """
    stacked = _check_probabilities(scores, "combine_or")
    return np.asarray(1.0 - np.prod(1.0 - stacked, axis=0))
