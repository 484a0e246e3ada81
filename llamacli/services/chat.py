"""The chat use case: one loaded model, a conversation that is recorded as it happens, and commands.

No terminal here: `ChatSession.say` returns the events of an answer (a `Trimmed` notice first when old
turns had to go), `ChatSession.run` executes a slash command and returns a `Reply` for the CLI to show.
The model's KV cache persists between turns, so each turn only evaluates what is new (the engine reuses
the longest common prefix); when the conversation outgrows the window the oldest turns are dropped
(never the system prompt), which costs one full re-evaluation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from llamacli.chat_template import Message
from llamacli.engine import Event, Finished, GenerationParams, LoadParams, Model, TextDelta
from llamacli.errors import ChatCommandError, ContextOverflow
from llamacli.history import Conversation, History
from llamacli.locate import LocalModel
from llamacli.services import chat_commands
from llamacli.services.chat_commands import Command

FLUSH_SECONDS = 0.5  # how often a streaming answer is written to the history (a kill loses at most this)
Loader = Callable[[str], tuple[LocalModel, Model]]


@dataclass(frozen=True)
class Trimmed:
    """The oldest turns were dropped from what the model sees, to fit the context window."""

    messages: int
    n_ctx: int


ChatEvent = Event | Trimmed


@dataclass
class Turn:
    """A message of the conversation and its row in the history."""

    role: str
    content: str
    row: int = 0
    interrupted: bool = False


@dataclass(frozen=True)
class Reply:
    """What a command produced: lines to show, an answer to stream, or the end of the chat."""

    lines: tuple[str, ...] = ()
    answer: Iterator[ChatEvent] | None = None
    exit: bool = False


@dataclass
class ChatSession:
    """A conversation with a loaded model; owns the model (close() frees it)."""

    model: Model
    local: LocalModel
    params: GenerationParams
    history: History
    loader: Loader
    system: str | None = None
    show_stats: bool = True
    turns: list[Turn] = field(default_factory=list)
    conversation_id: int | None = None
    first_sent: int = 0  # turns before this index were trimmed away (still in the history)

    def continue_from(self, conversation: Conversation) -> None:
        """Carry on CONVERSATION: its turns, and its system prompt unless this session has one."""
        self.conversation_id = conversation.id
        self.system = self.system if self.system is not None else conversation.system
        self.turns = [Turn(m.role, m.content, m.id, m.interrupted) for m in conversation.messages]
        self.first_sent = 0

    def close(self) -> None:
        """Free the model."""
        self.model.close()

    # -- talking --------------------------------------------------------------------------------

    def say(self, text: str) -> Iterator[ChatEvent]:
        """Send a user message; returns the answer's events (ContextOverflow if it can never fit)."""
        self.turns.append(Turn("user", text))
        try:
            prompt, trimmed = self._fit()
        except ContextOverflow:
            self.turns.pop()
            raise
        turn = self.turns[-1]
        if self.conversation_id is None:  # the conversation and its first message are written together
            self.conversation_id, turn.row = self.history.start_conversation(self.local.name, self.system, text)
        else:
            turn.row = self.history.add_message(self.conversation_id, "user", text)
        return self._answer(prompt, trimmed)

    def _messages(self) -> list[Message]:
        head = [Message("system", self.system)] if self.system else []
        return head + [Message(t.role, t.content) for t in self.turns[self.first_sent :]]

    def _reserve(self) -> int:
        """Room kept free for the answer when deciding whether the conversation fits."""
        n_ctx = self.model.n_ctx
        wanted = self.params.max_tokens or max(n_ctx // 8, 32)
        return min(wanted, n_ctx // 2)

    def _fit(self) -> tuple[list[int], int]:
        """Prompt tokens for the conversation, dropping the oldest turns while it does not fit."""
        n_ctx, reserve = self.model.n_ctx, self._reserve()
        prompt = self.model.render(self._messages())
        if len(prompt) + reserve <= n_ctx:
            return prompt, 0
        dropped = 0
        target = n_ctx - n_ctx // 4  # drop a little more than needed, so the next turns fit without a new trim
        last_user = len(self.turns) - 1
        while len(prompt) + reserve > target and self.first_sent < last_user:
            # drop the oldest user message and everything up to the next user message
            start = self.first_sent
            self.first_sent += 1
            while self.first_sent < last_user and self.turns[self.first_sent].role != "user":
                self.first_sent += 1
            dropped += self.first_sent - start
            prompt = self.model.render(self._messages())
        if len(prompt) >= n_ctx:
            self.first_sent -= dropped
            raise ContextOverflow(len(prompt), n_ctx, self.model.n_ctx_train)
        return prompt, dropped

    def _answer(self, prompt: list[int], trimmed: int) -> Iterator[ChatEvent]:
        """Stream the answer, writing it to the history as it grows; an interruption keeps what came."""
        if trimmed:
            yield Trimmed(trimmed, self.model.n_ctx)
        conversation = self._conversation()
        row = self.history.add_message(conversation, "assistant", "", interrupted=True)
        turn = Turn("assistant", "", row, interrupted=True)
        self.turns.append(turn)
        pieces: list[str] = []
        finished: Finished | None = None
        flushed = time.monotonic()
        events = self.model.stream_tokens(prompt, self.params)
        try:
            for event in events:
                if isinstance(event, TextDelta):
                    pieces.append(event.text)
                    if time.monotonic() - flushed > FLUSH_SECONDS:
                        self.history.update_message(row, "".join(pieces), interrupted=True)
                        flushed = time.monotonic()
                else:
                    finished = event
                yield event
        finally:
            events.close()  # type: ignore[attr-defined]
            turn.content = "".join(pieces)
            turn.interrupted = finished is None
            stats = finished.stats.to_dict() if finished else None
            self.history.update_message(row, turn.content, interrupted=turn.interrupted, stats=stats)

    def _conversation(self) -> int:
        """The history id of this conversation, created with its first message."""
        if self.conversation_id is None:
            self.conversation_id = self.history.new_conversation(self.local.name, self.system)
        return self.conversation_id

    # -- commands -------------------------------------------------------------------------------

    def run(self, command: Command) -> Reply:
        """Execute a slash command; ChatCommandError (or a domain error) says what went wrong."""
        handler: Callable[[str], Reply] = getattr(self, f"_cmd_{command.name}")
        return handler(command.argument)

    def _cmd_help(self, _: str) -> Reply:
        return Reply(("Commands:", *chat_commands.help_lines()))

    def _cmd_bye(self, _: str) -> Reply:
        return Reply(exit=True)

    def _cmd_clear(self, _: str) -> Reply:
        self.turns, self.first_sent, self.conversation_id = [], 0, None
        return Reply(("New conversation (the previous one is in 'llamacli history').",))

    def _cmd_system(self, argument: str) -> Reply:
        if not argument:
            return Reply((f"System prompt: {self.system}" if self.system else "No system prompt.",))
        self.system = None if argument.lower() == "none" else argument
        if self.conversation_id is not None:
            self.history.update_conversation(self.conversation_id, model=self.local.name, system=self.system)
        return Reply(("System prompt set." if self.system else "System prompt removed.",))

    def _cmd_set(self, argument: str) -> Reply:
        self.params = chat_commands.apply_setting(self.params, argument)
        name = argument.split()[0].lower().replace("-", "_")
        return Reply((f"{name} = {getattr(self.params, name)}",))

    def _cmd_show(self, _: str) -> Reply:
        return Reply(tuple(f"{key}: {value}" for key, value in self.describe().items()))

    def describe(self) -> dict[str, Any]:
        """The model and the settings, for /show."""
        p = self.params
        return {
            "model": self.local.name,
            "path": str(self.local.path),
            "context": f"{self.model.n_ctx} tokens (trained: {self.model.n_ctx_train}), {self.model.n_threads} threads",
            "conversation": self.conversation_id if self.conversation_id is not None else "(new)",
            "messages": f"{len(self.turns)} ({self.first_sent} dropped from the context)",
            "system": self.system or "(none)",
            "settings": f"temperature={p.temperature} top_p={p.top_p} top_k={p.top_k} min_p={p.min_p} "
            f"repeat_penalty={p.repeat_penalty} seed={p.seed} max_tokens={p.max_tokens}",
            "stats": "on" if self.show_stats else "off",
        }

    def _cmd_stats(self, _: str) -> Reply:
        self.show_stats = not self.show_stats
        return Reply((f"Stats line {'on' if self.show_stats else 'off'}.",))

    def _cmd_retry(self, _: str) -> Reply:
        if not any(t.role == "user" for t in self.turns[self.first_sent :]):
            raise ChatCommandError("nothing to retry yet", "send a message first")
        if self.turns[-1].role == "assistant":
            self.history.delete_message(self.turns.pop().row)
        prompt, trimmed = self._fit()
        return Reply(answer=self._answer(prompt, trimmed))

    def _cmd_save(self, argument: str) -> Reply:
        name = chat_commands.check_name(argument)
        if self.conversation_id is None:
            raise ChatCommandError("nothing to save yet", "send a message first")
        self.history.copy(self.conversation_id, name)
        return Reply((f"Saved as '{name}' (/load {name} continues from this point).",))

    def _cmd_load(self, argument: str) -> Reply:
        if not argument:
            raise ChatCommandError("usage: /load NAME", "'llamacli history' lists saved conversations")
        saved = self.history.get(argument)
        self.conversation_id = self.history.copy(saved.id)
        self.turns = [Turn(m.role, m.content, 0, m.interrupted) for m in saved.messages]
        for turn, stored in zip(self.turns, self.history.get(str(self.conversation_id)).messages, strict=True):
            turn.row = stored.id
        self.first_sent, self.system = 0, saved.system
        self.history.update_conversation(self.conversation_id, model=self.local.name, system=self.system)
        lines = [f"Loaded '{argument}': {len(self.turns)} messages (as conversation {self.conversation_id})."]
        if saved.model != self.local.name:
            lines.append(f"It was saved with {saved.model}; /model {saved.model} switches to it.")
        return Reply(tuple(lines))

    def _cmd_model(self, argument: str) -> Reply:
        if not argument:
            return Reply((f"Model: {self.local.name}", "/model REF switches to another one."))
        local, model = self.loader(argument)
        self.model.close()
        self.local, self.model = local, model
        if self.conversation_id is not None:
            self.history.update_conversation(self.conversation_id, model=local.name, system=self.system)
        return Reply((f"Now talking to {local.name} (the conversation is kept).",))


def model_loader(load: LoadParams, resolve: Callable[[str], LocalModel]) -> Loader:
    """A loader for /model: resolve the reference, then load it with the session's load parameters."""

    def loader(reference: str) -> tuple[LocalModel, Model]:
        local = resolve(reference)
        return local, Model(local.path, load)

    return loader
