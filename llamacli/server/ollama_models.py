"""The ollama API's model routes: /api/tags, /api/show, /api/ps, /api/version and the `/` probe.

Shapes follow ollama's api/types.go (ListModelResponse, ShowResponse, ProcessModelResponse): a model's
`details` come from its GGUF header (cached per file by gguf_info, so listing stays cheap), its
`digest` is the sha256 the store names its blob by, else a stable hash of its path (bundled and imported
files have no verified digest).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from llamacli.base import paths
from llamacli.base.sizes import format_parameters
from llamacli.engine.params import GenerationParams
from llamacli.errors import LlamacliError
from llamacli.models import gguf_info
from llamacli.models.gguf_info import GGUFInfo
from llamacli.server.errors import ApiError, from_domain
from llamacli.server.ollama_schemas import ShowRequest
from llamacli.server.requests import config_of, model_name, parse, pool_of
from llamacli.services import models as models_service
from llamacli.services.model_pool import Runner

FOREVER_AT = "9999-12-31T23:59:59Z"  # expires_at of a model kept until the server stops (ollama's CLI: "Forever")
_BLOB = re.compile(r"sha256-([0-9a-f]{64})\.gguf$")
_TOKEN_KEYS = {"sep": "seperator"}  # GGUF's own spelling of tokenizer.ggml.seperator_token_id


def rfc3339(timestamp: float) -> str:
    """TIMESTAMP (seconds since the epoch) as ollama writes times: RFC 3339, UTC."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def digest(path: Path) -> str:
    """The file's sha256 when the store named its blob by it; else a stable hex of its path."""
    found = _BLOB.search(path.name)
    return found.group(1) if found else hashlib.sha256(str(path).encode()).hexdigest()


def _header(path: Path) -> GGUFInfo | None:
    """PATH's GGUF header (cached per file), or None when it cannot be read (a listing still shows the file)."""
    try:
        return gguf_info.read(path, paths.cache_dir())
    except (LlamacliError, OSError):
        return None


def details(info: GGUFInfo | None, quant: str | None = None, parameters: int | None = None) -> dict[str, Any]:
    """ollama's ModelDetails for a GGUF with header INFO."""
    family = info.architecture if info else ""
    count = parameters or (info.parameters if info else None)
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family] if family else None,
        "parameter_size": format_parameters(count) if count else "",
        "quantization_level": quant or (info.file_type if info else None) or "",
    }


async def root(request: Request) -> Response:
    """`GET /` and `HEAD /`: the probe clients use to see whether a server is up (ollama: "Ollama is running")."""
    return PlainTextResponse("llamacli is running")


async def version(request: Request) -> Response:
    """`GET /api/version`."""
    return JSONResponse({"version": config_of(request).version})


async def tags(request: Request) -> Response:
    """`GET /api/tags`: every model on this machine (bundled, pulled, imported)."""

    def listing() -> list[dict[str, Any]]:
        out = []
        for entry in models_service.list_local():
            info = _header(entry.path)
            out.append(
                {
                    "name": entry.name,
                    "model": entry.name,
                    "modified_at": rfc3339(entry.modified or entry.path.stat().st_mtime),
                    "size": entry.size,
                    "digest": digest(entry.path),
                    "details": details(info, entry.quant, entry.parameters),
                }
            )
        return out

    return JSONResponse({"models": await asyncio.to_thread(listing)})


async def show(request: Request) -> Response:
    """`POST /api/show`: a model's details, GGUF metadata, chat template and the server's sampling defaults."""
    body = await parse(request, ShowRequest)
    asked = model_name(request, body.target())
    if not asked:
        raise ApiError(400, "model is required", param="model")
    config = config_of(request)
    try:
        _, path, info = await asyncio.to_thread(models_service.show, asked)
    except LlamacliError as e:
        raise from_domain(e, config.words) from None
    answer: dict[str, Any] = {
        "license": info.license or "",
        "template": info.chat_template or "",
        "parameters": parameters(config.defaults, config.pool.params.n_ctx),
        "details": details(info),
        "model_info": model_info(info),
        "capabilities": ["completion"],
    }
    if path is not None:
        answer["modified_at"] = rfc3339(path.stat().st_mtime)
    return JSONResponse(answer)


def model_info(info: GGUFInfo) -> dict[str, Any]:
    """The GGUF header's keys as ollama's `model_info` names them (those llamacli reads)."""
    arch = info.architecture
    keys: dict[str, Any] = {
        "general.architecture": arch,
        "general.name": info.name,
        "general.parameter_count": info.parameters,
        "general.license": info.license,
        f"{arch}.context_length": info.context_length,
        f"{arch}.block_count": info.layers,
        f"{arch}.embedding_length": info.embedding_size,
        f"{arch}.attention.head_count": info.heads,
        f"{arch}.attention.head_count_kv": info.kv_heads,
        f"{arch}.attention.key_length": info.head_dim,
        f"{arch}.vocab_size": info.vocab_size,
    }
    for kind, token in info.special_tokens.items():
        if isinstance(token, dict) and "id" in token:
            keys[f"tokenizer.ggml.{_TOKEN_KEYS.get(kind, kind)}_token_id"] = token["id"]
    return {key: value for key, value in keys.items() if value is not None}


def parameters(defaults: GenerationParams, n_ctx: int | None) -> str:
    """The server's sampling defaults as a Modelfile's PARAMETER lines (ollama's `parameters` text)."""
    values: list[tuple[str, Any]] = [
        ("temperature", defaults.temperature),
        ("top_k", defaults.top_k),
        ("top_p", defaults.top_p),
        ("min_p", defaults.min_p),
        ("repeat_penalty", defaults.repeat_penalty),
        ("repeat_last_n", defaults.repeat_last_n),
    ]
    if defaults.max_tokens is not None:
        values.append(("num_predict", defaults.max_tokens))
    if n_ctx:
        values.append(("num_ctx", n_ctx))
    values += [("stop", stop) for stop in defaults.stop]
    return "\n".join(f"{key:<30} {json.dumps(value)}" for key, value in values)


async def ps(request: Request) -> Response:
    """`GET /api/ps`: the models loaded now, the one kept longest first (as ollama sorts them)."""
    now = time.time()

    def running() -> list[dict[str, Any]]:
        return [_process(runner, now) for runner in pool_of(request).loaded()]

    models = await asyncio.to_thread(running)
    models.sort(key=lambda m: m["expires_at"], reverse=True)
    return JSONResponse({"models": models})


def _process(runner: Runner, now: float) -> dict[str, Any]:
    """ollama's ProcessModelResponse for a loaded RUNNER."""
    path = runner.local.path
    # In use (no expires_at yet): its keep-alive starts when its last request ends.
    expires = FOREVER_AT if runner.keep_alive < 0 else rfc3339(runner.expires_at or now + runner.keep_alive)
    return {
        "name": runner.name,
        "model": runner.name,
        "size": runner.need or path.stat().st_size,
        "size_vram": 0,
        "digest": digest(path),
        "details": details(_header(path)),
        "expires_at": expires,
        "context_length": runner.engine.n_ctx,
    }
