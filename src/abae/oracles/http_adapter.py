"""An oracle behind an HTTP endpoint: JSON over POST, batched, with a concurrency limit.

Protocol: the adapter POSTs ``{"oracle": name, "inputs": [[arg, ...], ...]}``
(one argument list per record) and expects ``{"outputs": [value, ...]}`` in the
same order, each value a bool, a number or ``[bool, number]``. HTTP 408, 429
and 5xx answers, timeouts and connection errors are transient (retried by the
runtime); other 4xx answers and malformed bodies fail the batch's records.
TLS certificates are verified (the system's default context).
"""

from __future__ import annotations

import json
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from abae.oracles.errors import TransientOracleError
from abae.oracles.registry import OracleSpec, register_oracle

_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


class OracleHttpError(Exception):
    """The endpoint answered with a permanent error or a malformed body."""


class HttpOracle:
    """Callable ``oracle(batch) -> outputs`` that POSTs a batch to ``url``.

    Args:
        name: the oracle name sent in the request.
        url: ``http://`` or ``https://`` endpoint.
        timeout_s: per-request timeout (seconds).
        max_concurrency: most requests in flight at once, across threads.
        headers: extra request headers (e.g. an ``Authorization`` header).
        ssl_context: TLS context; default verifies certificates. Pass your own to
            trust a private CA, never to switch verification off.
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout_s: float = 30.0,
        max_concurrency: int = 8,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"oracle {name!r}: url must be http(s)://host/..., got {url!r}")
        if timeout_s <= 0:
            raise ValueError(f"oracle {name!r}: timeout_s must be > 0, got {timeout_s}")
        if max_concurrency < 1:
            raise ValueError(
                f"oracle {name!r}: max_concurrency must be >= 1, got {max_concurrency}"
            )
        self.name = name
        self.url = url
        self.timeout_s = timeout_s
        self.headers = {"Content-Type": "application/json", **dict(headers or {})}
        self.ssl_context = ssl_context or ssl.create_default_context()
        self._slots = threading.BoundedSemaphore(max_concurrency)

    def __call__(self, batch: Sequence[Sequence[Any]]) -> list[Any]:
        body = json.dumps({"oracle": self.name, "inputs": [list(args) for args in batch]})
        request = urllib.request.Request(
            self.url, data=body.encode(), headers=self.headers, method="POST"
        )
        with self._slots:
            try:
                with urllib.request.urlopen(
                    request, timeout=self.timeout_s, context=self.ssl_context
                ) as response:
                    payload = response.read()
            except urllib.error.HTTPError as error:
                message = f"{self.url} answered HTTP {error.code}"
                if error.code in _TRANSIENT_STATUS:
                    raise TransientOracleError(message) from error
                raise OracleHttpError(message) from error
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                raise TransientOracleError(f"{self.url}: {error}") from error
        try:
            outputs = json.loads(payload)["outputs"]
        except (ValueError, KeyError, TypeError) as error:
            raise OracleHttpError(f"{self.url} sent a body without an 'outputs' list") from error
        if not isinstance(outputs, list) or len(outputs) != len(batch):
            raise OracleHttpError(
                f"{self.url} sent {len(outputs) if isinstance(outputs, list) else 'no'} outputs "
                f"for {len(batch)} inputs"
            )
        return [tuple(o) if isinstance(o, list) else o for o in outputs]


def http_oracle(
    name: str,
    url: str,
    *,
    cost: float = 0.0,
    batch_size: int = 16,
    timeout_s: float = 30.0,
    max_concurrency: int = 8,
    headers: Mapping[str, str] | None = None,
) -> OracleSpec:
    """Register an :class:`HttpOracle` as oracle ``name`` (call it in an oracle file)."""
    adapter = HttpOracle(
        name, url, timeout_s=timeout_s, max_concurrency=max_concurrency, headers=headers
    )
    return register_oracle(
        name, adapter, cost=cost, batch_size=batch_size, max_concurrency=max_concurrency
    )
