"""Transactions on one DuckDB store file, shared safely by several processes.

DuckDB lets one process at a time have a database file open. A :class:`Store`
therefore opens the file only while this process works on it, under an OS lock
taken before the file is opened and released after it is closed
(:mod:`abae.store.store_lock`): no two processes ever have the file open at
once, whatever they do, and the kernel frees the lock of a process that dies.

Within a process, every :class:`Store` of one file shares one connection (and
one lock), and its threads take turns. The file is opened by the first
transaction and stays open while transactions follow each other closely; it is
closed ``idle_release_s`` after the last one, or at the end of the first
transaction that ends ``max_hold_s`` or more after it was opened *while another
process waits* (then this process lets ``yield_s`` pass before asking again, so
that waiting processes take turns). A process that waits longer than
``lock_timeout_s`` gets :class:`StoreBusyError`, naming who holds the store.
Read-only work takes the same lock: every access is a transaction.

Example:
    >>> import os, tempfile
    >>> store = Store(os.path.join(tempfile.mkdtemp(), "example.duckdb"))
    >>> with store.transaction() as con:
    ...     con.execute("SELECT count(*) FROM abae_collections").fetchone()
    (0,)
    >>> store.close()
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from abae.errors import AbaeError
from abae.store.location import check_store_file, check_store_path, resolve_db_path
from abae.store.schema import SCHEMA_STATEMENTS
from abae.store.store_lock import LockHolder, StoreBusyError, StoreLock

__all__ = ["LockHolder", "Store", "StoreBusyError"]


class _StoreFile:
    """The one connection (and lock) of this process to one store file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = StoreLock(path)
        self.thread_lock = threading.RLock()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.opened_at = 0.0
        self.depth = 0
        self.resume_at = 0.0
        self.idle_timer: threading.Timer | None = None
        self.schema_ready = False

    def open(self, timeout_s: float, yield_s: float) -> duckdb.DuckDBPyConnection:
        if self.con is not None:
            return self.con
        pause = self.resume_at - time.monotonic()
        if pause > 0:
            time.sleep(min(pause, yield_s))
        try:
            self.lock.acquire(timeout_s)
            check_store_file(self.path)
            try:
                con = duckdb.connect(str(self.path))
            except duckdb.Error as error:
                raise AbaeError(
                    f"cannot open store {self.path}: {error}. If a program other than abae "
                    "(e.g. the duckdb shell) has it open, close that program first"
                ) from error
        except BaseException:  # Ctrl-C included: never keep the lock without the file
            self.lock.release()
            raise
        try:
            # DuckDB prints its own progress bar on stdout for statements over 2 s; abae
            # shows progress itself (on stderr) where it wants it.
            con.execute("SET enable_progress_bar = false")
            if not self.schema_ready:
                for statement in SCHEMA_STATEMENTS:
                    con.execute(statement)
                self.schema_ready = True
        except BaseException:
            con.close()
            self.lock.release()
            raise
        self.con = con
        self.opened_at = time.monotonic()
        return con

    def close(self) -> None:
        self.cancel_timer()
        if self.con is not None:
            try:
                self.con.close()
            finally:
                self.con = None
                self.lock.release()

    def cancel_timer(self) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None

    def close_if_idle(self) -> None:
        with self.thread_lock:
            if self.depth == 0:
                self.close()

    def forget_after_fork(self) -> None:
        # The child must neither close the parent's DuckDB connection (closing
        # checkpoints the file) nor unlock the parent's lock: keep the connection
        # object alive forever and only close the child's lock descriptors.
        if self.con is not None:
            _ABANDONED_IN_CHILD.append(self.con)
        self.con = None
        self.idle_timer = None
        self.depth = 0
        self.thread_lock = threading.RLock()
        self.lock.forget()


_FILES: dict[Path, _StoreFile] = {}
_FILES_LOCK = threading.Lock()
_ABANDONED_IN_CHILD: list[duckdb.DuckDBPyConnection] = []


def _shared_file(path: Path) -> _StoreFile:
    key = Path(os.path.realpath(path))
    with _FILES_LOCK:
        if key not in _FILES:
            _FILES[key] = _StoreFile(key)
        return _FILES[key]


def _roll_back(con: duckdb.DuckDBPyConnection) -> None:
    # The error that made us roll back is the one to report; a connection that
    # cannot even roll back is closed by the caller right after.
    with suppress(duckdb.Error):
        con.execute("ROLLBACK")


@atexit.register
def _close_all() -> None:
    for store_file in list(_FILES.values()):
        # A thread stuck inside a transaction at exit must not hang the exit: the
        # kernel frees the lock anyway, and DuckDB replays its log on the next open.
        if store_file.thread_lock.acquire(timeout=5.0):
            try:
                store_file.close()
            finally:
                store_file.thread_lock.release()


def _forget_all_in_child() -> None:
    global _FILES_LOCK
    _FILES_LOCK = threading.Lock()
    for store_file in _FILES.values():
        store_file.forget_after_fork()


os.register_at_fork(after_in_child=_forget_all_in_child)


class Store:
    """A DuckDB store file, opened by this process only while it works on it.

    Args:
        path: the database file; ``None`` resolves ``$ABAE_DB`` or ``./abae.duckdb``.
            A folder, an existing file that is not a DuckDB database, or a new
            path named like a data file (``.csv``, ``.parquet``, ...) is refused.
        lock_timeout_s: how long to wait while other processes hold the store
            before giving up with :class:`StoreBusyError` (seconds, > 0).

    Raises:
        AbaeError: the path cannot be a store (see ``path``).
    """

    idle_release_s = 0.03
    """Seconds without a transaction after which the file is closed."""
    max_hold_s = 0.3
    """Seconds after which a process hands the store to a waiting process."""
    yield_s = 0.03
    """Seconds a process lets pass after handing the store over, before asking again."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, lock_timeout_s: float = 60.0
    ) -> None:
        if not lock_timeout_s > 0:
            raise ValueError(f"lock_timeout_s must be > 0 seconds, got {lock_timeout_s}")
        self.path: Path = check_store_path(resolve_db_path(path))
        self.lock_timeout_s = lock_timeout_s
        self._file = _shared_file(self.path)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def close(self) -> None:
        """Close the file and release the lock now (the next transaction reopens it)."""
        with self._file.thread_lock:
            if self._file.depth == 0:
                self._file.close()

    def lock_holder(self) -> LockHolder | None:
        """The process that holds the store now, or held it last (``None``: never locked)."""
        return self._file.lock.holder()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """``BEGIN``, yield the connection, ``COMMIT`` (``ROLLBACK`` on error).

        Nested use in one thread joins the open transaction. Other threads of
        this process wait for it to end; other processes wait for this process
        to close the file (at most ``lock_timeout_s``).

        Raises:
            StoreBusyError: other processes held the store for ``lock_timeout_s``.
        """
        store_file = self._file
        with store_file.thread_lock:
            if store_file.depth > 0:
                store_file.depth += 1
                try:
                    yield store_file.con  # type: ignore[misc]
                finally:
                    store_file.depth -= 1
                return
            store_file.cancel_timer()
            con = store_file.open(self.lock_timeout_s, self.yield_s)
            try:
                con.execute("BEGIN TRANSACTION")
                store_file.depth = 1
                try:
                    yield con
                except BaseException:
                    _roll_back(con)
                    raise
                con.execute("COMMIT")
            except BaseException:
                store_file.depth = 0
                store_file.close()
                raise
            store_file.depth = 0
            self._after_transaction(store_file)

    def _after_transaction(self, store_file: _StoreFile) -> None:
        held = time.monotonic() - store_file.opened_at
        if held >= self.max_hold_s and store_file.lock.someone_waits():
            store_file.close()
            store_file.resume_at = time.monotonic() + self.yield_s
            return
        timer = threading.Timer(self.idle_release_s, store_file.close_if_idle)
        timer.daemon = True
        store_file.idle_timer = timer
        timer.start()
