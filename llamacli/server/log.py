"""One line per request on stderr: method, path, status, model, tokens, tok/s, time to first token, time.

A pure ASGI middleware around everything else: it sees the status when the response starts and prints
when the response's last byte is sent (a stream's end, not its start), or when the request failed.
`--json-log` prints the same fields as one JSON object.
"""

from __future__ import annotations

import json
import logging
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
        except Exception as e:  # a bug: the 500 is sent by Starlette's outermost middleware, after this line
            if not printed:
                printed = True
                scope.setdefault("llamacli.log", {}).setdefault("error", f"{type(e).__name__}: {e}")
                self._print(scope, status or 500, started)
            raise
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
        rest = " ".join(f"{key}={_value(value)}" for key, value in record.items() if value is not None)
        self.write(f"{head} {rest}")


def _value(value: Any) -> str:
    """VALUE for a key=value field: quoted when it has spaces (an error's words), so fields stay apart."""
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if not text or " " in text or '"' in text else text


class _OneLine(logging.Handler):
    """uvicorn's own messages (a stop that had to cancel, a server bug) as one line through WRITE."""

    def __init__(self, write: Callable[[str], None], as_json: bool, debug: bool) -> None:
        super().__init__(logging.INFO)
        self.write, self.as_json, self.debug = write, as_json, debug

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().strip()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message = f"{message}: {type(error).__name__}: {error}"
            if self.debug:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
        if self.as_json:
            self.write(json.dumps({"message": message, "level": record.levelname.lower()}, ensure_ascii=False))
        else:
            self.write(message)


def route_uvicorn_log(write: Callable[[str], None], as_json: bool = False, debug: bool = False) -> None:
    """Send uvicorn's warnings and errors through WRITE, one line each (its tracebacks only with DEBUG)."""
    logger = logging.getLogger("uvicorn")
    logger.handlers = [_OneLine(write, as_json, debug)]
    logger.propagate = False
