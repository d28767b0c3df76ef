"""``abae proxy train``, ``abae proxy score`` and ``abae query --train-proxy`` from the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from proxy_pipeline_data import import_tiny, tiny_images

from abae.cli import main
from abae.cli.proxy import parse_oracle_call
from abae.errors import AbaeError
from abae.query.plan import OracleCall
from abae.store import RecordCollection, Store

ORACLE_FILE = """
import numpy as np
import abae

truth = np.load({truth!r})

def row(image):
    return int(str(image).rsplit("/", 1)[1])

@abae.oracle("has_square")
def has_square(image):
    return bool(truth["predicate"][row(image)])

@abae.oracle("brightness")
def brightness(image):
    return float(truth["statistic"][row(image)])
"""
QUERY = (
    "SELECT AVG(brightness(image)) FROM tiny WHERE has_square(image) "
    "ORACLE LIMIT 120 USING afno_proxy"
)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    data = tiny_images()
    db = tmp_path / "db.duckdb"
    import_tiny(db, data)
    truth = tmp_path / "truth.npz"
    np.savez(truth, predicate=data.predicate, statistic=data.statistic)
    oracles = tmp_path / "oracles.py"
    oracles.write_text(ORACLE_FILE.format(truth=str(truth)))
    return db, oracles


def test_train_then_score_then_query(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, oracles = setup
    common = ["--db", str(db), "--no-progress"]
    status = main(
        ["proxy", "train", "tiny", "--oracle", "has_square(image)", "--statistic",
         "brightness(image)", "--regress", "--oracles", str(oracles), "--pilot", "100",
         "--epochs", "2", *common]
    )  # fmt: skip
    out = capsys.readouterr()
    assert status == 0
    assert "proxy afno_proxy: classify, held-out AUC" in out.out
    assert "proxy afno_proxy_statistic: regress, held-out correlation" in out.out
    assert "pilot: 100 records, 200 oracle labels bought" in out.err
    checkpoint = db.parent / "db.duckdb.proxies" / "tiny" / "afno_proxy.pt"
    assert checkpoint.is_file()
    status = main(["proxy", "score", "tiny", "--checkpoint", str(checkpoint), "--name", "copy",
                   *common])  # fmt: skip
    assert status == 0
    assert "scored 240 records of 'tiny'" in capsys.readouterr().out
    columns = RecordCollection(Store(db), "tiny").proxy_names()
    assert set(columns) == {"afno_proxy", "afno_proxy_statistic", "copy"}
    status = main(["query", QUERY, "--oracles", str(oracles), *common])
    out = capsys.readouterr()
    assert status == 0
    assert "left out of sampling" in out.out


def test_query_with_a_missing_proxy_fails_or_trains_it(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, oracles = setup
    common = ["--db", str(db), "--no-progress", "--oracles", str(oracles)]
    assert main(["query", QUERY, *common]) == 2
    assert "--train-proxy" in capsys.readouterr().err
    assert main(["query", QUERY, *common, "--train-proxy", "--pilot", "50"]) == 0
    out = capsys.readouterr().out
    assert "120/120 in all" in out
    assert "50 records whose labels trained the proxy" in out


def test_parse_oracle_call() -> None:
    assert parse_oracle_call("is_footwear(image)") == OracleCall("is_footwear", ("image",))
    assert parse_oracle_call("f(a, b)") == OracleCall("f", ("a", "b"))
    with pytest.raises(AbaeError, match="expected an oracle call"):
        parse_oracle_call("image")
    with pytest.raises(AbaeError, match="expected an oracle call"):
        parse_oracle_call("f(1)")
