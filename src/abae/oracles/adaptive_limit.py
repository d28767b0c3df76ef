"""Adaptive concurrency: fewer calls in flight after rate limits, back up as calls succeed.

The rule is additive increase, proportional decrease (as in DCTCP):

- when a rate-limited answer (HTTP 429, or 503 with ``Retry-After``) arrives, and
  no decrease happened in the current quiet period, the limit is multiplied by
  ``1 - share / 2``, where ``share`` is the fraction of rate-limited answers among
  the calls finished since the last decrease (counted over at least ``limit``
  calls, so one early 429 does not halve it). The quiet period is the server's
  ``Retry-After`` or ``quiet_s`` (1 s), whichever is longer, so that a burst of
  429s answered to calls already in flight counts once;
- every ``limit`` successful calls (about one round trip) add 1, up to the maximum.

A server that refuses everything above some concurrency (share near 1) halves
the limit every quiet period until it fits; a server that refuses a fixed 20 %
of calls at random costs a tenth of the limit once a second, which successes
give back within the second.
"""

from __future__ import annotations

import math


class AdaptiveLimit:
    """The number of calls one oracle may have in flight now.

    Args:
        maximum: the most calls in flight (the oracle's and the runtime's cap, >= 1).
        quiet_s: shortest time between two decreases (seconds).
    """

    def __init__(self, maximum: int, *, quiet_s: float = 1.0) -> None:
        if maximum < 1:
            raise ValueError(f"maximum must be >= 1, got {maximum}")
        if quiet_s < 0:
            raise ValueError(f"quiet_s must be >= 0, got {quiet_s}")
        self.maximum = maximum
        self.quiet_s = quiet_s
        self.limit = maximum
        self.decreases = 0
        self._credit = 0
        self._seen = 0
        self._limited = 0
        self._quiet_until = -math.inf

    def on_rate_limited(self, now: float, retry_after_s: float | None = None) -> None:
        """A call was answered "too many requests" at ``now`` (monotonic seconds)."""
        self._seen += 1
        self._limited += 1
        if now < self._quiet_until:
            return
        share = self._limited / max(self._seen, self.limit)
        self.limit = max(1, math.floor(self.limit * (1.0 - share / 2.0)))
        self.decreases += 1
        self._credit = self._seen = self._limited = 0
        self._quiet_until = now + max(self.quiet_s, retry_after_s or 0.0)

    def on_success(self) -> None:
        """A call succeeded."""
        self._seen += 1
        if self.limit >= self.maximum:
            return
        self._credit += 1
        if self._credit >= self.limit:
            self.limit += 1
            self._credit = 0
