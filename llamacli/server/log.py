"""One line per request on stderr: method, path, status, model, tokens, tok/s, time to first token, time.

A pure ASGI middleware around everything else: it sees the status when the response starts and prints
when the response's last byte is sent (a stream's end, not its start), or when the request failed.
`--json-log` prints the same fields as one JSON object.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestLog:
    """Prints a line per HTTP request through WRITE."""

    def __init__(self, app: ASGIApp, write: Callable[[str], None], as_json: bool = False) -> None:
        self.app, self.write, self.as_json = app, write, as_json

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        printed = False

        async def observed(message: Message) -> None:
            nonlocal status, printed
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body") and not printed:
                printed = True
                self._print(scope, status, started)

        try:
            await self.app(scope, receive, observed)
        finally:
            if not printed:  # the client went away mid-stream, or the server is stopping
                self._print(scope, status or 499, started, cut=True)

    def _print(self, scope: Scope, status: int, started: float, cut: bool = False) -> None:
        record: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            **scope.get("llamacli.log", {}),
            "seconds": round(time.perf_counter() - started, 3),
        }
        if cut:
            record["cut"] = True
        if self.as_json:
            self.write(json.dumps(record, ensure_ascii=False))
            return
        head = f"{record.pop('method')} {record.pop('path')} {record.pop('status')}"
        rest = " ".join(f"{key}={value}" for key, value in record.items() if value is not None)
        self.write(f"{head} {rest}")
