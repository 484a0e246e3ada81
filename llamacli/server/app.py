"""The ASGI application: routes of both protocols behind the guard and the request log."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from llamacli.server import ollama_routes, openai_routes
from llamacli.server.config import ServerConfig
from llamacli.server.errors import ApiError
from llamacli.server.log import RequestLog
from llamacli.server.security import Guard
from llamacli.services.model_pool import ModelPool

SWEEP_EVERY = 1.0  # seconds between keep-alive checks


async def health(request: Request) -> Response:
    """200 once the server answers (no key needed): the models loaded and the requests running."""
    pool: ModelPool = request.app.state.pool
    loaded = []
    for runner in pool.loaded():
        load = runner.engine.load()
        loaded.append({"model": runner.name, "active": load.active, "queued": load.queued, "slots": load.slots})
    return JSONResponse({"status": "ok", "models": loaded})


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    request.scope.setdefault("llamacli.log", {})["error"] = exc.message
    return exc.response(ollama=request.url.path.startswith("/api/"))


async def _unexpected(request: Request, exc: Exception) -> Response:
    """A bug, not the client's fault: a one-line 500 (the log has the type), never a traceback to the client."""
    error = ApiError(500, f"internal error ({type(exc).__name__})", "server_error", code="internal_error")
    request.scope.setdefault("llamacli.log", {})["error"] = f"{type(exc).__name__}: {exc}"
    return error.response(ollama=request.url.path.startswith("/api/"))


async def _not_found(request: Request, exc: Exception) -> Response:
    error = ApiError(404, f"no route {request.method} {request.url.path}", code="not_found")
    return error.response(ollama=request.url.path.startswith("/api/"))


async def _not_allowed(request: Request, exc: Exception) -> Response:
    error = ApiError(405, f"{request.method} is not allowed on {request.url.path}", code="method_not_allowed")
    return error.response(ollama=request.url.path.startswith("/api/"))


def build(config: ServerConfig, pool: ModelPool) -> Starlette:
    """The app for CONFIG, serving POOL's models."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_sweep(pool, config))
        try:
            yield
        finally:
            sweeper.cancel()

    middleware = [Middleware(RequestLog, write=config.log, as_json=config.json_log)]
    if config.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.cors_origins),
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["authorization", "content-type"],
            )
        )
    middleware.append(Middleware(Guard, config=config))
    routes = [
        Route("/health", health, methods=["GET"]),
        *openai_routes.routes,
        *ollama_routes.routes,
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, Exception: _unexpected, 404: _not_found, 405: _not_allowed},
    )
    app.state.config = config
    app.state.pool = pool
    return app


async def _sweep(pool: ModelPool, config: ServerConfig) -> None:
    """Unload models whose keep-alive ran out."""
    while True:
        await asyncio.sleep(SWEEP_EVERY)
        for name in await asyncio.to_thread(pool.sweep):
            config.log(f"unloaded {name} (keep-alive ran out)")
