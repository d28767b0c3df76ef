"""``abae proxy train``, ``abae proxy score`` and ``abae query --train-proxy`` from the command line."""

from __future__ import annotations

import re
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
         "--epochs", "2", "--folds", "3", "--pretrain-epochs", "1", *common]
    )  # fmt: skip
    out = capsys.readouterr()
    assert status == 0
    assert re.search(
        r"proxy afno_proxy: \w+, cross-validated AUC [01]\.\d{3} on 100 pilot labels", out.out
    )
    assert "pixels_logistic" in out.out
    assert "proxy afno_proxy_statistic: regress, held-out correlation" in out.out
    assert "pilot: 100 records, 200 oracle labels bought (0 labels reused) in 1 round(s)" in out.err
    assert "backbone: pretrained and saved to" in out.err
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
    # The pilot's labels are a census stratum of the query: reused, nothing left out.
    assert "census 100 (pilot labels reused), left out 0" in out.out


def test_query_with_a_missing_proxy_fails_or_trains_it(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, oracles = setup
    common = ["--db", str(db), "--no-progress", "--oracles", str(oracles)]
    assert main(["query", QUERY, *common]) == 2
    assert "--train-proxy" in capsys.readouterr().err
    assert main(["query", QUERY, *common, "--train-proxy", "--pilot", "50"]) == 0
    out = capsys.readouterr().out
    assert "120/120 in all (pilot 50, census and sampling 70)" in out
    assert "census 50 (pilot labels reused)" in out
    with pytest.raises(SystemExit):
        main(["query", QUERY, *common, "--train-proxy", "--pilot", "3"])
    assert "--pilot must be at least 4 labels" in capsys.readouterr().err


def test_parse_oracle_call() -> None:
    assert parse_oracle_call("is_footwear(image)") == OracleCall("is_footwear", ("image",))
    assert parse_oracle_call("f(a, b)") == OracleCall("f", ("a", "b"))
    with pytest.raises(AbaeError, match="expected an oracle call"):
        parse_oracle_call("image")
    with pytest.raises(AbaeError, match="expected an oracle call"):
        parse_oracle_call("f(1)")


def test_auto_pilot_rounds_are_printed(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, oracles = setup
    status = main(
        ["proxy", "train", "tiny", "--oracle", "has_square(image)", "--oracles", str(oracles),
         "--pilot", "auto", "--max-pilot", "80", "--candidates", "pixels_logistic",
         "--db", str(db), "--no-progress"]
    )  # fmt: skip
    out = capsys.readouterr()
    assert status == 0
    assert "pilot round 1: 80 labels" in out.err
    assert "proxy afno_proxy: pixels_logistic, cross-validated AUC" in out.out
    assert "backbone" not in out.err  # no candidate needed it
    assert main(["list", "--db", str(db)]) == 0
    listed = capsys.readouterr().out
    assert "proxy afno_proxy:" in listed
    assert "candidate pixels_logistic; cv-AUC " in listed
    assert "pilot 80 labels (80 calls, cost 0); used by 0 queries" in listed


def test_bad_pilot_options_and_a_short_pilot_are_one_line_errors(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, oracles = setup
    common = ["proxy", "train", "tiny", "--oracle", "has_square(image)", "--oracles",
              str(oracles), "--candidates", "pixels_logistic", "--db", str(db), "--no-progress"]  # fmt: skip
    with pytest.raises(SystemExit):
        main([*common, "--pilot", "lots"])
    assert "--pilot must be a number or 'auto'" in capsys.readouterr().err
    assert main([*common, "--pilot", "100", "--pilot-budget", "60"]) == 2
    err = capsys.readouterr().err
    assert "the pilot has 60 labels of the 100 asked" in err
    assert "--pilot-budget" in err
    assert len(err.strip().splitlines()) == 1
    assert main([*common, "--pilot", "100", "--pilot-budget", "60", "--accept-smaller-pilot"]) == 0
    assert "warning: the pilot has 60 labels of the 100 asked" in capsys.readouterr().err


def test_scoring_a_decompression_bomb_names_the_record(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_proxy_image_input import bomb_png

    from abae.proxy import save_proxy, train_proxy

    db, _ = setup
    data = tiny_images()
    checkpoint = save_proxy(
        tmp_path / "p.pt", train_proxy(data.images, data.predicate, epochs=1, progress=False)
    )
    store = Store(db)
    with store.transaction() as con:
        con.execute("UPDATE tiny SET image_blob = ? WHERE id = 17", [bomb_png(100_000, 100_000)])
    store.close()
    status = main(["proxy", "score", "tiny", "--checkpoint", str(checkpoint), "--db", str(db),
                   "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2
    assert "record 17: image_blob" in err
    assert "decompression bomb" in err
    assert len(err.strip().splitlines()) == 1
