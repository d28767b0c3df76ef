"""The label ledger, and the claims that keep a query inside its call budget and money cap.

Two tables (see :mod:`abae.store.schema`):

- ``abae_labels`` holds one label per (collection, record, oracle key): a
  predicate, a statistic and/or a category, its money and tokens, when it was
  made and by which query. A label in the ledger is never bought again. The
  oracle key is the oracle's name, or ``name@version`` when the oracle's answers
  depend on a model and a prompt: changing either makes a new version whose
  labels start empty, so old answers are never reused silently.
- ``abae_claims`` holds one row per (query, record, oracle key) the query decided
  to call, written *before* the call. A query's call spend is the number of
  distinct records it has claimed; its money is the sum over its claims of the
  money settled (``cost_spent``) and the money reserved for calls in flight
  (``cost_reserved``, the worst case). Both are checked in the same transaction
  that grants a claim, so ``ORACLE LIMIT`` and the money cap hold with several
  processes on one store and across resumed runs.

States of a claim: ``pending`` (granted, the call may be in flight), ``done``
(its label is written), ``failed`` (the oracle failed for good; the error and
any raw answer are kept), ``lost`` (its owner died, or stopped without an
answer, while the call was possibly in flight: the reserved money stays spent).
A later run of the same query calls a ``lost`` record again without charging
its budget again (the record already counts once); ``failed`` records are called
again only when asked (``retry_failed``). A claim that was granted but never sent
is released (deleted) by its owner, so it costs nothing.
"""

from __future__ import annotations

import math
import os
import re
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import duckdb

from abae.store.connection import Store
from abae.store.identifiers import validate_identifier, validate_user_table

STALE_CLAIM_AFTER = timedelta(hours=6)
MAX_TEXT_IN_LEDGER = 2000
"""Longest error message or raw answer kept in the ledger (characters)."""

_VERSION = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def oracle_key(name: str, version: str = "") -> str:
    """The ledger key of an oracle: ``name``, or ``name@version`` for a versioned oracle."""
    validate_identifier(name, what="oracle name")
    if not version:
        return name
    if not _VERSION.match(version):
        raise ValueError(
            f"oracle {name!r}: version must be 1-64 letters, digits, '.', '_' or '-', "
            f"got {version!r}"
        )
    return f"{name}@{version}"


def split_oracle_key(key: str) -> tuple[str, str]:
    """``(name, version)`` of a ledger key (version ``""`` when unversioned); validates it."""
    name, _, version = key.partition("@")
    oracle_key(name, version)
    return name, version


@dataclass(frozen=True)
class Label:
    """One oracle output for one record.

    Attributes:
        record_id: the record.
        oracle: the oracle's name.
        predicate: the oracle's yes/no answer, or ``None``.
        statistic: the oracle's number, or ``None``.
        cost: the money this record's calls cost (settled usage, or the declared cost).
        query_id: the query that bought it.
        category: the answer of a category oracle (one of its declared names), or ``None``.
        input_tokens: prompt tokens of the answer (0 for oracles without token usage).
        output_tokens: completion tokens of the answer.
        version: the oracle version that answered (``""`` for unversioned oracles).
        raw_answer: the model's raw text, for oracles that answer in text.
    """

    record_id: int
    oracle: str
    predicate: bool | None
    statistic: float | None
    cost: float = 0.0
    query_id: str = ""
    category: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    version: str = ""
    raw_answer: str | None = None


class FailedCall(NamedTuple):
    """A call that failed for good: the message, the attempts made, the raw answer if any."""

    message: str
    attempts: int
    raw_answer: str | None = None


@dataclass(frozen=True)
class MoneyUpdate:
    """Money and tokens of one record's attempts since the owner's last write.

    Attributes:
        spent: money of attempts finished since the last write (added to the claim).
        reserved: money reserved now for an attempt still to come or in flight
            (replaces the claim's reservation; 0 once the record is finished).
        input_tokens: prompt tokens of those attempts (added).
        output_tokens: completion tokens of those attempts (added).
    """

    spent: float = 0.0
    reserved: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class ClaimOwner:
    """Who holds a claim: a per-runtime token plus host and pid (to detect dead owners)."""

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
        granted: records this caller may now call the oracle on (in request order),
            each with ``price`` reserved.
        waiting: records another live caller is labelling right now; poll again.
        over_budget: records refused because the query's call budget is spent.
        lost: records this query claimed earlier whose label never arrived, left out
            because the caller asked not to call them again.
        over_cost: records refused because the money settled so far plus their
            worst-case price would pass the query's money cap.
        failed: records whose call failed for good in an earlier run of this query
            (record id → the error), left out unless ``retry_failed``.
        recalled: the granted records that this query had claimed before (record id →
            that claim's state, ``"lost"`` or ``"failed"``): called again without
            charging the budget again.
        money_waiting: records that do not fit under the money cap now, but would once
            the calls in flight (of any process) have settled below their worst case;
            claim them again later.
        reserved: records of ``reserve_ids`` whose next attempt got its reservation.
        reserve_refused: records of ``reserve_ids`` refused by the money cap.
        reserve_later: records of ``reserve_ids`` that fit once calls in flight settle.
    """

    granted: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    over_budget: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    over_cost: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    recalled: dict[int, str] = field(default_factory=dict)
    money_waiting: list[int] = field(default_factory=list)
    reserved: list[int] = field(default_factory=list)
    reserve_refused: list[int] = field(default_factory=list)
    reserve_later: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class OracleSummary:
    """Ledger totals for one (collection, oracle version)."""

    collection: str
    oracle: str
    labels: int
    positives: int
    mean_statistic: float | None
    total_cost: float
    version: str = ""
    description: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    yes_no_labels: int = 0
    """Labels that answered yes or no (``positives`` counts only among them)."""


@dataclass(frozen=True)
class LedgerSummary:
    """What ``abae labels`` prints: totals per oracle version and spend per query.

    Each query row holds ``query_id``, ``collection``, ``budget``, ``status``,
    ``runs``, ``sql``, ``spent`` (records charged), ``failed``, ``lost``,
    ``money`` (settled plus reserved), ``input_tokens`` and ``output_tokens``.
    """

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


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:MAX_TEXT_IN_LEDGER]


@dataclass
class _ClaimRow:
    query_id: str
    owner: str
    host: str
    pid: int
    state: str
    claimed_at: datetime
    error: str | None


@dataclass
class _ClaimState:
    """What the ledger holds about the records a claim asks for (see ``LabelLedger._claim``).

    Attributes:
        labelled: records that already have the oracle's label.
        claims: record → its claims by any query for the oracle.
        charged: record → the owner it is charged to, for records this query was charged.
        spent: records charged to the query so far.
    """

    labelled: set[int] = field(default_factory=set)
    claims: dict[int, list[_ClaimRow]] = field(default_factory=dict)
    charged: dict[int, str] = field(default_factory=dict)
    spent: int = 0


class LabelLedger:
    """Labels and claims of one collection.

    Args:
        store: the store.
        collection: the collection the record ids refer to.

    Methods that take ``oracle`` take its ledger key (:func:`oracle_key`).
    """

    def __init__(self, store: Store, collection: str) -> None:
        self.store = store
        self.collection = validate_user_table(collection)

    # --- labels ---------------------------------------------------------------------

    def lookup(self, oracle: str, record_ids: Iterable[int]) -> dict[int, Label]:
        """Labels already in the ledger for these records (record id → label)."""
        name, version = split_oracle_key(oracle)
        ids = [int(i) for i in record_ids]
        if not ids:
            return {}
        with self.store.transaction() as con:
            rows = self._with_ids(
                con,
                ids,
                "SELECT l.record_id, l.predicate, l.statistic, l.cost, l.query_id, "
                "l.category, l.input_tokens, l.output_tokens, l.raw_answer "
                "FROM abae_labels l JOIN abae_ids w ON l.record_id = w.id "
                "WHERE l.collection = ? AND l.oracle = ?",
                [self.collection, oracle],
            )
        return {
            int(r[0]): Label(
                record_id=int(r[0]),
                oracle=name,
                predicate=None if r[1] is None else bool(r[1]),
                statistic=None if r[2] is None else float(r[2]),
                cost=float(r[3]),
                query_id=str(r[4]),
                category=None if r[5] is None else str(r[5]),
                input_tokens=int(r[6] or 0),
                output_tokens=int(r[7] or 0),
                version=version,
                raw_answer=None if r[8] is None else str(r[8]),
            )
            for r in rows
        }

    def describe_version(self, oracle: str, description: str) -> None:
        """Remember what a versioned oracle key stands for (first description wins)."""
        name, version = split_oracle_key(oracle)
        if not version:
            return
        with self.store.transaction() as con:
            con.execute(
                "INSERT OR IGNORE INTO abae_oracle_versions VALUES (?, ?, ?, ?, ?)",
                [oracle, name, version, description, datetime.now()],
            ).fetchall()

    # --- claims ---------------------------------------------------------------------

    def claim(
        self,
        query_id: str,
        budget: int,
        owner: ClaimOwner,
        oracle: str,
        record_ids: Iterable[int],
        *,
        price: float = 0.0,
        cost_limit: float = math.inf,
        retry_failed: bool = False,
        recall_lost: bool = False,
    ) -> Claim:
        """Claim oracle calls for records that have no label yet, within budget and money cap.

        One transaction checks the ledger, the other claims, the spend and the money,
        then writes the granted claims; records already labelled are simply not returned.

        Args:
            price: money reserved per granted record (the worst case of one call).
            cost_limit: the query's money cap (``inf``: none).
            retry_failed: call again records whose call failed in an earlier run.
            recall_lost: call again records whose earlier call was lost (without charging
                the budget again); ``False`` (the default): report them in ``lost``.
        """
        return self.sync(
            query_id,
            budget,
            owner,
            oracle,
            claim_ids=record_ids,
            price=price,
            cost_limit=cost_limit,
            retry_failed=retry_failed,
            recall_lost=recall_lost,
        )

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
        failures: Mapping[int, FailedCall | tuple[str, int]] | None = None,
        money: Mapping[int, MoneyUpdate] | None = None,
        release: Mapping[int, str] | None = None,
        reserve_ids: Iterable[int] = (),
        price: float = 0.0,
        cost_limit: float = math.inf,
        retry_failed: bool = False,
        recall_lost: bool = False,
    ) -> Claim:
        """One transaction: release unsent claims, record finished calls, reserve, claim.

        Args:
            claim_ids: records to claim (see :meth:`claim`).
            labels: new labels of ``oracle`` (their claims become ``done``).
            attempts: record id → attempts made (for accounting).
            failures: record id → :class:`FailedCall` for calls that failed for good.
            money: record id → :class:`MoneyUpdate` for this owner's claims.
            release: record id → the state to restore for claims that were granted but
                never sent (``"new"``: delete the claim, nothing was spent).
            reserve_ids: records this owner holds that need a reservation of ``price``
                for another attempt (a retry); refused beyond the money cap.
        """
        split_oracle_key(oracle)
        if price < 0 or math.isnan(price):
            raise ValueError(f"price must be >= 0, got {price}")
        with self.store.transaction() as con:
            if release:
                self._release(con, query_id, owner, oracle, release)
            self._record(
                con,
                query_id,
                list(labels),
                dict(attempts or {}),
                {k: FailedCall(*v) for k, v in (failures or {}).items()},
                dict(money or {}),
                oracle,
            )
            reserve = [int(i) for i in reserve_ids]
            reserved, refused, later = self._reserve(
                con, query_id, owner, oracle, reserve, price, cost_limit
            )
            outcome = self._claim(
                con,
                query_id,
                budget,
                owner,
                oracle,
                claim_ids,
                price=price,
                cost_limit=cost_limit,
                retry_failed=retry_failed,
                recall_lost=recall_lost,
            )
        outcome.reserved.extend(reserved)
        outcome.reserve_refused.extend(refused)
        outcome.reserve_later.extend(later)
        return outcome

    def _money(self, con: duckdb.DuckDBPyConnection, query_id: str) -> float:
        spent, reserved = self._money_parts(con, query_id)
        return spent + reserved

    def _money_parts(self, con: duckdb.DuckDBPyConnection, query_id: str) -> tuple[float, float]:
        """(money settled, money reserved for calls in flight) of the query.

        Reservations of owners that died first become ``lost`` (their money spent), so
        that a dead process's calls never hold the cap for the living.
        """
        now = datetime.now()
        owners = con.execute(
            "SELECT owner, host, pid, min(claimed_at) FROM abae_claims WHERE query_id = ? "
            "AND collection = ? AND state = 'pending' AND coalesce(cost_reserved, 0) > 0 "
            "GROUP BY owner, host, pid",
            [query_id, self.collection],
        ).fetchall()
        dead = [str(o) for o, h, p, at in owners if not _owner_alive(str(h), int(p), at, now)]
        if dead:
            con.execute(
                "UPDATE abae_claims SET state = 'lost', finished_at = ?, "
                "cost_spent = coalesce(cost_spent, 0) + coalesce(cost_reserved, 0), "
                "cost_reserved = 0 WHERE query_id = ? AND collection = ? AND state = 'pending' "
                "AND owner IN (SELECT unnest(?::VARCHAR[]))",
                [now, query_id, self.collection, dead],
            ).fetchall()
        row = con.execute(
            "SELECT fsum(coalesce(cost_spent, 0)), fsum(coalesce(cost_reserved, 0)) "
            "FROM abae_claims WHERE query_id = ? AND collection = ?",
            [query_id, self.collection],
        ).fetchall()
        return (float(row[0][0] or 0.0), float(row[0][1] or 0.0)) if row else (0.0, 0.0)

    def _reserve(
        self,
        con: duckdb.DuckDBPyConnection,
        query_id: str,
        owner: ClaimOwner,
        oracle: str,
        record_ids: list[int],
        price: float,
        cost_limit: float,
    ) -> tuple[list[int], list[int], list[int]]:
        """Reserve ``price`` for another attempt of each record: (granted, refused, later).

        ``later``: it would fit once the calls in flight have settled.
        """
        if not record_ids:
            return [], [], []
        if price == 0:
            return record_ids, [], []
        spent, reserved = self._money_parts(con, query_id)
        granted: list[int] = []
        refused: list[int] = []
        later: list[int] = []
        for record_id in record_ids:
            if spent + reserved + price <= cost_limit:
                reserved += price
                granted.append(record_id)
            elif spent + price <= cost_limit:
                later.append(record_id)
            else:
                refused.append(record_id)
        if granted:
            self._with_ids(
                con,
                granted,
                "UPDATE abae_claims AS c SET cost_reserved = coalesce(c.cost_reserved, 0) + ? "
                "FROM abae_ids w WHERE c.record_id = w.id AND c.query_id = ? "
                "AND c.collection = ? AND c.oracle = ? AND c.owner = ?",
                [price, query_id, self.collection, oracle, owner.token],
            )
        return granted, refused, later

    def _with_ids(
        self, con: duckdb.DuckDBPyConnection, ids: list[int], sql: str, params: list[Any]
    ) -> list[tuple[Any, ...]]:
        """Run ``sql`` with the table ``abae_ids(id)`` holding ``ids`` (a CTE)."""
        return con.execute(
            "WITH abae_ids AS (SELECT unnest(?::BIGINT[]) AS id) " + sql, [ids, *params]
        ).fetchall()

    def _claim(
        self,
        con: duckdb.DuckDBPyConnection,
        query_id: str,
        budget: int,
        owner: ClaimOwner,
        oracle: str,
        record_ids: Iterable[int],
        *,
        price: float,
        cost_limit: float,
        retry_failed: bool,
        recall_lost: bool,
    ) -> Claim:
        """Grant what may be called now: read the records' state, free dead owners'
        claims, decide record by record (budget, money, earlier failures), write."""
        ids = [int(i) for i in dict.fromkeys(int(i) for i in record_ids)]
        if not ids:
            return Claim()
        now = datetime.now()
        state = self._claim_state(con, query_id, oracle, ids)
        blocked, previous = self._free_dead_owners(con, query_id, owner, oracle, state, now)
        settled, reserved = self._money_parts(con, query_id) if price > 0 else (0.0, 0.0)
        outcome = Claim()
        fresh: list[tuple[int, str]] = []
        spent = state.spent
        for record_id in ids:
            if record_id in state.labelled:
                continue
            if record_id in blocked:
                outcome.waiting.append(record_id)
                continue
            before = previous.get(record_id)
            if before is not None and before.state == "failed" and not retry_failed:
                outcome.failed[record_id] = str(before.error or "failed in an earlier run")
                continue
            if before is not None and before.state in ("lost", "pending") and not recall_lost:
                outcome.lost.append(record_id)
                continue
            new_charge = record_id not in state.charged
            if new_charge and spent >= budget:
                outcome.over_budget.append(record_id)
                continue
            if settled + reserved + price > cost_limit:
                if settled + price <= cost_limit:
                    outcome.money_waiting.append(record_id)  # fits once calls in flight settle
                else:
                    outcome.over_cost.append(record_id)
                continue
            reserved += price
            if new_charge:
                spent += 1
                state.charged[record_id] = owner.token
            outcome.granted.append(record_id)
            if before is not None:
                outcome.recalled[record_id] = "failed" if before.state == "failed" else "lost"
            else:
                fresh.append((record_id, state.charged[record_id]))
        self._write_claims(con, query_id, owner, oracle, fresh, list(outcome.recalled), price, now)
        return outcome

    def _claim_state(
        self, con: duckdb.DuckDBPyConnection, query_id: str, oracle: str, ids: list[int]
    ) -> _ClaimState:
        """What the ledger holds about ``ids`` for ``oracle`` and the query, in one read."""
        rows = self._with_ids(
            con,
            ids,
            "SELECT w.id, 'label', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
            "FROM abae_labels l "
            "JOIN abae_ids w ON l.record_id = w.id WHERE l.collection = ? AND l.oracle = ? "
            "UNION ALL SELECT w.id, 'claim', c.query_id, c.owner, c.host, c.pid, c.state, "
            "c.claimed_at, c.error, NULL FROM abae_claims c JOIN abae_ids w ON c.record_id = w.id "
            "WHERE c.collection = ? AND c.oracle = ? "
            "UNION ALL SELECT DISTINCT w.id, 'charged', coalesce(c.charged_by, c.owner), NULL, "
            "NULL, NULL, NULL, NULL, NULL, NULL FROM abae_claims c JOIN abae_ids w "
            "ON c.record_id = w.id WHERE c.collection = ? AND c.query_id = ? "
            "UNION ALL SELECT -1, 'spent', NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "count(DISTINCT record_id) FROM abae_claims WHERE collection = ? AND query_id = ?",
            [
                self.collection, oracle, self.collection, oracle, self.collection, query_id,
                self.collection, query_id,
            ],
        )  # fmt: skip
        state = _ClaimState()
        for record_id, kind, *rest in rows:
            record_id = int(record_id)
            if kind == "spent":
                state.spent = int(rest[-1] or 0)
            elif kind == "label":
                state.labelled.add(record_id)
            elif kind == "charged":
                state.charged.setdefault(record_id, str(rest[0]))
            else:
                claim_query, claim_owner, host, pid, claim_state, claimed_at, error, _ = rest
                state.claims.setdefault(record_id, []).append(
                    _ClaimRow(
                        str(claim_query), str(claim_owner), str(host), int(pid),
                        str(claim_state), claimed_at, error,
                    )
                )  # fmt: skip
        return state

    def _free_dead_owners(
        self,
        con: duckdb.DuckDBPyConnection,
        query_id: str,
        owner: ClaimOwner,
        oracle: str,
        state: _ClaimState,
        now: datetime,
    ) -> tuple[set[int], dict[int, _ClaimRow]]:
        """Mark dead owners' pending claims ``lost``.

        Returns:
            The records a living owner (or this one) is calling, and the query's
            own earlier claim of each other record.
        """
        newly_lost: list[tuple[str, int]] = []
        blocked: set[int] = set()
        previous: dict[int, _ClaimRow] = {}
        for record_id, rows_of_record in state.claims.items():
            if record_id in state.labelled:
                continue
            for row in rows_of_record:
                if row.state == "pending":
                    if row.owner == owner.token or _owner_alive(
                        row.host, row.pid, row.claimed_at, now
                    ):
                        blocked.add(record_id)
                        continue
                    newly_lost.append((row.query_id, record_id))
                    row.state = "lost"
                if row.query_id == query_id:
                    previous[record_id] = row
        if newly_lost:
            self._mark_lost(con, oracle, newly_lost, now)
        return blocked, previous

    def _write_claims(
        self,
        con: duckdb.DuckDBPyConnection,
        query_id: str,
        owner: ClaimOwner,
        oracle: str,
        fresh: list[tuple[int, str]],
        recalled: list[int],
        price: float,
        now: datetime,
    ) -> None:
        """Insert the new claims (record, who is charged) and take over the recalled ones."""
        if fresh:
            con.execute(
                "INSERT INTO abae_claims (query_id, collection, record_id, oracle, owner, "
                "host, pid, state, attempts, claimed_at, charged_by, cost_reserved, "
                "cost_spent) SELECT ?, ?, unnest(?::BIGINT[]), ?, ?, ?, ?, 'pending', 0, ?, "
                "unnest(?::VARCHAR[]), ?, 0",
                [
                    query_id, self.collection, [r for r, _ in fresh], oracle, owner.token,
                    owner.host, owner.pid, now, [c for _, c in fresh], price,
                ],
            ).fetchall()  # fmt: skip
        if recalled:
            self._with_ids(
                con,
                recalled,
                "UPDATE abae_claims AS c SET owner = ?, host = ?, pid = ?, state = 'pending', "
                "claimed_at = ?, finished_at = NULL, "
                "cost_reserved = coalesce(c.cost_reserved, 0) + ? FROM abae_ids w "
                "WHERE c.record_id = w.id AND c.query_id = ? AND c.collection = ? "
                "AND c.oracle = ?",
                [owner.token, owner.host, owner.pid, now, price, query_id, self.collection, oracle],
            )

    def _mark_lost(
        self,
        con: duckdb.DuckDBPyConnection,
        oracle: str,
        claims: list[tuple[str, int]],
        now: datetime,
    ) -> None:
        """Dead owners' pending claims become ``lost``; their reserved money stays spent."""
        con.execute(
            "UPDATE abae_claims AS c SET state = 'lost', finished_at = ?, "
            "cost_spent = coalesce(c.cost_spent, 0) + coalesce(c.cost_reserved, 0), "
            "cost_reserved = 0 FROM (SELECT unnest(?::VARCHAR[]) AS query_id, "
            "unnest(?::BIGINT[]) AS record_id) x WHERE c.query_id = x.query_id "
            "AND c.record_id = x.record_id AND c.collection = ? AND c.oracle = ? "
            "AND c.state = 'pending'",
            [now, [q for q, _ in claims], [r for _, r in claims], self.collection, oracle],
        ).fetchall()

    def _release(
        self,
        con: duckdb.DuckDBPyConnection,
        query_id: str,
        owner: ClaimOwner,
        oracle: str,
        release: Mapping[int, str],
    ) -> None:
        """Undo claims granted to ``owner`` but never sent (nothing was spent on them)."""
        now = datetime.now()
        for state in sorted(set(release.values())):
            ids = [r for r, s in release.items() if s == state]
            params: list[Any] = [query_id, self.collection, oracle, owner.token]
            condition = (
                "c.record_id = w.id AND c.query_id = ? AND c.collection = ? AND c.oracle = ? "
                "AND c.owner = ? AND c.state = 'pending'"
            )
            if state == "new":
                self._with_ids(
                    con,
                    ids,
                    f"DELETE FROM abae_claims c USING abae_ids w WHERE {condition}",
                    params,
                )
            else:
                if state not in ("lost", "failed"):
                    raise ValueError(f"cannot restore a released claim to state {state!r}")
                self._with_ids(
                    con,
                    ids,
                    f"UPDATE abae_claims AS c SET state = '{state}', cost_reserved = 0, "
                    f"finished_at = ? FROM abae_ids w WHERE {condition}",
                    [now, *params],
                )

    def record(
        self,
        query_id: str,
        labels: Iterable[Label],
        attempts: Mapping[int, int],
        failures: Mapping[int, FailedCall | tuple[str, int]] | None = None,
        *,
        oracle: str,
        money: Mapping[int, MoneyUpdate] | None = None,
    ) -> None:
        """Write labels (and failed calls) of one oracle and close their claims, in one transaction.

        Args:
            labels: new labels, each for ``oracle``.
            attempts: record id → attempts made (for accounting).
            failures: record id → (error message, attempts[, raw answer]) for calls
                that failed for good.
            money: record id → money and tokens of its attempts (see :class:`MoneyUpdate`).
        """
        split_oracle_key(oracle)
        with self.store.transaction() as con:
            self._record(
                con,
                query_id,
                list(labels),
                dict(attempts),
                {k: FailedCall(*v) for k, v in (failures or {}).items()},
                dict(money or {}),
                oracle,
            )

    def _record(
        self,
        con: duckdb.DuckDBPyConnection,
        query_id: str,
        labels: list[Label],
        attempts: dict[int, int],
        failures: dict[int, FailedCall],
        money: dict[int, MoneyUpdate],
        oracle: str,
    ) -> None:
        now = datetime.now()
        if labels:
            con.execute(
                "INSERT OR REPLACE INTO abae_labels (collection, record_id, oracle, "
                "predicate, statistic, cost, labelled_at, query_id, category, "
                "input_tokens, output_tokens, raw_answer) SELECT ?, unnest(?::BIGINT[]), ?, "
                "unnest(?::BOOLEAN[]), unnest(?::DOUBLE[]), unnest(?::DOUBLE[]), ?, ?, "
                "unnest(?::VARCHAR[]), unnest(?::BIGINT[]), unnest(?::BIGINT[]), "
                "unnest(?::VARCHAR[])",
                [
                    self.collection,
                    [lb.record_id for lb in labels],
                    oracle,
                    [lb.predicate for lb in labels],
                    [lb.statistic for lb in labels],
                    [float(lb.cost) for lb in labels],
                    now,
                    query_id,
                    [lb.category for lb in labels],
                    [int(lb.input_tokens) for lb in labels],
                    [int(lb.output_tokens) for lb in labels],
                    [_clip(lb.raw_answer) for lb in labels],
                ],
            ).fetchall()
        states: dict[int, tuple[str, int, str | None, str | None]] = {}
        for lb in labels:
            states[lb.record_id] = ("done", attempts.get(lb.record_id, 1), None, None)
        for record_id, failure in failures.items():
            states[record_id] = (
                "failed",
                failure.attempts,
                _clip(failure.message),
                _clip(failure.raw_answer),
            )
        ids = sorted(set(states) | set(money))
        if not ids:
            return
        none = MoneyUpdate()
        con.execute(
            "UPDATE abae_claims AS c SET "
            "state = coalesce(n.state, c.state), "
            "attempts = CASE WHEN n.attempts >= 0 THEN n.attempts ELSE c.attempts END, "
            "error = CASE WHEN n.state IS NULL THEN c.error ELSE n.error END, "
            "raw_answer = CASE WHEN n.state IS NULL THEN c.raw_answer ELSE n.raw END, "
            "finished_at = CASE WHEN n.state IS NULL THEN c.finished_at ELSE ? END, "
            "cost_spent = coalesce(c.cost_spent, 0) + n.spent, cost_reserved = n.reserved, "
            "input_tokens = coalesce(c.input_tokens, 0) + n.tokens_in, "
            "output_tokens = coalesce(c.output_tokens, 0) + n.tokens_out "
            "FROM (SELECT unnest(?::BIGINT[]) AS record_id, unnest(?::VARCHAR[]) AS state, "
            "unnest(?::BIGINT[]) AS attempts, unnest(?::VARCHAR[]) AS error, "
            "unnest(?::VARCHAR[]) AS raw, unnest(?::DOUBLE[]) AS spent, "
            "unnest(?::DOUBLE[]) AS reserved, unnest(?::BIGINT[]) AS tokens_in, "
            "unnest(?::BIGINT[]) AS tokens_out) n WHERE c.query_id = ? AND c.collection = ? "
            "AND c.oracle = ? AND c.record_id = n.record_id",
            [
                now,
                ids,
                [states[i][0] if i in states else None for i in ids],
                [states[i][1] if i in states else -1 for i in ids],
                [states[i][2] if i in states else None for i in ids],
                [states[i][3] if i in states else None for i in ids],
                [float(money.get(i, none).spent) for i in ids],
                [0.0 if i in states else float(money.get(i, none).reserved) for i in ids],
                [int(money.get(i, none).input_tokens) for i in ids],
                [int(money.get(i, none).output_tokens) for i in ids],
                query_id,
                self.collection,
                oracle,
            ],
        ).fetchall()

    # --- accounting -----------------------------------------------------------------

    def spent(self, query_id: str) -> int:
        """Distinct records the query has claimed (its spend against the budget, all runs)."""
        with self.store.transaction() as con:
            row = con.execute(
                "SELECT count(DISTINCT record_id) FROM abae_claims "
                "WHERE query_id = ? AND collection = ?",
                [query_id, self.collection],
            ).fetchall()
        return int(row[0][0]) if row else 0

    def spent_by(self, query_id: str, owner: ClaimOwner) -> int:
        """Records ``owner`` charged to the query (this run's purchases, not other processes')."""
        with self.store.transaction() as con:
            row = con.execute(
                "SELECT count(DISTINCT record_id) FROM abae_claims WHERE query_id = ? "
                "AND collection = ? AND coalesce(charged_by, owner) = ?",
                [query_id, self.collection, owner.token],
            ).fetchall()
        return int(row[0][0]) if row else 0

    def money_spent(self, query_id: str) -> float:
        """The query's money: settled, plus reserved for calls in flight (all runs)."""
        with self.store.transaction() as con:
            return self._money(con, query_id)

    def claim_states(self, query_id: str) -> dict[str, int]:
        """Claims of a query by state (``pending``, ``done``, ``failed``, ``lost``)."""
        with self.store.transaction() as con:
            rows = con.execute(
                "SELECT state, count(*) FROM abae_claims WHERE query_id = ? AND collection = ? "
                "GROUP BY state",
                [query_id, self.collection],
            ).fetchall()
        return {str(s): int(n) for s, n in rows}

    def failed_calls(self, query_id: str) -> dict[tuple[str, int], FailedCall]:
        """The query's failed claims: (oracle key, record id) → the error, attempts, raw answer."""
        with self.store.transaction() as con:
            rows = con.execute(
                "SELECT oracle, record_id, coalesce(error, ''), attempts, raw_answer "
                "FROM abae_claims WHERE query_id = ? AND collection = ? AND state = 'failed' "
                "ORDER BY oracle, record_id",
                [query_id, self.collection],
            ).fetchall()
        return {(str(r[0]), int(r[1])): FailedCall(str(r[2]), int(r[3]), r[4]) for r in rows}


def summarize_ledger(store: Store) -> LedgerSummary:
    """Totals per (collection, oracle version) and spend (calls, money, tokens) per logged query."""
    with store.transaction() as con:
        rows = con.execute(
            "SELECT l.collection, l.oracle, count(*), count(*) FILTER (WHERE l.predicate), "
            "avg(l.statistic), coalesce(fsum(l.cost), 0), coalesce(sum(l.input_tokens), 0), "
            "coalesce(sum(l.output_tokens), 0), any_value(v.description), count(l.predicate) "
            "FROM abae_labels l LEFT JOIN abae_oracle_versions v ON v.oracle_key = l.oracle "
            "GROUP BY l.collection, l.oracle ORDER BY l.collection, l.oracle"
        ).fetchall()
        category_rows = con.execute(
            "SELECT collection, oracle, category, count(*) FROM abae_labels "
            "WHERE category IS NOT NULL GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        query_rows = con.execute(
            "SELECT q.query_id, q.collection, q.budget, q.status, q.runs, q.sql, "
            "count(DISTINCT c.record_id), count(c.record_id) FILTER (WHERE c.state = 'failed'), "
            "count(c.record_id) FILTER (WHERE c.state = 'lost'), "
            "coalesce(fsum(coalesce(c.cost_spent, 0) + coalesce(c.cost_reserved, 0)), 0), "
            "coalesce(sum(c.input_tokens), 0), coalesce(sum(c.output_tokens), 0) "
            "FROM abae_queries q LEFT JOIN abae_claims c ON c.query_id = q.query_id "
            "GROUP BY ALL ORDER BY min(q.started_at)"
        ).fetchall()
    categories: dict[tuple[str, str], dict[str, int]] = {}
    for collection, key, category, count in category_rows:
        categories.setdefault((str(collection), str(key)), {})[str(category)] = int(count)
    oracles = []
    for r in rows:
        name, version = split_oracle_key(str(r[1]))
        oracles.append(
            OracleSummary(
                collection=str(r[0]),
                oracle=name,
                labels=int(r[2]),
                positives=int(r[3]),
                mean_statistic=None if r[4] is None else float(r[4]),
                total_cost=float(r[5]),
                version=version,
                description="" if r[8] is None else str(r[8]),
                input_tokens=int(r[6]),
                output_tokens=int(r[7]),
                categories=categories.get((str(r[0]), str(r[1])), {}),
                yes_no_labels=int(r[9]),
            )
        )
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
            "money": float(r[9]),
            "input_tokens": int(r[10]),
            "output_tokens": int(r[11]),
        }
        for r in query_rows
    ]
    return LedgerSummary(oracles=oracles, queries=queries)


def abandon_claims(store: Store, owner: ClaimOwner) -> int:
    """Mark ``owner``'s unfinished claims ``lost`` (calls possibly in flight); returns how many.

    Their reserved money moves to spent: the calls may have been paid.
    """
    now = datetime.now()
    with store.transaction() as con:
        row = con.execute(
            "SELECT count(*) FROM abae_claims WHERE owner = ? AND state = 'pending'", [owner.token]
        ).fetchall()
        con.execute(
            "UPDATE abae_claims SET state = 'lost', finished_at = ?, "
            "cost_spent = coalesce(cost_spent, 0) + coalesce(cost_reserved, 0), "
            "cost_reserved = 0 WHERE owner = ? AND state = 'pending'",
            [now, owner.token],
        ).fetchall()
    return int(row[0][0]) if row else 0
