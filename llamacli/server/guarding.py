"""`serve --guard`: a request's prompt screened before generation and its answer after it, by the guard model
leased from the pool and run on its batched engine like any generation (the decisions: services/guard.py).

A guarded answer is generated whole before a byte of it is sent, streamed or not: so a blocked answer is a
400 like a blocked prompt (code "content_blocked"), never a stream cut in the middle.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from starlette.requests import Request

from llamacli.engine.chat_template import Message
from llamacli.engine.events import Event, TextDelta
from llamacli.errors import LlamacliError
from llamacli.server import generation
from llamacli.server.errors import from_domain
from llamacli.server.requests import config_of, note, pool_of
from llamacli.services import guard
from llamacli.services.guard_format import Role
from llamacli.services.model_pool import FOREVER


async def screen(request: Request, text: str, role: Role, conversation: Sequence[Message] = ()) -> None:
    """Ask the guard about TEXT (ROLE's turn after CONVERSATION), when the server has one; ApiError 400
    content_blocked naming the categories when it is unsafe."""
    config = config_of(request)
    if config.guard is None:
        return
    stage = "prompt" if role == "user" else "answer"

    def prompt(model: guard.GuardModel) -> list[int]:
        return guard.prompt_tokens(model, text, role, conversation)[0]

    started = await generation.start(pool_of(request), config.guard, prompt, guard.params_for, config.words, FOREVER)
    try:
        answer, _ = await generation.collect(started.events())
        verdict = guard.judge(started.runner.name, stage, answer)
    except LlamacliError as e:
        raise from_domain(e, config.words) from None
    note(request, **{f"guard_{stage}": verdict.line()})


async def prompt(request: Request, said: Sequence[Message]) -> None:
    """Screen the last user message of SAID (the request's conversation) before generation."""
    text, before = guard.last_turn(said)
    await screen(request, text, "user", before)


async def answer(request: Request, started: generation.Generation, said: Sequence[Message]) -> AsyncIterator[Event]:
    """STARTED's events: as they come without a guard; with one, generated whole, screened as the answer to
    SAID, then replayed (ApiError 400 before anything is sent when the answer is unsafe)."""
    if config_of(request).guard is None:
        return started.events()
    held: list[Event] = []
    try:
        held = [event async for event in started.events()]
    except LlamacliError as e:
        raise from_domain(e, config_of(request).words) from None
    text = "".join(event.text for event in held if isinstance(event, TextDelta))
    await screen(request, text, "agent", said)
    return _replay(held)


async def _replay(events: list[Event]) -> AsyncIterator[Event]:
    for event in events:
        yield event
