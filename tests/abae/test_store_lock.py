"""The store lock: processes take turns, waiters get their turn, a refusal names the holder.

Helper processes are this file run as a script (see the bottom); they print a
line when they hold the store so that the test knows where they are.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abae.errors import AbaeError
from abae.store import Store, StoreBusyError
from abae.store.store_lock import StoreLock


def _helper(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _wait_for_line(process: subprocess.Popen[str], expected: str) -> None:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != expected:
        _, err = process.communicate(timeout=30)
        pytest.fail(f"helper printed {line!r} instead of {expected!r}:\n{err[-2000:]}")


def _create(path: Path) -> Store:
    store = Store(path)
    with store.transaction() as con:
        con.execute("CREATE TABLE IF NOT EXISTS events (who VARCHAR, n INTEGER)")
    store.close()
    return store


def test_a_waiting_process_gets_the_store_after_the_holder_commits(tmp_path: Path) -> None:
    store = _create(tmp_path / "s.duckdb")
    holder = _helper("hold", str(store.path), "1.0")
    _wait_for_line(holder, "holding")
    with store.transaction() as con:
        seen = con.execute("SELECT who FROM events").fetchall()
    holder.communicate(timeout=60)
    assert holder.returncode == 0
    assert seen == [("holder",)], "this process opened the store while the holder had it"


def test_busy_store_is_refused_naming_the_holder_then_freed_by_its_death(tmp_path: Path) -> None:
    store = _create(tmp_path / "s.duckdb")
    holder = _helper("hold", str(store.path), "60")
    _wait_for_line(holder, "holding")
    impatient = Store(store.path, lock_timeout_s=0.3)
    busy = rf"store .* is busy: process {holder.pid} "
    with pytest.raises(StoreBusyError, match=busy) as caught, impatient.transaction():
        pass
    assert caught.value.holder is not None
    assert caught.value.holder.pid == holder.pid
    assert "test_store_lock.py hold" in caught.value.holder.command
    copied = pickle.loads(pickle.dumps(caught.value))  # crosses process boundaries intact
    assert (str(copied), copied.holder) == (str(caught.value), caught.value.holder)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with impatient.transaction() as con:  # the kernel freed the dead holder's lock
        assert con.execute("SELECT who FROM events").fetchall() == []


def test_a_busy_holder_hands_the_store_to_a_waiter(tmp_path: Path) -> None:
    store = _create(tmp_path / "s.duckdb")
    marker = tmp_path / "holder-finished"
    busy = _helper("busy", str(store.path), "3.0", str(marker))
    _wait_for_line(busy, "holding")
    with store.transaction() as con:
        con.execute("INSERT INTO events VALUES ('waiter', 0)")
    got_in_before_the_end = not marker.exists()
    busy.communicate(timeout=60)
    assert busy.returncode == 0
    assert got_in_before_the_end, "the waiter only got the store when the busy process stopped"
    with store.transaction() as con:
        waiter_rows = con.execute("SELECT count(*) FROM events WHERE who = 'waiter'").fetchall()
        busy_rows = con.execute("SELECT count(*) FROM events WHERE who = 'busy'").fetchall()
    assert waiter_rows == [(1,)]
    assert busy_rows[0][0] > 1


def test_four_processes_create_one_store_and_increment_without_losing_an_update(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "new.duckdb")  # made by whichever worker comes first
    workers = [_helper("increment", str(store.path), "10") for _ in range(4)]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-2000:]
    with store.transaction() as con:
        assert con.execute("SELECT n FROM counter").fetchall() == [(40,)]


def test_stores_of_one_file_in_one_process_share_the_connection(tmp_path: Path) -> None:
    first = _create(tmp_path / "s.duckdb")
    link = tmp_path / "link.duckdb"
    link.symlink_to(first.path)
    second = Store(link)
    with first.transaction() as outer:
        outer.execute("INSERT INTO events VALUES ('first', 1)")
        with second.transaction() as inner:  # joins the open transaction instead of waiting
            assert inner.execute("SELECT count(*) FROM events").fetchall() == [(1,)]
    first.close()


def test_a_failed_transaction_rolls_back_and_releases_the_lock(tmp_path: Path) -> None:
    store = _create(tmp_path / "s.duckdb")

    def fail_inside_a_transaction() -> None:
        with store.transaction() as con:
            con.execute("INSERT INTO events VALUES ('lost', 1)")
            raise ZeroDivisionError("the work failed")

    with pytest.raises(ZeroDivisionError):
        fail_inside_a_transaction()
    lock = StoreLock(store.path)
    lock.acquire(timeout_s=1.0)  # free again: the failed transaction closed the file
    lock.close()
    with store.transaction() as con:
        assert con.execute("SELECT count(*) FROM events").fetchall() == [(0,)]


def test_a_program_outside_abae_holding_the_file_gives_a_clear_error(tmp_path: Path) -> None:
    store = _create(tmp_path / "s.duckdb")
    outsider = _helper("duckdb", str(store.path))
    _wait_for_line(outsider, "holding")
    try:
        with pytest.raises(AbaeError, match="program other than abae"), store.transaction():
            pass
    finally:
        outsider.kill()
        outsider.wait(timeout=30)


def test_lock_timeout_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lock_timeout_s must be > 0"):
        Store(tmp_path / "s.duckdb", lock_timeout_s=0)


# --- helper processes ---------------------------------------------------------------------


def _hold(db: str, seconds: float) -> None:
    """One transaction that writes a row and keeps the store for ``seconds``."""
    store = Store(db)
    with store.transaction() as con:
        con.execute("INSERT INTO events VALUES ('holder', 1)")
        print("holding", flush=True)
        time.sleep(seconds)


def _busy(db: str, seconds: float, marker: str) -> None:
    """Back-to-back short transactions for ``seconds``, then a marker file."""
    store = Store(db)
    deadline = time.monotonic() + seconds
    first = True
    while time.monotonic() < deadline:
        with store.transaction() as con:
            con.execute("INSERT INTO events VALUES ('busy', 1)")
            if first:
                print("holding", flush=True)
                first = False
    store.close()
    Path(marker).write_text("done")


def _increment(db: str, times: int) -> None:
    store = Store(db, lock_timeout_s=120.0)
    with store.transaction() as con:
        con.execute("CREATE TABLE IF NOT EXISTS counter (n INTEGER)")
        con.execute("INSERT INTO counter SELECT 0 WHERE NOT EXISTS (SELECT * FROM counter)")
    for _ in range(times):
        with store.transaction() as con:
            (value,) = con.execute("SELECT n FROM counter").fetchall()[0]
            con.execute("UPDATE counter SET n = ?", [value + 1])
        store.close()  # hand over after every increment: as many turns as possible


def _hold_without_abae(db: str) -> None:
    import duckdb

    con = duckdb.connect(db)
    print("holding", flush=True)
    time.sleep(60)
    con.close()


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "hold":
        _hold(rest[0], float(rest[1]))
    elif command == "busy":
        _busy(rest[0], float(rest[1]), rest[2])
    elif command == "increment":
        _increment(rest[0], int(rest[1]))
    elif command == "duckdb":
        _hold_without_abae(rest[0])
