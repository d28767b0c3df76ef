"""The engine end to end: estimates, cache reuse, resume after kill -9, two processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from abae.engine import Engine, explain_query
from abae.oracles import load_oracle_file
from abae.report import write_report
from abae.store import Store, import_arrays

N = 3000
ORACLE_FILE = """
import os, time
import abae

LOG = os.environ["ABAE_TEST_LOG"]
SLEEP = float(os.environ.get("ABAE_TEST_SLEEP", "0"))
FAIL_EVERY = int(os.environ.get("ABAE_TEST_FAIL_EVERY", "0"))


def _log(text):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, (text + "\\n").encode())
    os.close(fd)


@abae.oracle("is_match", cost=0.01)
def is_match(rid, score):
    time.sleep(SLEEP)
    _log(f"is_match {rid}")
    if FAIL_EVERY and rid % FAIL_EVERY == 0:
        raise KeyError(f"frame {rid} is corrupt")
    return (rid * 7919) % 1000 < score * 1000


@abae.oracle("size_of")
def size_of(rid):
    _log(f"size_of {rid}")
    return float(rid % 10)
"""


def truth(ids: np.ndarray, score: np.ndarray) -> np.ndarray:
    return (ids * 7919) % 1000 < score * 1000


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    score = rng.random(N) ** 2
    store = Store(tmp_path / "e.duckdb")
    import_arrays(
        store,
        "frames",
        columns={"score": score, "camera": np.where(np.arange(N) % 3 == 0, "north", "south")},
        proxies={"p": np.clip(score + rng.normal(0, 0.05, N), 0, 1)},
    )
    store.close()
    oracles = tmp_path / "oracles.py"
    oracles.write_text(ORACLE_FILE)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("ABAE_TEST_LOG", str(log))
    return {"db": store.path, "oracles": oracles, "log": log, "dir": tmp_path}


def calls(log: Path, name: str = "is_match") -> list[int]:
    if not log.exists():
        return []
    return [int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith(name)]


QUERY = (
    "SELECT AVG(size_of(id)) AS size, COUNT(*) AS n FROM frames WHERE is_match(id, score) "
    "ORACLE LIMIT {budget} USING p"
)


def test_query_estimates_and_repeat_reuses_labels(setup: dict[str, Path]) -> None:
    engine = Engine(setup["db"], load_oracle_file(setup["oracles"]), concurrency=4)
    result = engine.run(QUERY.format(budget=400))
    ids = np.arange(N)
    score = np.random.default_rng(3).random(N) ** 2
    positive = truth(ids, score)
    count = next(a for a in result.aggregates if a.name == "n")
    size = next(a for a in result.aggregates if a.name == "size")
    assert count.ci_low <= positive.sum() <= count.ci_high
    assert abs(size.estimate - (ids[positive] % 10).mean()) < 1.0
    assert result.calls_spent == result.calls_spent_total == 400
    assert len(calls(setup["log"])) == 400
    assert len(calls(setup["log"], "size_of")) == result.fresh_labels - 400
    assert len(result.strata) == 5
    assert result.population == N
    again = engine.run(QUERY.format(budget=400))
    assert again.calls_spent == 0
    assert again.fresh_labels == 0
    assert again.labels_reused == result.fresh_labels
    assert again.aggregates == result.aggregates
    png, page = write_report(again, setup["dir"] / "report")
    assert png.read_bytes().startswith(b"\x89PNG")
    assert "data:image/png;base64," in page.read_text()


def test_group_by_cheap_filter_and_explain(setup: dict[str, Path]) -> None:
    engine = Engine(setup["db"], load_oracle_file(setup["oracles"]), concurrency=4)
    sql = (
        "SELECT camera, COUNT(*) FROM frames WHERE is_match(id, score) AND score > 0.1 "
        "GROUP BY camera ORACLE LIMIT 300 USING p"
    )
    explanation = explain_query(engine, sql)
    assert explanation.population == int((np.random.default_rng(3).random(N) ** 2 > 0.1).sum())
    assert explanation.predicted_error is None
    result = engine.run(sql)
    assert {a.group for a in result.aggregates} == {"north", "south"}
    assert result.calls_spent_total <= 300
    assert all(a.estimate > 0 for a in result.aggregates)
    assert explain_query(engine, sql).already_spent == result.calls_spent_total


def test_failed_records_are_left_out_not_counted(
    setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABAE_TEST_FAIL_EVERY", "10")
    engine = Engine(setup["db"], load_oracle_file(setup["oracles"]), concurrency=4)
    result = engine.run(
        "SELECT COUNT(*) FROM frames WHERE is_match(id, score) ORACLE LIMIT 200 USING p"
    )
    left_out = {row["record_id"] for row in result.left_out}
    assert left_out
    assert all(r % 10 == 0 for r in left_out)
    assert result.aggregates[0].labels_used == 200 - len(left_out)
    assert result.calls_spent_total == 200
    assert any("left out" in w for w in result.warnings)


def _cli(
    setup: dict[str, Path], sql: str, *extra: str, sleep: float = 0.0
) -> subprocess.Popen[str]:
    env = {**os.environ, "ABAE_TEST_SLEEP": str(sleep), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [
            sys.executable, "-m", "abae", "query", sql, "--oracles", str(setup["oracles"]),
            "--db", str(setup["db"]), "--json", "--concurrency", "4", *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def test_kill_9_then_rerun_stays_within_budget_and_reuses_every_label(
    setup: dict[str, Path],
) -> None:
    budget = 400
    sql = QUERY.format(budget=budget)
    process = _cli(setup, sql, sleep=0.02)
    deadline = time.monotonic() + 60
    while len(calls(setup["log"])) < 260:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    first_run_calls = len(calls(setup["log"]))
    assert first_run_calls < budget
    store = Store(setup["db"])
    with store.transaction() as con:
        row = con.execute("SELECT count(*) FROM abae_labels").fetchone()
    store.close()
    labels_before = int(row[0]) if row else 0
    assert labels_before > 200

    rerun = _cli(setup, sql)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    result = json.loads(out)
    total_calls = calls(setup["log"])
    assert len(set(total_calls)) <= budget
    # a call whose answer the kill lost (in flight, or answered but not yet written) is made
    # again on resume, without a new charge: at most the calls in flight at concurrency 4,
    # plus as many answered and unwritten
    assert len(total_calls) - len(set(total_calls)) <= 2 * 4
    assert result["calls_spent_total"] <= budget
    assert result["labels_reused"] == labels_before
    assert result["runs"] == 2
    # every record called was claimed (charged) first
    assert len(set(total_calls)) <= result["calls_spent_total"]


def test_two_processes_on_one_store_both_complete(setup: dict[str, Path]) -> None:
    first = _cli(setup, QUERY.format(budget=300), sleep=0.002)
    second = _cli(setup, QUERY.format(budget=300), "--seed", "7", sleep=0.002)
    results = []
    for process in (first, second):
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    invoked = calls(setup["log"])
    assert len(invoked) == len(set(invoked)), "a record was sent to the oracle twice"
    store = Store(setup["db"])
    with store.transaction() as con:
        labels = con.execute(
            "SELECT count(*), count(DISTINCT record_id) FROM abae_labels WHERE oracle = 'is_match'"
        ).fetchone()
        spent = con.execute(
            "SELECT query_id, count(DISTINCT record_id) FROM abae_claims "
            "WHERE oracle = 'is_match' GROUP BY query_id"
        ).fetchall()
        pending = con.execute("SELECT count(*) FROM abae_claims WHERE state = 'pending'").fetchone()
    store.close()
    assert labels == (len(invoked), len(invoked))
    assert all(n <= 300 for _, n in spent)
    assert pending == (0,)
    assert all(r["calls_spent_total"] <= 300 for r in results)
    assert sum(r["calls_spent"] for r in results) >= len(invoked)


def test_cost_limit_caps_the_money_spent_end_to_end(setup: dict[str, Path]) -> None:
    """is_match costs 0.01 a call: COST LIMIT 1.5 allows 150 of the 400 calls ORACLE LIMIT does."""
    engine = Engine(setup["db"], load_oracle_file(setup["oracles"]), concurrency=4)
    result = engine.run(QUERY.format(budget=400) + " COST LIMIT 1.5")
    assert result.cost_limit == 1.5
    assert result.money_spent_total <= 1.5 + 1e-9
    assert len(calls(setup["log"])) == round(result.money_spent_total / 0.01) <= 150
    assert result.calls_spent_total < 400
    assert any("COST LIMIT" in w for w in result.warnings)


def test_a_run_that_fails_is_logged_as_failed(setup: dict[str, Path]) -> None:
    from abae.errors import AbaeError
    from abae.store.query_log import QueryLog

    engine = Engine(setup["db"], load_oracle_file(setup["oracles"]), concurrency=4)
    sql = "SELECT camera, COUNT(*) FROM frames WHERE is_match(id, score) GROUP BY camera ORACLE LIMIT 1 USING p"
    with pytest.raises(AbaeError, match="ORACLE LIMIT"):
        engine.run(sql)
    (entry,) = QueryLog(Store(setup["db"])).entries()
    assert entry.status == "failed"
    assert " ".join(entry.sql.split()) == sql
