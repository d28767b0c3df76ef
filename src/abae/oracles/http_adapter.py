"""An oracle behind an HTTP endpoint: JSON over POST, batched, with a concurrency limit.

Protocol: the adapter POSTs ``{"oracle": name, "inputs": [[arg, ...], ...]}``
(one argument list per record) and expects ``{"outputs": [value, ...]}`` in the
same order, each value a bool, a number, ``[bool, number]`` or a category name.

Faults:

- HTTP 408, 425, 429, 500, 502, 503 and 504, connection errors and deadlines are
  transient (retried by the runtime, waiting at least the ``Retry-After`` the
  server sent; 429, and 503 with ``Retry-After``, also lower the concurrency);
  other 4xx answers and malformed bodies fail the batch's records.
- ``timeout_s`` is a deadline for the whole call (connect, send, every byte of
  the answer): a watchdog closes the connection when it passes, so a server that
  trickles bytes cannot hold a call open.
- The answer's body is capped (``max_response_bytes``).
- Redirects are followed only within the same origin (scheme, host and port)
  and only with 307/308 (which keep the POST body). A redirect to another host,
  port or scheme is refused with a clear error: the headers, ``Authorization``
  included, are never sent anywhere but the configured origin.
- TLS certificates are verified (the system's default context). Error messages
  name the endpoint by origin and path only (never the query string or headers).
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import math
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from abae.oracles.errors import OracleCallError, TransientOracleError
from abae.oracles.registry import OracleReturns, OracleSpec, register_oracle

_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
_REDIRECTS = {301, 302, 303, 307, 308}
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_RETRY_AFTER_S = 300.0
RUNTIME_GRACE_S = 2.0
"""The runtime abandons a call this long after the adapter's own deadline (a backstop)."""


class OracleHttpError(OracleCallError):
    """The endpoint answered with a permanent error, a refused redirect or a malformed body."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), capped at 300 s."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, the port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def display_url(url: str) -> str:
    """The URL as shown in messages: origin and path, no credentials, no query string."""
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}{urlsplit(url).path or '/'}"


class _Watchdog:
    """Shuts a connection's socket down at a deadline, waking a blocked read."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self.connection = connection
        self.fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self.connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


class HttpOracle:
    """Callable ``oracle(batch) -> outputs`` that POSTs a batch to ``url``.

    Args:
        name: the oracle name sent in the request.
        url: ``http://`` or ``https://`` endpoint (no user:password part; put
            credentials in ``headers``).
        timeout_s: deadline of one call, from connecting to the answer's last byte (seconds).
        max_concurrency: most requests in flight at once, across threads.
        headers: extra request headers (e.g. an ``Authorization`` header); sent to
            ``url``'s origin only.
        ssl_context: TLS context; default verifies certificates. Pass your own to
            trust a private CA, never to switch verification off.
        max_response_bytes: the largest answer body accepted.
        max_redirects: same-origin 307/308 redirects followed per call.
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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_redirects: int = 3,
    ) -> None:
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"oracle {name!r}: url must be http(s)://host/..., got {url!r}")
        if parsed.username is not None or parsed.password is not None:
            raise ValueError(
                f"oracle {name!r}: the url must not hold a user or password; pass credentials "
                "in headers (e.g. an Authorization header read from an environment variable)"
            )
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"oracle {name!r}: timeout_s must be > 0, got {timeout_s}")
        if max_concurrency < 1:
            raise ValueError(
                f"oracle {name!r}: max_concurrency must be >= 1, got {max_concurrency}"
            )
        if max_response_bytes < 1:
            raise ValueError(f"oracle {name!r}: max_response_bytes must be >= 1")
        self.name = name
        self.url = url
        self.timeout_s = timeout_s
        self.headers = {"Content-Type": "application/json", **dict(headers or {})}
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.max_response_bytes = max_response_bytes
        self.max_redirects = max_redirects
        self._slots = threading.BoundedSemaphore(max_concurrency)

    def __repr__(self) -> str:
        return f"HttpOracle({self.name!r}, {display_url(self.url)!r})"

    def __call__(self, batch: Sequence[Sequence[Any]]) -> list[Any]:
        body = json.dumps({"oracle": self.name, "inputs": [list(args) for args in batch]})
        deadline = time.monotonic() + self.timeout_s
        if not self._slots.acquire(timeout=self.timeout_s):
            raise TimeoutError(f"{display_url(self.url)}: no free connection slot in time")
        try:
            payload = self._post(body.encode(), deadline)
        finally:
            self._slots.release()
        try:
            outputs = json.loads(payload)["outputs"]
        except (ValueError, KeyError, TypeError) as error:
            raise OracleHttpError(
                f"{display_url(self.url)} sent a body without an 'outputs' list"
            ) from error
        if not isinstance(outputs, list) or len(outputs) != len(batch):
            raise OracleHttpError(
                f"{display_url(self.url)} sent "
                f"{len(outputs) if isinstance(outputs, list) else 'no'} outputs for "
                f"{len(batch)} inputs"
            )
        return [tuple(o) if isinstance(o, list) else o for o in outputs]

    def single(self, *args: Any) -> Any:
        """Answer one record (an oracle with ``batch_size=1``)."""
        return self([args])[0]

    def _post(self, body: bytes, deadline: float) -> bytes:
        url = self.url
        home = origin(self.url)
        for _ in range(self.max_redirects + 1):
            status, headers, payload = self._exchange(url, body, deadline)
            where = display_url(url)
            if status in _REDIRECTS:
                target = urljoin(url, headers.get("location", ""))
                if origin(target) != home:
                    raise OracleHttpError(
                        f"{where} redirected (HTTP {status}) to {display_url(target)}, another "
                        "host, port or scheme; refused: the request and its credentials are only "
                        "ever sent to the configured origin. Point the oracle at the final URL"
                    )
                if status not in (307, 308):
                    raise OracleHttpError(
                        f"{where} redirected with HTTP {status}, which would turn the POST into "
                        "a GET; only 307/308 redirects are followed. Point the oracle at the "
                        "final URL"
                    )
                url = target
                continue
            if 200 <= status < 300:
                return payload
            message = f"{where} answered HTTP {status}"
            if status in _TRANSIENT_STATUS:
                retry_after = parse_retry_after(headers.get("retry-after"))
                raise TransientOracleError(
                    message,
                    retry_after_s=retry_after,
                    rate_limited=status == 429 or (status == 503 and retry_after is not None),
                    spent=0.0,
                )
            raise OracleHttpError(message, spent=0.0)
        raise OracleHttpError(f"{display_url(self.url)}: more than {self.max_redirects} redirects")

    def _exchange(
        self, url: str, body: bytes, deadline: float
    ) -> tuple[int, dict[str, str], bytes]:
        """One request/answer within ``deadline``; returns (status, lower-case headers, body)."""
        where = display_url(url)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{where}: no answer within timeout_s={self.timeout_s:g} s")
        parts = urlsplit(url)
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=remaining, context=self.ssl_context
            )
        else:
            connection = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=remaining
            )
        watchdog = _Watchdog(connection, remaining)
        try:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            connection.request("POST", path, body=body, headers=self.headers)
            response = connection.getresponse()
            headers = {k.lower(): v for k, v in response.getheaders()}
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_response_bytes:
                raise OracleHttpError(self._too_large(where), spent=0.0)
            chunks: list[bytes] = []
            size = 0
            while chunk := response.read1(65536):
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise OracleHttpError(self._too_large(where), spent=0.0)
                chunks.append(chunk)
            if watchdog.fired:
                raise TimeoutError(f"{where}: no full answer within timeout_s={self.timeout_s:g} s")
            return response.status, headers, b"".join(chunks)
        except (OSError, http.client.HTTPException) as error:
            if watchdog.fired or isinstance(error, TimeoutError):
                raise TimeoutError(
                    f"{where}: no full answer within timeout_s={self.timeout_s:g} s"
                ) from None
            raise TransientOracleError(f"{where}: {type(error).__name__}: {error}") from None
        finally:
            watchdog.cancel()
            connection.close()

    def _too_large(self, where: str) -> str:
        return (
            f"{where} sent an answer larger than max_response_bytes={self.max_response_bytes}; "
            "refused"
        )


def http_oracle(
    name: str,
    url: str,
    *,
    cost: float = 0.0,
    batch_size: int = 16,
    timeout_s: float = 30.0,
    max_concurrency: int = 8,
    headers: Mapping[str, str] | None = None,
    returns: OracleReturns | list[str] | tuple[str, ...] = "any",
    version: str = "",
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> OracleSpec:
    """Register an :class:`HttpOracle` as oracle ``name`` (call it in an oracle file).

    The runtime's deadline for a call is ``timeout_s`` plus a 2 s grace: the adapter
    enforces ``timeout_s`` itself (a transient error, retried), the runtime abandons
    a call that somehow outlives it.
    """
    adapter = HttpOracle(
        name,
        url,
        timeout_s=timeout_s,
        max_concurrency=max_concurrency,
        headers=headers,
        max_response_bytes=max_response_bytes,
    )
    return register_oracle(
        name,
        adapter if batch_size > 1 else adapter.single,
        cost=cost,
        batch_size=batch_size,
        max_concurrency=max_concurrency,
        returns=returns,
        timeout_s=timeout_s + RUNTIME_GRACE_S,
        version=version,
    )
