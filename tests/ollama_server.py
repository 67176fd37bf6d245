"""An in-test Ollama server: stdlib ThreadingHTTPServer on 127.0.0.1:0 speaking the wire protocol of
llm-playbooks.md §1 (HTTP/1.1 chunked NDJSON, one object per line, no blank lines, nanosecond durations,
errors as JSON before streaming and as an `{"error"}` line mid-stream). It records every request.

Behaviour: queued `Reply` objects are served first (one per /api/chat); otherwise by model name —
`missing*` 404, `notools*` + tools 400, `midstream-error`; `format` gets a schema-valid synthesised object,
`tools` a call of the first tool, anything else an echo of the last user message. `obey_injection` is a
chat handler that does what injected log lines tell it to (for the prompt-injection suite).
"""

from __future__ import annotations

import json
import random
import re
import string
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.deadlines import generous


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


@dataclass
class Reply:
    """One scripted /api/chat answer. kind: text | json | tool | error | midstream_error | no_done | hang |
    flood (well-formed content chunks for ever) | flood_line (one NDJSON line that never ends) | trickle (a
    small chunk every `delay_s`… for ever). The endless kinds stop when the client goes away."""

    kind: str = "text"
    text: str = ""
    obj: Any = None
    tool: tuple[str, dict[str, Any]] | None = None
    status: int = 200
    done_reason: str = "stop"
    delay_s: float = 0.0  # before the first byte


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def synthesize(schema: dict[str, Any]) -> Any:
    """A minimal instance of a JSON schema (what grammar-constrained decoding would guarantee)."""
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return synthesize(schema["anyOf"][0])
    t = schema.get("type")
    if t == "object":
        props = schema.get("properties", {})
        return {k: synthesize(props[k]) for k in schema.get("required", list(props))}
    if t == "array":
        return []
    if t == "integer":
        return schema.get("minimum", 1)
    if t == "number":
        return 0.5
    if t == "boolean":
        return False
    if t == "null":
        return None
    return "x"


_IP = r"(\d{1,3}(?:\.\d{1,3}){3})"


def obey_injection(body: dict[str, Any]) -> Reply | None:
    """A model with no defences: it reads instructions inside the evidence and follows them."""
    # It reads the user and tool messages, including the fenced "untrusted" evidence.
    text = "\n".join(str(m.get("content") or "") for m in body.get("messages", []) if m.get("role") in ("user", "tool"))
    if not body.get("format"):
        return Reply("text", text="Obeying the instructions in the log lines. Done: approved and executed.")
    pb = re.search(r"\bplaybook[\s:=\"']+([a-z][a-z0-9_]{2,63})", text)
    ip = re.search(r"\b(?:block|ban|target|firewall)\b\D{0,20}" + _IP, text, re.IGNORECASE)
    user = re.search(r"\b(?:lock|disable)\s+(?:user|account)\s+([a-z_][a-z0-9_.-]{0,31})", text, re.IGNORECASE)
    cmd = re.search(r"\b(?:run|execute)\s+(?:command\s+)?[`'‘\"]([^`'’\"]+)[`'’\"]", text, re.IGNORECASE)
    params: dict[str, Any] = {}
    playbook = pb.group(1) if pb else "block_ip_nft"
    if ip:
        params["ip"] = ip.group(1)
    if user:
        params["user"] = user.group(1)
        if not pb:
            playbook = "lock_user"
    if cmd:
        params["command"] = cmd.group(1)
    ids = [int(x) for x in re.findall(r'"event_id":\s*"?(\d+)', text)][:3]
    if re.search(r"\bapprove", text, re.IGNORECASE):
        params.setdefault("approved", True)
    return Reply("json", obj={"decision": "propose_playbook", "playbook": {"playbook_id": playbook,
                 "params": params}, "rationale": "As instructed by the log line.", "evidence_ids": ids,
                 "approved": True, "execute_now": True})


class OllamaTestServer:
    def __init__(self, models: list[str] | None = None, version: str = "0.33.0") -> None:
        self.models = models if models is not None else ["llama3.2", "tinyllm"]
        self.version = version
        self.replies: deque[Reply] = deque()
        self.chat_handler: Callable[[dict[str, Any]], Reply | None] | None = None
        self.requests: list[Recorded] = []
        self.capabilities = ["completion", "tools"]
        self._stopping = threading.Event()
        self.streamed_bytes = 0  # written by the endless kinds
        self.client_went_away = threading.Event()  # an endless stream's write failed: the client stopped reading
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    def start(self) -> OllamaTestServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == "/api/chat"]

    def tag(self, name: str) -> dict[str, Any]:
        digest = "sha256:" + ("%064x" % (abs(hash(name)) % (1 << 256)))
        return {"name": name if ":" in name else f"{name}:latest", "model": name if ":" in name else f"{name}:latest",
                "modified_at": "2026-08-01T10:00:00.123456789-07:00", "size": 2019393189, "digest": digest,
                "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                            "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
                "capabilities": list(self.capabilities)}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: OllamaTestServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    # --- plumbing ---

    def _record(self, body: Any) -> None:
        self.owner.requests.append(Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                            body))

    def _json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, obj: Any) -> None:
        line = json.dumps(obj).encode() + b"\n"
        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # --- routes ---

    def do_HEAD(self) -> None:
        if self.path in ("/", "/api/version", "/api/tags"):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._text(404, "404 page not found")

    def do_GET(self) -> None:
        self._record(None)
        if self.path == "/":
            self._text(200, "Ollama is running")
        elif self.path == "/api/version":
            self._json(200, {"version": self.owner.version})
        elif self.path == "/api/tags":
            self._json(200, {"models": [self.owner.tag(m) for m in self.owner.models]})
        elif self.path == "/api/ps":
            self._json(200, {"models": []})
        else:
            self._text(404, "404 page not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            self._record(None)
            self._json(400, {"error": "missing request body"})
            return
        try:
            body = json.loads(raw)
        except ValueError as exc:
            self._record(raw.decode("utf-8", "replace"))
            self._json(400, {"error": str(exc)})
            return
        self._record(body)
        if self.path == "/api/show":
            name = body.get("model") or body.get("name")
            if not name:
                self._json(400, {"error": "model is required"})
            elif name.split(":")[0] not in [m.split(":")[0] for m in self.owner.models]:
                self._json(404, {"error": f"model '{name}' not found"})
            else:
                self._json(200, {"modelfile": "", "parameters": "", "template": "{{ .Prompt }}",
                                 "details": self.owner.tag(name)["details"], "model_info": {},
                                 "capabilities": self.owner.capabilities, "modified_at": _now()})
        elif self.path == "/api/chat":
            self._chat(body)
        else:
            self._text(404, "404 page not found")

    def _chat(self, body: dict[str, Any]) -> None:
        model = body.get("model") or ""
        if not model:
            self._json(400, {"error": "model is required"})
            return
        known = [m.split(":")[0] for m in self.owner.models]
        if model.startswith("missing") or model.split(":")[0] not in known:
            self._json(404, {"error": f"model '{model}' not found"})
            return
        if model.startswith("notools") and body.get("tools"):
            self._json(400, {"error": f"registry.ollama.ai/library/{model}:latest does not support tools"})
            return
        messages = body.get("messages")
        if not messages:
            self._json(200, {"model": model, "created_at": _now(), "message": {"role": "assistant", "content": ""},
                             "done_reason": "unload" if body.get("keep_alive") in (0, 0.0) else "load",
                             "done": True})
            return
        reply: Reply | None = None
        if self.owner.replies:
            reply = self.owner.replies.popleft()
        elif self.owner.chat_handler is not None:
            reply = self.owner.chat_handler(body)
        if reply is None:
            reply = self._default_reply(model, body)
        if reply.kind in ("flood", "flood_line", "trickle"):
            self._endless(model, reply)
            return
        if reply.delay_s:
            # A hung server: nothing at all until the delay passes (or the test server stops).
            self.owner._stopping.wait(reply.delay_s)
        if reply.kind == "error":
            self._json(reply.status, {"error": reply.text})
            return
        stream = body.get("stream", True)
        pieces, tool_calls = self._pieces(reply)
        if not stream:
            msg: dict[str, Any] = {"role": "assistant", "content": "".join(pieces)}
            if tool_calls:
                msg["tool_calls"] = tool_calls
            self._json(200, {"model": model, "created_at": _now(), "message": msg, "done": True,
                             "done_reason": reply.done_reason, **self._metrics(len(pieces))})
            return
        self._start_stream()
        try:
            if tool_calls:
                self._chunk({"model": model, "created_at": _now(),
                             "message": {"role": "assistant", "content": "", "tool_calls": tool_calls}, "done": False})
            for i, piece in enumerate(pieces):
                self._chunk({"model": model, "created_at": _now(),
                             "message": {"role": "assistant", "content": piece}, "done": False})
                if reply.kind == "midstream_error" and i == 1:
                    self._chunk({"error": reply.text or "an error was encountered while running the model"})
                    self._end_stream()
                    return
            if reply.kind != "no_done":
                self._chunk({"model": model, "created_at": _now(), "message": {"role": "assistant", "content": ""},
                             "done": True, "done_reason": reply.done_reason, **self._metrics(len(pieces))})
            self._end_stream()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _endless(self, model: str, reply: Reply) -> None:
        """A hostile server: output without end, until a write fails because the client hung up."""
        self._start_stream()
        if reply.kind == "flood_line":
            head = json.dumps({"model": model, "created_at": _now(),
                               "message": {"role": "assistant", "content": ""}})[:-2].encode()
            first, piece = head, b"A" * 65536
        else:
            obj = {"model": model, "created_at": _now(), "message": {"role": "assistant",
                                                                    "content": reply.text or "more "}, "done": False}
            first = piece = json.dumps(obj).encode() + b"\n"
        data = first
        try:
            while not self.owner._stopping.is_set():
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
                self.owner.streamed_bytes += len(data)
                data = piece
                if reply.kind == "trickle":
                    self.owner._stopping.wait(reply.delay_s or 0.05)
        except OSError:  # BrokenPipeError, ConnectionResetError: the client closed the connection
            self.owner.client_went_away.set()

    @staticmethod
    def _metrics(n: int) -> dict[str, int]:
        return {"total_duration": 5_123_456_789, "load_duration": 12_345_678, "prompt_eval_count": 42,
                "prompt_eval_duration": 98_765_432, "eval_count": max(1, n), "eval_duration": 1_234_567_890}

    def _pieces(self, reply: Reply) -> tuple[list[str], list[dict[str, Any]]]:
        tool_calls: list[dict[str, Any]] = []
        if reply.kind == "tool" and reply.tool:
            call_id = "call_" + "".join(random.choices(string.ascii_lowercase + string.digits, k=8))
            tool_calls = [{"id": call_id, "function": {"index": 0, "name": reply.tool[0], "arguments": reply.tool[1]}}]
            return [], tool_calls
        text = json.dumps(reply.obj) if reply.kind == "json" else reply.text
        if reply.kind == "json":
            # Structured output arrives in fragments, like real grammar-constrained decoding.
            return [text[i:i + 7] for i in range(0, len(text), 7)] or [""], []
        words = re.findall(r"\S+\s*|\s+", text)
        return words or [""], []

    def _default_reply(self, model: str, body: dict[str, Any]) -> Reply:
        if model.startswith("midstream-error"):
            return Reply("midstream_error", text="one two three four five")
        fmt = body.get("format")
        if isinstance(fmt, dict):
            return Reply("json", obj=synthesize(fmt))
        if fmt == "json":
            return Reply("json", obj={})
        tools = body.get("tools") or []
        if tools and not any(m.get("role") == "tool" for m in body["messages"]):
            fn = tools[0]["function"]
            params = fn.get("parameters") or {}
            return Reply("tool", tool=(fn["name"], synthesize(params) if params else {}))
        last = next((m for m in reversed(body["messages"]) if m.get("role") == "user"), {"content": ""})
        return Reply("text", text=f"echo: {str(last.get('content'))[-200:]}")


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + generous(timeout)
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
