"""Several processes on one store: real queries through the engine, overlapping records.

Each worker process (this file run as a script) runs rounds of queries through
:class:`abae.engine.Engine` with an instant oracle over one shared collection;
the queries of different processes sample overlapping records, so they meet
in the ledger. The oracle logs every call (process, round, record) to its own
file. Afterwards: every worker finished, no record was sent to the oracle
twice (no double payment), every query stayed within its budget, every claim
ended ``done`` (none pending, and no phantom ``lost``), and each run's fresh
labels and ``calls_spent`` are exactly the oracle calls that run made (the
per-run accounting does not count another process's purchases).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abae.store import Store, import_arrays

RECORDS = 400
SQL = "SELECT COUNT(*) FROM r WHERE is_positive(v) ORACLE LIMIT {budget} USING p"


def _worker(db: str, log_dir: str, process: int, rounds: int, budget: int) -> None:
    """Run ``rounds`` queries (one seed each) and print one JSON line per result."""
    from abae.engine import Engine
    from abae.oracles.registry import OracleRegistry, OracleSpec

    current_round = [0]
    log = open(Path(log_dir) / f"calls-{process}.log", "a")  # noqa: SIM115 - closed below

    def is_positive(value: int) -> bool:
        log.write(f"{process} {current_round[0]} {int(value)}\n")
        log.flush()
        return int(value) % 3 == 0

    registry = OracleRegistry()
    registry.add(OracleSpec("is_positive", is_positive, cost=1.0))
    engine = Engine(Store(db, lock_timeout_s=120.0), registry, concurrency=4)
    for round_ in range(rounds):
        current_round[0] = round_
        result = engine.run(SQL.format(budget=budget), seed=1000 * process + round_)
        print(
            json.dumps(
                {
                    "process": process,
                    "round": round_,
                    "query_id": result.query_id,
                    "budget": result.budget,
                    "calls_spent": result.calls_spent,
                    "calls_spent_total": result.calls_spent_total,
                    "fresh_labels": result.fresh_labels,
                    "labels_reused": result.labels_reused,
                    "estimate": result.aggregates[0].estimate,
                }
            ),
            flush=True,
        )
    log.close()


def _make_store(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    values = np.arange(RECORDS)
    store = Store(tmp_path / "shared.duckdb")
    import_arrays(
        store,
        "r",
        columns={"v": values},
        proxies={"p": np.clip((values % 3 == 0) * 0.6 + rng.random(RECORDS) * 0.4, 0, 1)},
    )
    store.close()
    return store.path


def _run_workers(
    tmp_path: Path, db: Path, processes: int, rounds: int, budget: int
) -> list[dict[str, object]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                str(db),
                str(tmp_path),
                str(process),
                str(rounds),
                str(budget),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for process in range(processes)
    ]
    results: list[dict[str, object]] = []
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, f"worker failed:\n{err[-3000:]}"
        results.extend(json.loads(line) for line in out.splitlines() if line.startswith("{"))
    return results


def _logged_calls(tmp_path: Path) -> list[tuple[int, int, int]]:
    calls = []
    for log in sorted(tmp_path.glob("calls-*.log")):
        for line in log.read_text().splitlines():
            process, round_, record = (int(x) for x in line.split())
            calls.append((process, round_, record))
    return calls


def _check_harness(tmp_path: Path, processes: int, rounds: int, budget: int) -> None:
    db = _make_store(tmp_path)
    results = _run_workers(tmp_path, db, processes, rounds, budget)
    assert sorted((r["process"], r["round"]) for r in results) == [
        (p, k) for p in range(processes) for k in range(rounds)
    ]
    calls = _logged_calls(tmp_path)
    records = [record for _, _, record in calls]
    assert len(records) == len(set(records)), "a record was sent to the oracle twice"
    assert len(records) > budget, "the queries did not overlap enough to meet in the ledger"

    store = Store(db)
    with store.transaction() as con:
        spent = dict(
            con.execute(
                "SELECT query_id, count(DISTINCT record_id) FROM abae_claims GROUP BY query_id"
            ).fetchall()
        )
        states = dict(
            con.execute("SELECT state, count(*) FROM abae_claims GROUP BY state").fetchall()
        )
        labelled = con.execute(
            "SELECT count(*), count(DISTINCT record_id) FROM abae_labels WHERE collection = 'r'"
        ).fetchall()[0]
    store.close()
    assert set(states) == {"done"}, f"claims left pending, lost or failed: {states}"
    assert labelled == (len(records), len(records))
    for result in results:
        assert spent.get(result["query_id"], 0) <= budget
        assert result["calls_spent_total"] <= budget
        made = sum(1 for p, k, _ in calls if (p, k) == (result["process"], result["round"]))
        assert result["fresh_labels"] == made, f"run {result} made {made} oracle calls"
        assert result["calls_spent"] == made, f"run {result} was charged for others' calls"


def test_four_processes_share_one_store_without_double_payment(tmp_path: Path) -> None:
    _check_harness(tmp_path, processes=4, rounds=1, budget=30)


@pytest.mark.slow
def test_four_processes_five_rounds_each(tmp_path: Path) -> None:
    _check_harness(tmp_path, processes=4, rounds=5, budget=40)


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
