"""The ollama API: /api/chat and /api/generate as NDJSON streams or whole, and the model routes' table.

What ollama's server answers (server/routes.go), on the same pool and engine as the OpenAI routes: a
request with no messages (chat) or no prompt (generate) loads the model and answers done_reason "load";
with keep_alive 0 as well it unloads it ("unload"). The last object of an answer carries ollama's
metrics, durations in nanoseconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from llamacli.engine.chat_template import Message
from llamacli.engine.events import Event, Finished, Stats
from llamacli.engine.model import Model
from llamacli.engine.params import DEFAULT_CTX, GenerationParams
from llamacli.errors import LlamacliError
from llamacli.server import generation, guarding, ollama_manage, ollama_models
from llamacli.server.config import ServerConfig
from llamacli.server.errors import ApiError
from llamacli.server.ollama_schemas import ChatRequest, GenerateRequest, Options
from llamacli.server.requests import config_of, grammar_of, model_name, note, parse, pool_of, sampling, with_system
from llamacli.services.model_pool import ModelPool

NDJSON = "application/x-ndjson"


async def chat(request: Request) -> Response:
    """`POST /api/chat`."""
    body = await parse(request, ChatRequest)
    if not body.messages:
        return await _load_or_unload(request, body.model, body.keep_alive, _Reply(chat=True))
    messages = with_system([Message(m.role, m.content) for m in body.messages], config_of(request).system)

    def prompt(model: Model) -> list[int]:
        return model.render(messages)

    return await _answer(request, body, prompt, messages, _Reply(chat=True))


async def generate(request: Request) -> Response:
    """`POST /api/generate`: the prompt through the chat template as one user turn, or as it is when `raw`."""
    body = await parse(request, GenerateRequest)
    if not body.prompt:
        return await _load_or_unload(request, body.model, body.keep_alive, _Reply(chat=False))
    messages = with_system([Message("user", body.prompt)], body.system or config_of(request).system)

    def prompt(model: Model) -> list[int]:
        return model.tokenize(body.prompt) if body.raw else model.render(messages)

    return await _answer(request, body, prompt, messages, _Reply(chat=False))


async def _answer(
    request: Request,
    body: ChatRequest | GenerateRequest,
    prompt: generation.Prompt,
    said: list[Message],
    reply: _Reply,
) -> Response:
    config = config_of(request)
    name = model_name(request, body.model)
    note(request, model=name)
    params = dataclasses.replace(_params(config, body.options), grammar=grammar_of(request, body.format, "format"))
    await guarding.prompt(request, said)  # with serve --guard: refused before generation when unsafe
    started = await generation.start(pool_of(request), name, prompt, params, config.words, body.keep_alive)
    events = await guarding.answer(request, started, said)
    reply.model = body.model or started.runner.name
    reply.load_seconds = started.started - reply.began
    if not body.stream:
        text, finished = await generation.collect(events)
        note(request, **generation.log_fields(finished.stats))
        return JSONResponse(reply.final(text, finished))
    lines = _ndjson(request, reply, events, config.words)
    return StreamingResponse(lines, media_type=NDJSON, background=BackgroundTask(started.close))


def _params(config: ServerConfig, options: Options) -> GenerationParams:
    """The server's sampling defaults with what OPTIONS set (ollama's names)."""
    last_n = options.repeat_last_n
    if last_n == -1:  # ollama's "the whole window"
        last_n = config.pool.params.n_ctx or DEFAULT_CTX
    limit = options.num_predict
    params = sampling(
        config.defaults,
        temperature=options.temperature,
        top_p=options.top_p,
        top_k=options.top_k,
        min_p=options.min_p,
        seed=options.seed,
        max_tokens=limit if limit is not None and limit > 0 else None,
        stop=options.stops() or None,
        repeat_penalty=options.repeat_penalty,
        repeat_last_n=last_n,
    )
    if limit is not None and limit <= 0:  # ollama's -1 (and -2): no limit but the window, whatever the default
        params = dataclasses.replace(params, max_tokens=None)
    return params


async def _ndjson(
    request: Request, reply: _Reply, events: AsyncIterator[Event], words: Callable[[LlamacliError], str]
) -> AsyncIterator[str]:
    """The answer as newline-delimited JSON: one object per piece of text, then the final one with metrics."""
    try:
        async for event in events:
            if isinstance(event, Finished):
                note(request, **generation.log_fields(event.stats))
                yield _line(reply.final("", event))
            else:
                yield _line(reply.piece(event.text))
    except LlamacliError as e:
        yield _line({"error": words(e)})  # ollama's clients raise ResponseError on an object with "error"


def _line(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False) + "\n"


async def _load_or_unload(request: Request, asked: str, keep_alive: float | None, reply: _Reply) -> Response:
    """Nothing to generate: load the model (ollama's preload), or unload it when keep_alive is 0."""
    config, pool = config_of(request), pool_of(request)
    name = model_name(request, asked)
    note(request, model=name)
    if keep_alive == 0:
        if not name:
            raise ApiError(400, "model is required", param="model")
        await asyncio.to_thread(_unload, pool, name)
        reply.model = asked or name
        return JSONResponse(reply.done("unload"))
    runner = await generation.load(pool, name, config.words, keep_alive)
    reply.model = asked or runner.name
    return JSONResponse(reply.done("load"))


def _unload(pool: ModelPool, name: str) -> None:
    """Unload NAME now if idle; if requests still use it (or it was loaded by another name), when they end."""
    if pool.unload(name):
        return
    if any(runner.name == name for runner in pool.loaded()):
        runner = pool.acquire(name, 0)  # already loaded: sets its keep-alive to 0, so the last release unloads
        pool.release(runner)


class _Reply:
    """The envelope shared by every object of one answer (chat: `message`, generate: `response`)."""

    def __init__(self, chat: bool) -> None:
        self.chat = chat
        self.model = ""
        self.began = time.perf_counter()
        self.load_seconds = 0.0

    def piece(self, text: str) -> dict[str, Any]:
        """A streamed piece of the answer (or, with done set later, the whole of it)."""
        head = {"model": self.model, "created_at": ollama_models.rfc3339(time.time())}
        body = {"message": {"role": "assistant", "content": text}} if self.chat else {"response": text}
        return {**head, **body, "done": False}

    def done(self, reason: str) -> dict[str, Any]:
        """The object that ends an answer, without metrics (load, unload)."""
        return {**self.piece(""), "done": True, "done_reason": reason}

    def final(self, text: str, finished: Finished) -> dict[str, Any]:
        """The last object: the TEXT not yet sent, why it stopped, and ollama's metrics."""
        return {**self.piece(text), "done": True, "done_reason": finished.reason, **self._metrics(finished.stats)}

    def _metrics(self, stats: Stats) -> dict[str, int]:
        return {
            "total_duration": _ns(time.perf_counter() - self.began),
            "load_duration": _ns(self.load_seconds),
            "prompt_eval_count": stats.prompt_tokens,
            "prompt_eval_duration": _ns(stats.prompt_seconds),
            "eval_count": stats.generated_tokens,
            "eval_duration": _ns(stats.generation_seconds),
        }


def _ns(seconds: float) -> int:
    return max(0, round(seconds * 1e9))


routes = [
    Route("/", ollama_models.root, methods=["GET"]),  # Starlette answers HEAD for every GET route
    Route("/api/version", ollama_models.version, methods=["GET"]),
    Route("/api/tags", ollama_models.tags, methods=["GET"]),
    Route("/api/show", ollama_models.show, methods=["POST"]),
    Route("/api/ps", ollama_models.ps, methods=["GET"]),
    Route("/api/chat", chat, methods=["POST"]),
    Route("/api/generate", generate, methods=["POST"]),
    Route("/api/pull", ollama_manage.pull, methods=["POST"]),
    Route("/api/delete", ollama_manage.delete, methods=["DELETE"]),
]
