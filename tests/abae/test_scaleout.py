"""Choosing an executor, and the in-process executor's batching."""

from __future__ import annotations

import numpy as np
import pytest
from proxy_pipeline_data import tiny_images

from abae.proxy import train_proxy
from abae.proxy.batch_scorer import ProxyBatchScorer, score_record_batch
from abae.scaleout import EXECUTOR_ENV_VAR, LocalExecutor, executor_named
from abae.store.records import RecordBatch
from numerics import assert_close_across_paths, assert_same_path


def _batches(images: np.ndarray, size: int) -> list[RecordBatch]:
    from io import BytesIO

    from PIL import Image

    out = []
    for start in range(0, len(images), size):
        blobs: list[bytes | None] = []
        for image in images[start : start + size]:
            buffer = BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            blobs.append(buffer.getvalue())
        ids = np.arange(start, start + len(blobs), dtype=np.int64)
        out.append(RecordBatch(ids=ids, images=[None] * len(blobs), blobs=blobs))
    return out


def test_local_executor_scores_batches_in_order() -> None:
    data = tiny_images(50)
    proxy = train_proxy(data.images, data.predicate, epochs=1, progress=False)
    batches = _batches(data.images, 16)
    ids, scores = LocalExecutor().score(ProxyBatchScorer(proxy), batches, total=50, progress=False)
    np.testing.assert_array_equal(ids, np.arange(50))
    # PNG-decoded batches of 16 against one in-memory batch of 50: two paths.
    assert_close_across_paths(scores, proxy.score(data.images, progress=False))
    # The executor runs the same step on the same batch: the same path.
    assert_same_path(score_record_batch(proxy, batches[1]), scores[16:32])
    empty_ids, empty_scores = LocalExecutor().score(
        ProxyBatchScorer(proxy), [], total=0, progress=False
    )
    assert empty_ids.size == 0
    assert empty_scores.size == 0


def test_executor_is_chosen_by_name_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EXECUTOR_ENV_VAR, raising=False)
    assert executor_named().name == "local"
    assert executor_named("local").name == "local"
    monkeypatch.setenv(EXECUTOR_ENV_VAR, "spark")
    with pytest.raises(ValueError, match=r"unknown executor 'spark' \(from ABAE_EXECUTOR\)"):
        executor_named()
    with pytest.raises(ValueError, match=r"unknown executor 'dask' \(from --executor\)"):
        executor_named("dask")


def test_ray_executor_without_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from abae.errors import AbaeError
    from abae.scaleout import ray_executor

    monkeypatch.setattr(ray_executor, "ray_available", lambda: False)
    with pytest.raises(AbaeError, match=r"pip install -c constraints.txt -e \"\.\[ray\]\""):
        ray_executor.RayExecutor()
