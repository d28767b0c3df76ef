"""How tests compare floating-point results: the project's one tolerance rule.

**Same path twice** (same function, same inputs, same batch size, memory layout,
thread count and executor): results must be bitwise equal. Use
:func:`assert_same_path`.

**Two different execution paths** (another batch size, memory layout, thread
count, executor or CPU kernel, e.g. ``ATEN_CPU_CAPABILITY=default`` against
AVX-512): the kernels may sum in another order. Each reordered float32 sum
moves its result by a few units in the last place (ulps) of its largest term,
and a network stacks a few dozen such sums. :func:`assert_close_across_paths`
therefore allows ``CROSS_PATH_ULPS`` float32 epsilons, relative to each value
*and* to the largest magnitude in the compared array (so values near zero are
not held to a relative standard that the reordered sums they come from cannot
meet):

    |actual - expected| <= ulps * eps * (|expected| + max|expected|)

With ``eps = 2**-23`` (float32) and 64 ulps that is about 7.6e-6 relative to
the array's scale: two orders of magnitude above the differences seen between
kernels (7e-7 at most, batch of 1 against 64), and four below any difference
that would change what a proxy score means.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FLOAT32_EPS = float(np.finfo(np.float32).eps)
CROSS_PATH_ULPS = 64
CROSS_PATH_TOLERANCE = CROSS_PATH_ULPS * FLOAT32_EPS
"""The relative tolerance of two execution paths over float32 results (about 7.6e-6)."""


def assert_same_path(actual: npt.ArrayLike, expected: npt.ArrayLike) -> None:
    """Bitwise equality: the same computation ran twice on the same path."""
    np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected), strict=True)


def cross_path_atol(expected: npt.ArrayLike, ulps: int = CROSS_PATH_ULPS) -> float:
    """The absolute part of the cross-path tolerance: ``ulps * eps * max|expected|``."""
    values = np.asarray(expected, dtype=np.float64)
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    return ulps * FLOAT32_EPS * scale


def assert_close_across_paths(
    actual: npt.ArrayLike, expected: npt.ArrayLike, *, ulps: int = CROSS_PATH_ULPS
) -> None:
    """Equality up to float32 reordering error (see the module docstring)."""
    expected_array = np.asarray(expected, dtype=np.float64)
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        expected_array,
        rtol=ulps * FLOAT32_EPS,
        atol=cross_path_atol(expected_array, ulps),
    )
