"""An OpenAI-compatible chat completions server for tests: ``POST /v1/chat/completions``.

It answers with a text chosen by ``answer(request) -> str`` (default: ``"yes"``)
and a ``usage`` block computed from the request: prompt tokens = the words of
the text parts + 85 per image, completion tokens = the words of the answer.
Modes for malformed answers (``answer`` returning junk, ``omit_usage``,
``bad_json``), and :class:`~servers.http_test_server.Faults` for 429 with
``Retry-After``, slow answers, trickled bodies and redirects.

Run standalone (stops after 60 s without a request)::

    python tests/servers/openai_compatible.py --latency 0.2
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from servers.http_test_server import Faults, Service, TestServer

IMAGE_TOKENS = 85


def prompt_text(request: Any) -> str:
    """All text parts of a chat request's messages, joined by newlines."""
    texts: list[str] = []
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(p.get("text", "") for p in content if p.get("type") == "text")
    return "\n".join(texts)


def image_urls(request: Any) -> list[str]:
    """The image URLs (data URLs) of a chat request."""
    urls: list[str] = []
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            urls.extend(p["image_url"]["url"] for p in content if p.get("type") == "image_url")
    return urls


def usage_of(request: Any, answer: str) -> dict[str, int]:
    """The token usage the server reports for ``request`` answered with ``answer``."""
    prompt = len(prompt_text(request).split()) + IMAGE_TOKENS * len(image_urls(request))
    completion = max(1, len(answer.split()))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class ChatService(Service):
    """Answers chat completions.

    Args:
        answer: ``answer(request_json) -> text``.
        omit_usage: leave ``usage`` out of the response.
        bad_json: answer a body that is not JSON.
    """

    def __init__(
        self,
        answer: Callable[[Any], str] | None = None,
        *,
        omit_usage: bool = False,
        bad_json: bool = False,
    ) -> None:
        self.answer_fn = answer or (lambda request: "yes")
        self.omit_usage = omit_usage
        self.bad_json = bad_json
        self._ids = itertools.count()

    def answer(self, path: str, body: Any) -> tuple[int, Any]:
        if not path.rstrip("/").endswith("/chat/completions") or not isinstance(body, dict):
            return 404, {"error": {"message": f"no route {path}"}}
        if self.bad_json:
            return 200, b"<html>not json</html>"
        text = self.answer_fn(body)
        document: dict[str, Any] = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "test-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
        }
        if not self.omit_usage:
            document["usage"] = usage_of(body, text)
        return 200, document


def serve(
    answer: Callable[[Any], str] | None = None, faults: Faults | None = None, **kwargs: Any
) -> TestServer:
    """A started OpenAI-compatible test server (use as a context manager to stop it)."""
    return TestServer(ChatService(answer), faults, **kwargs).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=float, default=0.0)
    parser.add_argument("--retry-after", default="1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--idle-exit", type=float, default=60.0)
    args = parser.parse_args(argv)
    faults = Faults(
        latency_s=args.latency, rate_limit_fraction=args.rate_limit, retry_after=args.retry_after
    )
    server = TestServer(ChatService(), faults, seed=args.seed, idle_exit_s=args.idle_exit).start()
    print(f"{server.url}/v1", flush=True)
    server._threads[-1].join()


if __name__ == "__main__":
    main()
