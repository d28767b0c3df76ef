"""The query log: every query's text, seed, budget, status and result.

A query's id and sampling seed are derived from its normalised text (and an
optional user seed), so a rerun after an interruption finds its log entry,
draws the same records and finds their labels in the ledger.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from abae.store.connection import Store


@dataclass(frozen=True)
class QueryLogEntry:
    """One logged query.

    Attributes:
        runs: how many times it was started (> 1 after a resume or a repeat).
        status: ``running``, ``done`` or ``failed``.
        result: the last result as a JSON-compatible dict, if finished.
    """

    query_id: str
    sql: str
    collection: str
    seed: int
    budget: int
    status: str
    runs: int
    started_at: datetime
    finished_at: datetime | None
    result: dict[str, Any] | None


class QueryLog:
    """Read and write ``abae_queries``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def begin(
        self, query_id: str, sql: str, collection: str, seed: int, budget: int
    ) -> QueryLogEntry:
        """Log the start of a run (a new entry, or ``runs + 1`` on an existing one)."""
        now = datetime.now()
        with self.store.transaction() as con:
            known = con.execute(
                "SELECT count(*) FROM abae_queries WHERE query_id = ?", [query_id]
            ).fetchall()[0][0]
            if not known:
                con.execute(
                    "INSERT INTO abae_queries (query_id, sql, collection, seed, budget, status, "
                    "runs, started_at) VALUES (?, ?, ?, ?, ?, 'running', 1, ?)",
                    [query_id, sql, collection, seed, budget, now],
                )
            else:
                con.execute(
                    "UPDATE abae_queries SET runs = runs + 1, status = 'running', "
                    "started_at = ? WHERE query_id = ?",
                    [now, query_id],
                )
        entry = self.get(query_id)
        assert entry is not None
        return entry

    def finish(self, query_id: str, status: str, result: dict[str, Any] | None) -> None:
        """Record the end of a run with its status and (JSON-compatible) result."""
        with self.store.transaction() as con:
            con.execute(
                "UPDATE abae_queries SET status = ?, finished_at = ?, result_json = ? "
                "WHERE query_id = ?",
                [status, datetime.now(), None if result is None else json.dumps(result), query_id],
            )

    def get(self, query_id: str) -> QueryLogEntry | None:
        """The entry for ``query_id``, or ``None``."""
        entries = self._select("WHERE query_id = ?", [query_id])
        return entries[0] if entries else None

    def entries(self) -> list[QueryLogEntry]:
        """All entries, oldest first."""
        return self._select("", [])

    def _select(self, where: str, params: list[object]) -> list[QueryLogEntry]:
        with self.store.transaction() as con:
            rows = con.execute(
                "SELECT query_id, sql, collection, seed, budget, status, runs, started_at, "
                f"finished_at, result_json FROM abae_queries {where} ORDER BY started_at",
                params,
            ).fetchall()
        return [
            QueryLogEntry(
                query_id=str(r[0]),
                sql=str(r[1]),
                collection=str(r[2]),
                seed=int(r[3]),
                budget=int(r[4]),
                status=str(r[5]),
                runs=int(r[6]),
                started_at=r[7],
                finished_at=r[8],
                result=None if r[9] is None else json.loads(r[9]),
            )
            for r in rows
        ]
