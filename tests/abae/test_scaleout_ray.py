"""The Ray executor keeps what the in-process one promises: scores within the
cross-path tolerance, and the same records labelled for the same spend.

Skipped when Ray is not installed (it is the optional ``[ray]`` extra).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from proxy_pipeline_data import TinyImages, import_tiny, tiny_images

from abae.engine import Engine
from abae.proxy.store_pipeline import (
    ProxyTrainingSettings,
    score_collection,
    train_collection_proxy,
)
from abae.query.plan import OracleCall
from abae.scaleout import LocalExecutor, RayExecutor, ray_available
from abae.store import Store
from numerics import assert_close_across_paths, assert_same_path

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


def _trained_store(db: Path) -> tuple[Store, TinyImages, Path]:
    data = tiny_images()
    store = import_tiny(db, data)
    trained = train_collection_proxy(
        store,
        "tiny",
        "afno_proxy",
        data.oracles(),
        predicate=OracleCall("has_square", ("image",)),
        settings=SETTINGS,
        progress=False,
    )
    return store, data, trained.checkpoint


def test_ray_scores_match_local_scores_within_the_cross_path_tolerance(
    tmp_path: Path, ray_executor: RayExecutor
) -> None:
    store, _, checkpoint = _trained_store(tmp_path / "db.duckdb")
    local = score_collection(
        store, "tiny", checkpoint, name="local", executor=LocalExecutor(), progress=False
    )
    # Ray scores batches of 32 in worker processes with one thread each: another path.
    on_ray = score_collection(
        store,
        "tiny",
        checkpoint,
        name="on_ray",
        executor=ray_executor,
        batch_size=32,
        progress=False,
    )
    assert_close_across_paths(on_ray, local)


def test_a_query_with_oracles_on_ray_labels_the_same_records_as_in_process(
    tmp_path: Path, ray_executor: RayExecutor
) -> None:
    """Given the same scores and seed, where the oracles run changes nothing that is promised.

    Scores from two executors may differ by float32 reordering error, and one ulp
    can move a record across a stratum cut; so the executors' scoring is compared
    above, within its tolerance, and here both runs rank by the same score column.
    """
    store, data, _ = _trained_store(tmp_path / "db.duckdb")
    runs = []
    for executor in (LocalExecutor(), ray_executor):
        # A fresh ledger but for the proxy's pilot (the census both runs reuse):
        # both runs pay for every label they sample.
        with store.transaction() as con:
            con.execute("DELETE FROM abae_labels WHERE query_id NOT LIKE 'pilot:%'")
            con.execute("DELETE FROM abae_claims WHERE query_id NOT LIKE 'pilot:%'")
            con.execute("DELETE FROM abae_queries WHERE query_id NOT LIKE 'pilot:%'")
        engine = Engine(store, data.oracles(), oracle_wrapper=executor.oracles)
        result = engine.run(QUERY, seed=3)
        with store.transaction() as con:
            labelled = {
                int(r[0])
                for r in con.execute(
                    "SELECT record_id FROM abae_labels WHERE query_id = ?", [result.query_id]
                ).fetchall()
            }
        runs.append((result, labelled))
    (local, local_labelled), (on_ray, ray_labelled) = runs
    assert ray_labelled == local_labelled
    assert on_ray.calls_spent == local.calls_spent
    assert on_ray.calls_spent_total == local.calls_spent_total
    # The estimate is a function of the labels alone: the same labels give the same path.
    assert_same_path(
        [a.estimate for a in on_ray.aggregates], [a.estimate for a in local.aggregates]
    )


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
