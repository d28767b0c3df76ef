"""The HTTP oracle under faults: redirects, trickled bodies, huge bodies, 429s.

Each test runs a JSON oracle test server (tests/servers/) on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from abae.oracles import (
    HttpOracle,
    OracleHttpError,
    OracleRegistry,
    OracleRuntime,
    RetryPolicy,
    TransientOracleError,
    collecting_into,
    http_oracle,
)
from abae.oracles.http_adapter import parse_retry_after
from abae.store import LabelLedger, Store
from servers.http_test_server import TestServer
from servers.json_oracle import JsonOracleService

TOKEN = "Bearer abae-http-test-token-5d41402a"
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.001, max_delay_s=0.01)


@pytest.fixture
def ledger(tmp_path: Path) -> LabelLedger:
    return LabelLedger(Store(tmp_path / "h.duckdb"), "r")


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer(JsonOracleService()) as running:
        yield running


@pytest.fixture
def elsewhere() -> Iterator[TestServer]:
    with TestServer(JsonOracleService()) as running:
        yield running


def registry_for(url: str, **settings: Any) -> OracleRegistry:
    registry = OracleRegistry()
    with collecting_into(registry):
        http_oracle("remote", url, headers={"Authorization": TOKEN}, **settings)
    return registry


def test_redirect_to_another_port_sends_no_credential(
    ledger: LabelLedger, server: TestServer, elsewhere: TestServer
) -> None:
    server.faults.redirect_to = f"{elsewhere.url}/label"
    server.faults.redirect_status = 302
    ids = list(range(20))
    with OracleRuntime(
        ledger, registry_for(f"{server.url}/label", batch_size=1), query_id="q", budget=20,
        retry=FAST_RETRY, failure_brake=None,
    ) as rt:  # fmt: skip
        labels = rt.labels("remote", ids, {i: (i,) for i in ids})
    assert labels == {}
    assert elsewhere.requests == []  # not one request, so not one token
    message = rt.stats.failed[("remote", 0)]
    assert "redirected (HTTP 302)" in message
    assert "another host, port or scheme; refused" in message
    assert len(server.requests) == 20  # refused at once, not retried
    for status in (307, 308):
        server.faults.redirect_status = status
        with pytest.raises(OracleHttpError, match="refused"):
            HttpOracle("remote", f"{server.url}/label", headers={"Authorization": TOKEN})([(1,)])
    assert elsewhere.requests == []


def test_same_origin_307_is_followed_with_its_headers(server: TestServer) -> None:
    server.faults.redirect_to = f"{server.url}/v2/label"
    server.faults.redirect_path = "/v1/"
    oracle = HttpOracle("remote", f"{server.url}/v1/label", headers={"Authorization": TOKEN})
    assert oracle([(2,), (3,)]) == [(True, 3.0), (False, 4.5)]
    assert [r.path for r in server.requests] == ["/v1/label", "/v2/label"]
    assert all(r.headers["authorization"] == TOKEN for r in server.requests)
    server.faults.redirect_status = 302  # would turn the POST into a GET
    with pytest.raises(OracleHttpError, match="only 307/308 redirects are followed"):
        oracle([(2,)])


@pytest.mark.parametrize(
    ("start", "location"),
    [
        ("https://api.example.org/label", "http://api.example.org/label"),  # downgrade
        ("https://api.example.org/label", "https://api.example.org:8443/label"),  # port
        ("http://api.example.org/label", "https://api.example.org/label"),  # scheme
        ("https://api.example.org/label", "https://evil.example.org/label"),  # host
    ],
)
def test_redirects_that_leave_the_origin_are_refused_before_any_request(
    start: str, location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    oracle = HttpOracle("remote", start, headers={"Authorization": TOKEN})
    sent: list[str] = []

    def exchange(url: str, body: bytes, deadline: float) -> tuple[int, dict[str, str], bytes]:
        sent.append(url)
        return 307, {"location": location}, b""

    monkeypatch.setattr(oracle, "_exchange", exchange)
    with pytest.raises(OracleHttpError, match="refused") as raised:
        oracle([(1,)])
    assert sent == [start]
    assert TOKEN not in str(raised.value)


def test_timeout_is_a_deadline_for_a_trickling_server(server: TestServer) -> None:
    # one byte every 50 ms: each read returns quickly, so only a deadline ends it
    server.faults.trickle_s = 0.05
    oracle = HttpOracle("remote", f"{server.url}/label", timeout_s=0.3)
    with pytest.raises(TimeoutError, match=r"no full answer within timeout_s=0.3 s"):
        oracle([(1,), (2,)])
    server.faults.trickle_s = 0.0
    server.faults.latency_s = 5.0  # silent for longer than the deadline
    with pytest.raises(TimeoutError, match=r"timeout_s=0\.3"):
        oracle([(1,)])


def test_huge_bodies_are_refused(server: TestServer) -> None:
    oracle = HttpOracle("remote", f"{server.url}/label", max_response_bytes=10_000)
    server.faults.pad_bytes = 50_000
    with pytest.raises(OracleHttpError, match="larger than max_response_bytes=10000"):
        oracle([(1,)])  # announced by Content-Length
    server.faults.no_content_length = True
    with pytest.raises(OracleHttpError, match="larger than max_response_bytes=10000"):
        oracle([(1,)])  # counted while reading
    server.faults.pad_bytes = 0
    assert oracle([(4,)]) == [(True, 6.0)]


def test_429_and_503_honour_retry_after(ledger: LabelLedger, server: TestServer) -> None:
    server.faults.statuses = [429, 503]
    server.faults.retry_after = "0.25"
    with OracleRuntime(
        ledger, registry_for(f"{server.url}/label", batch_size=4, max_concurrency=4),
        query_id="q", budget=4, retry=FAST_RETRY, concurrency=4,
    ) as rt:  # fmt: skip
        labels = rt.labels("remote", [0, 1, 2, 3], {i: (i,) for i in range(4)})
        assert rt.oracle_limit("remote") < 4
    assert sorted(labels) == [0, 1, 2, 3]
    assert rt.stats.rate_limited == 2
    gaps = np.diff([r.at for r in server.requests])
    assert len(server.requests) == 3
    assert (gaps >= 0.25).all()
    server.faults.statuses = [503]
    server.faults.retry_after = None
    with pytest.raises(TransientOracleError) as raised:
        HttpOracle("remote", f"{server.url}/label")([(1,)])
    assert not raised.value.rate_limited
    assert raised.value.retry_after_s is None


def test_urls_with_credentials_are_refused_and_messages_hide_query_strings(
    server: TestServer,
) -> None:
    with pytest.raises(ValueError, match="must not hold a user or password"):
        HttpOracle("remote", "https://user:secret@api.example.org/label")
    server.faults.statuses = [400]
    oracle = HttpOracle("remote", f"{server.url}/label?api_key=secret-in-url")
    with pytest.raises(OracleHttpError) as raised:
        oracle([(1,)])
    assert "secret-in-url" not in str(raised.value)
    assert "/label answered HTTP 400" in str(raised.value)
    assert "secret-in-url" not in repr(oracle)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("100000", 300.0),
        ("soon", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_values(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(7.0)
