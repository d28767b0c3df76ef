"""kill -9 harness for queries: a kill wastes at most the calls in flight, no label is paid
twice, and the resumed run gives the uninterrupted run's estimate (same seed).

Each run is a subprocess that runs one query through :class:`abae.engine.Engine`
with 16 calls in flight. The oracle logs ``sent <id>`` when a call starts and
``done <id>`` just before it returns (one ``O_APPEND`` write each). After a
``kill -9`` at a random point the harness reads the log and the ledger:

- *spent but never sent*: records the query claimed that never reached the oracle;
- *calls in flight*: records sent whose label is not in the ledger (their answer
  was not saved), the calls a kill can lose;
- *re-paid*: records sent again by the resumed run although their label was in
  the ledger before it.

The default run kills at one point; ``-m slow`` kills at ten.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from abae.store import Store, import_arrays
from numerics import assert_same_path

N = 2000
BUDGET = 240
CONCURRENCY = 16
SEED = 11
SQL = f"SELECT COUNT(*) FROM frames WHERE is_match(id) ORACLE LIMIT {BUDGET} USING p"

ORACLES = """
import os, time
import abae

LOG = os.environ["ABAE_KILL_LOG"]


def _log(text):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, (text + "\\n").encode())
    os.close(fd)


@abae.oracle("is_match", returns="bool")
def is_match(rid):
    _log(f"sent {rid}")
    time.sleep(0.02 + (rid * 7919 % 13) / 1000)
    answer = (rid * 7919) % 1000 < 300
    _log(f"done {rid}")
    return answer
"""

RUNNER = """
import json, sys
from abae.engine import Engine
from abae.oracles import load_oracle_file

db, oracles, sql, seed, concurrency = sys.argv[1:6]
engine = Engine(db, load_oracle_file(oracles), concurrency=int(concurrency))
result = engine.run(sql, seed=int(seed))
aggregate = result.aggregates[0]
print(json.dumps({"estimate": aggregate.estimate, "ci": [aggregate.ci_low, aggregate.ci_high],
                  "calls_spent_total": result.calls_spent_total}))
"""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("kill")
    rng = np.random.default_rng(3)
    ids = np.arange(N)
    truth = (ids * 7919) % 1000 < 300
    store = Store(folder / "template.duckdb")
    import_arrays(store, "frames", proxies={"p": np.clip(truth * 0.6 + rng.random(N) * 0.4, 0, 1)})
    store.close()
    (folder / "oracles.py").write_text(ORACLES)
    (folder / "runner.py").write_text(RUNNER)
    return {"folder": folder, "template": folder / "template.duckdb"}


def _fresh(prepared: dict[str, Path], name: str) -> dict[str, Path]:
    folder = prepared["folder"] / name
    folder.mkdir()
    db = folder / "store.duckdb"
    shutil.copy(prepared["template"], db)
    return {"db": db, "log": folder / "calls.log"}


def _start(prepared: dict[str, Path], run: dict[str, Path]) -> subprocess.Popen[str]:
    folder = prepared["folder"]
    env = {**os.environ, "ABAE_KILL_LOG": str(run["log"]), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [
            sys.executable, str(folder / "runner.py"), str(run["db"]),
            str(folder / "oracles.py"), SQL, str(SEED), str(CONCURRENCY),
        ],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-2000:]
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _events(log: Path) -> list[tuple[str, int]]:
    if not log.exists():
        return []
    return [
        (kind, int(rid))
        for kind, rid in (line.split() for line in log.read_text().split("\n") if line)
    ]


def _ledger(db: Path) -> tuple[set[int], set[int]]:
    """(records the query claimed, records with a label)."""
    store = Store(db)
    with store.transaction() as con:
        claimed = {
            int(r[0]) for r in con.execute("SELECT DISTINCT record_id FROM abae_claims").fetchall()
        }
        labelled = {int(r[0]) for r in con.execute("SELECT record_id FROM abae_labels").fetchall()}
    store.close()
    return claimed, labelled


def _kill_and_resume(
    prepared: dict[str, Path], name: str, sent_before_kill: int, reference: dict[str, Any]
) -> dict[str, int]:
    run = _fresh(prepared, name)
    process = _start(prepared, run)
    deadline = time.monotonic() + 120
    while sum(kind == "sent" for kind, _ in _events(run["log"])) < sent_before_kill:
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    events = _events(run["log"])
    sent = {rid for kind, rid in events if kind == "sent"}
    claimed, labelled = _ledger(run["db"])
    never_sent = claimed - sent
    in_flight = sent - labelled
    assert never_sent == set() or len(never_sent) <= len(in_flight), (never_sent, in_flight)
    assert len(never_sent) <= CONCURRENCY
    assert labelled <= sent

    resumed = _finish(_start(prepared, run))
    after = _events(run["log"])[len(events) :]
    sent_again = {rid for kind, rid in after if kind == "sent"} & sent
    assert sent_again & labelled == set()  # 0 labels re-paid
    assert sent_again <= in_flight  # only calls whose answer the kill lost are made again
    assert resumed["calls_spent_total"] <= BUDGET
    assert_same_path(
        [resumed["estimate"], *resumed["ci"]], [reference["estimate"], *reference["ci"]]
    )
    return {
        "never_sent": len(never_sent),
        "in_flight": len(in_flight),
        "sent_again": len(sent_again),
    }


@pytest.fixture(scope="module")
def reference(prepared: dict[str, Path]) -> dict[str, Any]:
    run = _fresh(prepared, "reference")
    result = _finish(_start(prepared, run))
    sent = [rid for kind, rid in _events(run["log"]) if kind == "sent"]
    assert len(sent) == len(set(sent)) <= BUDGET
    return result


def test_kill_9_once_wastes_at_most_the_calls_in_flight(
    prepared: dict[str, Path], reference: dict[str, Any]
) -> None:
    _kill_and_resume(prepared, "kill_once", BUDGET // 2, reference)


@pytest.mark.slow
def test_kill_9_at_ten_random_points(prepared: dict[str, Path], reference: dict[str, Any]) -> None:
    rng = np.random.default_rng(2026)
    points = sorted(rng.integers(20, BUDGET - 20, size=10).tolist())
    outcomes = [_kill_and_resume(prepared, f"kill_{i}", p, reference) for i, p in enumerate(points)]
    print(json.dumps({"points": points, "outcomes": outcomes}))
