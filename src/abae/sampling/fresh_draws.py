"""Uniform draws without replacement that skip positions already drawn."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abae.sampling.validation import RandomState, check_rng


def draw_fresh(
    size: int, taken: npt.NDArray[np.int64], n: int, rng: RandomState
) -> npt.NDArray[np.int64]:
    """Draw ``n`` distinct positions in ``[0, size)`` uniformly among those not in ``taken``.

    Costs O((n + len(taken)) log) whatever ``size`` is: it draws ranks among
    the free positions and maps each rank to its position by counting the taken
    positions below it.

    Args:
        size: positions ``0 .. size-1``.
        taken: distinct positions already drawn, shape ``(m,)``, any order.
        n: positions to draw, ``0 <= n <= size - m``.
        rng: randomness (an int seed, a Generator or None).

    Returns:
        int64 ``(n,)``, in random order.

    Example:
        >>> sorted(draw_fresh(5, np.array([1, 3]), 3, np.random.default_rng(0)).tolist())
        [0, 2, 4]
    """
    taken_sorted = np.sort(np.asarray(taken, dtype=np.int64))
    free = size - taken_sorted.size
    if not 0 <= n <= free:
        raise ValueError(f"cannot draw {n} fresh positions: only {free} of {size} are free")
    ranks = check_rng(rng).choice(free, size=n, replace=False).astype(np.int64)
    if taken_sorted.size == 0:
        return ranks
    gaps = taken_sorted - np.arange(taken_sorted.size)
    return ranks + np.searchsorted(gaps, ranks, side="right")
