"""What each trained proxy is, what it cost and how often it served: ``abae_proxy_catalog``.

One row per (collection, proxy), written when the proxy pipeline trains a
proxy (replacing the row of an earlier proxy of that name) and updated by the
engine each time a query ranks by it:

| column | meaning |
|---|---|
| ``collection``, ``proxy`` | the proxy (score column) of a collection |
| ``candidate`` | the model the selection chose, e.g. ``afno_finetuned`` |
| ``cv_auc`` | its cross-validated AUC on the pilot (NULL for a regressor) |
| ``pilot_size`` | pilot records it was trained on (labels it really had) |
| ``pilot_calls`` | oracle calls the pilot bought (labels reused from the ledger are free) |
| ``cost`` | money those calls cost (0 for oracles without a price) |
| ``warning`` | why the proxy should not be trusted (e.g. AUC below 0.6), else NULL |
| ``checkpoint`` | the checkpoint file |
| ``created_at`` | when it was trained (UTC) |
| ``uses`` | queries that have ranked by it (:func:`note_proxy_use`) |

So a proxy bought once serves many queries, and ``abae labels`` or a query's
result can show what each proxy cost and how many queries shared that cost.

Example:
    >>> import tempfile, pathlib
    >>> from abae.store import Store, import_arrays
    >>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "db.duckdb")
    >>> _ = import_arrays(store, "frames", ids=[1, 2, 3])
    >>> record_proxy(store, ProxyEntry("frames", "p", "pixels_logistic", 0.91, 200, 200, 0.0))
    >>> note_proxy_use(store, "frames", "p")
    1
    >>> entry = proxy_entry(store, "frames", "p")
    >>> entry.candidate, entry.cv_auc, entry.uses
    ('pixels_logistic', 0.91, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from abae.store.connection import Store
from abae.store.identifiers import validate_identifier, validate_user_table

CATALOG_DDL = """
CREATE TABLE IF NOT EXISTS abae_proxy_catalog (
    collection VARCHAR NOT NULL,
    proxy VARCHAR NOT NULL,
    candidate VARCHAR NOT NULL,
    cv_auc DOUBLE,
    pilot_size BIGINT NOT NULL,
    pilot_calls BIGINT NOT NULL,
    cost DOUBLE NOT NULL,
    warning VARCHAR,
    checkpoint VARCHAR,
    created_at TIMESTAMP NOT NULL,
    uses BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (collection, proxy)
)
"""
"""The catalog table (created on first use; idempotent)."""

_COLUMNS = (
    "collection, proxy, candidate, cv_auc, pilot_size, pilot_calls, cost, warning, checkpoint, "
    "created_at, uses"
)


def ensure_proxy_catalog(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``abae_proxy_catalog`` if the store lacks it (inside a transaction)."""
    con.execute(CATALOG_DDL)


@dataclass(frozen=True)
class ProxyEntry:
    """One catalog row (see the module docstring for the meaning of each field)."""

    collection: str
    proxy: str
    candidate: str
    cv_auc: float | None
    pilot_size: int
    pilot_calls: int
    cost: float
    warning: str | None = None
    checkpoint: str | None = None
    created_at: datetime | None = None
    uses: int = 0

    def __post_init__(self) -> None:
        validate_user_table(self.collection)
        validate_identifier(self.proxy, what="proxy name")
        if self.pilot_size < 0 or self.pilot_calls < 0 or not self.cost >= 0:
            raise ValueError(f"pilot size, calls and cost must be non-negative: {self}")
        if self.cv_auc is not None and not 0.0 <= self.cv_auc <= 1.0:
            raise ValueError(f"cv_auc must be in [0, 1], got {self.cv_auc}")

    @property
    def cost_per_use(self) -> float | None:
        """The pilot's oracle calls per query served so far (None before the first use)."""
        return self.pilot_calls / self.uses if self.uses else None


def record_proxy(store: Store, entry: ProxyEntry) -> None:
    """Write ``entry`` (a newly trained proxy), replacing any earlier row for that proxy.

    Its ``uses`` start at ``entry.uses`` (0 for a new proxy) and ``created_at``
    at ``entry.created_at`` or now.
    """
    created = entry.created_at or datetime.now(UTC).replace(tzinfo=None)
    with store.transaction() as con:
        ensure_proxy_catalog(con)
        con.execute(
            "DELETE FROM abae_proxy_catalog WHERE collection = ? AND proxy = ?",
            [entry.collection, entry.proxy],
        )
        con.execute(
            f"INSERT INTO abae_proxy_catalog ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                entry.collection,
                entry.proxy,
                entry.candidate,
                entry.cv_auc,
                entry.pilot_size,
                entry.pilot_calls,
                entry.cost,
                entry.warning,
                entry.checkpoint,
                created,
                entry.uses,
            ],
        )


def note_proxy_use(store: Store, collection: str, proxy: str) -> int:
    """Count one more query served by ``proxy``; returns its new use count (0 when the
    proxy is not in the catalog, e.g. a score column imported with the records)."""
    validate_user_table(collection)
    validate_identifier(proxy, what="proxy name")
    with store.transaction() as con:
        ensure_proxy_catalog(con)
        row = con.execute(
            "UPDATE abae_proxy_catalog SET uses = uses + 1 WHERE collection = ? AND proxy = ? "
            "RETURNING uses",
            [collection, proxy],
        ).fetchone()
    return 0 if row is None else int(row[0])


def _entry(row: tuple[object, ...]) -> ProxyEntry:
    cv_auc = row[3]
    return ProxyEntry(
        collection=str(row[0]),
        proxy=str(row[1]),
        candidate=str(row[2]),
        cv_auc=None if cv_auc is None or math.isnan(float(cv_auc)) else float(cv_auc),  # type: ignore[arg-type]
        pilot_size=int(row[4]),  # type: ignore[call-overload]
        pilot_calls=int(row[5]),  # type: ignore[call-overload]
        cost=float(row[6]),  # type: ignore[arg-type]
        warning=None if row[7] is None else str(row[7]),
        checkpoint=None if row[8] is None else str(row[8]),
        created_at=row[9],  # type: ignore[arg-type]
        uses=int(row[10]),  # type: ignore[call-overload]
    )


def proxy_entry(store: Store, collection: str, proxy: str) -> ProxyEntry | None:
    """The catalog row of ``proxy`` in ``collection``, or None."""
    validate_user_table(collection)
    validate_identifier(proxy, what="proxy name")
    with store.transaction() as con:
        ensure_proxy_catalog(con)
        row = con.execute(
            f"SELECT {_COLUMNS} FROM abae_proxy_catalog WHERE collection = ? AND proxy = ?",
            [collection, proxy],
        ).fetchone()
    return None if row is None else _entry(row)


def proxy_entries(store: Store, collection: str | None = None) -> list[ProxyEntry]:
    """Every catalog row (of one collection, when given), by collection and proxy name."""
    with store.transaction() as con:
        ensure_proxy_catalog(con)
        if collection is None:
            rows = con.execute(
                f"SELECT {_COLUMNS} FROM abae_proxy_catalog ORDER BY collection, proxy"
            ).fetchall()
        else:
            validate_user_table(collection)
            rows = con.execute(
                f"SELECT {_COLUMNS} FROM abae_proxy_catalog WHERE collection = ? ORDER BY proxy",
                [collection],
            ).fetchall()
    return [_entry(row) for row in rows]


def forget_proxies(store: Store, collection: str) -> int:
    """Remove every catalog row of ``collection`` (when the collection is dropped); returns how many."""
    validate_user_table(collection)
    with store.transaction() as con:
        ensure_proxy_catalog(con)
        row = con.execute(
            "DELETE FROM abae_proxy_catalog WHERE collection = ? RETURNING 1", [collection]
        ).fetchall()
    return len(row)
