"""The OpenAI API: /v1/models, /v1/chat/completions and /v1/completions, streamed as SSE or whole."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from llamacli.engine.chat_template import Message
from llamacli.engine.events import Event, Finished, Stats
from llamacli.engine.model import Model
from llamacli.errors import LlamacliError
from llamacli.server import generation, guarding
from llamacli.server.errors import from_domain
from llamacli.server.openai_schemas import ChatCompletionRequest, CompletionRequest, _Sampling
from llamacli.server.requests import config_of, grammar_of, model_name, note, parse, pool_of, sampling, with_system
from llamacli.services import models as models_service


async def list_models(request: Request) -> Response:
    """Every model on this machine (bundled, pulled, imported) and those loaded now."""
    import asyncio

    local = await asyncio.to_thread(models_service.list_local)
    names = {entry.name: int(entry.modified) for entry in local}
    for runner in pool_of(request).loaded():
        names.setdefault(runner.name, int(runner.loaded_at))
    data = [
        {"id": name, "object": "model", "created": created, "owned_by": "llamacli"} for name, created in names.items()
    ]
    return JSONResponse({"object": "list", "data": data})


async def chat_completions(request: Request) -> Response:
    """`POST /v1/chat/completions`."""
    body = await parse(request, ChatCompletionRequest)
    config = config_of(request)
    messages = with_system(
        [Message("system" if m.role == "developer" else m.role, m.text()) for m in body.messages], config.system
    )

    def prompt(model: Model) -> list[int]:
        return model.render(messages)

    grammar = grammar_of(request, body.response_format, "response_format")
    return await _complete(request, body, prompt, messages, body.token_limit(), "chat.completion", "chatcmpl", grammar)


async def completions(request: Request) -> Response:
    """`POST /v1/completions`: the prompt as it is, no chat template."""
    body = await parse(request, CompletionRequest)

    def prompt(model: Model) -> list[int]:
        return model.tokenize(body.prompt)

    said = [Message("user", body.prompt)]
    return await _complete(request, body, prompt, said, body.max_tokens, "text_completion", "cmpl")


async def _complete(
    request: Request,
    body: _Sampling,
    prompt: Callable[[Model], list[int]],
    said: list[Message],
    max_tokens: int | None,
    kind: str,
    prefix: str,
    grammar: str | None = None,
) -> Response:
    config = config_of(request)
    params = sampling(
        config.defaults,
        temperature=body.temperature,
        top_p=body.top_p,
        seed=body.seed,
        max_tokens=max_tokens,
        stop=body.stops() or None,
        ignore_eos=body.ignore_eos or None,
        grammar=grammar,
    )
    name = model_name(request, body.model)
    note(request, model=name)
    await guarding.prompt(request, said)  # with serve --guard: refused before generation when unsafe
    started = await generation.start(pool_of(request), name, prompt, params, config.words)
    events = await guarding.answer(request, started, said)
    reply = _Reply(f"{prefix}-{uuid.uuid4().hex[:24]}", kind, body.model or started.runner.name)
    if not body.stream:
        try:
            text, finished = await generation.collect(events)
        except LlamacliError as e:  # the engine failed or closed (the server is stopping) mid-answer
            raise from_domain(e, config.words) from None
        note(request, **generation.log_fields(finished.stats))
        return JSONResponse(reply.whole(text, finished))
    chunks = _sse(request, reply, events, body.include_usage(), config.words)
    return StreamingResponse(chunks, media_type="text/event-stream", background=BackgroundTask(started.close))


async def _sse(
    request: Request,
    reply: _Reply,
    events: AsyncIterator[Event],
    include_usage: bool,
    words: Callable[[LlamacliError], str],
) -> AsyncIterator[str]:
    """The answer as server-sent events: the role first (chat), text deltas, the finish, usage, [DONE]."""
    if reply.chat:
        yield _event(reply.chunk({"role": "assistant", "content": ""}, None))
    try:
        async for event in events:
            if isinstance(event, Finished):
                note(request, **generation.log_fields(event.stats))
                yield _event(reply.chunk({}, event.reason))
                if include_usage:
                    yield _event(reply.usage_chunk(event.stats))
            else:
                yield _event(reply.chunk({"content": event.text}, None))
    except LlamacliError as e:  # the stream has started: the error can only be its last event
        error = from_domain(e, words)
        note(request, error=error.message)
        yield _event(error.body())
    yield "data: [DONE]\n\n"


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


class _Reply:
    """The envelope shared by every chunk of one completion (one id)."""

    def __init__(self, id_: str, kind: str, model: str) -> None:
        self.id, self.kind, self.model = id_, kind, model
        self.created = int(time.time())
        self.chat = kind == "chat.completion"

    def _head(self, object_: str) -> dict[str, Any]:
        return {"id": self.id, "object": object_, "created": self.created, "model": self.model}

    def whole(self, text: str, finished: Finished) -> dict[str, Any]:
        """The non-streamed answer."""
        choice: dict[str, Any] = {"index": 0, "finish_reason": finished.reason, "logprobs": None}
        if self.chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return {**self._head(self.kind), "choices": [choice], "usage": usage(finished.stats)}

    def chunk(self, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        """One streamed chunk."""
        if self.chat:
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            return {**self._head("chat.completion.chunk"), "choices": [choice]}
        text = delta.get("content", "")
        choice = {"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}
        return {**self._head("text_completion"), "choices": [choice]}

    def usage_chunk(self, stats: Stats) -> dict[str, Any]:
        """The last chunk of a stream that asked for usage: no choices."""
        object_ = "chat.completion.chunk" if self.chat else "text_completion"
        return {**self._head(object_), "choices": [], "usage": usage(stats)}


def usage(stats: Stats) -> dict[str, int]:
    """OpenAI's usage object from the engine's numbers."""
    return {
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.generated_tokens,
        "total_tokens": stats.prompt_tokens + stats.generated_tokens,
        "prompt_tokens_details": {"cached_tokens": stats.cached_prompt_tokens},  # type: ignore[dict-item]
    }


routes = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/completions", completions, methods=["POST"]),
]
