"""Retries with exponential backoff and jitter for transient oracle errors."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from abae.oracles.errors import TRANSIENT_ERRORS

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure.

    Attributes:
        max_attempts: attempts per call, first included (>= 1).
        base_delay_s: wait before the first retry (seconds); doubles each retry.
        max_delay_s: cap on one wait (seconds).
    """

    max_attempts: int = 6
    base_delay_s: float = 0.05
    max_delay_s: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("retry delays must be >= 0 seconds")

    def delay(self, retry: int, jitter: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``jitter`` in [0, 1)."""
        return min(self.max_delay_s, self.base_delay_s * 2.0 ** (retry - 1)) * (0.5 + jitter)


@dataclass
class CallOutcome:
    """What happened to one call: ``value`` or ``error`` (message), after ``attempts`` tries."""

    value: object = None
    error: str | None = None
    attempts: int = 0


def call_with_retries(
    fn: Callable[[], T], policy: RetryPolicy, jitter: random.Random
) -> CallOutcome:
    """Call ``fn`` until it succeeds, fails permanently, or ``policy.max_attempts`` is reached."""
    outcome = CallOutcome()
    while True:
        outcome.attempts += 1
        try:
            outcome.value = fn()
            return outcome
        except TRANSIENT_ERRORS as error:
            if outcome.attempts >= policy.max_attempts:
                outcome.error = (
                    f"still failing after {outcome.attempts} attempts: "
                    f"{type(error).__name__}: {error}"
                )
                return outcome
            time.sleep(policy.delay(outcome.attempts, jitter.random()))
        except Exception as error:
            outcome.error = f"{type(error).__name__}: {error}"
            return outcome
