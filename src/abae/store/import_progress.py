"""Progress bars for long imports: records encoded in Python, and DuckDB's own statements.

Both draw a tqdm bar on stderr that appears only when the work lasts longer
than :data:`SHOW_AFTER_S`, so short imports stay quiet.

Example:
    >>> bar = record_bar(3, "encoding", enabled=False)
    >>> bar.update(3)
    >>> bar.close()
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import duckdb
from tqdm import tqdm

SHOW_AFTER_S = 0.5
"""Seconds a step must last before its bar is drawn."""
_POLL_S = 0.1


def record_bar(total: int | None, description: str, *, enabled: bool) -> tqdm[Any]:
    """A bar counting records (``total`` ``None``: unknown, e.g. video frames to decode)."""
    return tqdm(
        total=total,
        desc=description,
        unit="rec",
        unit_scale=True,
        file=sys.stderr,
        disable=not enabled,
        delay=SHOW_AFTER_S,
        dynamic_ncols=True,
    )


@contextmanager
def statement_progress(
    con: duckdb.DuckDBPyConnection, description: str, *, enabled: bool
) -> Iterator[None]:
    """Show the percentage DuckDB reports for the statements run inside the block.

    A thread polls :meth:`duckdb.DuckDBPyConnection.query_progress` (safe while
    the statement runs) and moves a 0-100 % bar.
    """
    if not enabled:
        yield
        return
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    done = threading.Event()
    bar = tqdm(
        total=100,
        desc=description,
        unit="%",
        file=sys.stderr,
        delay=SHOW_AFTER_S,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}",
        dynamic_ncols=True,
    )

    def poll() -> None:
        while not done.wait(_POLL_S):
            percent = con.query_progress()
            if percent >= 0:
                bar.n = min(percent, 100.0)
                bar.refresh()

    poller = threading.Thread(target=poll, name="abae-import-progress", daemon=True)
    poller.start()
    try:
        yield
    finally:
        done.set()
        poller.join()
        bar.close()
        # After a failed statement the transaction refuses everything; that
        # failure, not this clean-up, is what the caller must see.
        with suppress(duckdb.Error):
            con.execute("SET enable_progress_bar = false")
