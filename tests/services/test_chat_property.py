"""Property: whatever a person does in chat, no stored message is ever lost or re-attributed.

Random sequences of messages, /save, /load, `chat --continue`, /clear and /model run on the real chat
session, the real model (one thread, answers of two tokens) and a real history database in a fresh
directory. After every step the database is read back from a new connection and compared with what a
model of the documented rules expects: every message written so far is still there, in its conversation,
with its text and the model that wrote it; nothing else appeared; a name labels the conversation it was
given to until that conversation is renamed; the session shows exactly the conversation it writes to.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamacli.engine import GenerationParams, LoadParams, Model
from llamacli.errors import ChatCommandError, ConversationNotFound, LlamacliError
from llamacli.history.database import History
from llamacli.models.locate import LocalModel
from llamacli.services.chat import ChatSession, conversation_to_continue
from llamacli.services.chat_commands import Command
from tests.services.test_chat import THREADS, drain

pytestmark = pytest.mark.slow

PARAMS = GenerationParams(temperature=0, seed=1, max_tokens=2)
NAMES = ("rome", "paris")
MODELS = ("smollm2:135m", "other:1b")  # two names for the bundled file: the test's loader loads it for both

Step = tuple[str, str | None]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("say"), st.sampled_from(["Hi!", "Name a colour.", "Why?"])),
        st.tuples(st.just("save"), st.sampled_from(NAMES)),
        st.tuples(st.just("load"), st.sampled_from(NAMES)),
        st.tuples(st.just("continue"), st.sampled_from([None, *NAMES])),
        st.tuples(st.just("clear"), st.none()),
        st.tuples(st.just("model"), st.sampled_from(MODELS)),
    ),
    min_size=1,
    max_size=14,
)

Row = tuple[int, str, str, str | None]  # conversation, role, content, model


@dataclass
class Expected:
    """What the database must hold: every message written (by id) and the names."""

    messages: dict[int, Row] = field(default_factory=dict)
    names: dict[str, int] = field(default_factory=dict)


class Driver:
    """A chat like `llamacli chat` runs it, restarted for each `--continue`."""

    def __init__(self, db: Path, gguf: Path) -> None:
        self.db, self.gguf = db, gguf
        self.load = LoadParams(n_ctx=512, n_threads=THREADS)
        self.session = self._open(MODELS[0])

    def _open(self, name: str) -> ChatSession:
        local, model = self._load(name)
        return ChatSession(model, local, PARAMS, History(self.db), self._load)

    def _load(self, reference: str) -> tuple[LocalModel, Model]:
        """The session's /model loader: every name is the one test file."""
        return LocalModel(reference, self.gguf), Model(self.gguf, self.load)

    def restart(self, key: str | None) -> None:
        """Leave, then `llamacli chat --continue [KEY]` with the model the conversation was last with."""
        self.close()
        history = History(self.db)
        try:
            past = conversation_to_continue(history, key)
        except ConversationNotFound:
            self.session = self._open(MODELS[0])  # that command ends; the person starts a new chat
            raise
        finally:
            history.close()
        self.session = self._open(past.model)
        self.session.continue_from(past)

    def close(self) -> None:
        self.session.close()
        self.session.history.close()


def stored(db: Path) -> tuple[dict[int, Row], dict[str, int]]:
    """Every message and every name in the database, read by a new connection."""
    messages: dict[int, Row] = {}
    names: dict[str, int] = {}
    with History(db) as history:
        for conversation in history.list():
            if conversation.name is not None:
                names[conversation.name] = conversation.id
            for m in history.get(str(conversation.id)).messages:
                messages[m.id] = (conversation.id, m.role, m.content, m.model)
    return messages, names


def apply(driver: Driver, expected: Expected, step: Step) -> None:
    """Run STEP and update what the database must hold according to the documented rules."""
    action, argument = step
    session = driver.session
    if action == "say":
        assert argument is not None
        text, _, _ = drain(session.say(argument))
        question, answer = session.turns[-2:]
        assert answer.content == text and answer.model == session.local.name
        cid = session.conversation_id
        assert cid is not None
        expected.messages[question.row] = (cid, "user", argument, None)
        expected.messages[answer.row] = (cid, "assistant", text, session.local.name)
    elif action == "save":
        assert argument is not None
        cid, holder = session.conversation_id, expected.names.get(argument)
        if not session.turns or (holder is not None and holder != cid):
            with pytest.raises(ChatCommandError):  # nothing to name yet, or another conversation's name
                session.run(Command("save", argument))
            return
        session.run(Command("save", argument))
        assert cid is not None
        expected.names = {name: c for name, c in expected.names.items() if c != cid} | {argument: cid}
    elif action in ("load", "continue"):
        if argument is not None and argument not in expected.names:
            with pytest.raises(ConversationNotFound):
                session.run(Command("load", argument)) if action == "load" else driver.restart(argument)
            return
        try:
            session.run(Command("load", argument or "")) if action == "load" else driver.restart(argument)
        except ConversationNotFound:
            assert argument is None and not expected.messages  # `--continue` with nothing to continue
            return
        if argument is not None:
            assert driver.session.conversation_id == expected.names[argument]  # the same meaning in both
    elif action == "clear":
        session.run(Command("clear"))
        assert session.conversation_id is None and session.turns == []
    else:
        assert argument is not None
        session.run(Command("model", argument))
        assert session.local.name == argument


def check(driver: Driver, expected: Expected) -> None:
    """The database holds exactly what is expected, and the session's turns are its conversation's rows."""
    messages, names = stored(driver.db)
    assert messages == expected.messages  # nothing lost, nothing changed model, nothing unexpected
    assert names == expected.names
    session = driver.session
    if session.conversation_id is not None:
        mine = sorted((mid, row) for mid, row in messages.items() if row[0] == session.conversation_id)
        assert [(mid, role, content, model) for mid, (_, role, content, model) in mine] == [
            (t.row, t.role, t.content, t.model) for t in session.turns
        ]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps)
def test_no_stored_message_is_ever_lost_or_reattributed(smollm2_path: Path, actions: list[Step]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        driver = Driver(Path(directory) / "history.db", smollm2_path)
        expected = Expected()
        try:
            for number, step in enumerate(actions):
                try:
                    apply(driver, expected, step)
                except LlamacliError as e:  # an error the rules did not predict
                    raise AssertionError(f"step {number} {step}: {e!r}") from e
                check(driver, expected)
                assert driver.session.unsaved is None
        finally:
            driver.close()
