"""GROUP BY through the engine: cheap columns, oracle outputs, and the proxy's pilot as census."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from abae.engine import Engine
from abae.oracles import OracleRegistry, OracleSpec
from abae.store import Store, import_arrays
from abae.store.pilot_records import record_pilot

N = 800
KINDS = ("car", "bus", "van")


@pytest.fixture
def world(tmp_path: Path) -> dict[str, object]:
    rng = np.random.default_rng(11)
    camera = np.array(["north", "south", "east"])[rng.choice(3, N, p=[0.6, 0.3, 0.1])]
    score = rng.random(N)
    hit = rng.random(N) < score
    kind = np.array(KINDS)[rng.choice(3, N, p=[0.5, 0.3, 0.2])]
    size = rng.gamma(2.0, 3.0, N) + (camera == "east") * 5.0
    proxies = {"p": score}
    for j, name in enumerate(KINDS):
        proxies[f"p_{name}"] = np.clip(score * (0.5 + 0.5 * (kind == name)) + 0.02 * j, 0, 1)
    store = Store(tmp_path / "g.duckdb")
    import_arrays(store, "frames", columns={"camera": camera}, proxies=proxies)
    registry = OracleRegistry()
    registry.add(OracleSpec("hit", lambda rid: bool(hit[rid]), returns="bool"))
    registry.add(OracleSpec("size", lambda rid: float(size[rid]), returns="number"))
    registry.add(
        OracleSpec("kind", lambda rid: str(kind[rid]), returns="category", categories=KINDS)
    )
    return {
        "store": store,
        "engine": Engine(store, registry, concurrency=16),
        "camera": camera,
        "hit": hit,
        "kind": kind,
        "size": size,
    }


def _by_group(result: object) -> dict[tuple[object, str], object]:
    return {(a.group, a.kind): a for a in result.aggregates}  # type: ignore[attr-defined]


def test_cheap_column_groups_are_exact_with_the_whole_collection_labelled(world: dict) -> None:
    result = world["engine"].run(
        f"SELECT camera, COUNT(*), AVG(size(id)) FROM frames WHERE hit(id) GROUP BY camera "
        f"ORACLE LIMIT {N} USING p"
    )
    found = _by_group(result)
    for camera in ("north", "south", "east"):
        mine = world["hit"] & (world["camera"] == camera)
        count, average = found[(camera, "count")], found[(camera, "avg")]
        assert count.estimate == pytest.approx(mine.sum())
        assert count.ci_low == count.ci_high
        assert average.estimate == pytest.approx(world["size"][mine].mean())


def test_cheap_column_groups_with_a_partial_budget_have_honest_intervals(world: dict) -> None:
    result = world["engine"].run(
        "SELECT camera, COUNT(*) FROM frames WHERE hit(id) GROUP BY camera ORACLE LIMIT 400 USING p"
    )
    assert result.calls_spent_total <= 400
    assert len(result.aggregates) == 3
    for aggregate in result.aggregates:
        size = int((world["camera"] == aggregate.group).sum())
        assert aggregate.ci_low <= aggregate.estimate <= aggregate.ci_high
        # zero width only when every record of the group was labelled (the answer is exact)
        exact = aggregate.labels_used == size
        assert (aggregate.ci_low == aggregate.ci_high) == exact
        if exact:
            assert aggregate.estimate == (world["hit"] & (world["camera"] == aggregate.group)).sum()
        assert aggregate.ci_low >= 0
    # one line per kind of warning, not one per group and stratum
    assert len(result.warnings) == len(set(result.warnings))


def test_oracle_output_groups_with_per_group_proxies(world: dict) -> None:
    result = world["engine"].run(
        f"SELECT kind(id), COUNT(*) FROM frames WHERE hit(id) GROUP BY kind(id) "
        f"ORACLE LIMIT {N} USING p"
    )
    found = _by_group(result)
    for name in KINDS:
        expected = int((world["hit"] & (world["kind"] == name)).sum())
        assert found[(name, "count")].estimate == pytest.approx(expected)
    partial = world["engine"].run(
        "SELECT kind(id), COUNT(*) FROM frames WHERE hit(id) GROUP BY kind(id) "
        "ORACLE LIMIT 300 USING p",
        seed=1,
    )
    assert partial.calls_spent_total <= 300
    assert {a.group for a in partial.aggregates} == set(KINDS)


def test_the_pilot_enters_every_group_as_a_census(world: dict) -> None:
    store = world["store"]
    pilot = np.random.default_rng(3).choice(N, 120, replace=False)
    record_pilot(store, "frames", "p", pilot, scores=np.random.default_rng(4).random(120))
    result = world["engine"].run(
        "SELECT camera, COUNT(*) FROM frames WHERE hit(id) GROUP BY camera ORACLE LIMIT 300 USING p"
    )
    assert result.census_labels == 120
    labels = sum(a.labels_used for a in result.aggregates)
    assert labels == pytest.approx(120 + result.sampling_records_charged, abs=0)
    # the pilot's records were labelled for the census (charged to this query) but never sampled
    assert result.calls_spent_total <= 300


@pytest.mark.parametrize(
    "query",
    [
        "SELECT camera, AVG(size(id)) FROM frames WHERE hit(id) GROUP BY camera",
        "SELECT kind(id), AVG(size(id)) FROM frames WHERE hit(id) GROUP BY kind(id)",
    ],
)
def test_error_within_a_group_by_spends_less_than_the_cap_when_the_target_is_loose(
    world: dict, query: str
) -> None:
    """A loose target is met by every group, well before the cap; a tight one spends it."""
    tight = world["engine"].run(f"{query} ORACLE LIMIT 300 ERROR WITHIN 0.01 USING p", seed=1)
    assert tight.target is not None
    assert not tight.target.met
    assert tight.calls_spent_total == 300
    assert any("error target" in w for w in tight.warnings)
    loose = world["engine"].run(f"{query} ORACLE LIMIT {N} ERROR WITHIN 3 USING p", seed=2)
    assert loose.target is not None
    assert loose.target.met
    assert len(loose.target.reached) == len(loose.aggregates) >= 3
    assert loose.calls_spent_total + loose.labels_reused < N
