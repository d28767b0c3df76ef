"""JSON export of the store's query results and label ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from abae.store.connection import Store
from abae.store.query_log import QueryLog


def export_json(store: Store, path: str | Path, *, include_labels: bool = True) -> dict[str, Any]:
    """Write the query log (with results) and, optionally, every ledger label to ``path``.

    Returns:
        The exported document: ``{"store", "queries": [...], "labels": [...]}``.
    """
    queries = [
        {
            "query_id": e.query_id,
            "sql": e.sql,
            "collection": e.collection,
            "seed": e.seed,
            "budget": e.budget,
            "status": e.status,
            "runs": e.runs,
            "started_at": e.started_at.isoformat() if e.started_at else None,
            "finished_at": e.finished_at.isoformat() if e.finished_at else None,
            "result": e.result,
        }
        for e in QueryLog(store).entries()
    ]
    labels: list[dict[str, Any]] = []
    if include_labels:
        with store.transaction() as con:
            rows = con.execute(
                "SELECT collection, record_id, oracle, predicate, statistic, cost, labelled_at, "
                "query_id FROM abae_labels ORDER BY collection, oracle, record_id"
            ).fetchall()
        labels = [
            {
                "collection": r[0],
                "record_id": int(r[1]),
                "oracle": r[2],
                "predicate": r[3],
                "statistic": r[4],
                "cost": r[5],
                "labelled_at": r[6].isoformat(),
                "query_id": r[7],
            }
            for r in rows
        ]
    document = {"store": str(store.path), "queries": queries, "labels": labels}
    Path(path).write_text(json.dumps(document, indent=2))
    return document
