"""The Ollama client, configured safely (timeouts, no proxies from the environment, no API key leak, every
response bounded in bytes and time), with a 1 s health probe and a cancellable streaming chat that turns every
failure into one clear LlmError."""

from __future__ import annotations

import ipaddress
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import httpx
import ollama
import pydantic

TokenFn = Callable[[str], None]

# One answer is at most llm_num_predict tokens (1024 by default), ~150 bytes of NDJSON each: these leave room
# for thinking and tool calls while a server that streams without end is cut off long before memory matters.
DEFAULT_MAX_OUTPUT_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_ANSWER_S = 600.0
_PROBE_MAX_BYTES = 1024 * 1024


class LlmError(Exception):
    """A model call that produced no usable answer; `kind` lets callers fall back, `str()` is for people."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        # unreachable | model_missing | timeout | server | protocol | truncated | incomplete | too_long
        self.kind = kind


class LlmCancelled(Exception):
    pass


class OutputCapExceeded(Exception):
    """A response passed its byte or time budget; raised from inside the HTTP read, which stops there."""


class _CappedStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, max_bytes: int, max_seconds: float, started: float) -> None:
        self._inner, self._max_bytes, self._max_seconds, self._started = inner, max_bytes, max_seconds, started

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._inner:
            seen += len(chunk)
            if seen > self._max_bytes:
                raise OutputCapExceeded(f"model output exceeded {self._max_bytes:,} bytes")
            if time.monotonic() - self._started > self._max_seconds:
                raise OutputCapExceeded(f"model output exceeded {self._max_seconds:g} s")
            yield chunk

    def close(self) -> None:
        self._inner.close()


class CappedTransport(httpx.BaseTransport):
    """HTTP transport whose every response body is bounded in bytes and wall time, counted as it arrives, so a
    hostile or broken server (an endless stream, one line without end, a trickle) costs a bounded amount of
    memory and time. Compressed responses are refused: a small gzip body could expand past any byte count."""

    def __init__(self, max_bytes: int, max_seconds: float) -> None:
        self.max_bytes, self.max_seconds = max_bytes, max_seconds
        self._inner = httpx.HTTPTransport(trust_env=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        request.headers["Accept-Encoding"] = "identity"
        response = self._inner.handle_request(request)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            response.close()
            raise OutputCapExceeded(f"the server sent a {encoding}-compressed response, which is refused")
        assert isinstance(response.stream, httpx.SyncByteStream)  # a sync transport's response
        return httpx.Response(response.status_code, headers=response.headers, extensions=response.extensions,
                              stream=_CappedStream(response.stream, self.max_bytes, self.max_seconds, started))

    def close(self) -> None:
        self._inner.close()


def normalise_host(host: str | None, allow_remote: bool = False) -> str:
    """`http://host:port` from config forms like `127.0.0.1`, `localhost:11434`, `http://[::1]:11434`.
    Refuses non-loopback hosts unless explicitly allowed (log text goes to this host)."""
    raw = (host or "").strip() or "http://127.0.0.1:11434"
    if "://" not in raw:
        raw = "http://" + raw
    url = urlparse(raw)
    name = url.hostname or "127.0.0.1"
    port = url.port or 11434
    if not allow_remote:
        loopback = name == "localhost"
        try:
            loopback = loopback or ipaddress.ip_address(name).is_loopback
        except ValueError:
            pass
        if not loopback:
            raise ValueError(f"Ollama host {name} is not loopback; set ollama_allow_remote to send log data there")
    shown = f"[{name}]" if ":" in name else name
    return f"{url.scheme or 'http'}://{shown}:{port}"


@dataclass
class LlmStatus:
    state: str  # ready | unreachable | model_missing | error
    host: str
    model: str
    message: str
    version: str | None = None
    digest: str | None = None
    capabilities: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def provenance(self) -> dict[str, Any]:
        return {"host": self.host, "model": self.model, "digest": self.digest, "server_version": self.version}


def probe(host: str, model: str, timeout_s: float = 1.0) -> LlmStatus:
    """GET /api/version (is anything there?) then /api/tags (is the model pulled? what is its digest?)."""
    try:
        capped = CappedTransport(_PROBE_MAX_BYTES, 5 * timeout_s)
        with httpx.Client(timeout=timeout_s, trust_env=False, transport=capped) as client:
            ver = client.get(f"{host}/api/version")
            ver.raise_for_status()
            version = str(ver.json().get("version"))
            tags = client.get(f"{host}/api/tags")
            tags.raise_for_status()
            models = tags.json().get("models") or []
    except (httpx.HTTPError, ValueError, AttributeError, OutputCapExceeded) as exc:
        return LlmStatus("unreachable", host, model,
                         f"Ollama unreachable at {host} — offline proposals only ({type(exc).__name__})")
    wanted = {model, model if ":" in model else f"{model}:latest"}
    for entry in models:
        if not isinstance(entry, dict):
            continue
        if entry.get("name") in wanted or entry.get("model") in wanted:
            caps = entry.get("capabilities") or []
            return LlmStatus("ready", host, model, f"LLM ready: {model} on {host} (Ollama {version})", version,
                             entry.get("digest"), [str(c) for c in caps] if isinstance(caps, list) else [])
    return LlmStatus("model_missing", host, model,
                     f"Ollama at {host} has no model {model!r} (ollama pull {model}) — offline proposals only",
                     version)


@dataclass
class ChatTurn:
    content: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    done_reason: str | None = None
    eval_count: int | None = None
    prompt_eval_count: int | None = None

    def stats(self) -> dict[str, Any]:
        return {"done_reason": self.done_reason, "eval_count": self.eval_count,
                "prompt_eval_count": self.prompt_eval_count}


_END = object()


class OllamaChat:
    """One model on one host. `stream()` runs the blocking HTTP read on a helper thread so `cancel` takes
    effect at once; a hung server is bounded by the read timeout, an endless or trickling one by
    `max_output_bytes` and `max_answer_s` per answer."""

    def __init__(self, host: str, model: str, *, connect_timeout_s: float = 2.0, read_timeout_s: float = 120.0,
                 options: Mapping[str, Any] | None = None, max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
                 max_answer_s: float = DEFAULT_MAX_ANSWER_S) -> None:
        # The client would send this key as a bearer token to *any* host, including ours.
        os.environ.pop("OLLAMA_API_KEY", None)
        self.host = host
        self.model = model
        self.options = dict(options or {})
        self.max_answer_s = max_answer_s
        self.client = ollama.Client(host=host, trust_env=False, transport=CappedTransport(
            max_output_bytes, max_answer_s), timeout=httpx.Timeout(
            connect=connect_timeout_s, read=read_timeout_s, write=10.0, pool=connect_timeout_s))

    def close(self) -> None:
        self.client.close()

    def stream(self, messages: Sequence[Mapping[str, Any]], *, format: Any = None,
               tools: Sequence[Mapping[str, Any]] | None = None, on_token: TokenFn | None = None,
               cancel: threading.Event | None = None) -> ChatTurn:
        parts: queue.Queue[Any] = queue.Queue()

        def produce() -> None:
            try:
                for part in self.client.chat(model=self.model, messages=list(messages), stream=True, format=format,
                                             tools=list(tools) if tools else None, options=self.options or None):
                    parts.put(part)
                    if cancel is not None and cancel.is_set():
                        return
                parts.put(_END)
            except BaseException as exc:  # handed to the consumer, which maps it
                parts.put(exc)

        threading.Thread(target=produce, name="ollama-stream", daemon=True).start()
        turn = ChatTurn()
        # The transport enforces the same bound when the next bytes arrive; this one holds while none do.
        deadline = time.monotonic() + self.max_answer_s
        while True:
            try:
                item = parts.get(timeout=0.1)
            except queue.Empty:
                if cancel is not None and cancel.is_set():
                    raise LlmCancelled("cancelled") from None
                if time.monotonic() > deadline:
                    raise self._map_error(OutputCapExceeded(
                        f"model output exceeded {self.max_answer_s:g} s")) from None
                continue
            if cancel is not None and cancel.is_set():
                raise LlmCancelled("cancelled")
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise self._map_error(item) from None
            msg = item.message
            if msg.content:
                turn.content += msg.content
                if on_token is not None and not format:
                    on_token(msg.content)
            if getattr(msg, "thinking", None):
                turn.thinking += msg.thinking or ""
            for call in msg.tool_calls or []:
                turn.tool_calls.append({"name": call.function.name, "arguments": dict(call.function.arguments)})
            if item.done:
                turn.done = True
                turn.done_reason = item.done_reason
                turn.eval_count = item.eval_count
                turn.prompt_eval_count = item.prompt_eval_count
        if not turn.done:
            raise LlmError("incomplete", f"the answer from {self.model} ended without completing (no done marker)")
        if turn.done_reason == "length":
            raise LlmError("truncated", f"the answer from {self.model} was cut off (done_reason: length); "
                                        "raise llm_num_predict or shorten the context")
        return turn

    def _map_error(self, exc: BaseException) -> LlmError:
        if isinstance(exc, OutputCapExceeded):
            return LlmError("too_long", f"{exc} from {self.model} at {self.host}; stopped reading")
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == 404:
                return LlmError("model_missing", f"model {self.model!r} not found at {self.host} "
                                                 f"(ollama pull {self.model}): {exc.error}")
            if exc.status_code == -1:
                return LlmError("server", f"Ollama reported an error mid-answer: {exc.error}")
            return LlmError("server", f"Ollama error {exc.status_code}: {exc.error}")
        if isinstance(exc, httpx.TimeoutException):
            return LlmError("timeout", f"Ollama at {self.host} did not answer in time ({type(exc).__name__})")
        if isinstance(exc, httpx.ConnectError | ConnectionError):
            return LlmError("unreachable", f"Ollama unreachable at {self.host}")
        if isinstance(exc, httpx.TransportError):
            return LlmError("protocol", f"connection to Ollama broke: {type(exc).__name__}: {exc}")
        if isinstance(exc, json.JSONDecodeError | pydantic.ValidationError):
            return LlmError("protocol", f"Ollama sent a malformed response: {type(exc).__name__}")
        return LlmError("protocol", f"unexpected error talking to Ollama: {type(exc).__name__}: {exc}")
