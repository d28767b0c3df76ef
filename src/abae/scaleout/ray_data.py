"""Scoring a collection larger than one machine: Ray Data over Parquet shards.

A collection too large for one machine's memory or CPUs lives as Parquet shards
on storage every node can read: one row per record with ``id`` and its image,
as a reference (``image``, a path or URL the workers can open) and/or encoded
bytes (``image_blob``). :func:`score_parquet_shards` reads the shards with Ray
Data on every node of the cluster, scores each batch with a
:data:`~abae.scaleout.executor.BatchScorer` (e.g.
:class:`abae.proxy.batch_scorer.ProxyBatchScorer`), and writes ``(id, score)``
shards. :func:`load_shard_scores` then writes the scores into the store as a
proxy column: 10M scores are 160 MB, which the query's driver holds easily.

The store, the label ledger and the budget stay on the driver: queries then run
as usual, with oracle calls as Ray tasks (:class:`~abae.scaleout.ray_executor.RayExecutor`),
so claims and the ledger stay exact however many workers call oracles.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from abae.errors import AbaeError
from abae.scaleout.executor import BatchScorer
from abae.store.connection import Store
from abae.store.identifiers import quote
from abae.store.records import RecordBatch, RecordCollection

SHARD_COLUMNS = ("id", "image", "image_blob")
"""The columns a record shard may hold for scoring (``id`` and at least one image column)."""


@dataclass(frozen=True)
class ShardScoring:
    """What :func:`score_parquet_shards` did.

    Attributes:
        records: records scored.
        destination: the folder of ``(id, score)`` Parquet shards.
    """

    records: int
    destination: Path


class _ScoreArrowBatch:
    """Ray Data ``map_batches`` callable: a pyarrow batch of records → ``{id, score}``."""

    def __init__(self, scorer: BatchScorer, image_columns: tuple[str, ...]) -> None:
        self.scorer = scorer
        self.image_columns = image_columns

    def __call__(self, table: Any) -> dict[str, NDArray[Any]]:
        ids = np.asarray(table.column("id").to_numpy(zero_copy_only=False), dtype=np.int64)
        images: list[str | None] = [None] * ids.size
        blobs: list[bytes | None] = [None] * ids.size
        if "image" in self.image_columns:
            images = table.column("image").to_pylist()
        if "image_blob" in self.image_columns:
            blobs = table.column("image_blob").to_pylist()
        scores = self.scorer(RecordBatch(ids=ids, images=images, blobs=blobs))
        return {"id": ids, "score": np.asarray(scores, dtype=np.float64)}


def score_parquet_shards(
    scorer: BatchScorer,
    sources: str | os.PathLike[str] | list[str],
    destination: str | os.PathLike[str],
    *,
    batch_size: int = 256,
    concurrency: int | None = None,
) -> ShardScoring:
    """Score every record of the Parquet shards ``sources`` with Ray Data.

    Args:
        scorer: picklable ``scorer(RecordBatch) -> float64 (B,)``; Ray ships it to
            each worker once.
        sources: a Parquet file, a folder of shards, or a list of them (any path
            or URI ``ray.data.read_parquet`` reads).
        destination: an empty or new folder for the ``(id BIGINT, score DOUBLE)`` shards.
        batch_size: records per scoring batch.
        concurrency: scoring tasks at once (default: Ray's choice, one per CPU).

    Returns:
        The :class:`ShardScoring`.

    Raises:
        AbaeError: Ray is not installed, the shards lack ``id`` or an image
            column, or ``destination`` is a non-empty folder.
    """
    from abae.scaleout.ray_executor import _ray

    ray = _ray()
    target = Path(destination)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AbaeError(
            f"destination {target} exists and is not an empty folder; give a new folder "
            "for the score shards"
        )
    dataset = ray.data.read_parquet(sources)
    columns = tuple(dataset.schema().names)
    image_columns = tuple(c for c in ("image", "image_blob") if c in columns)
    if "id" not in columns or not image_columns:
        raise AbaeError(
            f"the shards hold columns {list(columns)}; scoring needs 'id' and 'image' "
            "(a path or URL) or 'image_blob' (encoded bytes)"
        )
    scored = dataset.select_columns(["id", *image_columns]).map_batches(
        _ScoreArrowBatch(scorer, image_columns),
        batch_format="pyarrow",
        batch_size=batch_size,
        concurrency=concurrency,
    )
    scored.write_parquet(str(target))
    return ShardScoring(records=int(ray.data.read_parquet(str(target)).count()), destination=target)


def load_shard_scores(
    store: Store,
    collection: str,
    name: str,
    shards: str | os.PathLike[str],
    *,
    description: str = "",
) -> int:
    """Write the ``(id, score)`` shards of :func:`score_parquet_shards` as proxy column ``name``.

    Returns:
        The number of scores written.

    Raises:
        AbaeError: a shard id that is not a record of ``collection``, or a record
            of it without a score.
    """
    import duckdb

    folder = Path(shards)
    files = sorted(str(p) for p in folder.glob("*.parquet"))
    if not files:
        raise AbaeError(f"no Parquet shards in {folder}")
    con = duckdb.connect()
    try:
        data = con.execute(
            "SELECT id, score FROM read_parquet(?) ORDER BY id", [files]
        ).fetchnumpy()
    finally:
        con.close()
    ids = np.asarray(data["id"], dtype=np.int64)
    scores = np.asarray(data["score"], dtype=np.float64)
    records = RecordCollection(store, collection)
    total = records.count()
    with store.transaction() as con:
        con.register("abae_shard_ids", {"id": ids})
        try:
            ((matched,),) = con.execute(
                f"SELECT count(*) FROM abae_shard_ids s JOIN {quote(collection)} r ON r.id = s.id"
            ).fetchall()
        finally:
            con.unregister("abae_shard_ids")
    if not matched == ids.size == total:
        raise AbaeError(
            f"the shards in {folder} score {ids.size} records, {matched} of them in "
            f"{collection!r}, which holds {total}; score the records the collection was "
            "imported from"
        )
    records.write_proxy_scores(name, ids, scores, description=description)
    return int(ids.size)
