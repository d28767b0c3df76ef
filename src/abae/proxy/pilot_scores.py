"""Put the pilot's cross-fitted scores on the scale of the final proxy's scores.

Each pilot record's cross-fitted score comes from the fold model that never
saw its label. The final proxy, fitted on the whole pilot, scores the rest of
the collection on its own scale: it saw more labels, so it is usually more
confident, and its scores spread further than the fold models' do. The engine
places pilot records in the strata of the final scores, so the two scales must
agree, or the pilot would crowd into the middle strata.

Since the pilot is a uniform sample of the collection, its records should be
spread over the final score's quantiles as the rest are. :func:`align_to_scores`
keeps the cross-fitted *order* of the pilot records (the only thing an unseen
label can honestly tell about them) and gives the record at quantile ``q`` of
that order the final score at quantile ``q`` of the other records.

Example:
    >>> import numpy as np
    >>> align_to_scores(np.array([0.2, 0.9, 0.5]), np.array([0.0, 0.1, 0.4, 0.7, 1.0]))
    array([0.06666667, 0.8       , 0.4       ])
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from abae.proxy.ranking_quality import average_ranks


def align_to_scores(cross_fitted: ArrayLike, reference: ArrayLike) -> NDArray[np.float64]:
    """Map cross-fitted scores ``(m,)`` onto the distribution of ``reference`` scores ``(N,)``.

    The record of (average) rank ``r`` among the ``m`` cross-fitted scores gets
    the ``(r - 1/2) / m`` quantile of ``reference`` (linear interpolation), so
    the order is kept and ties stay tied. With no reference (the pilot is the
    whole collection), the cross-fitted scores are returned as they are.

    Raises:
        ValueError: non-finite scores, or inputs that are not 1-D.
    """
    scores = np.asarray(cross_fitted, dtype=np.float64)
    targets = np.asarray(reference, dtype=np.float64)
    if scores.ndim != 1 or targets.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shapes {scores.shape} and {targets.shape}")
    if not (np.all(np.isfinite(scores)) and np.all(np.isfinite(targets))):
        raise ValueError("scores to align hold NaN or infinite values")
    if scores.size == 0 or targets.size == 0:
        return scores.copy()
    quantiles = (average_ranks(scores) - 0.5) / scores.size
    return np.quantile(targets, quantiles)
