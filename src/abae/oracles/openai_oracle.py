"""An oracle that asks a vision-language model through the OpenAI chat completions API.

Works with OpenAI and with any server speaking the OpenAI-compatible chat API
(vLLM, llama.cpp's server, Ollama, ...). Built on the official ``openai``
client (the ``openai`` extra), imported only when an oracle is made.

Per record: the prompt template is filled from the record's arguments, the image
(a path, the stored bytes, or a URL) is attached as a data URL, and the model's
text answer is parsed strictly (:func:`abae.oracles.answers.parse_text_answer`).
An answer that does not parse fails the record; its raw text stays in the ledger.

Money: each response's ``usage`` is priced with the prices per million input and
output tokens. Before a call, the runtime reserves its worst case, ``max_input_tokens``
prompt tokens and ``max_tokens`` completion tokens, against the query's money
cap. A response that reports more tokens than these bounds is charged what it
reports, fails its record, and stops the oracle (every later call is refused
without being sent), so that a wrong bound cannot overrun the cap by more than
the calls then in flight.

Faults: 429, and 503 with ``Retry-After``, are rate limits (transient, the
runtime waits at least ``Retry-After`` and lowers the concurrency); other 5xx,
408 and connection errors are transient; ``timeout_s`` is a deadline for the
whole call (a watchdog closes the connection when it passes); redirects to
another host, port or scheme are refused, so the key never leaves the
configured origin. The API key is read from the environment variable named by
``api_key_env`` only; it is never stored in the ledger, the oracle's version,
repr, or any error message (messages are scrubbed of it).

The ledger caches labels per oracle version: a hash of the model, the prompt,
the system prompt, the answer type, the sampling settings (temperature, seed,
``max_tokens``) and the image detail. Changing any of them starts a new version;
rerunning the same oracle reuses its labels for free.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from abae.oracles.answers import MeteredAnswer, parse_text_answer
from abae.oracles.errors import OracleCallError, TransientOracleError, UnusableAnswerError
from abae.oracles.http_adapter import parse_retry_after
from abae.oracles.prompts import PromptTemplate, image_url
from abae.oracles.registry import OracleReturns, OracleSpec, register_oracle
from abae.store.identifiers import validate_identifier

IMAGE_ARGUMENTS = ("image", "image_blob")
RUNTIME_GRACE_S = 2.0
_TEXT_RETURNS = {"bool": "bool", "number": "number", "float": "number", "int": "int"}
_KEY_LIKE = re.compile(r"\b(sk|rk|pk|key)-[A-Za-z0-9_\-*]{4,}")


class RedirectRefusedError(OracleCallError):
    """The API answered with a redirect to another origin (or one that drops the POST)."""


def _httpx() -> Any:
    """The HTTP library the installed ``openai`` client is built on (httpx2 or httpx)."""
    try:
        import httpx2

        return httpx2
    except ImportError:
        import httpx

        return httpx


def _openai() -> Any:
    try:
        import openai
    except ImportError:
        raise ImportError(
            'openai_oracle needs the openai client: pip install -c constraints.txt -e ".[openai]"'
        ) from None
    return openai


class _Call:
    """The deadline of one request, and whether its watchdog fired."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False

    def fire(self, sock: Any) -> None:
        self.fired = True
        if sock is not None:
            try:
                import socket

                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _deadline_transport(inner: Any, local: threading.local) -> Any:
    """Wrap an httpx transport: per-request timeouts from the call's deadline, and a
    watchdog that shuts the socket down when the deadline passes mid-answer."""
    httpx = _httpx()

    class Stream(httpx.SyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, stream: Any, timer: threading.Timer) -> None:
            self._stream = stream
            self._timer = timer

        def __iter__(self) -> Iterator[bytes]:
            yield from self._stream

        def close(self) -> None:
            self._timer.cancel()
            self._stream.close()

    class Transport(httpx.BaseTransport):  # type: ignore[misc, name-defined]
        def handle_request(self, request: Any) -> Any:
            call: _Call | None = getattr(local, "call", None)
            if call is None:
                return inner.handle_request(request)
            remaining = call.deadline - time.monotonic()
            if remaining <= 0:
                raise httpx.ReadTimeout("the call's deadline passed", request=request)
            request.extensions["timeout"] = {
                "connect": remaining,
                "read": remaining,
                "write": remaining,
                "pool": remaining,
            }
            response = inner.handle_request(request)
            network = response.extensions.get("network_stream")
            sock = network.get_extra_info("socket") if network is not None else None
            timer = threading.Timer(max(call.deadline - time.monotonic(), 0.0), call.fire, (sock,))
            timer.daemon = True
            timer.start()
            response.stream = Stream(response.stream, timer)
            return response

        def close(self) -> None:
            inner.close()

    return Transport()


def _same_origin(a: Any, b: Any) -> bool:
    return bool(a.scheme == b.scheme and a.host == b.host and a.port == b.port)


def _refuse_redirects(response: Any) -> None:
    """httpx response hook: refuse redirects that leave the origin or drop the POST."""
    if not response.has_redirect_location:
        return
    source = response.request.url
    target = source.join(response.headers["location"])
    where = f"{source.scheme}://{source.host}{':' + str(source.port) if source.port else ''}"
    if not _same_origin(source, target):
        there = f"{target.scheme}://{target.host}{':' + str(target.port) if target.port else ''}"
        raise RedirectRefusedError(
            f"{where} redirected (HTTP {response.status_code}) to {there}, another host, port "
            "or scheme; refused, so the API key is never sent there. Set base_url to the "
            "final address",
            spent=0.0,
        )
    if response.status_code not in (307, 308):
        raise RedirectRefusedError(
            f"{where} redirected with HTTP {response.status_code}, which would turn the POST "
            "into a GET; only 307/308 redirects are followed. Set base_url to the final address",
            spent=0.0,
        )


class OpenAIChatOracle:
    """The callable behind :func:`openai_oracle`: one chat completion per record.

    Returns a :class:`~abae.oracles.answers.MeteredAnswer` per record (the parsed
    answer, or why it did not parse, with its tokens and money).
    """

    def __init__(
        self,
        name: str,
        *,
        model: str,
        template: PromptTemplate,
        system: str | None,
        answer: str,
        categories: tuple[str, ...],
        images: tuple[str, ...],
        base_url: str | None,
        api_key: str,
        temperature: float,
        seed: int | None,
        max_tokens: int,
        max_input_tokens: int,
        price_in: float,
        price_out: float,
        image_detail: str | None,
        timeout_s: float,
        max_concurrency: int,
    ) -> None:
        openai = _openai()
        httpx = _httpx()
        self.name = name
        self.model = model
        self.template = template
        self.system = system
        self.answer = answer
        self.categories = categories
        self.images = images
        self.temperature = temperature
        self.seed = seed
        self.max_tokens = max_tokens
        self.max_input_tokens = max_input_tokens
        self.price_in = price_in
        self.price_out = price_out
        self.image_detail = image_detail
        self.timeout_s = timeout_s
        self._secret = api_key
        self._local = threading.local()
        self._stopped: str | None = None
        self._openai = openai
        inner = httpx.HTTPTransport(
            limits=httpx.Limits(
                max_connections=max_concurrency * 2, max_keepalive_connections=max_concurrency
            )
        )
        http_client = httpx.Client(
            transport=_deadline_transport(inner, self._local),
            follow_redirects=True,
            max_redirects=3,
            timeout=httpx.Timeout(timeout_s),
            event_hooks={"response": [_refuse_redirects]},
        )
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=httpx.Timeout(timeout_s),
            http_client=http_client,
        )

    def __repr__(self) -> str:
        return f"OpenAIChatOracle({self.name!r}, model={self.model!r})"

    def worst_case_cost(self) -> float:
        """Money of one call at ``max_input_tokens`` in and ``max_tokens`` out."""
        return self.cost(self.max_input_tokens, self.max_tokens)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """Money of a response that used these tokens."""
        return (input_tokens * self.price_in + output_tokens * self.price_out) / 1_000_000

    def scrub(self, text: str) -> str:
        """``text`` without the API key (or anything that looks like one)."""
        if self._secret:
            text = text.replace(self._secret, "[redacted]")
        return _KEY_LIKE.sub("[redacted]", text)

    def messages(self, values: Sequence[Any]) -> list[dict[str, Any]]:
        """The chat messages for one record's argument values."""
        args = self.template.args
        if len(values) != len(args):
            raise OracleCallError(
                f"oracle {self.name!r} takes {len(args)} argument(s) {list(args)}, got "
                f"{len(values)}; call it as {self.name}({', '.join(args)})",
                spent=0.0,
            )
        named = dict(zip(args, values, strict=True))
        content: list[dict[str, Any]] = [{"type": "text", "text": self.template.render(named)}]
        for arg in self.images:
            try:
                url = image_url(named[arg])
            except ValueError as error:
                raise OracleCallError(f"argument {arg!r}: {error}", spent=0.0) from None
            image: dict[str, Any] = {"url": url}
            if self.image_detail is not None:
                image["detail"] = self.image_detail
            content.append({"type": "image_url", "image_url": image})
        messages: list[dict[str, Any]] = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        messages.append({"role": "user", "content": content})
        return messages

    def __call__(self, *values: Any) -> MeteredAnswer:
        if self._stopped is not None:
            raise OracleCallError(self._stopped, spent=0.0)
        messages = self.messages(values)
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "n": 1,
        }
        if self.seed is not None:
            request["seed"] = self.seed
        call = _Call(time.monotonic() + self.timeout_s)
        self._local.call = call
        try:
            completion = self._client.chat.completions.create(**request)
        except RedirectRefusedError as error:
            raise RedirectRefusedError(self.scrub(str(error)), spent=0.0) from None
        except Exception as error:
            raise self._translate(error, call) from None
        finally:
            self._local.call = None
        return self._answer(completion)

    def batch(self, batch: Sequence[Sequence[Any]]) -> list[MeteredAnswer]:
        """Answer a batch: one request per record, one after another."""
        return [self(*values) for values in batch]

    def _translate(self, error: Exception, call: _Call) -> Exception:
        """An ``openai`` exception as the runtime's error kinds, with the key scrubbed."""
        openai = self._openai
        if isinstance(error, openai.APITimeoutError) or call.fired:
            return TimeoutError(f"no full answer within timeout_s={self.timeout_s:g} s")
        if isinstance(error, openai.APIStatusError):
            status = int(error.status_code)
            headers = error.response.headers
            if status in (401, 403):
                return OracleCallError(
                    f"the API refused the key (HTTP {status}); check the environment "
                    "variable that holds it",
                    spent=0.0,
                )
            detail = self.scrub(_error_detail(error))
            message = f"the API answered HTTP {status}{': ' + detail if detail else ''}"
            if status in (408, 409, 425, 429) or status >= 500:
                retry_after = parse_retry_after(headers.get("retry-after"))
                return TransientOracleError(
                    message,
                    retry_after_s=retry_after,
                    rate_limited=status == 429 or (status == 503 and retry_after is not None),
                    spent=0.0,
                )
            return OracleCallError(message, spent=0.0)
        if isinstance(error, openai.APIConnectionError):
            cause = error.__cause__ or error
            return ConnectionError(self.scrub(f"cannot reach the API: {type(cause).__name__}"))
        if isinstance(error, OracleCallError):
            return error
        return OracleCallError(
            self.scrub(f"the API call failed: {type(error).__name__}: {error}"), spent=None
        )

    def _answer(self, completion: Any) -> MeteredAnswer:
        try:
            text = completion.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            text = None
        usage = getattr(completion, "usage", None)
        tokens_in = getattr(usage, "prompt_tokens", None)
        tokens_out = getattr(usage, "completion_tokens", None)
        if not isinstance(tokens_in, int) or not isinstance(tokens_out, int):
            # No usage: charge the worst case, the most the call can have cost.
            cost, tokens_in, tokens_out = self.worst_case_cost(), 0, 0
            note = " (the response had no token usage; charged the worst case)"
        else:
            cost, note = self.cost(tokens_in, tokens_out), ""
        if tokens_in > self.max_input_tokens or tokens_out > self.max_tokens:
            self._stopped = (
                f"oracle {self.name!r} was stopped: a response used {tokens_in} prompt and "
                f"{tokens_out} completion tokens, more than max_input_tokens="
                f"{self.max_input_tokens} / max_tokens={self.max_tokens}, the worst case "
                "reserved against the money cap; raise them"
            )
            return MeteredAnswer(None, cost, tokens_in, tokens_out, _as_text(text), self._stopped)
        if not isinstance(text, str):
            return MeteredAnswer(
                None, cost, tokens_in, tokens_out, None, f"the response held no text answer{note}"
            )
        try:
            value = parse_text_answer(text, self.answer, self.categories)
        except UnusableAnswerError as error:
            return MeteredAnswer(None, cost, tokens_in, tokens_out, text, str(error) + note)
        return MeteredAnswer(value, cost, tokens_in, tokens_out, text)


def _as_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _error_detail(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if isinstance(message, str):
            return message[:200]
    return ""


def oracle_version(**settings: Any) -> str:
    """A short stable hash of what determines an oracle's answers (12 hex digits)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def openai_oracle(
    name: str,
    *,
    model: str,
    prompt: str,
    returns: str | Sequence[str],
    base_url: str | None = None,
    api_key_env: str | None = "OPENAI_API_KEY",
    args: Sequence[str] = ("image",),
    images: Sequence[str] | None = None,
    system: str | None = None,
    price_per_million_input: float = 0.0,
    price_per_million_output: float = 0.0,
    max_tokens: int = 16,
    max_input_tokens: int = 4096,
    temperature: float = 0.0,
    seed: int | None = 0,
    image_detail: str | None = None,
    batch_size: int = 1,
    max_concurrency: int = 8,
    timeout_s: float = 60.0,
) -> OracleSpec:
    """Register an oracle that asks a chat model (OpenAI or OpenAI-compatible) per record.

    Args:
        name: the oracle's name in queries.
        model: the model name the server knows (e.g. ``"gpt-4o-mini"``).
        prompt: a template over the oracle's arguments, e.g.
            ``"Is there a dog in this photo? Answer yes or no."`` or
            ``"Caption: {caption}. How many people are in the photo? Answer with a number."``.
        returns: ``"bool"`` (yes/no), ``"number"`` (or ``"float"``), ``"int"`` (a whole
            number), or a list of category names (for GROUP BY the oracle's answer).
        base_url: the server, e.g. ``"http://localhost:8000/v1"`` (``None``: OpenAI's).
        api_key_env: the environment variable holding the API key (``None`` for a
            server without keys). Keys come from the environment only.
        args: the oracle's argument names, in the order queries pass them
            (``is_dog(image, caption)`` → ``("image", "caption")``).
        images: which arguments are images, attached as data URLs (default: those
            named ``image`` or ``image_blob``).
        system: an optional system prompt.
        price_per_million_input: money per million prompt tokens.
        price_per_million_output: money per million completion tokens.
        max_tokens: the most completion tokens per answer (sent to the server, and
            the worst case reserved against a money cap).
        max_input_tokens: the most prompt tokens one call may use, image included
            (the worst case reserved against a money cap).
        temperature: sampling temperature (0: as reproducible as the server allows).
        seed: sent to the server for reproducible sampling (``None``: not sent).
        image_detail: ``"low"``, ``"high"`` or ``"auto"`` (``None``: not sent).
        batch_size: records per runtime call (their requests are sent one after another).
        max_concurrency: most requests in flight at once.
        timeout_s: deadline of one request (seconds).

    Returns:
        The registered :class:`OracleSpec` (``version`` hashes the settings above
        that determine the answers; ``max_cost`` is the worst case of one call).

    Raises:
        ValueError: a bad setting, or the key's environment variable is not set.
        ImportError: the ``openai`` extra is not installed.
    """
    validate_identifier(name, what="oracle name")
    args = tuple(args)
    for arg in args:
        validate_identifier(arg, what=f"oracle {name!r} argument name")
    image_args = tuple(a for a in args if a in IMAGE_ARGUMENTS) if images is None else tuple(images)
    unknown = [a for a in image_args if a not in args]
    if unknown:
        raise ValueError(f"oracle {name!r}: images {unknown} are not among args {list(args)}")
    template = PromptTemplate(prompt, args)
    kind, categories = _answer_kind(name, returns)
    for label, value in (
        ("price_per_million_input", price_per_million_input),
        ("price_per_million_output", price_per_million_output),
        ("temperature", temperature),
    ):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"oracle {name!r}: {label} must be >= 0, got {value}")
    if max_tokens < 1 or max_input_tokens < 1:
        raise ValueError(f"oracle {name!r}: max_tokens and max_input_tokens must be >= 1")
    if image_detail not in (None, "low", "high", "auto"):
        raise ValueError(f"oracle {name!r}: image_detail must be low, high or auto")
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"oracle {name!r}: timeout_s must be > 0, got {timeout_s}")
    if max_concurrency < 1:
        raise ValueError(f"oracle {name!r}: max_concurrency must be >= 1")
    api_key = "no-key"
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env, "")
        if not api_key:
            raise ValueError(
                f"oracle {name!r}: set the environment variable {api_key_env} to the API key "
                "(keys are read from the environment only), or pass api_key_env=None for a "
                "server without keys"
            )
    adapter = OpenAIChatOracle(
        name,
        model=model,
        template=template,
        system=system,
        answer=kind,
        categories=categories,
        images=image_args,
        base_url=base_url,
        api_key=api_key,
        temperature=float(temperature),
        seed=seed,
        max_tokens=int(max_tokens),
        max_input_tokens=int(max_input_tokens),
        price_in=float(price_per_million_input),
        price_out=float(price_per_million_output),
        image_detail=image_detail,
        timeout_s=float(timeout_s),
        max_concurrency=int(max_concurrency),
    )
    settings = {
        "model": model,
        "prompt": prompt,
        "system": system,
        "returns": kind,
        "categories": list(categories),
        "args": list(args),
        "images": list(image_args),
        "temperature": float(temperature),
        "seed": seed,
        "max_tokens": int(max_tokens),
        "image_detail": image_detail,
    }
    description = json.dumps(
        {
            "kind": "openai",
            "model": model,
            "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest()[:12],
            "returns": kind if not categories else list(categories),
            "temperature": float(temperature),
            "seed": seed,
        },
        sort_keys=True,
    )
    declared: OracleReturns = {"bool": "bool", "category": "category"}.get(kind, "number")  # type: ignore[assignment]
    return register_oracle(
        name,
        adapter if batch_size == 1 else adapter.batch,
        cost=0.0,
        batch_size=batch_size,
        max_concurrency=max_concurrency,
        returns=list(categories) if categories else declared,
        timeout_s=timeout_s * batch_size + RUNTIME_GRACE_S,
        version=oracle_version(**settings),
        max_cost=adapter.worst_case_cost(),
        description=description,
    )


def _answer_kind(name: str, returns: str | Sequence[str]) -> tuple[str, tuple[str, ...]]:
    if isinstance(returns, str):
        if returns not in _TEXT_RETURNS:
            raise ValueError(
                f"oracle {name!r}: returns must be 'bool', 'number', 'float', 'int' or a list "
                f"of category names, got {returns!r}"
            )
        return _TEXT_RETURNS[returns], ()
    categories = tuple(returns)
    if not categories or not all(isinstance(c, str) and c.strip() for c in categories):
        raise ValueError(f"oracle {name!r}: returns must list non-empty category names")
    if len({c.lower() for c in categories}) != len(categories):
        raise ValueError(
            f"oracle {name!r}: categories repeat (ignoring case) in {list(categories)}"
        )
    return "category", categories
