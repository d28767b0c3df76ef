"""The label ledger and the claims that keep a query inside its budget.

Two tables (see :mod:`abae.store.schema`):

- ``abae_labels`` holds one label per (collection, record, oracle): a predicate
  and/or a statistic, its cost, when it was made and by which query. A label in
  the ledger is never bought again.
- ``abae_claims`` holds one row per oracle call a query decided to make, written
  *before* the call. A query's spend is the number of distinct records it has
  claimed; a claim is granted only while the spend stays within the budget, in
  the same transaction that checks it, so the budget holds even with several
  processes on one store. A claim whose owner died (Ctrl-C, ``kill -9``) before
  writing its label is marked ``lost``: it was possibly paid, so it stays
  charged and is never called again for that query.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import numpy as np

from abae.store.connection import Store
from abae.store.identifiers import validate_identifier, validate_user_table

STALE_CLAIM_AFTER = timedelta(hours=6)


@dataclass(frozen=True)
class Label:
    """One oracle output for one record.

    Attributes:
        predicate: the oracle's yes/no answer, or ``None`` for value oracles.
        statistic: the oracle's number, or ``None`` for predicate oracles.
        cost: what the call cost (the oracle's declared cost; 0 for free).
    """

    record_id: int
    oracle: str
    predicate: bool | None
    statistic: float | None
    cost: float = 0.0
    query_id: str = ""


@dataclass(frozen=True)
class ClaimOwner:
    """Who holds a claim: a per-process token plus host and pid (to detect dead owners)."""

    token: str
    host: str
    pid: int

    @classmethod
    def this_process(cls) -> ClaimOwner:
        return cls(token=uuid.uuid4().hex, host=socket.gethostname(), pid=os.getpid())


@dataclass(frozen=True)
class Claim:
    """The answer to a claim request for some records of one oracle.

    Attributes:
        granted: records this caller may now call the oracle on (in request order).
        waiting: records another live caller is labelling right now; poll again.
        over_budget: records refused because the query's budget is spent.
        lost: records this query claimed earlier whose label never arrived
            (failed, or the run was killed); they stay charged and are left out.
    """

    granted: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    over_budget: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class OracleSummary:
    """Ledger totals for one (collection, oracle)."""

    collection: str
    oracle: str
    labels: int
    positives: int
    mean_statistic: float | None
    total_cost: float


@dataclass(frozen=True)
class LedgerSummary:
    """What ``abae labels`` prints: totals per oracle and spend per query."""

    oracles: list[OracleSummary]
    queries: list[dict[str, object]]


def _owner_alive(host: str, pid: int, claimed_at: datetime, now: datetime) -> bool:
    if now - claimed_at > STALE_CLAIM_AFTER:
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LabelLedger:
    """Labels and claims of one collection.

    Args:
        store: the store.
        collection: the collection the record ids refer to.
    """

    def __init__(self, store: Store, collection: str) -> None:
        self.store = store
        self.collection = validate_user_table(collection)

    def lookup(self, oracle: str, record_ids: Iterable[int]) -> dict[int, Label]:
        """Labels already in the ledger for these records (record id → label)."""
        validate_identifier(oracle, what="oracle name")
        ids = np.fromiter((int(i) for i in record_ids), dtype=np.int64)
        if ids.size == 0:
            return {}
        with self.store.transaction() as con:
            con.register("abae_lookup_ids", {"id": ids})
            try:
                rows = con.execute(
                    "SELECT l.record_id, l.predicate, l.statistic, l.cost, l.query_id "
                    "FROM abae_labels l JOIN abae_lookup_ids w ON l.record_id = w.id "
                    "WHERE l.collection = ? AND l.oracle = ?",
                    [self.collection, oracle],
                ).fetchall()
            finally:
                con.unregister("abae_lookup_ids")
        return {
            int(r[0]): Label(
                record_id=int(r[0]),
                oracle=oracle,
                predicate=None if r[1] is None else bool(r[1]),
                statistic=None if r[2] is None else float(r[2]),
                cost=float(r[3]),
                query_id=str(r[4]),
            )
            for r in rows
        }

    def claim(
        self,
        query_id: str,
        budget: int,
        owner: ClaimOwner,
        oracle: str,
        record_ids: Iterable[int],
    ) -> Claim:
        """Claim oracle calls for records that have no label yet, within the query's budget.

        One transaction checks the ledger, the other claims and the spend, then writes
        the granted claims; records already labelled are simply not returned.
        """
        validate_identifier(oracle, what="oracle name")
        with self.store.transaction() as con:
            return self._claim(con, query_id, budget, owner, oracle, record_ids)

    def sync(
        self,
        query_id: str,
        budget: int,
        owner: ClaimOwner,
        oracle: str,
        *,
        claim_ids: Iterable[int] = (),
        labels: Iterable[Label] = (),
        attempts: Mapping[int, int] | None = None,
        failures: Mapping[int, tuple[str, int]] | None = None,
    ) -> Claim:
        """:meth:`record` finished calls, then :meth:`claim` new ones, in one transaction."""
        validate_identifier(oracle, what="oracle name")
        with self.store.transaction() as con:
            self._record(
                con, query_id, list(labels), dict(attempts or {}), dict(failures or {}), oracle
            )
            return self._claim(con, query_id, budget, owner, oracle, claim_ids)

    def _claim(
        self,
        con: duckdb.DuckDBPyConnection,
        query_id: str,
        budget: int,
        owner: ClaimOwner,
        oracle: str,
        record_ids: Iterable[int],
    ) -> Claim:
        ids = [int(i) for i in dict.fromkeys(int(i) for i in record_ids)]
        outcome = Claim()
        if not ids:
            return outcome
        now = datetime.now()
        id_array = np.asarray(ids, dtype=np.int64)
        con.register("abae_claim_ids", {"id": id_array})
        try:
            labelled = {
                int(r[0])
                for r in con.execute(
                    "SELECT l.record_id FROM abae_labels l JOIN abae_claim_ids w "
                    "ON l.record_id = w.id WHERE l.collection = ? AND l.oracle = ?",
                    [self.collection, oracle],
                ).fetchall()
            }
            claims = con.execute(
                "SELECT c.record_id, c.query_id, c.owner, c.host, c.pid, c.state, "
                "c.claimed_at FROM abae_claims c JOIN abae_claim_ids w ON c.record_id = w.id "
                "WHERE c.collection = ? AND c.oracle = ?",
                [self.collection, oracle],
            ).fetchall()
        finally:
            con.unregister("abae_claim_ids")
        blocked: dict[int, str] = {}
        for record_id, claim_query, claim_owner, host, pid, state, claimed_at in claims:
            record_id = int(record_id)
            if record_id in labelled:
                continue
            if state == "pending":
                if claim_owner == owner.token:
                    blocked[record_id] = "waiting"
                    continue
                if _owner_alive(str(host), int(pid), claimed_at, now):
                    blocked[record_id] = "waiting"
                    continue
                con.execute(
                    "UPDATE abae_claims SET state = 'lost', finished_at = ? "
                    "WHERE query_id = ? AND collection = ? AND record_id = ? AND oracle = ?",
                    [now, claim_query, self.collection, record_id, oracle],
                )
                state = "lost"
            if claim_query == query_id and blocked.get(record_id) != "waiting":
                blocked[record_id] = "lost"
        spent_row = con.execute(
            "SELECT count(DISTINCT record_id) FROM abae_claims "
            "WHERE query_id = ? AND collection = ?",
            [query_id, self.collection],
        ).fetchone()
        spent = int(spent_row[0]) if spent_row else 0
        charged = {
            int(r[0])
            for r in con.execute(
                "SELECT DISTINCT record_id FROM abae_claims WHERE query_id = ? AND collection = ?",
                [query_id, self.collection],
            ).fetchall()
        }
        granted: list[int] = []
        for record_id in ids:
            if record_id in labelled:
                continue
            kind = blocked.get(record_id)
            if kind == "waiting":
                outcome.waiting.append(record_id)
            elif kind == "lost":
                outcome.lost.append(record_id)
            elif record_id in charged:
                granted.append(record_id)
            elif spent < budget:
                spent += 1
                charged.add(record_id)
                granted.append(record_id)
            else:
                outcome.over_budget.append(record_id)
        if granted:
            n = len(granted)
            con.register(
                "abae_new_claims",
                {
                    "record_id": np.asarray(granted, dtype=np.int64),
                    "query_id": np.array([query_id] * n, dtype=object),
                },
            )
            try:
                con.execute(
                    "INSERT INTO abae_claims (query_id, collection, record_id, oracle, owner, "
                    "host, pid, state, attempts, claimed_at) SELECT query_id, ?, record_id, ?, "
                    "?, ?, ?, 'pending', 0, ? FROM abae_new_claims",
                    [self.collection, oracle, owner.token, owner.host, owner.pid, now],
                )
            finally:
                con.unregister("abae_new_claims")
        outcome.granted.extend(granted)
        return outcome

    def record(
        self,
        query_id: str,
        labels: Iterable[Label],
        attempts: Mapping[int, int],
        failures: Mapping[int, tuple[str, int]] | None = None,
        *,
        oracle: str,
    ) -> None:
        """Write labels (and failed calls) of one oracle and close their claims, in one transaction.

        Args:
            labels: new labels, each for ``oracle``.
            attempts: record id → attempts made (for accounting).
            failures: record id → (error message, attempts) for calls that failed for good.
        """
        validate_identifier(oracle, what="oracle name")
        with self.store.transaction() as con:
            self._record(con, query_id, list(labels), dict(attempts), dict(failures or {}), oracle)

    def _record(
        self,
        con: duckdb.DuckDBPyConnection,
        query_id: str,
        labels: list[Label],
        attempts: dict[int, int],
        failures: dict[int, tuple[str, int]],
        oracle: str,
    ) -> None:
        now = datetime.now()
        if labels:
            con.register(
                "abae_new_labels",
                {
                    "record_id": np.array([lb.record_id for lb in labels], dtype=np.int64),
                    "predicate": np.array([lb.predicate for lb in labels], dtype=object),
                    "statistic": np.array(
                        [np.nan if lb.statistic is None else lb.statistic for lb in labels],
                        dtype=np.float64,
                    ),
                    "has_statistic": np.array([lb.statistic is not None for lb in labels]),
                    "cost": np.array([lb.cost for lb in labels], dtype=np.float64),
                    "attempts": np.array(
                        [attempts.get(lb.record_id, 1) for lb in labels], dtype=np.int64
                    ),
                },
            )
            try:
                con.execute(
                    "INSERT OR REPLACE INTO abae_labels SELECT ?, record_id, ?, "
                    "CAST(predicate AS BOOLEAN), "
                    "CASE WHEN has_statistic THEN statistic END, cost, ?, ? "
                    "FROM abae_new_labels",
                    [self.collection, oracle, now, query_id],
                )
                con.execute(
                    "UPDATE abae_claims AS c SET state = 'done', attempts = n.attempts, "
                    "finished_at = ? FROM abae_new_labels n WHERE c.query_id = ? AND "
                    "c.collection = ? AND c.oracle = ? AND c.record_id = n.record_id",
                    [now, query_id, self.collection, oracle],
                )
            finally:
                con.unregister("abae_new_labels")
        for record_id, (message, tries) in failures.items():
            con.execute(
                "UPDATE abae_claims SET state = 'failed', attempts = ?, error = ?, "
                "finished_at = ? WHERE query_id = ? AND collection = ? AND record_id = ? "
                "AND oracle = ?",
                [tries, message[:500], now, query_id, self.collection, record_id, oracle],
            )

    def spent(self, query_id: str) -> int:
        """Distinct records the query has claimed (its spend against the budget)."""
        with self.store.transaction() as con:
            row = con.execute(
                "SELECT count(DISTINCT record_id) FROM abae_claims "
                "WHERE query_id = ? AND collection = ?",
                [query_id, self.collection],
            ).fetchone()
        return int(row[0]) if row else 0

    def claim_states(self, query_id: str) -> dict[str, int]:
        """Claims of a query by state (``pending``, ``done``, ``failed``, ``lost``)."""
        with self.store.transaction() as con:
            rows = con.execute(
                "SELECT state, count(*) FROM abae_claims WHERE query_id = ? AND collection = ? "
                "GROUP BY state",
                [query_id, self.collection],
            ).fetchall()
        return {str(s): int(n) for s, n in rows}


def summarize_ledger(store: Store) -> LedgerSummary:
    """Totals per (collection, oracle) and spend per logged query."""
    with store.transaction() as con:
        rows = con.execute(
            "SELECT collection, oracle, count(*), count(*) FILTER (WHERE predicate), "
            "avg(statistic), coalesce(sum(cost), 0) FROM abae_labels "
            "GROUP BY collection, oracle ORDER BY collection, oracle"
        ).fetchall()
        query_rows = con.execute(
            "SELECT q.query_id, q.collection, q.budget, q.status, q.runs, q.sql, "
            "count(DISTINCT c.record_id), count(c.record_id) FILTER (WHERE c.state = 'failed'), "
            "count(c.record_id) FILTER (WHERE c.state = 'lost') "
            "FROM abae_queries q LEFT JOIN abae_claims c ON c.query_id = q.query_id "
            "GROUP BY ALL ORDER BY min(q.started_at)"
        ).fetchall()
    oracles = [
        OracleSummary(
            collection=str(r[0]),
            oracle=str(r[1]),
            labels=int(r[2]),
            positives=int(r[3]),
            mean_statistic=None if r[4] is None else float(r[4]),
            total_cost=float(r[5]),
        )
        for r in rows
    ]
    queries: list[dict[str, object]] = [
        {
            "query_id": str(r[0]),
            "collection": str(r[1]),
            "budget": int(r[2]),
            "status": str(r[3]),
            "runs": int(r[4]),
            "sql": str(r[5]),
            "spent": int(r[6]),
            "failed": int(r[7]),
            "lost": int(r[8]),
        }
        for r in query_rows
    ]
    return LedgerSummary(oracles=oracles, queries=queries)


def abandon_claims(store: Store, owner: ClaimOwner) -> int:
    """Mark ``owner``'s unfinished claims ``lost`` (after an interruption); returns how many."""
    now = datetime.now()
    with store.transaction() as con:
        row = con.execute(
            "SELECT count(*) FROM abae_claims WHERE owner = ? AND state = 'pending'", [owner.token]
        ).fetchone()
        con.execute(
            "UPDATE abae_claims SET state = 'lost', finished_at = ? "
            "WHERE owner = ? AND state = 'pending'",
            [now, owner.token],
        )
    return int(row[0]) if row else 0
