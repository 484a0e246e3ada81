"""Start the server: bind the socket, load the named models, serve until Ctrl-C or SIGTERM, drain, exit.

Stopping, as measured: uvicorn closes the socket at the signal, then waits for running responses up to
its graceful timeout and cancels what is left. A cancelled stream is a connection dropped mid-chunk
(the client sees a protocol error, not an answer), so the server ends them itself first: DRAIN seconds
after the signal every running request hears "the server is shutting down" (a stream: an error event
and `[DONE]`; a whole answer: a 500), from the event loop, so even while an engine is in the middle of
a step, and the engines close. Then the models are freed once their engine's step is done, and the
process exits 0: 3.3-3.7 s after the signal here, more when one step is slow (a CPU shared with other
busy processes). uvicorn's own timeout stays behind that as the backstop. uvicorn also raises the
stopping signal again once it is done (so a default handler would kill the process: exit -15, or a
KeyboardInterrupt); here that stop is the expected way out, so the re-raised signal lands on a handler
that does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import socket
from collections.abc import Callable, Iterator

import uvicorn

from llamacli.errors import EngineFailure
from llamacli.server import generation
from llamacli.server.config import ServerConfig
from llamacli.server.log import route_uvicorn_log
from llamacli.services import loading
from llamacli.services.model_pool import ModelPool

BACKSTOP = 1.0  # seconds uvicorn waits after the drain before cancelling what still runs


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
    from llamacli.server.app import build

    pool = ModelPool(config.pool, feedback)
    try:
        for name in config.models:
            pool.preload(name)
        if config.guard is not None:  # the guard too, kept loaded: every request needs it
            pool.preload(config.guard)
        app = build(config, pool)
        route_uvicorn_log(config.log, as_json=config.json_log, debug=config.debug)
        uvicorn_config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=math.ceil(config.drain_seconds + BACKSTOP),
            lifespan="on",
        )
        server = _Server(uvicorn_config, pool, config.drain_seconds)
        ready()
        with _stops_quietly():
            server.run(sockets=[sock])
    finally:
        pool.close()


class _Server(uvicorn.Server):
    """uvicorn's server, which ends the requests still running DRAIN seconds into its shutdown."""

    def __init__(self, config: uvicorn.Config, pool: ModelPool, drain: float) -> None:
        super().__init__(config)
        self.pool, self.drain = pool, drain

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown, with the engines closed at the drain's end if it is still waiting."""
        cut = asyncio.create_task(self._cut_after_drain())
        try:
            await super().shutdown(sockets)
        finally:
            cut.cancel()

    async def _cut_after_drain(self) -> None:
        await asyncio.sleep(self.drain)
        generation.end_all(EngineFailure("the server is shutting down"))
        for runner in self.pool.loaded():
            await asyncio.to_thread(runner.engine.close)  # its jobs hear EngineFailure; new ones ServerBusy


@contextlib.contextmanager
def _stops_quietly() -> Iterator[None]:
    """SIGINT and SIGTERM, once uvicorn has handled them and raises them again, do nothing (module docstring)."""
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, _ignore) for sig in stops}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(sig: int, frame: object) -> None:
    """A signal handler that does nothing."""
