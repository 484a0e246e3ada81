"""Starting a chat: the conversation to carry on (if any) and its model, for `chat` and `run MODEL` alike.

The model is the one named, else the continued conversation's, else the configured or picked one; it and
every later `/model` come through the loading service, so a chat pulls, warns and fits as `run` does.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping

from llamacli.engine.params import GenerationParams, LoadParams
from llamacli.history.database import History
from llamacli.services import loading
from llamacli.services.chat import ChatSession, Notice, conversation_to_continue


def start(
    history: History,
    reference: str | None,
    load: LoadParams,
    gen: GenerationParams,
    policy: loading.Policy,
    feedback: loading.Feedback,
    notify: Callable[[Notice], None],
    *,
    system: str | None = None,
    resume: bool = False,
    conversation: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> ChatSession:
    """A session on HISTORY, continuing CONVERSATION (or the latest) when RESUME, with its model loaded."""
    past = conversation_to_continue(history, conversation) if resume else None
    local, model = loading.open_model(reference or (past.model if past else None), load, policy, feedback, env)
    # --lora is for the model the chat starts with; a /model gets its own models.toml adapters only.
    chat_loader = loading.loader(dataclasses.replace(load, adapters=()), policy, feedback, env)
    session = ChatSession(model, local, gen, history, chat_loader, system=system, notify=notify)
    if past:
        session.continue_from(past)
    return session
