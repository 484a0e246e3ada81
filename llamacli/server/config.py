"""What `serve` was asked for: where to listen, who may call it, and how the pool loads models."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llamacli.engine.params import GenerationParams
from llamacli.errors import LlamacliError
from llamacli.services.model_pool import PoolConfig

LOOPBACK = ("127.0.0.1", "::1", "localhost")
MAX_BODY_BYTES = 8 * 1024 * 1024  # far beyond any context window's worth of text (1M tokens ≈ 4 MiB)


def is_loopback(host: str) -> bool:
    """Whether HOST only accepts connections from this machine."""
    return host in LOOPBACK or host.startswith("127.")


@dataclass(frozen=True)
class ServerConfig:
    """The server's settings, resolved by the CLI (flags over config.toml over defaults)."""

    pool: PoolConfig
    host: str = "127.0.0.1"
    port: int = 11435
    api_key: str | None = None  # required as a Bearer token on every route but /health when set
    cors_origins: tuple[str, ...] = ()  # no CORS headers unless origins are named
    models: tuple[str, ...] = ()  # loaded at start and kept; the first answers requests that name none
    defaults: GenerationParams = field(default_factory=GenerationParams)  # sampling a request does not set
    system: str | None = None  # the configured system prompt, for chats that bring none
    guard: str | None = None  # the guard model screening every prompt and answer (serve --guard); None: none
    json_log: bool = False
    max_body: int = MAX_BODY_BYTES
    drain_seconds: float = 3.0  # on Ctrl-C/SIGTERM: how long running requests may finish before being ended
    debug: bool = False  # a server bug's log line carries its traceback
    words: Callable[[LlamacliError], str] = str  # a domain error in one line (the CLI's table)
    log: Callable[[str], None] = print  # where request lines go (stderr)
    version: str = "0"

    def host_names(self) -> set[str]:
        """The Host header values a request to a loopback server may carry (DNS rebinding: a name resolving
        to us is not enough)."""
        names = {self.host, "localhost", "127.0.0.1", "[::1]"}
        return names | {f"{name}:{self.port}" for name in names}

    def notice(self, message: str, **fields: Any) -> None:
        """A log line that is not a request's (listening, a model unloaded): a JSON object with --json-log."""
        self.log(json.dumps({"message": message, **fields}, ensure_ascii=False) if self.json_log else message)
