"""The door: the Host header, the API key and the body's size, checked before any handler runs.

A pure ASGI middleware, so a refused request never reaches routing or parsing. The Host check stops DNS
rebinding (ollama's CVE-2024-28224: a web page whose name resolves to 127.0.0.1 talking to a loopback
server); the key is compared in constant time; the body limit counts what arrives, not what
Content-Length claims.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llamacli.server.config import ServerConfig
from llamacli.server.errors import ApiError

OPEN_PATHS = ("/health",)  # answered without a key: load balancers and `serve`'s own readiness check


class BodyTooLarge(Exception):
    """The body grew past the limit while it was being read."""


class Guard:
    """Refuses requests with a foreign Host, without the API key, or with a body over the limit."""

    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        self.hosts = config.host_names()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _send_error(scope, send, refusal)
            return
        limit = self.config.max_body
        if int(headers.get("content-length") or 0) > limit:
            await _send_error(scope, send, _too_large(limit))
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLarge:
            await _send_error(scope, send, _too_large(limit))

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> ApiError | None:
        host = headers.get("host", "")
        if host.lower() not in self.hosts:
            return ApiError(403, f"Host {host!r} is not this server's name", "forbidden", code="invalid_host")
        key = self.config.api_key
        if key and scope["path"] not in OPEN_PATHS and scope["method"] != "OPTIONS":
            given = headers.get("authorization", "")
            token = given[7:] if given[:7].lower() == "bearer " else ""
            if not hmac.compare_digest(token.encode(), key.encode()):
                return ApiError(
                    401,
                    "missing or wrong API key (send it as 'Authorization: Bearer KEY')",
                    "authentication_error",
                    code="invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return None


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the body is larger than {limit // (1024 * 1024)} MiB", code="body_too_large")


async def _send_error(scope: Scope, send: Send, error: ApiError) -> None:
    ollama = scope["path"].startswith("/api/")
    content: dict[str, Any] = {"error": error.message} if ollama else error.body()
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    scope.setdefault("llamacli.log", {})["error"] = error.message
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
