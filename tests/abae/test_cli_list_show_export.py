"""``abae list``, ``abae show`` and result exports (CSV, Parquet, pandas) through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from abae.cli import main
from abae.engine.result import QueryResult
from abae.engine.result_table import COLUMNS

ORACLES = """
import abae

@abae.oracle("is_big")
def is_big(size):
    return size > 50
"""
SQL = "SELECT COUNT(*) AS n FROM items WHERE is_big(size) GROUP BY colour ORACLE LIMIT 120 USING guess"


@pytest.fixture
def store(tmp_path: Path) -> dict[str, str]:
    rng = np.random.default_rng(0)
    size = rng.integers(0, 100, 400)
    lines = ["item,size,colour,guess"] + [
        f"{i},{s},{'red' if i % 3 else 'blue'},{s / 100:.3f}" for i, s in enumerate(size)
    ]
    csv = tmp_path / "items.csv"
    csv.write_text("\n".join(lines) + "\n")
    (tmp_path / "oracles.py").write_text(ORACLES)
    db = str(tmp_path / "s.duckdb")
    assert main(["import", str(csv), "--table", "items", "--id-column", "item",
                 "--proxy-column", "guess", "--db", db]) == 0  # fmt: skip
    return {"db": db, "oracles": str(tmp_path / "oracles.py"), "dir": str(tmp_path)}


def test_list_shows_collections_columns_proxies_and_queries(
    store: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["list", "--db", store["db"]]) == 0
    out = capsys.readouterr().out
    assert "items: 400 records" in out
    assert "columns: size BIGINT, colour VARCHAR" in out
    assert "proxy guess" in out
    assert "queries: none yet" in out

    assert main(["query", SQL, "--oracles", store["oracles"], "--db", store["db"]]) == 0
    query_id = capsys.readouterr().out.split("query ")[-1].split()[0]
    assert main(["list", "--db", store["db"], "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    (collection,) = listed["collections"]
    assert collection["records"] == 400
    assert [p["name"] for p in collection["proxies"]] == ["guess"]
    assert [q["query_id"] for q in listed["queries"]] == [query_id]
    assert listed["queries"][0]["status"] == "done"


def test_show_reprints_a_past_result_and_exports_it(
    store: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["query", SQL, "--oracles", store["oracles"], "--db", store["db"], "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    csv = Path(store["dir"]) / "out.csv"
    parquet = Path(store["dir"]) / "out.parquet"
    assert main(["show", first["query_id"], "--db", store["db"],
                 "--csv", str(csv), "--parquet", str(parquet)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    for aggregate in first["aggregates"]:
        assert f"n [{aggregate['group']}]: {aggregate['estimate']:.6g}" in out
    for path in (csv, parquet):
        rows = duckdb.sql(f"SELECT * FROM '{path}' ORDER BY \"group\"").fetchall()
        assert [r[4] for r in rows] == sorted(a["group"] for a in first["aggregates"])
        by_group = {a["group"]: a for a in first["aggregates"]}
        for row in rows:
            assert row[5] == pytest.approx(by_group[row[4]]["estimate"])
            assert row[0] == first["query_id"]


def test_show_of_an_unknown_query_is_a_one_line_error(
    store: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["show", "nope", "--db", store["db"]]) == 2
    err = capsys.readouterr().err
    assert "no query 'nope' in the log" in err
    assert len(err.strip().splitlines()) == 1


def test_export_to_a_folder_is_refused(
    store: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = main(["query", SQL, "--oracles", store["oracles"], "--db", store["db"],
                 "--csv", store["dir"]])  # fmt: skip
    assert code == 2
    assert "it is a folder" in capsys.readouterr().err


def test_result_round_trips_through_its_dict_and_becomes_a_data_frame(
    store: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from abae.engine import Engine
    from abae.oracles import load_oracle_file

    result = Engine(store["db"], load_oracle_file(store["oracles"])).run(SQL)
    again = QueryResult.from_dict(result.to_dict())
    assert again.to_dict() == result.to_dict()
    frame = result.to_frame()
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == len(result.aggregates)
    assert frame["estimate"].tolist() == [a.estimate for a in result.aggregates]
