"""How long to wait before retrying a transient oracle error (exponential backoff, jitter)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure.

    Attributes:
        max_attempts: attempts per call, first included (>= 1).
        base_delay_s: wait before the first retry (seconds); doubles each retry.
        max_delay_s: cap on one backoff wait (seconds); a server's ``Retry-After``
            may ask for longer and is honoured.
    """

    max_attempts: int = 6
    base_delay_s: float = 0.05
    max_delay_s: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("retry delays must be >= 0 seconds")

    def delay(self, retry: int, jitter: float, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``jitter`` in [0, 1).

        At least ``retry_after_s`` when the server sent ``Retry-After``.
        """
        backoff = min(self.max_delay_s, self.base_delay_s * 2.0 ** (retry - 1)) * (0.5 + jitter)
        return max(backoff, retry_after_s or 0.0)
