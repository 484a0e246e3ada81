"""A small OpenAI-compatible server on loopback that misbehaves on purpose, for the remote client's tests.

Standard library only (http.server in a thread), no model: what it answers is set per test with `mode`:
`ok` streams a short answer; `cut` drops the connection mid-answer; `bad_json` and `not_sse` send what is not
the API's stream; `busy` answers 429 with Retry-After for the first `busy_times` requests; `busy_long` asks to
wait an hour; `auth` wants `Bearer <key>`; `missing` is a 404 for the model (its /v1/models lists `models`);
`slow` streams a token every 0.1 s for a long time; `llamacpp` also answers /props and sends `timings`.
Every request is recorded (method, path, headers, JSON body).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = ["Hello", ",", " remote", " world", "!"]


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any = None


@dataclass
class FaultServer:
    """The server's state: its mode, what it has seen, and the port it listens on."""

    mode: str = "ok"
    key: str = "secret-key-123"
    models: list[str] = field(default_factory=lambda: ["alpha", "beta"])
    busy_times: int = 1
    retry_after: str = "1"
    seen: list[Seen] = field(default_factory=list)
    disconnected: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def chats(self) -> list[Seen]:
        return [s for s in self.seen if s.path == "/v1/chat/completions"]

    def start(self) -> FaultServer:
        state = self

        class Handler(_Handler):
            server_state = state

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    server_state: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _record(self) -> Seen:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        seen = Seen(self.command, self.path, dict(self.headers), body)
        self.server_state.seen.append(seen)
        return seen

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, text in (headers or {}).items():
            self.send_header(name, text)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._record()
        state = self.server_state
        if self.path == "/v1/models":
            self._json(
                200,
                {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "faults"} for m in state.models]},
            )
        elif self.path == "/props" and state.mode == "llamacpp":
            self._json(200, {"default_generation_settings": {"n_ctx": 2048}, "build_info": "b1-test"})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        seen = self._record()
        state, mode = self.server_state, self.server_state.mode
        if mode == "auth" and seen.headers.get("Authorization") != f"Bearer {state.key}":
            self._json(401, {"error": {"message": "invalid api key"}})
        elif mode == "missing":
            self._json(404, {"error": {"message": f"model {seen.body.get('model')!r} not found"}})
        elif mode == "busy" and len(state.chats()) <= state.busy_times:
            self._json(429, {"error": {"message": "slow down"}}, {"Retry-After": state.retry_after})
        elif mode == "busy_long":
            self._json(503, {"error": {"message": "overloaded"}}, {"Retry-After": "3600"})
        else:
            self._stream(mode)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, value: Any) -> None:
        self._chunk(b"data: " + json.dumps(value).encode() + b"\n\n")

    def _stream(self, mode: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        words = WORDS * 200 if mode == "slow" else WORDS
        try:
            self._event({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
            for i, word in enumerate(words):
                if mode == "cut" and i == 3:
                    self.wfile.flush()
                    self.connection.shutdown(2)  # mid-answer, without the last chunk: a cut stream
                    return
                if mode == "bad_json" and i == 2:
                    self._chunk(b'data: {"choices": [{"delta": {"content": "oops\n\n')
                    break
                if mode == "not_sse" and i == 2:
                    self._chunk(b"<html>proxy error</html>\n\n")
                    break
                self._event({"choices": [{"index": 0, "delta": {"content": word}}]})
                if mode == "slow":
                    time.sleep(0.1)
            last: dict[str, Any] = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            if mode == "llamacpp":
                last["timings"] = {
                    "prompt_n": 7,
                    "cache_n": 3,
                    "prompt_ms": 20.0,
                    "predicted_n": 5,
                    "predicted_ms": 50.0,
                }
            self._event(last)
            self._event({"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.server_state.disconnected.set()
