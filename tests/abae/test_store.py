"""The DuckDB store: importers, batches, proxy columns, ledger claims, JSON export.

Locking between processes: ``test_store_lock.py``; import failures, paths and
formats: ``test_import_*.py``; several engines on one store: ``test_concurrency_store.py``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from abae.errors import AbaeError
from abae.store import (
    ClaimOwner,
    Label,
    LabelLedger,
    RecordCollection,
    Store,
    export_json,
    import_arrays,
    import_image_folder,
    import_table_file,
    resolve_db_path,
)
from abae.store.identifiers import InvalidIdentifierError


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "s.duckdb")


def test_default_path_env_and_explicit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ABAE_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_db_path() == tmp_path / "abae.duckdb"
    monkeypatch.setenv("ABAE_DB", str(tmp_path / "env.duckdb"))
    assert resolve_db_path() == tmp_path / "env.duckdb"
    assert resolve_db_path(tmp_path / "x.duckdb") == tmp_path / "x.duckdb"


def test_import_arrays_batches_and_proxy_column(store: Store) -> None:
    pixels = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    collection = import_arrays(
        store,
        "frames",
        ids=np.array([10, 11, 12]),
        image_arrays=pixels,
        columns={"camera": ["a", "b", "a"], "speed": np.array([1.5, 2.5, 3.5])},
        proxies={"p": np.array([0.1, 0.9, 0.5])},
    )
    assert collection.count() == 3
    assert collection.proxy_names() == ["p"]
    batches = list(collection.iter_batches(batch_size=2, columns=["camera", "p"]))
    assert [b.ids.tolist() for b in batches] == [[10, 11], [12]]
    assert batches[0].columns["camera"].tolist() == ["a", "b"]
    blob = batches[0].blobs[0]
    assert blob is not None
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(blob))), pixels[0])
    collection.write_proxy_scores("afno", np.array([12, 10]), np.array([0.25, 0.75]))
    fetched = collection.fetch(np.array([12, 10, 11]), ["afno"])
    assert fetched.ids.tolist() == [12, 10, 11]
    assert fetched.columns["afno"][:2].tolist() == [0.25, 0.75]
    assert fetched.columns["afno"][2] is None
    assert set(collection.proxy_names()) == {"p", "afno"}


def test_import_csv_and_parquet(store: Store, tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text("rid,path,camera,score\n5,/a.png,north,0.3\n7,/b.png,south,0.8\n")
    collection = import_table_file(
        store, "csvrecs", csv, id_column="rid", image_column="path", proxy_columns=["score"]
    )
    batch = next(collection.iter_batches(columns=["camera", "score"]))
    assert batch.ids.tolist() == [5, 7]
    assert batch.images == ["/a.png", "/b.png"]
    assert batch.columns["score"].tolist() == [0.3, 0.8]
    parquet = tmp_path / "r.parquet"
    with store.transaction() as con:
        con.execute(
            f"COPY (SELECT range AS id2, [range, range + 1] AS pix FROM range(3)) TO '{parquet}'"
        )
    arrays = import_table_file(store, "pq", parquet, id_column="id2", image_column="pix")
    blobs = next(arrays.iter_batches()).blobs
    assert blobs[2] is not None
    assert np.load(io.BytesIO(blobs[2])).tolist() == [2, 3]


def test_import_image_folder(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.png", "a.png", "sub/c.png"):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    collection = import_image_folder(store, "imgs", folder, embed=True)
    batch = next(collection.iter_batches(columns=["filename"]))
    assert batch.columns["filename"].tolist() == ["a.png", "b.png", "sub/c.png"]
    assert all(b is not None and b.startswith(b"\x89PNG") for b in batch.blobs)


def test_bad_names_and_duplicates_rejected(store: Store) -> None:
    with pytest.raises(InvalidIdentifierError, match="invalid collection name"):
        import_arrays(store, 'x"; DROP TABLE abae_labels; --', columns={"a": [1]})
    with pytest.raises(InvalidIdentifierError, match="reserved"):
        import_arrays(store, "abae_labels", columns={"a": [1]})
    import_arrays(store, "ok", columns={"a": [1, 2]})
    with pytest.raises(AbaeError, match="already exists"):
        import_arrays(store, "ok", columns={"a": [1, 2]})
    with pytest.raises(ValueError, match="same length"):
        import_arrays(store, "bad", columns={"a": [1, 2], "b": [1]})
    with pytest.raises(AbaeError, match="not in store"):
        RecordCollection(store, "missing")


def test_claims_respect_budget_and_record_labels(store: Store) -> None:
    import_arrays(store, "r", columns={"a": np.arange(10)})
    ledger = LabelLedger(store, "r")
    me = ClaimOwner.this_process()
    first = ledger.claim("q1", 4, me, "o", [0, 1, 2])
    assert first.granted == [0, 1, 2]
    second = ledger.claim("q1", 4, me, "o", [3, 4, 5])
    assert second.granted == [3]
    assert second.over_budget == [4, 5]
    ledger.record(
        "q1", [Label(0, "o", True, None, 0.5, "q1")], {0: 2}, {1: ("boom", 3)}, oracle="o"
    )
    assert ledger.lookup("o", [0, 1]) == {0: Label(0, "o", True, None, 0.5, "q1")}
    assert ledger.spent("q1") == 4
    assert ledger.claim_states("q1") == {"done": 1, "failed": 1, "pending": 2}
    # another query sees the labelled record as cached and the pending ones as busy
    other = ledger.claim("q2", 10, ClaimOwner.this_process(), "o", [0, 2, 6])
    assert other.granted == [6]
    assert other.waiting == [2]


def test_claims_of_a_dead_owner_become_lost(store: Store) -> None:
    import_arrays(store, "r", columns={"a": np.arange(5)})
    ledger = LabelLedger(store, "r")
    dead = ClaimOwner(token="dead", host=ClaimOwner.this_process().host, pid=2**22 + 12345)
    assert ledger.claim("q", 5, dead, "o", [0, 1]).granted == [0, 1]
    again = ledger.claim("q", 5, ClaimOwner.this_process(), "o", [0, 1, 2])
    assert again.lost == [0, 1]
    assert again.granted == [2]
    assert ledger.spent("q") == 3
    other_query = ledger.claim("q2", 5, ClaimOwner.this_process(), "o", [0])
    assert other_query.granted == [0]


def test_export_json(store: Store, tmp_path: Path) -> None:
    import_arrays(store, "r", columns={"a": np.arange(3)})
    ledger = LabelLedger(store, "r")
    ledger.claim("q", 3, ClaimOwner.this_process(), "o", [1])
    ledger.record("q", [Label(1, "o", None, 2.5, 0.0, "q")], {1: 1}, oracle="o")
    document = export_json(store, tmp_path / "out.json")
    written = json.loads((tmp_path / "out.json").read_text())
    assert written == document
    assert len(written["labels"]) == 1
    label = written["labels"][0]
    assert (label["collection"], label["record_id"], label["oracle"]) == ("r", 1, "o")
    assert (label["predicate"], label["statistic"], label["query_id"]) == (None, 2.5, "q")
    assert written["store"] == str(store.path)


def test_batches_come_in_id_order_whatever_the_import_order(store: Store) -> None:
    ids = np.array([40, 3, 17, 8, 25, 1, 33])
    collection = import_arrays(store, "r", ids=ids, columns={"v": ids * 10})
    batches = list(collection.iter_batches(batch_size=3, columns=["v"]))
    assert [b.ids.tolist() for b in batches] == [[1, 3, 8], [17, 25, 33], [40]]
    assert np.concatenate([b.columns["v"] for b in batches]).tolist() == sorted(ids * 10)
    assert [b.ids.size for b in collection.iter_batches(batch_size=100)] == [ids.size]


def test_proxy_scores_of_a_non_proxy_column_are_refused(store: Store) -> None:
    collection = import_arrays(store, "r", columns={"v": np.arange(3)})
    with pytest.raises(ValueError, match="already a non-proxy column"):
        collection.write_proxy_scores("v", np.arange(3), np.zeros(3))
    with pytest.raises(ValueError, match="NaN or infinity"):
        collection.write_proxy_scores("p", np.arange(3), np.array([0.1, np.nan, 0.2]))
    assert collection.proxy_names() == []


def test_replace_forgets_what_the_store_kept_about_the_old_collection(store: Store) -> None:
    import_arrays(store, "r", columns={"a": np.arange(3)}, proxies={"p": np.zeros(3)})
    import_arrays(store, "other", columns={"a": np.arange(2)})
    ledger = LabelLedger(store, "r")
    ledger.claim("q", 3, ClaimOwner.this_process(), "o", [1])
    ledger.record("q", [Label(1, "o", True, None, 0.0, "q")], {1: 1}, oracle="o")
    with store.transaction() as con:  # a table added later by another part of the store
        con.execute("CREATE TABLE abae_extra (collection VARCHAR, x INTEGER)")
        con.execute("INSERT INTO abae_extra VALUES ('r', 1), ('other', 2)")
        con.execute(
            "INSERT INTO abae_queries (query_id, sql, collection, seed, budget, status, "
            "started_at) VALUES ('q', 'SELECT 1', 'r', 0, 3, 'done', now())"
        )
    import_arrays(store, "r", columns={"b": np.arange(4)}, replace=True)
    with store.transaction() as con:
        extra = con.execute("SELECT collection FROM abae_extra").fetchall()
        labels = con.execute("SELECT count(*) FROM abae_labels").fetchall()
        claims = con.execute("SELECT count(*) FROM abae_claims").fetchall()
        queries = con.execute("SELECT query_id FROM abae_queries").fetchall()
    assert extra == [("other",)]
    assert (labels, claims) == ([(0,)], [(0,)])
    assert queries == [("q",)]
    replaced = RecordCollection(store, "r")
    assert (replaced.count(), replaced.proxy_names()) == (4, [])
    assert "b" in replaced.column_types()
