"""Imports are atomic, and bad inputs give one clear error, not a traceback.

A failed import, a refused one or a killed one leaves no collection (no table,
no catalog row) behind, so the same import can be retried without
``--replace``; a failed ``--replace`` keeps the old collection.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from abae.cli import main
from abae.store import (
    CollectionImportError,
    RecordCollection,
    Store,
    import_arrays,
    import_table_file,
    list_collections,
)
from abae.store.staging import StagingRows

BAD_CSVS = {
    "duplicate ids": ("rid,score\n1,0.5\n2,0.1\n1,0.6\n", r"ids must be unique.*1 \(2 times\)"),
    "text proxy": ("rid,score\n1,high\n2,0.6\n", r"proxy column 'score' .* holds VARCHAR, not numbers \(e\.g\. 'high'\)"),
    "text ids": ("rid,score\nabc,0.5\n2,0.6\n", r"not an integer .*: 'abc'"),
    "ids above int64": ("rid,score\n9223372036854775808,0.5\n2,0.6\n", r"not an integer .*: '9223372036854775808'"),
    "fractional ids": ("rid,score\n1.5,0.5\n2.5,0.6\n", r"holds DOUBLE; ids must be integers"),
    "missing id": ("rid,score\n1,0.5\n,0.6\n", r"1 of 2 records have no id"),
    "infinite proxy": ("rid,score\n1,inf\n2,0.6\n", r"'score' has 1 NaN or infinite scores"),
}  # fmt: skip


def _tables(store: Store) -> list[str]:
    with store.transaction() as con:
        rows = con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE NOT starts_with(table_name, 'abae_') ORDER BY table_name"
        ).fetchall()
    return [str(r[0]) for r in rows]


def _assert_nothing_left(store: Store) -> None:
    assert list_collections(store) == []
    assert _tables(store) == []


@pytest.mark.parametrize("case", sorted(BAD_CSVS))
def test_bad_csv_is_refused_clearly_and_leaves_nothing(tmp_path: Path, case: str) -> None:
    text, message = BAD_CSVS[case]
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(CollectionImportError, match=message):
        import_table_file(store, "items", csv, id_column="rid", proxy_columns=["score"])
    _assert_nothing_left(store)
    csv.write_text("rid,score\n1,0.5\n2,0.6\n")  # fixed: the same import now works
    collection = import_table_file(store, "items", csv, id_column="rid", proxy_columns=["score"])
    assert collection.count() == 2


def test_binary_file_is_refused_clearly(tmp_path: Path) -> None:
    binary = tmp_path / "photo.csv"
    binary.write_bytes(bytes(range(256)) * 40)
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(CollectionImportError, match=r"cannot read .*photo\.csv as CSV"):
        import_table_file(store, "items", binary)
    _assert_nothing_left(store)


@pytest.mark.parametrize("case", sorted(BAD_CSVS))
def test_cli_prints_one_error_line_for_bad_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(BAD_CSVS[case][0])
    db = str(tmp_path / "s.duckdb")
    code = main(["import", str(csv), "--table", "t", "--id-column", "rid",
                 "--proxy-column", "score", "--db", db, "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("abae import: error: ")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_failed_replace_keeps_the_old_collection(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    import_arrays(store, "r", columns={"v": np.arange(5)}, proxies={"p": np.linspace(0, 1, 5)})
    with pytest.raises(CollectionImportError, match="NaN or infinite"):
        import_arrays(
            store, "r", columns={"v": np.arange(3)}, proxies={"p": [0.1, np.nan, 0.3]}, replace=True
        )
    kept = RecordCollection(store, "r")
    assert kept.count() == 5
    assert kept.proxy_names() == ["p"]


def test_failure_after_the_table_was_made_rolls_it_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(CollectionImportError, match="repeat an id"):
        import_arrays(store, "r", ids=[1, 2, 2, 3], columns={"v": np.arange(4)})
    _assert_nothing_left(store)
    assert import_arrays(store, "r", ids=[1, 2, 3, 4], columns={"v": np.arange(4)}).count() == 4


@pytest.mark.parametrize(
    ("ids", "unique"),
    [
        ([1, 2, 3, 4, 5, 6, 7], True),
        ([1, 2, 3, 3, 4, 5, 6], False),  # the repeat straddles two chunks of three
        ([4, 5, 6, 1, 2, 3, 7], True),
        ([4, 5, 6, 1, 2, 3, 6], False),
    ],
)
def test_ids_are_checked_across_chunks_and_stored_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ids: list[int], unique: bool
) -> None:
    import abae.store.collection_publish as publish

    monkeypatch.setattr(publish, "_ID_CHUNK", 3)
    store = Store(tmp_path / "s.duckdb")
    if not unique:
        with pytest.raises(CollectionImportError, match="repeat an id"):
            import_arrays(store, "r", ids=ids)
        _assert_nothing_left(store)
        return
    import_arrays(store, "r", ids=ids, columns={"v": np.asarray(ids) * 10})
    with store.transaction() as con:
        stored = con.execute("SELECT id, v FROM r").fetchall()
    assert stored == [(i, i * 10) for i in sorted(ids)]


def test_existing_name_is_refused_without_replace(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    import_arrays(store, "r", columns={"v": np.arange(2)})
    with pytest.raises(CollectionImportError, match=r"already exists.*--replace"):
        import_arrays(store, "r", columns={"v": np.arange(3)})
    assert RecordCollection(store, "r").count() == 2


def test_array_ids_must_be_64_bit_integers(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(CollectionImportError, match="above 2\\^63-1"):
        import_arrays(store, "r", ids=np.array([1, 2**63], dtype=np.uint64))
    with pytest.raises(CollectionImportError, match="ids must be integers, got <U3"):
        import_arrays(store, "r", ids=np.array(["abc", "def"]))
    with pytest.raises(CollectionImportError, match="proxy 'p' must hold numbers"):
        import_arrays(store, "r", proxies={"p": np.array(["high", "low"])})
    _assert_nothing_left(store)


def test_a_killed_import_leaves_no_collection(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    Store(db).close()
    importer = subprocess.Popen(
        [sys.executable, __file__, "slow-import", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert importer.stdout is not None
    assert importer.stdout.readline().strip() == "importing"
    time.sleep(1.0)  # well inside the copy of 10^9 rows
    importer.send_signal(signal.SIGKILL)
    importer.wait(timeout=30)
    store = Store(db)
    _assert_nothing_left(store)
    assert import_arrays(store, "big", columns={"v": np.arange(3)}).count() == 3


def test_staging_files_of_dead_processes_are_removed(tmp_path: Path) -> None:
    store_path = tmp_path / "s.duckdb"
    dead_pid = 2**22 + 4321
    leftover = tmp_path / f".s.duckdb.import-{dead_pid}-0123456789ab.duckdb"
    leftover.write_bytes(b"half an import")
    other_store = tmp_path / f".t.duckdb.import-{dead_pid}-0123456789ab.duckdb"
    other_store.write_bytes(b"not ours")
    with StagingRows(store_path, {"id": "BIGINT"}) as staging:
        assert staging.path.exists()
        assert not leftover.exists()
    assert not staging.path.exists()
    assert other_store.exists()


def _slow_import(db: str) -> None:
    from abae.store.collection_publish import NewCollection, RowSource, publish_collection

    rows = RowSource(
        sql="SELECT range AS id, NULL AS image, NULL AS image_blob, range * 2 AS v "
        "FROM range(1000000000)"
    )
    print("importing", flush=True)
    publish_collection(Store(db), NewCollection("big", columns={"v": "BIGINT"}), rows)


if __name__ == "__main__":
    if sys.argv[1] == "slow-import":
        _slow_import(sys.argv[2])
