"""A query's id and sampling seed, derived from its normalised text.

Running the same query again (after an interruption, or later) gives the same
id and seed: it draws the same records and finds their labels in the ledger,
so it pays only for what is missing.
"""

from __future__ import annotations

import hashlib

from sqlglot import exp

from abae.query.dialect import AbaeSQL


def normalised_sql(tree: exp.Select) -> str:
    """The query in canonical form (case, spacing and comments do not matter)."""
    text = tree.sql(dialect=AbaeSQL, normalize=True, pretty=False, comments=False)
    extras = [
        f"{key}={tree.args[key].sql(dialect=AbaeSQL)}"
        for key in ("oracle_limit", "proxy", "probability", "error_target", "cost_limit")
        if tree.args.get(key) is not None
    ]
    return " | ".join([text, *extras])


def query_identity(tree: exp.Select, seed: int = 0) -> tuple[str, int]:
    """``(query_id, sampling_seed)`` for a parsed query and a user seed.

    Returns:
        A 16-hex-digit id and a 63-bit seed, both functions of the normalised
        query text and ``seed`` only.
    """
    digest = hashlib.sha256(f"{normalised_sql(tree)}\x00{int(seed)}".encode()).hexdigest()
    return digest[:16], int(digest[16:32], 16) & ((1 << 63) - 1)
