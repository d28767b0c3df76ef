"""Which records trained which proxy: the pilot sets kept in ``abae_proxy_pilots``.

A proxy trained on pilot labels has seen those records: its scores for them are
fitted to their labels, so they do not stand for the records of their stratum
the way unseen records do. The engine therefore leaves a proxy's pilot records
out of every query ranked by that proxy (see ``docs/proxies.md``). This module
only records and reads the sets; it knows nothing of models.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from abae.store.connection import Store
from abae.store.identifiers import validate_identifier, validate_user_table


def record_pilot(store: Store, collection: str, proxy: str, record_ids: Iterable[int]) -> int:
    """Replace the pilot set of ``proxy`` in ``collection`` with ``record_ids``.

    Args:
        record_ids: ids (any order, repeats ignored) of the records whose labels
            trained the proxy.

    Returns:
        The number of distinct pilot records stored.
    """
    validate_user_table(collection)
    validate_identifier(proxy, what="proxy name")
    ids = np.unique(np.fromiter((int(i) for i in record_ids), dtype=np.int64))
    with store.transaction() as con:
        con.execute(
            "DELETE FROM abae_proxy_pilots WHERE collection = ? AND proxy = ?", [collection, proxy]
        )
        if ids.size:
            con.register("abae_pilot_ids", {"record_id": ids})
            try:
                con.execute(
                    "INSERT INTO abae_proxy_pilots SELECT ?, ?, record_id FROM abae_pilot_ids",
                    [collection, proxy],
                )
            finally:
                con.unregister("abae_pilot_ids")
    return int(ids.size)


def pilot_records(store: Store, collection: str, proxies: Iterable[str]) -> NDArray[np.int64]:
    """Sorted distinct int64 ids of the records that trained any of ``proxies`` (may be empty)."""
    validate_user_table(collection)
    names = [validate_identifier(p, what="proxy name") for p in proxies]
    if not names:
        return np.empty(0, dtype=np.int64)
    marks = ", ".join("?" for _ in names)
    with store.transaction() as con:
        rows = con.execute(
            f"SELECT DISTINCT record_id FROM abae_proxy_pilots WHERE collection = ? "
            f"AND proxy IN ({marks}) ORDER BY record_id",
            [collection, *names],
        ).fetchall()
    return np.array([int(r[0]) for r in rows], dtype=np.int64)


def proxies_with_pilots(store: Store, collection: str) -> list[str]:
    """Names of the proxies of ``collection`` that have a recorded pilot set."""
    validate_user_table(collection)
    with store.transaction() as con:
        rows = con.execute(
            "SELECT DISTINCT proxy FROM abae_proxy_pilots WHERE collection = ? ORDER BY proxy",
            [collection],
        ).fetchall()
    return [str(r[0]) for r in rows]
