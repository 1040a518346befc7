"""An OpenAI-compatible chat server on 127.0.0.1 that answers like an imperfect coding model.

Tests drive the real litellm client against it, so retries, truncation, broken bodies and dropped
connections are exercised without network access or API keys. Standard library only.

Tokens are counted deterministically as whitespace-separated words (`count_tokens`), for both the
prompt (all message text) and the completion; truncation to N tokens keeps the first N words with
their original spacing.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_WORD = re.compile(r"\S+\s*")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Reply:
    """A chat completion. `content` may be bytes (decoded with U+FFFD for invalid UTF-8, as a server's
    detokenizer does). Lone surrogates in a str are replaced by U+FFFD unless `escape_surrogates`,
    which sends them as `\\udXXX` escapes: valid JSON text that decodes to a str no codec can encode.
    `max_tokens` cuts the content (finish_reason "length"); so does a smaller request `max_tokens`.
    """

    content: str | bytes = ""
    finish_reason: str = "stop"
    max_tokens: int | None = None
    delay_s: float = 0.0
    cached_tokens: int | None = None
    escape_surrogates: bool = False


@dataclass(frozen=True)
class HTTPError:
    """An error status with an OpenAI-style error body; `retry_after` adds a Retry-After header."""

    status: int = 500
    message: str = "internal server error"
    retry_after: float | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class Malformed:
    """A 200 answer whose body is not the JSON it claims to be."""

    body: bytes = b'{"id": "chatcmpl-broken", "choices": [{"message": {"content": "def build('
    delay_s: float = 0.0


@dataclass(frozen=True)
class Drop:
    """Closes the connection without sending a single byte of answer."""

    delay_s: float = 0.0


Behaviour = Reply | HTTPError | Malformed | Drop
Script = Sequence[Behaviour] | Callable[[dict[str, Any]], Behaviour]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; `body` is None when it was not JSON, header names are lower-cased."""

    path: str
    body: Any
    time: float
    headers: dict[str, str] = field(default_factory=dict)


def text(content: str | bytes, delay_s: float = 0.0) -> Reply:
    return Reply(content=content, delay_s=delay_s)


def cut(content: str, tokens: int) -> Reply:
    """The reply a model gives when it hits its token limit after `tokens` tokens."""
    return Reply(content=content, max_tokens=tokens)


def rate_limited(retry_after: float = 1.0, message: str = "Rate limit reached, slow down") -> HTTPError:
    return HTTPError(429, message, retry_after)


def server_error(status: int = 500, message: str = "The server had an error") -> HTTPError:
    return HTTPError(status, message)


def unavailable(message: str = "The engine is currently overloaded") -> HTTPError:
    return HTTPError(503, message)


def fenced(code: str, lang: str = "python", prose: str = "Here is the new recipe.", after: str = "") -> str:
    """A reply shaped like most chat models answer: prose, one fenced block, optional closing prose."""
    body = code if code.endswith("\n") else code + "\n"
    tail = f"\n{after}\n" if after else ""
    return f"{prose}\n\n```{lang}\n{body}```\n{tail}"


def search_replace(blocks: Iterable[tuple[str, str]], prose: str = "Edits to the parent recipe:") -> str:
    """SEARCH/REPLACE edit blocks in the aider/OpenEvolve format, inside no fence."""
    parts = [prose, ""]
    for search, replace in blocks:
        parts += ["<<<<<<< SEARCH", search.rstrip("\n"), "=======", replace.rstrip("\n")]
        parts += [">>>>>>> REPLACE", ""]
    return "\n".join(parts)


def count_tokens(content: str) -> int:
    return len(content.split())


def truncate_tokens(content: str, tokens: int) -> str:
    """The first `tokens` whitespace-separated words of `content`, spacing kept."""
    if tokens <= 0:
        return ""
    end = 0
    for i, match in enumerate(_WORD.finditer(content)):
        if i == tokens:
            break
        end = match.end()
    return content[:end]


def _clean(content: str | bytes, escape_surrogates: bool) -> str:
    if isinstance(content, bytes):
        return content.decode("utf-8", errors="replace")
    if escape_surrogates:
        return content
    return _SURROGATE.sub("\ufffd", content)


def _dumps(obj: Any, ascii_only: bool) -> bytes:
    return json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8")


def _prompt_text(body: Any) -> str:
    messages = body.get("messages", []) if isinstance(body, dict) else []
    parts: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p.get("text", "") for p in content if isinstance(p, dict)]
    return "\n".join(parts)


def _common_prefix(a: list[str], b: list[str]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _lower(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers}


def _limit(reply: Reply, body: Any) -> int | None:
    asked = None
    if isinstance(body, dict):
        asked = body.get("max_completion_tokens") or body.get("max_tokens")
    limits = [n for n in (reply.max_tokens, asked) if isinstance(n, int)]
    return min(limits) if limits else None


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up mid-answer (timeouts, drops) are expected here, not worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class FakeLLMServer:
    """Serves `/v1/chat/completions` and `/v1/models` from a script of behaviours.

    `script` is a list consumed in order (then `default`), or a callable from the request JSON to a
    behaviour. Each request runs in its own thread, so delayed answers overlap. With `prompt_cache`,
    usage reports as cached the longest word prefix a prompt shares with an earlier one, as providers
    with automatic prefix caching do (a reply's own `cached_tokens` overrides it).
    """

    def __init__(
        self,
        script: Script | None = None,
        default: Behaviour | None = None,
        model: str = "fake-coder",
        prompt_cache: bool = False,
    ) -> None:
        self.model = model
        self.prompt_cache = prompt_cache
        self._prompts: list[list[str]] = []
        self.default: Behaviour = default if default is not None else Reply("OK")
        self._queue: list[Behaviour] = [] if script is None or callable(script) else list(script)
        self._fn = script if callable(script) else None
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._closing = threading.Event()
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self.port: int = self._httpd.server_address[1]
        self.api_base = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._serve, name="fake-llm", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._httpd.serve_forever(poll_interval=0.05)

    def __enter__(self) -> FakeLLMServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def push(self, *behaviours: Behaviour) -> None:
        """Appends behaviours to the list script (tests that script as they go)."""
        with self._lock:
            self._queue.extend(behaviours)

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _record(self, path: str, body: Any, headers: dict[str, str]) -> None:
        with self._lock:
            self._requests.append(RecordedRequest(path, body, time.time(), headers))

    def _next(self, body: Any) -> Behaviour:
        if self._fn is not None:
            return self._fn(body if isinstance(body, dict) else {})
        with self._lock:
            return self._queue.pop(0) if self._queue else self.default

    def _cache_hit(self, words: list[str]) -> int | None:
        if not self.prompt_cache:
            return None
        with self._lock:
            best = max((_common_prefix(words, seen) for seen in self._prompts), default=0)
            self._prompts.append(words)
        return best

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._closing.wait(seconds)

    def completion(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
        """The chat.completion object for `reply` answered to request `body`."""
        content = _clean(reply.content, reply.escape_surrogates)
        finish = reply.finish_reason
        limit = _limit(reply, body)
        if limit is not None and count_tokens(content) > limit:
            content, finish = truncate_tokens(content, limit), "length"
        n = body.get("n") if isinstance(body.get("n"), int) and body["n"] > 0 else 1
        words = _prompt_text(body).split()
        prompt = len(words)
        cached = reply.cached_tokens if reply.cached_tokens is not None else self._cache_hit(words)
        completion = count_tokens(content) * n
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if cached is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": min(cached, prompt)}
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish,
                    "logprobs": None,
                }
                for i in range(n)
            ],
            "usage": usage,
        }


def _stream_events(completion: dict[str, Any], body: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """The SSE chunks of `completion`: a role delta, content in word pieces, finish, optional usage."""
    base = {k: completion[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    choice = completion["choices"][0]
    yield base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    pieces = _WORD.findall(choice["message"]["content"])
    for start in range(0, len(pieces), 64):
        delta = {"content": "".join(pieces[start : start + 64])}
        yield base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    yield base | {"choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]}
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        yield base | {"choices": [], "usage": completion["usage"]}


def _handler_for(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            server._record(self.path, None, _lower(self.headers.items()))
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                model = {"id": server.model, "object": "model", "created": 0, "owned_by": "fake"}
                self._send(200, _dumps({"object": "list", "data": [model]}, True))
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = None
            server._record(self.path, body, _lower(self.headers.items()))
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._error(404, f"no route {self.path}")
            elif not isinstance(body, dict):
                self._error(400, "request body is not a JSON object")
            else:
                self._answer_script(body)

        def _answer_script(self, body: dict[str, Any]) -> None:
            try:
                behaviour = server._next(body)
            except Exception as e:  # noqa: BLE001 - a broken test script should read as an answer, not a hang
                self._error(500, f"fake script failed: {e!r}")
                return
            self._answer(behaviour, body)

        def _answer(self, behaviour: Behaviour, body: dict[str, Any]) -> None:
            server._wait(behaviour.delay_s)
            if isinstance(behaviour, Drop):
                self._drop()
            elif isinstance(behaviour, Malformed):
                self._send(200, behaviour.body)
            elif isinstance(behaviour, HTTPError):
                self._error(behaviour.status, behaviour.message, behaviour.retry_after)
            elif body.get("stream"):
                self._stream(server.completion(behaviour, body), body, behaviour.escape_surrogates)
            else:
                self._send(200, _dumps(server.completion(behaviour, body), behaviour.escape_surrogates))

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def _error(self, status: int, message: str, retry_after: float | None = None) -> None:
            kind = {429: "rate_limit_exceeded", 400: "invalid_request_error", 404: "not_found"}
            error = {"message": message, "type": kind.get(status, "server_error"), "param": None}
            error["code"] = kind.get(status, str(status))
            headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
            self._send(status, _dumps({"error": error}, True), headers)

        def _stream(self, completion: dict[str, Any], body: dict[str, Any], ascii_only: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for event in _stream_events(completion, body):
                self.wfile.write(b"data: " + _dumps(event, ascii_only) + b"\n\n")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _drop(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    return Handler
