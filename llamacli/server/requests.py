"""Reading a request: its JSON body validated against a protocol model, and what handlers share."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from llamacli.engine.chat_template import Message
from llamacli.engine.params import GenerationParams
from llamacli.server.config import ServerConfig
from llamacli.server.errors import ApiError
from llamacli.services.model_pool import ModelPool

M = TypeVar("M", bound=BaseModel)


async def parse(request: Request, model: type[M]) -> M:
    """The body of REQUEST as MODEL; ApiError 400 naming the first problem (never a traceback)."""
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ApiError(400, f"the body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ApiError(400, f"{where}: {message}", param=where) from None


def config_of(request: Request) -> ServerConfig:
    """The server's configuration."""
    config: ServerConfig = request.app.state.config
    return config


def pool_of(request: Request) -> ModelPool:
    """The server's model pool."""
    pool: ModelPool = request.app.state.pool
    return pool


def model_name(request: Request, asked: str | None) -> str | None:
    """The model a request means: the name it gives, else the first model `serve` was started with."""
    if asked:
        return asked
    config = config_of(request)
    return config.models[0] if config.models else None


def with_system(messages: list[Message], system: str | None) -> list[Message]:
    """MESSAGES with the configured system prompt first, when they bring none of their own."""
    if system and not any(m.role == "system" for m in messages):
        return [Message("system", system), *messages]
    return messages


def sampling(defaults: GenerationParams, **given: Any) -> GenerationParams:
    """DEFAULTS with the values a request gave (None: not given)."""
    return dataclasses.replace(defaults, **{k: v for k, v in given.items() if v is not None})


def note(request: Request, **fields: Any) -> None:
    """Add FIELDS to the request's log line (log.py prints it when the response ends)."""
    record: dict[str, Any] = request.scope.setdefault("llamacli.log", {})
    record.update(fields)
