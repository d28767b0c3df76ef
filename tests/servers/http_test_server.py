"""A threaded HTTP server on 127.0.0.1, a free port, with scriptable faults; stops by itself.

:class:`TestServer` serves one :class:`Service` (what to answer) with
:class:`Faults` (what to break) that a test may change while it runs. Every
request is recorded (path, headers, body). The server stops when the ``with``
block ends, when its process ends (its threads are daemons), or after
``idle_exit_s`` without a request.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Faults:
    """What the server breaks (all off by default).

    Attributes:
        latency_s: wait before answering (seconds).
        statuses: HTTP statuses to answer the next requests with, in order
            (each popped once), e.g. ``[503, 503]``.
        rate_limit_fraction: share of requests answered 429 at random (seeded).
        retry_after: the ``Retry-After`` value sent with 429/503 (``None``: none).
        redirect_to: answer requests with a redirect to this URL.
        redirect_status: the redirect's status (302, 307, 308, ...).
        redirect_path: redirect only requests whose path starts with this (``None``: all).
        echo_auth: fault answers quote the request's ``Authorization`` header (a
            careless server) so tests can check that clients scrub it.
        trickle_s: send the body one byte every ``trickle_s`` seconds.
        pad_bytes: append this many spaces to a JSON body (a huge answer).
        lie_content_length: announce this Content-Length instead of the real one.
        no_content_length: send no Content-Length; the body ends when the connection closes.
    """

    latency_s: float = 0.0
    statuses: list[int] = field(default_factory=list)
    rate_limit_fraction: float = 0.0
    retry_after: str | None = "1"
    redirect_to: str | None = None
    redirect_status: int = 307
    redirect_path: str | None = None
    echo_auth: bool = False
    trickle_s: float = 0.0
    pad_bytes: int = 0
    lie_content_length: int | None = None
    no_content_length: bool = False


@dataclass
class Recorded:
    """One request as the server saw it (header names in lower case; ``at``: monotonic time)."""

    path: str
    headers: dict[str, str]
    body: Any
    at: float


class Service:
    """What a server answers: ``answer(path, body) -> (status, json document)``."""

    def answer(self, path: str, body: Any) -> tuple[int, Any]:
        raise NotImplementedError


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class TestServer:
    """Serve ``service`` on 127.0.0.1 (a free port) in daemon threads.

    Args:
        service: what to answer.
        faults: what to break (may be changed while the server runs).
        seed: seeds the random rate limiting.
        idle_exit_s: stop after this long without a request (``None``: never).
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        service: Service,
        faults: Faults | None = None,
        *,
        seed: int = 0,
        idle_exit_s: float | None = 300.0,
    ) -> None:
        self.service = service
        self.faults = faults or Faults()
        self.requests: list[Recorded] = []
        self.answered: dict[int, int] = {}
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._last_request = time.monotonic()
        self._idle_exit_s = idle_exit_s
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TestServer:
        serve = threading.Thread(target=self._server.serve_forever, daemon=True)
        serve.start()
        self._threads.append(serve)
        if self._idle_exit_s is not None:
            watch = threading.Thread(target=self._exit_when_idle, daemon=True)
            watch.start()
            self._threads.append(watch)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _exit_when_idle(self) -> None:
        assert self._idle_exit_s is not None
        while time.monotonic() - self._last_request < self._idle_exit_s:
            time.sleep(min(1.0, self._idle_exit_s))
        self._server.shutdown()

    def _decide(self) -> int | None:
        """The fault status for this request, if any (429/503/...)."""
        with self._lock:
            self._last_request = time.monotonic()
            if self.faults.statuses:
                return self.faults.statuses.pop(0)
            if self._random.random() < self.faults.rate_limit_fraction:
                return 429
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                with server._lock:
                    server.requests.append(
                        Recorded(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                        )
                    )
                faults = server.faults
                status = server._decide()
                if faults.latency_s:
                    time.sleep(faults.latency_s)
                if faults.redirect_to is not None and (
                    faults.redirect_path is None or self.path.startswith(faults.redirect_path)
                ):
                    self._send(faults.redirect_status, b"", {"Location": faults.redirect_to})
                    return
                if status is not None:
                    extra = {}
                    if faults.retry_after is not None and status in (429, 503):
                        extra["Retry-After"] = faults.retry_after
                    message = f"fault {status}"
                    if faults.echo_auth:
                        message += f" for {self.headers.get('Authorization')}"
                    payload = json.dumps({"error": {"message": message}}).encode()
                    self._send(status, payload, extra)
                    return
                code, document = server.service.answer(self.path, body)
                payload = document if isinstance(document, bytes) else json.dumps(document).encode()
                if faults.pad_bytes and not isinstance(document, bytes):
                    payload += b" " * faults.pad_bytes
                with server._lock:
                    server.answered[code] = server.answered.get(code, 0) + 1
                self._send(code, payload, {"Content-Type": "application/json"})

            def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                faults = server.faults
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    length = faults.lie_content_length
                    self.send_header(
                        "Content-Length", str(len(payload) if length is None else length)
                    )
                    self.end_headers()
                    if faults.trickle_s:
                        for i in range(len(payload)):
                            self.wfile.write(payload[i : i + 1])
                            self.wfile.flush()
                            time.sleep(faults.trickle_s)
                    else:
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        return Handler
