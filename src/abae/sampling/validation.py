"""Checks of the arguments callers hand to the sampling core.

Every check raises :class:`ValueError` with a message that names the argument,
shows the offending value and says how to fix it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import numpy.typing as npt

AGGREGATES = ("avg", "sum", "count")
ALLOCATIONS = ("robust", "variance", "abae", "proportional")
INTERVALS = ("studentized", "bootstrap", "bca", "normal")

RandomState = int | np.integer[Any] | np.random.Generator | None
"""What the public API accepts as ``rng``: an int seed, a Generator, or ``None`` (fresh entropy)."""


def check_rng(rng: Any) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``rng`` (like scikit-learn's ``random_state``).

    An int seed gives ``numpy.random.default_rng(seed)`` (reproducible), a
    Generator is used as is (and advanced), ``None`` gives a fresh generator
    seeded from the operating system (not reproducible).

    Raises:
        ValueError: anything else (a float, a bool, a legacy ``RandomState``, a
            negative seed).

    Example:
        >>> int(check_rng(7).integers(100)) == int(check_rng(7).integers(100))
        True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng must be a non-negative int seed, got {rng}")
        return np.random.default_rng(int(rng))
    raise ValueError(
        f"rng must be an int seed, a numpy.random.Generator or None, got {rng!r} "
        f"({type(rng).__name__}); e.g. rng=0 or rng=numpy.random.default_rng(0)"
    )


def check_scores(scores: npt.ArrayLike, name: str = "proxy_scores") -> npt.NDArray[np.float64]:
    """Return ``scores`` as a finite 1-D float64 array of length at least 1.

    Raises:
        ValueError: not 1-D, empty, not numeric, or holding NaN or infinity.
    """
    array = np.asarray(scores)
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(
            f"{name} must be real numbers (float or int), got dtype {array.dtype}; "
            "convert the scores with numpy.asarray(scores, dtype=float)"
        )
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one score per record), got shape {array.shape}; flatten it"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: there are no records to sample")
    values = array.astype(np.float64, copy=False)
    finite = np.isfinite(values)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"{name} holds {bad.size} NaN or infinite value(s), first at index {int(bad[0])} "
            f"({values[bad[0]]!r}); replace them with finite scores (e.g. 0 for 'unlikely')"
        )
    return values


def check_choice(value: Any, name: str, allowed: Collection[str]) -> str:
    """Return ``value`` if it is one of ``allowed``; raise ``ValueError`` otherwise."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    return str(value)


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_budget(budget: Any, minimum: int, why: str) -> int:
    """Return ``budget`` as an int if it is an integer ``>= max(1, minimum)``.

    Args:
        budget: oracle calls allowed.
        minimum: the smallest usable budget (e.g. the number of strata).
        why: the reason for ``minimum``, used in the error message.
    """
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer):
        raise ValueError(f"budget must be an integer number of oracle calls, got {budget!r}")
    if budget <= 0:
        raise ValueError(f"budget must be positive (oracle calls allowed), got {budget}")
    if budget < minimum:
        raise ValueError(
            f"budget {budget} is smaller than {minimum} ({why}); raise the budget or "
            "use fewer strata"
        )
    return int(budget)


def check_confidence(confidence: Any) -> float:
    """Return ``confidence`` as a float strictly inside (0, 1)."""
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        raise ValueError(
            f"confidence must be a probability in (0, 1), got {confidence!r}"
        ) from None
    if not 0.0 < value < 1.0:
        raise ValueError(
            f"confidence must be strictly between 0 and 1 (e.g. 0.95), got {confidence!r}"
        )
    return value


def check_share(share: Any) -> float:
    """Return the stage-1 share as a float in (0, 1]."""
    try:
        value = float(share)
    except (TypeError, ValueError):
        raise ValueError(f"stage1_share must be a number in (0, 1], got {share!r}") from None
    if not 0.0 < value <= 1.0:
        raise ValueError(f"stage1_share must be in (0, 1] (the paper uses 0.5), got {share!r}")
    return value


def check_strata_count(strata: Any, n_records: int) -> int:
    """Return the number of strata if it is an integer in ``[1, n_records]``."""
    k = check_positive_int(strata, "strata")
    if k > n_records:
        raise ValueError(
            f"strata={k} exceeds the number of records ({n_records}); use at most "
            f"{n_records} strata"
        )
    return k
