"""Short, lock-aware transactions on one DuckDB file.

DuckDB allows a single process to hold a database file open for writing. The
store therefore never keeps the file open between operations: each
:meth:`Store.transaction` opens it, runs one transaction and closes it. When
another process holds the file, opening fails with a lock error; the store
retries with exponential backoff and jitter until ``lock_timeout_s`` has passed,
then raises :class:`StoreBusyError`.
"""

from __future__ import annotations

import atexit
import os
import random
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from abae.errors import AbaeError
from abae.store.location import resolve_db_path
from abae.store.schema import SCHEMA_STATEMENTS

_LOCK_MARKERS = ("could not set lock", "conflicting lock")


class StoreBusyError(AbaeError):
    """Another process kept the store locked for longer than the lock timeout."""


_OPEN_STORES: weakref.WeakSet[Store] = weakref.WeakSet()


@atexit.register
def _release_all() -> None:
    for store in list(_OPEN_STORES):
        store.close()


def _is_lock_error(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, duckdb.Error) and any(marker in text for marker in _LOCK_MARKERS)


class Store:
    """A DuckDB store file, opened briefly for each burst of transactions.

    The file is opened on the first transaction and kept open while
    transactions follow each other closely; it is closed after ``idle_release_s``
    without a transaction, and at the latest ``max_hold_s`` after it was opened
    (then this process pauses ``yield_s`` before reopening, so that a process
    waiting for the lock gets its turn).

    Args:
        path: the database file; ``None`` resolves ``$ABAE_DB`` or ``./abae.duckdb``.
        lock_timeout_s: how long to wait for another process's lock before
            giving up with :class:`StoreBusyError` (seconds, > 0).

    Example:
        >>> store = Store("/tmp/example.duckdb")  # doctest: +SKIP
        >>> with store.transaction() as con:  # doctest: +SKIP
        ...     con.execute("SELECT count(*) FROM abae_labels").fetchone()
    """

    idle_release_s = 0.03
    max_hold_s = 0.3
    yield_s = 0.03

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, lock_timeout_s: float = 60.0
    ) -> None:
        if lock_timeout_s <= 0:
            raise ValueError(f"lock_timeout_s must be > 0 seconds, got {lock_timeout_s}")
        self.path: Path = resolve_db_path(path)
        self.lock_timeout_s = lock_timeout_s
        self._thread_lock = threading.RLock()
        self._open: duckdb.DuckDBPyConnection | None = None
        self._opened_at = 0.0
        self._released_at = -1.0
        self._in_transaction = False
        self._idle_timer: threading.Timer | None = None
        self._schema_ready = False
        _OPEN_STORES.add(self)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def close(self) -> None:
        """Release the file now (it is reopened by the next transaction)."""
        with self._thread_lock:
            self._cancel_timer()
            if self._open is not None:
                self._open.close()
                self._open = None
                self._released_at = time.monotonic()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if not self.path.parent.exists():
            raise AbaeError(
                f"cannot create store {self.path}: folder {self.path.parent} does not exist"
            )
        pause = self.yield_s - (time.monotonic() - self._released_at)
        if self._released_at >= 0 and pause > 0:
            time.sleep(pause)
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.002
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.Error as error:
                if not _is_lock_error(error):
                    raise AbaeError(f"cannot open store {self.path}: {error}") from error
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"store {self.path} stayed locked by another process for more than "
                        f"{self.lock_timeout_s:.0f} s; retry later or raise lock_timeout_s"
                    ) from error
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2.0, 0.01)

    def _cancel_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _release_if_idle(self) -> None:
        with self._thread_lock:
            if not self._in_transaction:
                self.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """``BEGIN``, yield the connection, ``COMMIT`` (``ROLLBACK`` on error).

        Nested use in one thread reuses the open transaction.
        """
        with self._thread_lock:
            if self._in_transaction and self._open is not None:
                yield self._open
                return
            self._cancel_timer()
            if self._open is None:
                self._open = self._connect()
                self._opened_at = time.monotonic()
            con = self._open
            try:
                if not self._schema_ready:
                    for statement in SCHEMA_STATEMENTS:
                        con.execute(statement)
                    self._schema_ready = True
                con.execute("BEGIN TRANSACTION")
                self._in_transaction = True
                try:
                    yield con
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            except BaseException:
                self._in_transaction = False
                self.close()
                raise
            self._in_transaction = False
            if time.monotonic() - self._opened_at >= self.max_hold_s:
                self.close()
            else:
                self._idle_timer = threading.Timer(self.idle_release_s, self._release_if_idle)
                self._idle_timer.daemon = True
                self._idle_timer.start()
