"""`chat --guard`: each message screened before it is sent, each answer once it is generated whole.

The guard model is loaded once for the chat (services/guard.py). A blocked message is neither sent nor kept in
the conversation; a blocked answer is never shown and is dropped from the conversation and the history, as
/retry drops one. The answer cannot stream: it would be on the screen before the guard could stop it.
The guard reads the message (or answer) with the few turns before it: its window is 4,096 tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from llamacli.engine import TextDelta
from llamacli.engine.chat_template import Message
from llamacli.services.chat import ChatEvent, ChatSession
from llamacli.services.guard import Guard, blocked

GUARD_TURNS = 6  # the turns before a message or an answer that the guard reads with it


@dataclass
class ChatGuard:
    """A chat's guard: screens what SESSION is about to send and what it answered."""

    session: ChatSession
    guard: Guard

    def _before(self, skip_last: int = 0) -> list[Message]:
        """The last GUARD_TURNS turns the model sees (without the last SKIP_LAST ones)."""
        turns = self.session.turns[self.session.first_sent : len(self.session.turns) - skip_last]
        return [Message(t.role, t.content) for t in turns[-GUARD_TURNS:]]

    def check_message(self, text: str) -> None:
        """GuardBlocked (stage "message") when the guard finds TEXT, said next, unsafe."""
        blocked(self.guard.name, "message", self.guard.check(text, "user", self._before()).verdict)

    def hold(self, events: Iterator[ChatEvent]) -> list[ChatEvent]:
        """The whole answer's EVENTS, generated before any is shown; interrupted, the partial answer (never
        checked) is dropped."""
        try:
            return list(events)
        except BaseException:
            events.close()  # type: ignore[attr-defined]
            self.session.drop_answer()
            raise

    def check_answer(self, held: list[ChatEvent]) -> None:
        """GuardBlocked (stage "answer"), the answer dropped, when the guard finds the HELD answer unsafe."""
        answer = "".join(event.text for event in held if isinstance(event, TextDelta))
        last = self.session.turns[-1] if self.session.turns else None
        before = self._before(skip_last=1 if last is not None and last.role == "assistant" else 0)
        verdict = self.guard.check(answer, "agent", before).verdict
        if not verdict.safe:
            self.session.drop_answer()
        blocked(self.guard.name, "answer", verdict)

    def close(self) -> None:
        """Free the guard model."""
        self.guard.close()
