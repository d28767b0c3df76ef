"""The inter-process lock that lets several processes share one store file.

DuckDB lets one process at a time have a database file open for writing. So
that several ``abae`` processes can use one store, a process takes an OS lock
(``flock``) *before* it opens the DuckDB file and releases it only *after* it
has closed it: no two processes ever have the file open at once, and DuckDB's
own lock is never contended. The kernel drops the lock when its process dies
(even after ``kill -9``), so a crash never leaves the store locked.

Two small files sit beside the store ``S`` and are never deleted (deleting a
lock file while another process waits on it would split the lock in two):

- ``S.lock``: the store lock; it also holds who has it (pid, host, command,
  since when) so that a process that gives up can say who kept it waiting.
- ``S.lock.queue``: a turnstile for fairness. A process that wants the store
  first takes the turnstile, then waits for the store lock, then lets the
  turnstile go. A waiting process therefore sits in the turnstile while the
  holder works, and the holder, once it lets go, cannot take the store back
  before that waiter has had it. A holder sees that someone waits when it
  cannot take the turnstile itself (:meth:`StoreLock.someone_waits`).

Waiting is polling with a short, growing, jittered sleep (0.5 ms up to 10 ms),
and gives up after a timeout with :class:`StoreBusyError` naming the holder.
A holder that hands the store over to a waiter pauses a little longer than
that before it asks again (:attr:`abae.store.connection.Store.yield_s`), so
that the other waiters take the turnstile first and every process gets turns.

Example:
    >>> import os, tempfile
    >>> lock = StoreLock(os.path.join(tempfile.mkdtemp(), "example.duckdb"))
    >>> lock.acquire(timeout_s=1.0)
    >>> lock.held, lock.holder().pid == os.getpid()
    (True, True)
    >>> lock.release()
    >>> lock.held
    False
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from abae.errors import AbaeError

LOCK_SUFFIX = ".lock"
QUEUE_SUFFIX = ".lock.queue"

_FIRST_POLL_S = 0.0005
_LONGEST_POLL_S = 0.01
_HOLDER_BYTES = 4096


@dataclass(frozen=True)
class LockHolder:
    """The process that holds (or last held) a store's lock.

    Attributes:
        pid: its process id.
        host: the machine it runs on.
        command: its command line (shortened).
        since: when it took the lock (seconds since the epoch).
    """

    pid: int
    host: str
    command: str
    since: float

    def describe(self, now: float | None = None) -> str:
        """``process 1234 on host (abae import x.csv), holding it for 3.2 s``."""
        held = (time.time() if now is None else now) - self.since
        return (
            f"process {self.pid} on {self.host} ({self.command}), holding it for {held:.1f} s "
            f"since {datetime.fromtimestamp(self.since).strftime('%H:%M:%S')}"
        )


class StoreBusyError(AbaeError):
    """Another process kept the store for longer than this process was willing to wait.

    Attributes:
        path: the store file.
        holder: who held it when this process gave up (``None`` if unknown).
        waited_s: how long this process waited (seconds).
    """

    def __init__(self, path: Path, holder: LockHolder | None, waited_s: float) -> None:
        who = holder.describe() if holder is not None else "another process"
        super().__init__(
            f"store {path} is busy: {who}; gave up after waiting {waited_s:.1f} s. Retry when "
            "it has finished, or wait longer (--lock-timeout SECONDS, or "
            "Store(..., lock_timeout_s=...))"
        )
        self.path = path
        self.holder = holder
        self.waited_s = waited_s

    def __reduce__(self) -> tuple[type[StoreBusyError], tuple[Path, LockHolder | None, float]]:
        return (type(self), (self.path, self.holder, self.waited_s))


def _open_lock_file(path: Path) -> tuple[int, bool]:
    """An fd on ``path`` (created if needed) and whether it is writable."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666), True
    except PermissionError:
        pass
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC), False
    except OSError as error:
        raise AbaeError(
            f"cannot create the lock file {path} beside the store: {error.strerror}; the store's "
            "folder must be writable"
        ) from error


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class StoreLock:
    """The ``flock`` pair guarding one store file (see the module docstring).

    Not thread-safe: the owning :class:`~abae.store.connection.Store` serialises
    its threads. Each instance opens its own file descriptions, so two instances
    exclude each other even inside one process.

    Args:
        store_path: the DuckDB store file the lock guards (need not exist yet).
    """

    def __init__(self, store_path: str | os.PathLike[str]) -> None:
        store_path = Path(store_path)
        self.store_path = store_path
        self.lock_path = store_path.with_name(store_path.name + LOCK_SUFFIX)
        self.queue_path = store_path.with_name(store_path.name + QUEUE_SUFFIX)
        self._lock_fd: int | None = None
        self._queue_fd: int | None = None
        self._writable = False
        self.held = False

    def _fds(self) -> tuple[int, int]:
        if self._lock_fd is None or self._queue_fd is None:
            if not self.store_path.parent.is_dir():
                raise AbaeError(
                    f"cannot open store {self.store_path}: folder {self.store_path.parent} "
                    "does not exist"
                )
            self._lock_fd, self._writable = _open_lock_file(self.lock_path)
            self._queue_fd, _ = _open_lock_file(self.queue_path)
        return self._lock_fd, self._queue_fd

    def acquire(self, timeout_s: float) -> None:
        """Take the store lock, waiting in turn behind processes that wait already.

        Raises:
            StoreBusyError: not granted within ``timeout_s`` seconds.
        """
        if self.held:
            raise RuntimeError(f"the lock of {self.store_path} is already held by this instance")
        lock_fd, queue_fd = self._fds()
        started = time.monotonic()
        deadline = started + timeout_s
        self._wait_for(queue_fd, deadline, started)
        try:
            self._wait_for(lock_fd, deadline, started)
        finally:
            fcntl.flock(queue_fd, fcntl.LOCK_UN)
        self.held = True
        self._write_holder()

    def _wait_for(self, fd: int, deadline: float, started: float) -> None:
        pause = _FIRST_POLL_S
        while not _try_flock(fd):
            now = time.monotonic()
            if now >= deadline:
                raise StoreBusyError(self.store_path, self.holder(), now - started)
            time.sleep(min(pause * (0.5 + random.random()), max(deadline - now, 0.0)))
            pause = min(pause * 1.5, _LONGEST_POLL_S)

    def release(self) -> None:
        """Let the store lock go (the DuckDB file must be closed by now)."""
        if not self.held or self._lock_fd is None:
            return
        self.held = False
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def someone_waits(self) -> bool:
        """Whether another process sits in the turnstile, waiting for the store (holder only)."""
        if self._queue_fd is None:
            return False
        if not _try_flock(self._queue_fd):
            return True
        fcntl.flock(self._queue_fd, fcntl.LOCK_UN)
        return False

    def holder(self) -> LockHolder | None:
        """Who holds the lock now, or held it last (``None`` if nobody wrote it down)."""
        try:
            with open(self.lock_path, "rb") as file:
                data = json.loads(file.read(_HOLDER_BYTES).decode())
            return LockHolder(
                pid=int(data["pid"]),
                host=str(data["host"]),
                command=str(data["command"]),
                since=float(data["since"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_holder(self) -> None:
        if not self._writable or self._lock_fd is None:
            return
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command[:200],
            "since": time.time(),
        }
        data = json.dumps(record).encode()[:_HOLDER_BYTES]
        try:
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, data, 0)
        except OSError:
            pass  # who holds the lock is for messages only; a full disk must not stop work

    def close(self) -> None:
        """Release the lock if held and close the lock files."""
        self.release()
        self.forget()

    def forget(self) -> None:
        """Close this instance's descriptors without unlocking (in a forked child).

        A child of ``fork`` shares its parent's lock; closing its copies of the
        descriptors leaves the parent's lock in place, while an explicit unlock
        would release it for the parent too.
        """
        for fd in (self._lock_fd, self._queue_fd):
            if fd is not None:
                os.close(fd)
        self._lock_fd = self._queue_fd = None
        self.held = False
