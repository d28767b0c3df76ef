"""Oracle errors: transient ones are retried, others fail the record (reported, left out)."""

from __future__ import annotations

from abae.errors import AbaeError


class TransientOracleError(Exception):
    """Raise from an oracle to ask for a retry (rate limit, timeout, flaky service).

    ``TimeoutError`` and ``ConnectionError`` are treated as transient too.
    """


class OracleFileError(AbaeError):
    """An oracle file that cannot be loaded (missing, raises on import, registers nothing)."""


class UnknownOracleError(AbaeError):
    """A query names an oracle that is not registered."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientOracleError,
    TimeoutError,
    ConnectionError,
)
