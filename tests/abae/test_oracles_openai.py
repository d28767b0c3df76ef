"""The OpenAI-compatible oracle against a local test server, through the real ``openai`` client.

Answer parsing, money from ``usage``, the money cap, cache keys per oracle
version, 429 + Retry-After, deadlines, redirects, malformed responses, and the
API key never reaching the ledger, logs, results or error messages.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from abae.oracles import (
    OracleRegistry,
    OracleRuntime,
    RetryPolicy,
    collecting_into,
    openai_oracle,
)
from abae.oracles.openai_oracle import RUNTIME_GRACE_S
from abae.store import LabelLedger, Store, export_json, summarize_ledger
from servers.http_test_server import Faults, TestServer
from servers.openai_compatible import ChatService, image_urls, prompt_text, usage_of

KEY_ENV = "ABAE_TEST_OPENAI_KEY"
KEY = "sk-abaetest-4f9d2c7b1e8a6035"
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.001, max_delay_s=0.01)
PRICE_IN, PRICE_OUT = 2.0, 10.0  # money per million tokens


def record_number(request: Any) -> int:
    match = re.search(r"record (\d+)", prompt_text(request), re.IGNORECASE)
    assert match is not None
    return int(match.group(1))


def even_or_junk(request: Any) -> str:
    """'Yes.'/'no' by parity; records divisible by 7 get an unparsable answer."""
    n = record_number(request)
    if n % 7 == 0:
        return "Maybe, it is hard to say"
    return "Yes." if n % 2 == 0 else "no"


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


@pytest.fixture
def ledger(tmp_path: Path) -> LabelLedger:
    return LabelLedger(Store(tmp_path / "o.duckdb"), "r")


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer(ChatService(even_or_junk)) as running:
        yield running


def register(server: TestServer, **overrides: Any) -> OracleRegistry:
    settings: dict[str, Any] = {
        "model": "test-vlm",
        "prompt": "Is record {v} even? Answer yes or no.",
        "returns": "bool",
        "base_url": f"{server.url}/v1",
        "api_key_env": KEY_ENV,
        "args": ("v",),
        "price_per_million_input": PRICE_IN,
        "price_per_million_output": PRICE_OUT,
        "timeout_s": 5.0,
    }
    settings.update(overrides)
    registry = OracleRegistry()
    with collecting_into(registry):
        openai_oracle(settings.pop("name", "is_even"), **settings)
    return registry


def ask(
    ledger: LabelLedger,
    registry: OracleRegistry,
    ids: list[int],
    *,
    query_id: str = "q",
    oracle: str = "is_even",
    **runtime: Any,
) -> tuple[dict[int, Any], OracleRuntime]:
    settings: dict[str, Any] = {"budget": 1000, "retry": FAST_RETRY, "failure_brake": None}
    settings.update(runtime)
    with OracleRuntime(ledger, registry, query_id=query_id, **settings) as rt:
        labels = rt.labels(oracle, ids, {i: (i,) for i in ids})
    return labels, rt


def money_of(request: Any, answer: str) -> float:
    usage = usage_of(request, answer)
    return (usage["prompt_tokens"] * PRICE_IN + usage["completion_tokens"] * PRICE_OUT) / 1e6


def test_answers_are_parsed_strictly_and_money_comes_from_usage(
    ledger: LabelLedger, server: TestServer
) -> None:
    ids = list(range(1, 31))
    labels, rt = ask(ledger, register(server), ids)
    unparsable = {i for i in ids if i % 7 == 0}
    assert sorted(labels) == [i for i in ids if i not in unparsable]
    assert all(labels[i].predicate == (i % 2 == 0) for i in labels)
    assert {r for _, r in rt.stats.failed} == unparsable
    failed = ledger.failed_calls("q")
    for (_, _record_id), call in failed.items():
        assert "is not yes or no" in call.message
        assert call.raw_answer == "Maybe, it is hard to say"  # the raw text stays in the ledger
    # every request asked for reproducible answers
    for request in server.requests:
        assert request.body["temperature"] == 0.0
        assert request.body["seed"] == 0
        assert request.body["max_tokens"] == 16
    expected = math.fsum(money_of(r.body, even_or_junk(r.body)) for r in server.requests)
    assert len(server.requests) == 30
    assert rt.stats.money == pytest.approx(expected, rel=1e-12)
    assert ledger.money_spent("q") == pytest.approx(expected, rel=1e-12)
    label = labels[2]
    usage = usage_of(server.requests[0].body, "Yes.")
    assert (label.input_tokens, label.output_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert label.cost == pytest.approx(money_of(server.requests[0].body, "Yes."))
    assert label.raw_answer == "Yes."
    assert rt.stats.input_tokens == sum(
        usage_of(r.body, even_or_junk(r.body))["prompt_tokens"] for r in server.requests
    )


def test_numbers_and_categories(ledger: LabelLedger) -> None:
    def answer(request: Any) -> str:
        n = record_number(request)
        if "How many" in prompt_text(request):
            return f" {n * 2} " if n != 5 else "about 10"
        return ["Car", "bus.", "bicycle"][n % 3]

    with TestServer(ChatService(answer)) as server:
        counts = register(server, name="cars", prompt="How many cars in record {v}?", returns="int")
        kinds = register(
            server, name="kind", prompt="What is in record {v}?", returns=["car", "bus", "truck"]
        )
        numbers, rt = ask(ledger, counts, list(range(1, 7)), oracle="cars")
        assert {i: numbers[i].statistic for i in numbers} == {1: 2, 2: 4, 3: 6, 4: 8, 6: 12}
        assert "is not a whole number" in rt.stats.failed[("cars", 5)]
        categories, rt = ask(ledger, kinds, list(range(1, 7)), oracle="kind")
    assert {i: categories[i].category for i in categories} == {
        1: "bus",
        3: "car",
        4: "bus",
        6: "car",
    }
    assert all(label.predicate is None and label.statistic is None for label in categories.values())
    assert "is not one of car, bus, truck" in rt.stats.failed[("kind", 2)]
    assert kinds.get("kind").returns == "category"
    assert kinds.get("kind").categories == ("car", "bus", "truck")
    summary = {(o.oracle, o.version): o for o in summarize_ledger(ledger.store).oracles}
    kind_summary = next(o for (name, _), o in summary.items() if name == "kind")
    assert kind_summary.categories == {"bus": 2, "car": 2}


def test_images_go_as_data_urls_from_bytes_and_paths(ledger: LabelLedger, tmp_path: Path) -> None:
    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    png = buffer.getvalue()
    path = tmp_path / "frame.png"
    path.write_bytes(png)
    with TestServer(ChatService(lambda request: "yes")) as server:
        registry = register(
            server, prompt="Caption: {caption}. A dog?", args=("image_blob", "caption")
        )
        by_path = register(server, name="by_path", prompt="A dog?", args=("image",))
        with OracleRuntime(ledger, registry, query_id="q", budget=10) as rt:
            rt.labels("is_even", [1], {1: (png, "a park")})
        with OracleRuntime(ledger, by_path, query_id="q", budget=10) as rt:
            rt.labels("by_path", [2], {2: (str(path),)})
            rt.labels("by_path", [3], {3: (None,)})
        failed = rt.stats.failed[("by_path", 3)]
    first, second = (r.body for r in server.requests)
    assert prompt_text(first) == "Caption: a park. A dog?"
    for body in (first, second):
        (url,) = image_urls(body)
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1]) == png
    assert "no image" in failed
    assert len(server.requests) == 2  # the record without an image was never sent


def test_money_cap_is_never_exceeded_across_runs(ledger: LabelLedger, server: TestServer) -> None:
    registry = register(server, max_input_tokens=50, max_tokens=4)
    worst = (50 * PRICE_IN + 4 * PRICE_OUT) / 1e6
    assert registry.get("is_even").max_cost == pytest.approx(worst)
    actual = money_of(
        {"messages": [{"role": "user", "content": "Is record 1 even? Answer yes or no."}]}, "Yes."
    )
    cap = 15 * actual  # room for 15 calls as settled, but only 2 at the worst case
    assert cap < 3 * worst
    ids = [i for i in range(1, 60) if i % 7]
    first, rt = ask(ledger, registry, ids[:20], cost_limit=cap, concurrency=4)
    assert ledger.money_spent("q") <= cap
    assert rt.stats.over_cost  # the cap stopped it before the 20 records
    # a resumed run of the same query continues within what is left of the cap
    second, rt2 = ask(ledger, registry, ids, cost_limit=cap, concurrency=4)
    spent = ledger.money_spent("q")
    assert spent <= cap
    assert rt2.stats.over_cost
    assert len(server.requests) == len(first) + len(second) - len(set(first) & set(second))
    settled = math.fsum(money_of(r.body, even_or_junk(r.body)) for r in server.requests)
    assert spent == pytest.approx(settled, rel=1e-12)
    # reservations are settled at the real price, so more calls fit than cap / worst case
    assert 3 < len(server.requests) <= 15


def test_cache_is_keyed_by_model_and_prompt(ledger: LabelLedger, server: TestServer) -> None:
    ids = [2, 4, 6]
    ask(ledger, register(server), ids)
    assert len(server.requests) == 3
    again, rt = ask(ledger, register(server), ids)  # the same oracle again: free
    assert len(server.requests) == 3
    assert rt.stats.reused_labels == 3
    ask(ledger, register(server, prompt="Record {v}: is it even? Reply yes/no."), ids)
    assert len(server.requests) == 6  # a new prompt never reuses old labels
    ask(ledger, register(server, model="another-vlm"), ids)
    assert len(server.requests) == 9
    ask(ledger, register(server, price_per_million_input=99.0), ids)
    assert len(server.requests) == 9  # prices do not change the answers
    versions = [o for o in summarize_ledger(ledger.store).oracles if o.oracle == "is_even"]
    assert len(versions) == 3
    assert {json.loads(o.description)["model"] for o in versions} == {"test-vlm", "another-vlm"}
    assert all(o.labels == 3 and re.fullmatch(r"[0-9a-f]{12}", o.version) for o in versions)
    assert again[2].version == versions[0].version or again[2].version in {
        o.version for o in versions
    }


def test_429_honours_retry_after_and_lowers_concurrency(ledger: LabelLedger) -> None:
    with TestServer(
        ChatService(even_or_junk), Faults(statuses=[429, 429], retry_after="0.3")
    ) as server:
        registry = register(server, max_concurrency=8)
        with OracleRuntime(
            ledger, registry, query_id="q", budget=10, concurrency=8, retry=FAST_RETRY
        ) as rt:
            labels = rt.labels("is_even", [2], {2: (2,)})
            assert rt.oracle_limit("is_even") < 8
    assert labels[2].predicate is True
    assert rt.stats.rate_limited == 2
    assert rt.stats.money == pytest.approx(money_of(server.requests[-1].body, "Yes."))
    gaps = np.diff([r.at for r in server.requests])
    assert (gaps >= 0.3).all()  # each retry waited at least Retry-After


def test_timeout_is_a_deadline_not_a_per_read_timeout(ledger: LabelLedger) -> None:
    # a body trickled one byte every 50 ms never trips a per-read timeout
    with TestServer(ChatService(even_or_junk), Faults(trickle_s=0.05)) as server:
        registry = register(server, timeout_s=0.4)
        assert registry.get("is_even").timeout_s == pytest.approx(0.4 + RUNTIME_GRACE_S)
        labels, rt = ask(ledger, registry, [2], retry=RetryPolicy(2, 0.0, 0.0))
    assert labels == {}
    message = rt.stats.failed[("is_even", 2)]
    assert message.startswith("still failing after 2 attempts: TimeoutError: no full answer")
    assert rt.stats.timed_out == 0  # the adapter's deadline fired, not the runtime's backstop


def test_redirects_never_carry_the_key_to_another_origin(ledger: LabelLedger) -> None:
    with (
        TestServer(ChatService(even_or_junk)) as elsewhere,
        TestServer(ChatService(even_or_junk)) as server,
    ):
        server.faults.redirect_to = f"{elsewhere.url}/v1/chat/completions"
        labels, rt = ask(ledger, register(server), [2])
        assert labels == {}
        message = rt.stats.failed[("is_even", 2)]
        assert "another host, port or scheme; refused" in message
        assert elsewhere.requests == []  # nothing, and so no key, reached the other origin
        # a same-origin 307 is followed, with the key
        server.faults.redirect_to = f"{server.url}/v1/chat/completions"
        server.faults.redirect_path = "/v0/"
        same = register(server, name="same", base_url=f"{server.url}/v0")
        labels, _ = ask(ledger, same, [4], oracle="same")
        assert labels[4].predicate is True
        assert [r.path for r in server.requests[-2:]] == [
            "/v0/chat/completions",
            "/v1/chat/completions",
        ]
        # a 302 (which would turn the POST into a GET) is refused too
        server.faults.redirect_status = 302
        labels, rt = ask(ledger, same, [6], oracle="same")
        assert "only 307/308 redirects are followed" in rt.stats.failed[("same", 6)]


def test_malformed_responses_fail_the_record_and_charge_the_worst_case(
    ledger: LabelLedger,
) -> None:
    with TestServer(ChatService(even_or_junk, omit_usage=True)) as server:
        registry = register(server, max_input_tokens=100, max_tokens=8)
        labels, rt = ask(ledger, registry, [2])
    assert labels[2].predicate is True
    assert labels[2].cost == pytest.approx((100 * PRICE_IN + 8 * PRICE_OUT) / 1e6)
    with TestServer(ChatService(even_or_junk, bad_json=True)) as server:
        labels, rt = ask(ledger, register(server), [4], query_id="q2")
    assert labels == {}
    assert "the API call failed" in rt.stats.failed[("is_even", 4)]


def test_usage_beyond_the_bounds_stops_the_oracle(ledger: LabelLedger, server: TestServer) -> None:
    registry = register(server, max_input_tokens=3)
    labels, rt = ask(ledger, registry, [2, 4, 6, 8], concurrency=1)
    assert labels == {}
    assert "more than max_input_tokens=3" in rt.stats.failed[("is_even", 2)]
    assert len(server.requests) == 1  # every later call was refused without being sent
    assert ledger.money_spent("q") == pytest.approx(money_of(server.requests[0].body, "Yes."))


def test_the_key_never_reaches_ledger_logs_results_or_errors(
    ledger: LabelLedger, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    faults = Faults(statuses=[400, 401, 500, 500, 500, 500], echo_auth=True)
    with TestServer(ChatService(even_or_junk), faults) as server:
        registry = register(server)
        _labels, rt = ask(ledger, registry, list(range(1, 16)), concurrency=1)
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in server.requests)
    messages = list(rt.stats.failed.values())
    assert any("HTTP 400: fault 400 for Bearer [redacted]" in m for m in messages)
    assert any("refused the key (HTTP 401)" in m for m in messages)
    spec = registry.get("is_even")
    document = export_json(ledger.store, tmp_path / "export.json")
    ledger.store.close()
    texts = [
        *messages,
        caplog.text,
        repr(spec),
        spec.description,
        json.dumps(document),
        (tmp_path / "export.json").read_text(),
        json.dumps([o.__dict__ for o in summarize_ledger(ledger.store).oracles]),
    ]
    with ledger.store.transaction() as con:
        for table in ("abae_labels", "abae_claims", "abae_oracle_versions"):
            texts.append(repr(con.execute(f"SELECT * FROM {table}").fetchall()))
    ledger.store.close()
    texts.append(ledger.store.path.read_bytes().decode("latin-1"))
    for text in texts:
        assert KEY not in text
        assert KEY[8:] not in text


def test_bad_settings_and_a_missing_key_are_clear_errors(
    server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ValueError, match=f"set the environment variable {KEY_ENV}"):
        register(server)
    monkeypatch.setenv(KEY_ENV, KEY)
    with pytest.raises(ValueError, match=r"prompt field \{x\} is not one of"):
        register(server, prompt="{x}?")
    with pytest.raises(ValueError, match="not allowed"):
        register(server, prompt="{v.__class__}?")
    with pytest.raises(ValueError, match="returns must be"):
        register(server, returns="maybe")
    with pytest.raises(ValueError, match="categories repeat"):
        register(server, returns=["Car", "car"])
    registry = register(server, api_key_env=None)
    assert registry.get("is_even").returns == "bool"


def test_importing_abae_imports_neither_openai_nor_torch() -> None:
    code = "import sys, abae, abae.oracles; print('openai' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]
