"""Oracle errors: transient ones are retried, others fail the record (reported, left out)."""

from __future__ import annotations

from abae.errors import AbaeError


class TransientOracleError(Exception):
    """Raise from an oracle to ask for a retry (rate limit, timeout, flaky service).

    ``TimeoutError`` and ``ConnectionError`` are treated as transient too.

    Args:
        message: what went wrong (never include credentials).
        retry_after_s: the service asked to wait this long before retrying (``Retry-After``).
        rate_limited: the service said "too many requests" (HTTP 429, or 503 with
            ``Retry-After``): the runtime lowers the oracle's concurrency for a while.
        spent: money this failed attempt cost (``None``: nothing).
    """

    def __init__(
        self,
        message: str = "",
        *,
        retry_after_s: float | None = None,
        rate_limited: bool = False,
        spent: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.rate_limited = rate_limited
        self.spent = spent


class OracleCallError(Exception):
    """A call that failed for good (not retried).

    Args:
        message: what went wrong (never include credentials).
        spent: money the failed call cost (``None``: the runtime charges its worst case).
    """

    def __init__(self, message: str = "", *, spent: float | None = None) -> None:
        super().__init__(message)
        self.spent = spent


class OracleFileError(AbaeError):
    """An oracle file that cannot be loaded (missing, raises on import, registers nothing)."""


class UnknownOracleError(AbaeError):
    """A query names an oracle that is not registered."""


class OracleFailingError(AbaeError):
    """The runtime stopped calling an oracle whose calls keep failing (see ``FailureBrake``)."""


class UnusableAnswerError(ValueError):
    """An answer that is not what the oracle declared; the record fails.

    Attributes:
        raw_answer: the model's raw text, kept in the ledger (``None`` for Python answers).
    """

    def __init__(self, message: str, raw_answer: str | None = None) -> None:
        super().__init__(message)
        self.raw_answer = raw_answer


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientOracleError,
    TimeoutError,
    ConnectionError,
)
