"""Scoring Parquet shards with Ray Data, loading the scores, and querying with Ray oracles.

Skipped when Ray is not installed (the optional ``[ray]`` extra). Slow (Ray Data
starts its workers in each test: about a minute on 2 cores): ``scripts/test.sh --slow``.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image
from proxy_pipeline_data import TinyImages, import_tiny, tiny_images

from abae.engine import Engine
from abae.errors import AbaeError
from abae.proxy import train_proxy
from abae.proxy.batch_scorer import ProxyBatchScorer
from abae.proxy.trained_proxy import Proxy
from abae.scaleout import LocalExecutor, RayExecutor, ray_available
from abae.scaleout.ray_data import load_shard_scores, score_parquet_shards
from abae.store import RecordCollection
from numerics import assert_close_across_paths

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not ray_available(),
        reason='Ray is not installed: pip install -c constraints.txt -e ".[ray]"',
    ),
]
RECORDS = 120


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray

    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    ray.init(num_cpus=2, _temp_dir=temp_dir, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def data() -> TinyImages:
    return tiny_images(RECORDS)


@pytest.fixture(scope="module")
def proxy(data: TinyImages) -> Proxy:
    return train_proxy(data.images, data.predicate, epochs=1, progress=False)


def _write_shards(data: TinyImages, folder: Path, shards: int = 3) -> Path:
    folder.mkdir()
    blobs = []
    for image in data.images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        blobs.append(buffer.getvalue())
    con = duckdb.connect()
    for shard, rows in enumerate(np.array_split(np.arange(len(blobs)), shards)):
        con.execute("CREATE OR REPLACE TABLE shard (id BIGINT, image_blob BLOB)")
        con.executemany("INSERT INTO shard VALUES (?, ?)", [(int(i), blobs[i]) for i in rows])
        con.execute(f"COPY shard TO '{folder / f'part-{shard}.parquet'}' (FORMAT parquet)")
    con.close()
    return folder


def test_shards_scored_on_ray_data_match_local_scores_and_serve_a_query(
    tmp_path: Path, ray_cluster: None, data: TinyImages, proxy: Proxy
) -> None:
    shards = _write_shards(data, tmp_path / "records")
    scored = score_parquet_shards(
        ProxyBatchScorer(proxy), str(shards), tmp_path / "scores", batch_size=32
    )
    assert scored.records == RECORDS

    store = import_tiny(tmp_path / "db.duckdb", data)
    assert load_shard_scores(store, "tiny", "sharded", scored.destination) == RECORDS
    collection = RecordCollection(store, "tiny")
    local_ids, local = LocalExecutor().score(
        ProxyBatchScorer(proxy), collection.iter_batches(batch_size=64), total=RECORDS,
        progress=False,
    )  # fmt: skip
    batch = next(collection.iter_batches(batch_size=RECORDS, columns=["sharded"]))
    np.testing.assert_array_equal(batch.ids, local_ids)
    assert_close_across_paths(batch.columns["sharded"].astype(np.float64), local)

    # The query runs on the driver; its oracle calls run as Ray tasks; the ledger stays exact.
    engine = Engine(store, data.oracles(), oracle_wrapper=RayExecutor().oracles)
    result = engine.run(
        "SELECT COUNT(*) FROM tiny WHERE has_square(image) ORACLE LIMIT 60 USING sharded"
    )
    assert result.calls_spent == result.calls_spent_total == 60
    with store.transaction() as con:
        paid, distinct = con.execute(
            "SELECT count(*), count(DISTINCT record_id) FROM abae_labels WHERE query_id = ?",
            [result.query_id],
        ).fetchone()
    assert paid == distinct == 60


def test_bad_shards_and_destinations_are_clear_errors(
    tmp_path: Path, ray_cluster: None, data: TinyImages, proxy: Proxy
) -> None:
    shards = _write_shards(data, tmp_path / "records")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "old.parquet").write_bytes(b"x")
    with pytest.raises(AbaeError, match="is not an empty folder"):
        score_parquet_shards(ProxyBatchScorer(proxy), str(shards), taken)

    no_images = tmp_path / "ids_only.parquet"
    duckdb.sql(f"COPY (SELECT range AS id FROM range(5)) TO '{no_images}' (FORMAT parquet)")
    with pytest.raises(AbaeError, match="scoring needs 'id' and 'image'"):
        score_parquet_shards(ProxyBatchScorer(proxy), str(no_images), tmp_path / "out")

    half = _write_shards(tiny_images(RECORDS // 2), tmp_path / "half")
    scored = score_parquet_shards(ProxyBatchScorer(proxy), str(half), tmp_path / "half_scores")
    store = import_tiny(tmp_path / "db.duckdb", data)
    with pytest.raises(AbaeError, match=f"score {RECORDS // 2} records"):
        load_shard_scores(store, "tiny", "half", scored.destination)
    assert "half" not in RecordCollection(store, "tiny").proxy_names()
