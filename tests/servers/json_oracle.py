"""A JSON oracle endpoint for tests of :class:`abae.oracles.HttpOracle`.

``POST`` ``{"oracle": name, "inputs": [[arg, ...], ...]}`` →
``{"outputs": [answer(args), ...]}`` (default answer: ``[v % 2 == 0, v * 1.5]``).
Faults (:class:`~servers.http_test_server.Faults`) give the redirect, trickle,
huge-body and 429 modes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from servers.http_test_server import Faults, Service, TestServer


def default_answer(args: list[Any]) -> Any:
    return [args[0] % 2 == 0, args[0] * 1.5]


class JsonOracleService(Service):
    """Answers the oracle protocol with ``answer(args)`` per input."""

    def __init__(self, answer: Callable[[list[Any]], Any] = default_answer) -> None:
        self.answer_fn = answer

    def answer(self, path: str, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            return 400, {"error": "expected {'oracle': ..., 'inputs': [...]}"}
        return 200, {"outputs": [self.answer_fn(args) for args in body["inputs"]]}


def serve(
    answer: Callable[[list[Any]], Any] = default_answer, faults: Faults | None = None, **kwargs: Any
) -> TestServer:
    """A started JSON oracle test server (use as a context manager to stop it)."""
    return TestServer(JsonOracleService(answer), faults, **kwargs).start()
