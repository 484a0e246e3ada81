"""Start the server: bind the socket, load the named models, serve until Ctrl-C or SIGTERM, drain, exit."""

from __future__ import annotations

import socket
from collections.abc import Callable

from llamacli.server.config import ServerConfig
from llamacli.services import loading
from llamacli.services.model_pool import ModelPool


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on HOST:PORT (0: a free port), IPv6 when HOST is one; OSError if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(
    config: ServerConfig, sock: socket.socket, feedback: loading.Feedback, ready: Callable[[], None] = lambda: None
) -> None:
    """Serve CONFIG on SOCK until stopped; the named models are loaded first (their errors raise before any
    request is answered), then READY is called."""
    import uvicorn

    from llamacli.server.app import build

    pool = ModelPool(config.pool, feedback)
    try:
        for name in config.models:
            pool.preload(name)
        app = build(config, pool)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_config=None,
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=int(max(1, config.drain_seconds)),
                lifespan="on",
            )
        )
        ready()
        server.run(sockets=[sock])
    finally:
        pool.close()
