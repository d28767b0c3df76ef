"""The ``abae import/query/explain/labels`` commands end to end on a temporary store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from abae.cli import build_parser, main

ORACLES = """
import abae

@abae.oracle("is_big", cost=0.25)
def is_big(size):
    return size > 50

@abae.oracle("weight")
def weight(size, colour):
    return size * (2.0 if colour == "red" else 1.0)
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    size = rng.integers(0, 100, 1000)
    csv = tmp_path / "items.csv"
    lines = ["item,size,colour,guess"] + [
        f"{i},{s},{'red' if i % 2 else 'blue'},{min(1.0, s / 100 + rng.normal(0, 0.1)):.4f}"
        for i, s in enumerate(size)
    ]
    csv.write_text("\n".join(lines) + "\n")
    oracles = tmp_path / "oracles.py"
    oracles.write_text(ORACLES)
    (tmp_path / "truth.txt").write_text(str(int((size > 50).sum())))
    return {"csv": csv, "oracles": oracles, "db": tmp_path / "cli.duckdb", "dir": tmp_path}


SQL = (
    "SELECT AVG(weight(size, colour)) AS w, COUNT(*) FROM items WHERE is_big(size) "
    "ORACLE LIMIT 200 USING guess WITH PROBABILITY 0.9"
)


def test_import_query_explain_labels(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(files["db"])
    assert main(["import", str(files["csv"]), "--table", "items", "--id-column", "item",
                 "--proxy-column", "guess", "--db", db]) == 0  # fmt: skip
    assert "imported 1000 records into 'items'" in capsys.readouterr().out

    assert main(["explain", SQL, "--oracles", str(files["oracles"]), "--db", db]) == 0
    out = capsys.readouterr().out
    assert "stage-1 labels 16" in out  # 40% of 200 over 5 strata
    assert "predicted error: unknown" in out

    report = files["dir"] / "report"
    assert main(["query", SQL, "--oracles", str(files["oracles"]), "--db", db, "--json",
                 "--report", str(report)]) == 0  # fmt: skip
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["calls_spent"] == 200
    assert result["confidence"] == 0.9
    assert [a["name"] for a in result["aggregates"]] == ["w", "count"]
    count = result["aggregates"][1]
    true_count = int((files["dir"] / "truth.txt").read_text())
    assert count["ci_low"] <= true_count <= count["ci_high"]
    assert len(list(report.glob("*.png"))) == 1
    assert len(list(report.glob("*.html"))) == 1

    assert main(["query", SQL, "--oracles", str(files["oracles"]), "--db", db]) == 0
    out = capsys.readouterr().out
    assert "records charged to ORACLE LIMIT: 0 this run, 200/200 in all" in out
    assert "w: " in out

    export = files["dir"] / "ledger.json"
    assert main(["labels", "--db", db, "--export", str(export)]) == 0
    out = capsys.readouterr().out
    assert "items.is_big: 200 labels" in out
    assert "records charged 200/200" in out
    assert "items.weight:" in out
    assert "positive" not in out.split("items.weight:")[1].splitlines()[0]
    assert json.loads(export.read_text())["queries"][0]["result"]["budget"] == 200


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT AVG(x FROM items", "line 1, column 14: expected ')'"),
        ("SELECT COUNT(*) FROM items; DROP TABLE items", "only one statement"),
        ("SELECT COUNT(*) FROM nowhere WHERE is_big(size) ORACLE LIMIT 5", "unknown collection"),
    ],
)
def test_user_errors_are_one_line_with_status_2(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], sql: str, message: str
) -> None:
    db = str(files["db"])
    main(["import", str(files["csv"]), "--table", "items", "--db", db])
    capsys.readouterr()
    assert main(["query", sql, "--oracles", str(files["oracles"]), "--db", db]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("abae query: error: ")
    assert message in err
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 2


def test_every_command_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    for command, words in [
        ("import", "--proxy-column"),
        ("query", "ORACLE LIMIT"),
        ("explain", "predicted"),
        ("labels", "--export"),
    ]:
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args([command, "--help"])
        assert exited.value.code == 0
        assert words in capsys.readouterr().out


@pytest.mark.parametrize(
    ("report", "message"),
    [("a_file.txt", "exists and is not a folder"), ("a_file.txt/sub", "is a file")],
)
def test_a_bad_report_folder_is_refused_before_any_oracle_call(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], report: str, message: str
) -> None:
    db = str(files["db"])
    main(["import", str(files["csv"]), "--table", "items", "--db", db])
    (files["dir"] / "a_file.txt").write_text("keep me")
    capsys.readouterr()
    args = ["query", SQL, "--oracles", str(files["oracles"]), "--db", db, "--no-progress"]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--report", str(files["dir"] / report)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert main(["labels", "--db", db]) == 0
    assert "queries:\n  none yet" in capsys.readouterr().out  # nothing was paid for
    assert (files["dir"] / "a_file.txt").read_text() == "keep me"
