"""The ledger's money, versions and claims: the cap in money, reservations and settlement,
released and lost claims, per-version summaries, and the upgrade of a version-1 store."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abae.store import ClaimOwner, Label, LabelLedger, Store, summarize_ledger
from abae.store.ledger import (
    FailedCall,
    MoneyUpdate,
    abandon_claims,
    oracle_key,
    split_oracle_key,
)


@pytest.fixture
def ledger(tmp_path: Path) -> LabelLedger:
    return LabelLedger(Store(tmp_path / "l.duckdb"), "r")


def test_oracle_keys() -> None:
    assert oracle_key("is_dog") == "is_dog"
    assert oracle_key("is_dog", "3f2a9c1e0b7d") == "is_dog@3f2a9c1e0b7d"
    assert split_oracle_key("is_dog@v2.1") == ("is_dog", "v2.1")
    with pytest.raises(ValueError, match="version must be"):
        oracle_key("is_dog", "v 2")
    with pytest.raises(ValueError, match="invalid oracle name"):
        split_oracle_key("is dog@v1")


def test_money_cap_counts_every_process_reservations_and_settlements(
    ledger: LabelLedger,
) -> None:
    a, b = ClaimOwner.this_process(), ClaimOwner.this_process()
    first = ledger.claim("q", 100, a, "o", [0, 1, 2], price=0.4, cost_limit=1.0)
    assert first.granted == [0, 1]
    assert first.money_waiting == [2]  # it fits once the calls in flight settle
    assert ledger.money_spent("q") == pytest.approx(0.8)
    # another process of the same query sees the reservations
    assert ledger.claim("q", 100, b, "o", [3], price=0.4, cost_limit=1.0).money_waiting == [3]
    assert ledger.claim("q", 100, b, "o", [3], price=1.5, cost_limit=1.0).over_cost == [3]
    # settled below the worst case: the difference comes back
    ledger.record(
        "q",
        [Label(0, "o", True, None, 0.1, "q", input_tokens=10, output_tokens=2)],
        {0: 1},
        oracle="o",
        money={0: MoneyUpdate(spent=0.1, input_tokens=10, output_tokens=2)},
    )
    assert ledger.money_spent("q") == pytest.approx(0.5)
    assert ledger.claim("q", 100, b, "o", [3], price=0.4, cost_limit=1.0).granted == [3]
    assert ledger.money_spent("q") == pytest.approx(0.9)
    # a retry reserves again, within the cap
    after = ledger.sync(
        "q", 100, a, "o", money={1: MoneyUpdate(spent=0.05)}, reserve_ids=[1], price=0.4,
        cost_limit=1.0,
    )  # fmt: skip
    assert after.reserved == [1]
    assert ledger.money_spent("q") == pytest.approx(0.95)  # 0.1 + 0.05 + 0.4 + 0.4
    again = ledger.sync("q", 100, a, "o", money={1: MoneyUpdate(spent=0.2)}, reserve_ids=[1],
                        price=0.4, cost_limit=1.0)  # fmt: skip
    assert again.reserve_later == [1]  # 0.1 + 0.25 settled, 0.4 in flight
    assert ledger.money_spent("q") == pytest.approx(0.75)
    dear = ledger.sync("q", 100, a, "o", reserve_ids=[1], price=0.7, cost_limit=1.0)
    assert dear.reserve_refused == [1]
    # a dead process's reservation stays spent (the call may have been paid)
    assert abandon_claims(ledger.store, b) == 1
    assert ledger.money_spent("q") == pytest.approx(0.75)
    assert ledger.claim_states("q") == {"done": 1, "pending": 1, "lost": 1}
    summary = {q["query_id"]: q for q in summarize_ledger(ledger.store).queries}
    assert summary == {}  # the query log has no entry for "q"


def test_claims_never_sent_are_given_back(ledger: LabelLedger) -> None:
    me = ClaimOwner.this_process()
    assert ledger.claim("q", 10, me, "o", [0, 1], price=1.0).granted == [0, 1]
    ledger.record("q", [], {}, {1: FailedCall("boom", 1)}, oracle="o")
    assert ledger.claim("q", 10, me, "o", [1], retry_failed=True, price=1.0).recalled == {
        1: "failed"
    }
    ledger.sync("q", 10, me, "o", release={0: "new", 1: "failed"})
    assert ledger.spent("q") == 1  # record 0 was never sent: not charged
    assert ledger.claim_states("q") == {"failed": 1}
    assert ledger.money_spent("q") == pytest.approx(0.0)
    assert ledger.failed_calls("q")[("o", 1)].message == "boom"


def test_labels_and_summaries_per_oracle_version(ledger: LabelLedger) -> None:
    me = ClaimOwner.this_process()
    for key in ("vlm@aaaa11112222", "vlm@bbbb33334444"):
        ledger.describe_version(key, f'{{"model": "{key[-4:]}"}}')
        ledger.claim("q", 10, me, key, [0, 1])
        name, version = split_oracle_key(key)
        ledger.record(
            "q",
            [
                Label(0, name, None, None, 0.25, "q", category="car", input_tokens=5, version=version),
                Label(1, name, None, None, 0.25, "q", category="bus", raw_answer="Bus."),
            ],
            {0: 1, 1: 1},
            oracle=key,
        )  # fmt: skip
    found = ledger.lookup("vlm@bbbb33334444", [0, 1])
    assert found[0].category == "car"
    assert found[0].version == "bbbb33334444"
    assert found[0].input_tokens == 5
    assert found[1].raw_answer == "Bus."
    assert ledger.lookup("vlm", [0, 1]) == {}
    oracles = summarize_ledger(ledger.store).oracles
    assert [(o.oracle, o.version, o.labels) for o in oracles] == [
        ("vlm", "aaaa11112222", 2),
        ("vlm", "bbbb33334444", 2),
    ]
    assert oracles[0].description == '{"model": "2222"}'
    assert oracles[0].categories == {"bus": 1, "car": 1}
    assert oracles[0].total_cost == pytest.approx(0.5)
    assert oracles[0].input_tokens == 5


VERSION_1_TABLES = [
    "CREATE TABLE abae_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    "INSERT INTO abae_meta VALUES ('schema_version', '1')",
    """CREATE TABLE abae_labels (collection VARCHAR NOT NULL, record_id BIGINT NOT NULL,
        oracle VARCHAR NOT NULL, predicate BOOLEAN, statistic DOUBLE, cost DOUBLE NOT NULL,
        labelled_at TIMESTAMP NOT NULL, query_id VARCHAR NOT NULL,
        PRIMARY KEY (collection, record_id, oracle))""",
    """CREATE TABLE abae_claims (query_id VARCHAR NOT NULL, collection VARCHAR NOT NULL,
        record_id BIGINT NOT NULL, oracle VARCHAR NOT NULL, owner VARCHAR NOT NULL,
        host VARCHAR NOT NULL, pid INTEGER NOT NULL, state VARCHAR NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, error VARCHAR, claimed_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP, PRIMARY KEY (query_id, collection, record_id, oracle))""",
    "INSERT INTO abae_labels VALUES ('r', 7, 'o', true, 2.5, 0.01, now(), 'old')",
    "INSERT INTO abae_claims VALUES ('old', 'r', 7, 'o', 'tok', 'h', 1, 'done', 1, NULL, now(), now())",
]


def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(path))
    for statement in VERSION_1_TABLES:
        con.execute(statement)
    con.close()
    ledger = LabelLedger(Store(path), "r")
    assert ledger.lookup("o", [7]) == {7: Label(7, "o", True, 2.5, 0.01, "old")}
    assert ledger.spent("old") == 1
    assert ledger.spent_by("old", ClaimOwner("tok", "h", 1)) == 1
    me = ClaimOwner.this_process()
    assert ledger.claim("new", 5, me, "o", [7, 8], price=0.5, cost_limit=1.0).granted == [8]
    assert ledger.money_spent("new") == pytest.approx(0.5)
    with ledger.store.transaction() as con:
        version = con.execute("SELECT value FROM abae_meta WHERE key = 'schema_version'").fetchall()
    assert version == [("2",)]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["claim", "settle", "retry", "abandon"]),
            st.integers(0, 1),  # which process
            st.integers(1, 4),  # how many records
            st.floats(0.0, 1.0),  # settled share of the worst case
        ),
        min_size=1,
        max_size=8,
    ),
    price=st.floats(0.05, 0.5),
    cap=st.floats(0.0, 2.0),
)
def test_money_spent_never_exceeds_the_cap(
    tmp_path_factory: pytest.TempPathFactory,
    steps: list[tuple[str, int, int, float]],
    price: float,
    cap: float,
) -> None:
    ledger = LabelLedger(Store(tmp_path_factory.mktemp("cap") / "c.duckdb"), "r")
    owners = [ClaimOwner.this_process(), ClaimOwner.this_process()]
    held: list[list[int]] = [[], []]
    next_id = 0
    for action, who, count, share in steps:
        owner = owners[who]
        if action == "claim":
            ids = list(range(next_id, next_id + count))
            next_id += count
            claim = ledger.claim("q", 100, owner, "o", ids, price=price, cost_limit=cap)
            held[who] += claim.granted
        elif action in ("settle", "retry") and held[who]:
            record_id = held[who][0]
            update = {record_id: MoneyUpdate(spent=share * price)}
            if action == "settle":
                held[who].pop(0)
                label = Label(record_id, "o", True, None, 0, "q")
                ledger.record("q", [label], {}, oracle="o", money=update)
            else:  # the attempt failed; the next one needs a new reservation
                retry = ledger.sync(
                    "q", 100, owner, "o", money=update, reserve_ids=[record_id], price=price,
                    cost_limit=cap,
                )  # fmt: skip
                if retry.reserve_refused or retry.reserve_later:
                    # No reservation, no call: a caller waits (``later``) or gives up.
                    held[who].pop(0)
        elif action == "abandon":
            abandon_claims(ledger.store, owner)
            held[who] = []
        assert ledger.money_spent("q") <= cap + 1e-12
    ledger.store.close()
