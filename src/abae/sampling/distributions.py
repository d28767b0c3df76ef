"""Student's t and gamma distributions (CDF and quantile) in pure Python, for the intervals.

The sampling core stays free of SciPy; one or two quantiles per interval are cheap.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_STANDARD_NORMAL = NormalDist()
_LARGE_DF = 1e7


def _continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        for term in (even, -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + term * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + term / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _regularised_beta(a: float, b: float, x: float) -> float:
    """``I_x(a, b)``, the regularised incomplete beta function, for ``0 <= x <= 1``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _continued_fraction(a, b, x) / a
    return 1.0 - front * _continued_fraction(b, a, 1.0 - x) / b


def t_cdf(x: float, df: float) -> float:
    """``P(T <= x)`` for Student's t with ``df > 0`` degrees of freedom (any real ``df``).

    Example:
        >>> round(t_cdf(2.0, 5), 5)
        0.94903
    """
    if df >= _LARGE_DF:
        return _STANDARD_NORMAL.cdf(x)
    tail = 0.5 * _regularised_beta(0.5 * df, 0.5, df / (df + x * x))
    return 1.0 - tail if x > 0 else tail


def _t_density(x: float, df: float) -> float:
    log_norm = math.lgamma(0.5 * (df + 1.0)) - math.lgamma(0.5 * df) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - 0.5 * (df + 1.0) * math.log1p(x * x / df))


def t_quantile(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t with ``df > 0`` degrees of freedom.

    Safeguarded Newton steps on :func:`t_cdf` from the Cornish-Fisher start
    (relative accuracy about 1e-12); the normal quantile when ``df`` is huge.

    Args:
        q: probability in (0, 1).
        df: degrees of freedom, ``> 0`` (``math.inf`` for the normal).

    Example:
        >>> round(t_quantile(0.975, 10), 4), round(t_quantile(0.975, math.inf), 4)
        (2.2281, 1.96)
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q}")
    if not df > 0.0:
        raise ValueError(f"df must be positive, got {df}")
    z = _STANDARD_NORMAL.inv_cdf(q)
    if df >= _LARGE_DF:
        return z
    if q < 0.5:
        return -t_quantile(1.0 - q, df)
    low, high = 0.0, max(1.0, z)
    while t_cdf(high, df) < q:
        low, high = high, 2.0 * high
    x = z + (z**3 + z) / (4.0 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96.0 * df**2)
    if not low < x < high:
        x = 0.5 * (low + high)
    for _ in range(100):
        error = t_cdf(x, df) - q
        if error < 0:
            low = x
        else:
            high = x
        step = error / _t_density(x, df)
        if abs(step) <= 1e-13 * max(1.0, abs(x)):
            return x - step
        candidate = x - step
        x = candidate if low < candidate < high else 0.5 * (low + high)
        if high - low <= 1e-13 * high:
            break
    return x


def _regularised_gamma(a: float, x: float) -> float:
    """``P(a, x)``, the regularised lower incomplete gamma function (``a > 0``, ``x >= 0``)."""
    if x <= 0.0:
        return 0.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        shape = a
        for _ in range(1000):
            shape += 1.0
            term *= x / shape
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return min(1.0, total * math.exp(log_front))
    tiny = 1e-300
    b = x + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = b + an / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return max(0.0, 1.0 - math.exp(log_front) * h)


def gamma_quantile(q: float, shape: float) -> float:
    """The ``q`` quantile of the Gamma(``shape``, scale 1) distribution.

    Example:
        >>> round(gamma_quantile(0.975, 1.0), 6)  # -log(0.025)
        3.688879
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q}")
    if not shape > 0.0:
        raise ValueError(f"shape must be positive, got {shape}")
    low, high = 0.0, max(1.0, 2.0 * shape)
    while _regularised_gamma(shape, high) < q:
        low, high = high, 2.0 * high
    x = 0.5 * (low + high)
    log_norm = math.lgamma(shape)
    for _ in range(200):
        error = _regularised_gamma(shape, x) - q
        if error < 0:
            low = x
        else:
            high = x
        density = math.exp((shape - 1.0) * math.log(x) - x - log_norm) if x > 0 else 0.0
        step = error / density if density > 0 else 0.0
        candidate = x - step
        if step != 0.0 and abs(step) <= 1e-13 * max(1.0, x):
            return candidate
        x = candidate if low < candidate < high and step != 0.0 else 0.5 * (low + high)
        if high - low <= 1e-14 * max(1.0, high):
            break
    return x
