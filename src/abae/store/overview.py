"""What a store holds, for ``abae list``: collections, their columns and proxies, and queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from abae.store.connection import Store
from abae.store.proxy_catalog import proxy_entry
from abae.store.query_log import QueryLog
from abae.store.records import BASE_COLUMNS, RecordCollection, list_collections


@dataclass(frozen=True)
class ProxyOverview:
    """One proxy score column.

    Attributes:
        name: the column.
        description: how it was made (e.g. ``"classify proxy afno_proxy (28×28 L)"``).
        details: what the proxy catalog knows (candidate, cross-validated AUC,
            pilot cost, queries that used it), empty for a column the user brought.
    """

    name: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CollectionOverview:
    """One collection: its size, its user columns (name → DuckDB type) and its proxies."""

    name: str
    source: str
    records: int
    columns: dict[str, str]
    proxies: list[ProxyOverview]


@dataclass(frozen=True)
class QueryOverview:
    """One logged query: id, status, runs, spend and text."""

    query_id: str
    collection: str
    status: str
    runs: int
    budget: int
    sql: str


@dataclass(frozen=True)
class StoreOverview:
    """Everything :func:`describe_store` found."""

    path: str
    collections: list[CollectionOverview]
    queries: list[QueryOverview]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict."""
        return {
            "store": self.path,
            "collections": [
                {
                    "name": c.name,
                    "source": c.source,
                    "records": c.records,
                    "columns": c.columns,
                    "proxies": [
                        {"name": p.name, "description": p.description, **p.details}
                        for p in c.proxies
                    ],
                }
                for c in self.collections
            ],
            "queries": [q.__dict__ for q in self.queries],
        }


def describe_store(store: Store) -> StoreOverview:
    """Read the catalog: every collection with its columns and proxies, and the query log."""
    collections = []
    for name in list_collections(store):
        collection = RecordCollection(store, name)
        proxies = set(collection.proxy_names())
        with store.transaction() as con:
            source_row = con.execute(
                "SELECT source FROM abae_collections WHERE name = ?", [name]
            ).fetchone()
            described = dict(
                con.execute(
                    "SELECT name, description FROM abae_proxies WHERE collection = ?", [name]
                ).fetchall()
            )
        columns = {
            column: sql_type
            for column, sql_type in collection.column_types().items()
            if column not in BASE_COLUMNS and column not in proxies
        }
        collections.append(
            CollectionOverview(
                name=name,
                source=str(source_row[0]) if source_row else "",
                records=collection.count(),
                columns=columns,
                proxies=[
                    ProxyOverview(p, str(described.get(p, "")), proxy_details(store, name, p))
                    for p in sorted(proxies)
                ],
            )
        )
    queries = [
        QueryOverview(e.query_id, e.collection, e.status, e.runs, e.budget, e.sql)
        for e in QueryLog(store).entries()
    ]
    return StoreOverview(str(store.path), collections, queries)


def proxy_details(store: Store, collection: str, proxy: str) -> dict[str, Any]:
    """What the proxy catalog records about a proxy (empty for a user-brought column)."""
    entry = proxy_entry(store, collection, proxy)
    if entry is None:
        return {}
    details: dict[str, Any] = {"candidate": entry.candidate}
    if entry.cv_auc is not None:
        details["cv-AUC"] = round(entry.cv_auc, 3)
    details |= {
        "pilot": f"{entry.pilot_size} labels ({entry.pilot_calls} calls, cost {entry.cost:.4g})",
        "used by": f"{entry.uses} queries",
    }
    if entry.warning:
        details["warning"] = entry.warning
    return details
