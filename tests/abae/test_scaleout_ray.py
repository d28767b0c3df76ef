"""The Ray executor gives the same scores and the same estimate as the in-process one.

Skipped when Ray is not installed (it is the optional ``[ray]`` extra).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from proxy_pipeline_data import import_tiny, tiny_images

from abae.engine import Engine
from abae.proxy.store_pipeline import (
    ProxyTrainingSettings,
    score_collection,
    train_collection_proxy,
)
from abae.query.plan import OracleCall
from abae.scaleout import LocalExecutor, RayExecutor, ray_available

pytestmark = pytest.mark.skipif(
    not ray_available(),
    reason='Ray is not installed: pip install -c constraints.txt -e ".[ray]"',
)
QUERY = (
    "SELECT AVG(brightness(image)) FROM tiny WHERE has_square(image) "
    "ORACLE LIMIT 80 USING afno_proxy"
)
SETTINGS = ProxyTrainingSettings(pilot_size=100, epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def ray_executor() -> Iterator[RayExecutor]:
    import ray

    # Ray's socket paths must stay short: a temp dir right under /tmp, not pytest's.
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    ray.init(num_cpus=2, _temp_dir=temp_dir, include_dashboard=False, log_to_driver=False)
    try:
        yield RayExecutor()
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _pipeline(db: Path, executor: object) -> tuple[np.ndarray, float, int]:
    data = tiny_images()
    store = import_tiny(db, data)
    trained = train_collection_proxy(
        store,
        "tiny",
        "afno_proxy",
        data.oracles(),
        predicate=OracleCall("has_square", ("image",)),
        settings=SETTINGS,
        executor=executor,
        progress=False,  # type: ignore[arg-type]
    )
    scores = score_collection(
        store,
        "tiny",
        trained.checkpoint,
        name="again",
        executor=executor,  # type: ignore[arg-type]
        batch_size=32,
        progress=False,
    )
    engine = Engine(store, data.oracles(), oracle_wrapper=executor.oracles)  # type: ignore[attr-defined]
    result = engine.run(QUERY, seed=3)
    return scores, result.aggregates[0].estimate, result.calls_spent


def test_ray_executor_matches_the_local_executor(tmp_path: Path, ray_executor: RayExecutor) -> None:
    local_scores, local_estimate, local_calls = _pipeline(tmp_path / "l.duckdb", LocalExecutor())
    ray_scores, ray_estimate, ray_calls = _pipeline(tmp_path / "r.duckdb", ray_executor)
    np.testing.assert_allclose(ray_scores, local_scores, rtol=1e-6, atol=1e-9)
    assert ray_estimate == pytest.approx(local_estimate, rel=1e-9)
    assert ray_calls == local_calls


def test_ray_oracles_run_as_tasks_and_report_errors(ray_executor: RayExecutor) -> None:
    import os

    from abae.oracles.registry import OracleRegistry, OracleSpec

    registry = OracleRegistry()
    registry.add(OracleSpec("where", lambda _: os.getpid()))
    wrapped = ray_executor.oracles(registry)
    assert wrapped.get("where").fn(0) != os.getpid()
    registry.add(OracleSpec("broken", lambda _: 1 / 0))
    with pytest.raises(ZeroDivisionError):
        ray_executor.oracles(registry).get("broken").fn(0)


def test_oracles_from_an_oracle_file_run_on_ray(tmp_path: Path, ray_executor: RayExecutor) -> None:
    from abae.oracles import load_oracle_file

    source = tmp_path / "oracles.py"
    source.write_text(
        "import os\nimport abae\n\n"
        '@abae.oracle("worker_pid")\ndef worker_pid(image):\n    return float(os.getpid())\n'
    )
    wrapped = ray_executor.oracles(load_oracle_file(source))
    import os

    assert wrapped.get("worker_pid").fn("x") != float(os.getpid())
