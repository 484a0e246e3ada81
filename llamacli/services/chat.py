"""The chat use case: one loaded model, a conversation that is recorded as it happens, and commands.

No terminal here: `ChatSession.say` returns the events of an answer (a `Trimmed` notice first when old
turns had to go), `ChatSession.run` executes a slash command and returns a `Reply` for the CLI to show.
The model's KV cache persists between turns, so each turn only evaluates what is new (the engine reuses
the longest common prefix), and after each answer the conversation's state goes to the on-disk prompt
cache, so that `chat --continue` restores it instead of evaluating the history again. When the conversation
outgrows the window the oldest turns are dropped (never the system prompt), which costs one full re-evaluation.
A history that cannot be written (a full disk, a locked or damaged file) never stops the chat: the user is
told once, and the conversation, kept in memory, is written whole as soon as a write works again.

A saved name is a label on one conversation: `/save NAME` names the current one (never copying, moving
or deleting anything), and `/load NAME` and `llamacli chat --continue NAME` both carry on that
conversation itself. Each answer is recorded with the model that wrote it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from llamacli.engine import Event, Finished, GenerationParams, TextDelta
from llamacli.engine.chat_template import Message
from llamacli.errors import (
    ChatCommandError,
    ContextOverflow,
    ConversationNotFound,
    HistoryBehind,
    HistoryUnavailable,
    LoadWithoutName,
    NotSaved,
)
from llamacli.history.database import Conversation, Entry, History
from llamacli.services import chat_commands, structured
from llamacli.services.chat_commands import Command
from llamacli.services.engines import ChatEngine, Located

FLUSH_SECONDS = 0.5  # how often a streaming answer is written to the history (a kill loses at most this)
Loader = Callable[[str], tuple[Located, ChatEngine]]  # /model REF: services.loading.loader in every front end


@dataclass(frozen=True)
class Trimmed:
    """The oldest turns were dropped from what the model sees, to fit the context window."""

    messages: int
    n_ctx: int


ChatEvent = Event | Trimmed


@dataclass
class Turn:
    """A message of the conversation and its row in the history (0 while it is not written)."""

    role: str
    content: str
    row: int = 0
    interrupted: bool = False
    created: float = field(default_factory=time.time)
    stats: dict[str, Any] | None = None
    model: str | None = None  # the model that wrote it (an answer)


Notice = str | HistoryBehind  # what the chat tells the person between answers (an error in words the front end picks)


def _ignore(_: Notice) -> None:
    """The default `notify`: say nothing."""


@dataclass(frozen=True)
class Reply:
    """What a command produced: lines to show, an answer to stream, or the end of the chat."""

    lines: tuple[str, ...] = ()
    answer: Iterator[ChatEvent] | None = None
    exit: bool = False


@dataclass
class ChatSession:
    """A conversation with a loaded model; owns the model (close() frees it)."""

    model: ChatEngine  # a local Model or a RemoteModel
    local: Located
    params: GenerationParams
    history: History
    loader: Loader
    system: str | None = None
    show_stats: bool = True
    turns: list[Turn] = field(default_factory=list)
    conversation_id: int | None = None
    first_sent: int = 0  # turns before this index were trimmed away (still in the history)
    notify: Callable[[Notice], None] = _ignore  # for the person: the history failed, or works again
    unsaved: HistoryUnavailable | None = None  # why the history is behind the conversation, while it is
    dropped: list[int] = field(default_factory=list)  # rows /retry replaced while the history was behind
    said: set[str] = field(default_factory=set)
    output: structured.OutputFormat | None = None  # every answer a JSON document of this format (set_format)

    def continue_from(self, conversation: Conversation) -> None:
        """Carry on CONVERSATION itself (new turns are added to it), with its system prompt and its answers'
        format unless this session has its own."""
        self.conversation_id = conversation.id
        self.system = self.system if self.system is not None else conversation.system
        if self.output is None:
            self._use_format(structured.from_record(conversation.output_format))
        self.turns = [
            Turn(m.role, m.content, m.id, m.interrupted, m.created, m.stats, m.model) for m in conversation.messages
        ]
        self.first_sent = 0

    def set_format(self, output: structured.OutputFormat | None) -> None:
        """Answer in OUTPUT's format from now on (None: prose), and say so in the conversation's record."""
        self._use_format(output)
        self._record_conversation()

    def _use_format(self, output: structured.OutputFormat | None) -> None:
        """Sample under OUTPUT's grammar and tell the model its instruction (None: prose)."""
        self.output, self.params = output, structured.apply(self.params, output)

    def _format(self) -> str | None:
        """The answers' format as the history records it."""
        return structured.to_record(self.output)

    def close(self) -> None:
        """Free the model, after a last try at saving a conversation the history is behind on."""
        self.model.close()
        if lost := self._leave():
            self.notify(f"warning: this conversation was not saved ({lost})")

    # -- recording ------------------------------------------------------------------------------

    def _record(self, write: Callable[[History], None]) -> None:
        """Write one change to the history; after a failure, the whole conversation instead.

        A failure never stops the chat: it is said once, the conversation stays in memory, and the next
        change tries again to write all of it (in one transaction, so the history is never half right).
        """
        try:
            if self.unsaved is None:
                write(self.history)
                return
            if self.turns or self.conversation_id is not None:
                entries = [
                    Entry(t.role, t.content, t.created, t.interrupted, t.stats, t.model, t.row) for t in self.turns
                ]
                self.conversation_id, rows = self.history.catch_up(
                    self.conversation_id, self.local.name, self.system, entries, self.dropped, self._format()
                )
                for turn, row in zip(self.turns, rows, strict=True):
                    turn.row = row
                self.dropped.clear()
        except HistoryUnavailable as e:
            if self.unsaved is None:
                self._say_once(HistoryBehind(e))
            self.unsaved = e
            return
        self.unsaved = None
        self._say_once("The conversation is saved again.")

    def _leave(self) -> str | None:
        """Before leaving this conversation (/clear, /load, the end): a last try at saving it, if it is
        behind; why that failed, or None."""
        if self.unsaved is not None:
            self._record(lambda _: None)
        lost, self.unsaved = self.unsaved, None
        return lost.reason if lost else None

    def _say_once(self, notice: Notice) -> None:
        """Notify NOTICE the first time only: a nearly full disk can fail and recover many times in a chat."""
        key = notice if isinstance(notice, str) else f"{notice.cause.path}: {notice.cause.reason}"
        if key not in self.said:
            self.said.add(key)
            self.notify(notice)

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

        def write(history: History) -> None:
            if self.conversation_id is None:  # the conversation and its first message are written together
                self.conversation_id, turn.row = history.start_conversation(
                    self.local.name, self.system, text, self._format()
                )
            else:
                turn.row = history.add_message(self.conversation_id, "user", text)

        self._record(write)
        return self._answer(prompt, trimmed)

    def _messages(self) -> list[Message]:
        system = structured.system_prompt(self.system, self.output)
        head = [Message("system", system)] if system else []
        return head + [Message(t.role, t.content) for t in self.turns[self.first_sent :]]

    def _reserve(self) -> int:
        """Room kept free for the answer when deciding whether the conversation fits."""
        n_ctx = self.model.n_ctx
        wanted = self.params.max_tokens or max(n_ctx // 8, 32)
        return min(wanted, n_ctx // 2)

    def _fit(self) -> tuple[Sequence[int], int]:
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

    def _answer(self, prompt: Sequence[int], trimmed: int) -> Iterator[ChatEvent]:
        """Stream the answer, writing it to the history as it grows; an interruption keeps what came."""
        if trimmed:
            yield Trimmed(trimmed, self.model.n_ctx)
        messages = self._messages()
        # Where the system prompt and the last answer end: states the prompt cache may hold (a one-shot's
        # under the same system prompt, this conversation's from an earlier process), and where it saves them.
        boundaries = self.model.boundaries(messages, prompt, ends=(1, len(messages) - 1))
        turn = Turn("assistant", "", interrupted=True, model=self.local.name)
        self.turns.append(turn)
        self._record(lambda history: self._add(history, turn))
        pieces: list[str] = []
        finished: Finished | None = None
        flushed = time.monotonic()
        events = self.model.stream_tokens(prompt, self.params, boundaries, conversation=True)
        try:
            for event in events:
                if isinstance(event, TextDelta):
                    pieces.append(event.text)
                    if time.monotonic() - flushed > FLUSH_SECONDS:
                        turn.content = "".join(pieces)
                        self._record(lambda history: history.update_message(turn.row, turn.content, interrupted=True))
                        flushed = time.monotonic()
                else:
                    finished = event
                yield event
        finally:
            events.close()  # type: ignore[attr-defined]
            turn.content = "".join(pieces)
            turn.interrupted = finished is None
            turn.stats = finished.stats.to_dict() if finished else None
            self._record(
                lambda history: history.update_message(
                    turn.row, turn.content, interrupted=turn.interrupted, stats=turn.stats
                )
            )
        if finished is not None:  # for the next turn, or `chat --continue` in a later process (prompt cache)
            self.model.keep_conversation(self._messages())

    def _add(self, history: History, turn: Turn) -> None:
        """Write TURN as a new message (creating the conversation if it has none yet)."""
        if self.conversation_id is None:
            self.conversation_id = history.new_conversation(self.local.name, self.system, self._format())
        turn.row = history.add_message(
            self.conversation_id, turn.role, turn.content, interrupted=turn.interrupted, model=turn.model
        )

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
        lost = self._leave()
        self.turns, self.first_sent, self.conversation_id = [], 0, None
        if lost:
            return Reply((f"New conversation (the previous one could not be saved: {lost}).",))
        return Reply(("New conversation (the previous one is in 'llamacli history').",))

    def _cmd_system(self, argument: str) -> Reply:
        if not argument:
            return Reply((f"System prompt: {self.system}" if self.system else "No system prompt.",))
        if argument.lower() == "none" and self.system is None:
            return Reply(("No system prompt to remove.",))
        self.system = None if argument.lower() == "none" else argument
        self._record_conversation()
        return Reply(("System prompt set." if self.system else "System prompt removed.",))

    def _record_conversation(self) -> None:
        """Write a new model or system prompt to the conversation, if it has been written."""
        if self.conversation_id is not None or self.unsaved is not None:
            self._record(
                lambda history: history.update_conversation(
                    self.conversation_id or 0, model=self.local.name, system=self.system, output_format=self._format()
                )
            )

    def _cmd_set(self, argument: str) -> Reply:
        if (setting := chat_commands.format_setting(argument)) is not None:
            self.set_format(structured.from_setting(*setting))
            return Reply((f"{setting[0]} = {self.output.label if self.output else 'off'}",))
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
            "path": str(self.local.path) if self.local.path else f"remote: {self.local.url}",
            "adapters": ", ".join(a.label() for a in self.model.adapters) or "(none)",
            "context": f"{self.model.n_ctx} tokens (trained: {self.model.n_ctx_train}), {self.model.n_threads} threads",
            "conversation": self.conversation_id if self.conversation_id is not None else "(new)",
            "messages": f"{len(self.turns)} ({self.first_sent} dropped from the context)",
            "system": self.system or "(none)",
            "settings": f"temperature={p.temperature} top_p={p.top_p} top_k={p.top_k} min_p={p.min_p} "
            f"repeat_penalty={p.repeat_penalty} seed={p.seed} max_tokens={p.max_tokens} stop={list(p.stop)}",
            "format": structured.describe(self.output),
            "stats": "on" if self.show_stats else "off",
        }

    def _cmd_stats(self, _: str) -> Reply:
        self.show_stats = not self.show_stats
        return Reply((f"Stats line {'on' if self.show_stats else 'off'}.",))

    def _cmd_retry(self, _: str) -> Reply:
        if not any(t.role == "user" for t in self.turns[self.first_sent :]):
            raise ChatCommandError("nothing to retry yet", "send a message first")
        self.drop_answer()
        prompt, trimmed = self._fit()
        return Reply(answer=self._answer(prompt, trimmed))

    def drop_answer(self) -> None:
        """Forget the last answer, here and in the history (/retry replaces it; a guard blocked it)."""
        if self.turns and self.turns[-1].role == "assistant" and (dropped := self.turns.pop().row):
            self.dropped.append(dropped)
            self._record(self._delete_dropped)

    def _delete_dropped(self, history: History) -> None:
        """Delete the answers /retry replaced."""
        while self.dropped:
            history.delete_message(self.dropped[0])
            self.dropped.pop(0)

    def _cmd_save(self, argument: str) -> Reply:
        name = chat_commands.check_name(argument)
        if not self.turns:
            raise ChatCommandError("nothing to save yet", "send a message first")
        if self.unsaved is not None:
            self._record(lambda _: None)
        if self.unsaved is not None or self.conversation_id is None:
            raise NotSaved(self.unsaved)
        before = self.history.set_name(self.conversation_id, name)  # NameTaken keeps the other one whole
        resume = f"/load {name} or 'llamacli chat --continue {name}' continues it"
        if before == name:
            return Reply((f"This conversation is already saved as '{name}' (each message is saved as it comes).",))
        if before is not None:
            return Reply((f"Renamed '{before}' to '{name}' ({resume}).",))
        return Reply((f"Saved as '{name}': every message is saved as it comes, and {resume}.",))

    def _cmd_load(self, argument: str) -> Reply:
        if not argument:
            raise LoadWithoutName()
        self.history.get(argument)  # an unknown name is an error that changes nothing
        lost = self._leave()
        saved = self.history.get(argument)  # read after the last try at saving: it may be this conversation
        self.continue_from(saved)
        self.system = saved.system
        lines = [f"Loaded '{argument}' (conversation {saved.id}, {len(self.turns)} messages): new messages go on it."]
        if lost:
            lines.append(f"The conversation before it could not be saved: {lost}.")
        if saved.model != self.local.name:
            lines.append(f"It was last with {saved.model}; /model {saved.model} switches to it.")
        return Reply(tuple(lines))

    def _cmd_model(self, argument: str) -> Reply:
        if not argument:
            return Reply((f"Model: {self.local.name}", "/model REF switches to another one."))
        local, model = self.loader(argument)
        self.model.close()
        self.local, self.model = local, model
        self._record_conversation()
        return Reply((f"Now talking to {local.name} (the conversation is kept).",))


def conversation_to_continue(history: History, key: str | None) -> Conversation:
    """What `chat --continue [KEY]` carries on: the conversation with that id or name, or the latest."""
    found = history.get(key) if key else history.latest()
    if found is None:
        raise ConversationNotFound("latest")
    return found
