"""The chat session on the real model and a real history database."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llamacli.cli import messages
from llamacli.engine import Finished, GenerationParams, LoadParams, Model, TextDelta
from llamacli.errors import (
    ChatCommandError,
    ContextOverflow,
    HistoryUnavailable,
    InvalidValue,
    NameTaken,
    NotSaved,
)
from llamacli.history.database import History
from llamacli.models.locate import LocalModel
from llamacli.services.chat import ChatEvent, ChatSession, Notice, Trimmed, conversation_to_continue
from llamacli.services.chat_commands import Command, parse

pytestmark = pytest.mark.slow

GREEDY = GenerationParams(temperature=0, seed=1, max_tokens=24)
# One thread: on two cores shared with other work, two llama.cpp threads wait on each other (8 tokens
# took 11.6 s with two threads and 0.9 s with one on this machine under load).
THREADS = 1


def worded(notices: list[str]) -> Callable[[Notice], None]:
    """A `notify` that keeps the chat's notices as the CLI words them."""
    return lambda notice: notices.append(notice if isinstance(notice, str) else messages.describe(notice).line())


def make_session(path: Path, n_ctx: int = 2048, **kwargs: object) -> ChatSession:
    load = LoadParams(n_ctx=n_ctx, n_threads=THREADS)
    local = LocalModel("smollm2:135m", path)
    return ChatSession(
        model=Model(path, load),
        local=local,
        params=GREEDY,
        history=History.open(),
        loader=lambda ref: (LocalModel(ref, path), Model(path, load)),  # every name is this file
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def session(smollm2_path: Path) -> Iterator[ChatSession]:
    chat = make_session(smollm2_path)
    yield chat
    chat.close()
    chat.history.close()


def drain(events: Iterator[ChatEvent]) -> tuple[str, Finished, list[Trimmed]]:
    text, finished, trimmed = "", None, []
    for event in events:
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Finished):
            finished = event
        else:
            trimmed.append(event)
    assert finished is not None
    return text, finished, trimmed


def test_turns_are_answered_recorded_and_reuse_the_cache(session: ChatSession) -> None:
    first, done1, _ = drain(session.say("What is the capital of France?"))
    second, done2, _ = drain(session.say("And of Italy?"))
    assert first and second
    # the second prompt re-reads nothing from the first turn: only the new user message is evaluated
    evaluated = done2.stats.prompt_tokens - done2.stats.cached_prompt_tokens
    assert done2.stats.cached_prompt_tokens >= done1.stats.prompt_tokens + done1.stats.generated_tokens - 2
    assert evaluated < 20
    stored = session.history.get(str(session.conversation_id))
    assert [(m.role, m.content, m.interrupted) for m in stored.messages] == [
        ("user", "What is the capital of France?", False),
        ("assistant", first, False),
        ("user", "And of Italy?", False),
        ("assistant", second, False),
    ]
    assert stored.messages[1].stats and stored.messages[1].stats["generated_tokens"] == done1.stats.generated_tokens


def test_an_interrupted_answer_is_kept_and_the_model_stays_usable(session: ChatSession) -> None:
    session.params = GenerationParams(temperature=0, max_tokens=200)
    events = session.say("Count from 1 to 100, separated by commas.")
    partial = ""
    for event in events:
        if isinstance(event, TextDelta):
            partial += event.text
            if len(partial) > 20:
                break
    events.close()  # what the CLI does on Ctrl-C
    assert session.turns[-1].content == partial and session.turns[-1].interrupted
    stored = session.history.get(str(session.conversation_id)).messages[-1]
    assert (stored.content, stored.interrupted) == (partial, True)
    text, finished, _ = drain(session.say("Thanks. Say OK."))
    assert text and finished.stats.cached_prompt_tokens > 20


def test_overflow_drops_the_oldest_turns_but_keeps_the_system_prompt(smollm2_path: Path) -> None:
    chat = make_session(smollm2_path, n_ctx=256, system="You are terse.")
    try:
        trims: list[Trimmed] = []
        for i in range(8):
            _, _, trimmed = drain(chat.say(f"Tell me fact number {i} about the sea."))
            trims += trimmed
        assert trims and trims[0].n_ctx == 256 and trims[0].messages >= 2
        assert chat.first_sent > 0 and chat._messages()[0].content == "You are terse."
        assert len(chat.history.get(str(chat.conversation_id)).messages) == 16  # nothing lost in the history
        with pytest.raises(ContextOverflow):
            chat.say("word " * 400)  # alone larger than the window: refused, not crashed
        assert chat.turns[-1].role == "assistant"
    finally:
        chat.close()
        chat.history.close()


def test_commands(session: ChatSession) -> None:
    assert session.run(Command("set", "temperature 0.3")).lines == ("temperature = 0.3",)
    with pytest.raises(ChatCommandError):
        session.run(Command("retry"))
    with pytest.raises(ChatCommandError):
        session.run(Command("save", "early"))
    session.params = GREEDY
    answer, _, _ = drain(session.say("Name a colour."))
    retried = session.run(Command("retry"))
    assert retried.answer is not None
    again, _, _ = drain(retried.answer)
    assert again == answer and len(session.turns) == 2  # greedy: the same answer, replacing the old one
    session.run(Command("system", "Answer in French."))
    assert session.run(Command("system")).lines == ("System prompt: Answer in French.",)
    session.run(Command("save", "colours"))
    first_id = session.conversation_id
    session.run(Command("clear"))
    assert session.turns == [] and session.conversation_id is None
    reply = session.run(Command("load", "colours"))
    assert "2 messages" in reply.lines[0] and session.conversation_id == first_id  # the conversation itself
    assert [t.content for t in session.turns] == ["Name a colour.", answer]
    assert session.system == "Answer in French."
    drain(session.say("Another one?"))
    assert len(session.history.get("colours").messages) == 4  # new messages go on the named conversation
    reply = session.run(Command("model", str(session.local.path)))
    assert session.local.name == str(session.local.path) and len(session.turns) == 4
    drain(session.say("Thanks."))
    shown = "\n".join(session.run(Command("show")).lines)
    assert "temperature=0" in shown and "Answer in French." in shown
    assert session.run(parse("/stats")).lines == ("Stats line off.",)  # type: ignore[arg-type]
    assert session.run(Command("bye")).exit


def test_resume_continues_the_same_conversation(session: ChatSession, smollm2_path: Path) -> None:
    drain(session.say("Hi!"))
    conversation = session.history.latest()
    assert conversation is not None
    other = ChatSession(session.model, session.local, GREEDY, session.history, session.loader)
    other.continue_from(conversation)
    drain(other.say("Again?"))
    assert other.conversation_id == session.conversation_id
    assert len(session.history.get(str(other.conversation_id)).messages) == 4


def test_a_history_that_cannot_be_written_never_stops_the_chat_and_catches_up(
    smollm2_path: Path, tmp_path: Path
) -> None:
    """Another process holds the database's write lock (real sqlite): the chat goes on, said once, and
    the whole conversation is written as soon as the lock is gone."""
    db, notices = tmp_path / "history.db", []
    chat = make_session(smollm2_path, notify=worded(notices))
    chat.history = History(db, timeout=0.05)
    try:
        drain(chat.say("Hello!"))
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        second, _, _ = drain(chat.say("Name a colour."))
        third, _, _ = drain(chat.say("And another?"))
        assert second and third and chat.unsaved is not None
        assert len(notices) == 1 and "database is locked" in notices[0] and notices[0].startswith("warning:")
        with pytest.raises(NotSaved) as refused:
            chat.run(Command("save", "colours"))
        assert refused.value.cause is chat.unsaved
        blocker.execute("ROLLBACK")
        blocker.close()
        chat.run(Command("system", "Be brief."))  # the next change writes everything
        assert chat.unsaved is None and notices[-1] == "The conversation is saved again."
        stored = History(db).get(str(chat.conversation_id))
        assert [(m.role, m.content, m.interrupted) for m in stored.messages] == [
            (t.role, t.content, t.interrupted) for t in chat.turns
        ]
        assert len(stored.messages) == 6 and stored.system == "Be brief." and stored.messages[3].content == second
        assert stored.messages[5].stats is not None  # what the answer's last write carried is kept
        assert [m.id for m in stored.messages] == [t.row for t in chat.turns]
        assert [m.model for m in stored.messages] == [None, "smollm2:135m"] * 3  # each answer's model, kept
        drain(chat.say("Thanks."))  # and it goes on turn by turn
        assert len(History(db).get(str(chat.conversation_id)).messages) == 8
    finally:
        chat.close()
        chat.history.close()


def test_leaving_or_clearing_an_unsaved_chat_says_it_was_not_saved(smollm2_path: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "history.db"
    damaged.write_bytes(b"not a database " * 1000)
    notices: list[str] = []
    chat = make_session(smollm2_path, notify=worded(notices))
    chat.history = History(damaged)
    drain(chat.say("Hello!"))
    assert chat.unsaved is not None and "file is not a database" in notices[0] and "move history.db aside" in notices[0]
    with pytest.raises(HistoryUnavailable, match="file is not a database"):
        chat.run(Command("load", "ideas"))  # one error line in the chat; the conversation stays
    assert [t.role for t in chat.turns] == ["user", "assistant"]
    assert "could not be saved: file is not a database" in chat.run(Command("clear")).lines[0]
    drain(chat.say("Hello again!"))
    chat.close()
    assert notices[-1] == "warning: this conversation was not saved (file is not a database)"
    assert damaged.read_bytes() == b"not a database " * 1000  # the user's file is never overwritten


def test_continuing_a_saved_conversation_and_saving_it_again_loses_nothing(session: ChatSession) -> None:
    """Issue 12 item 1: `chat --continue rome`, `/save rome`, a message: the continued conversation was
    deleted and the message ended in a traceback (sqlite3.IntegrityError)."""
    drain(session.say("Tell me about Rome."))
    session.run(Command("save", "rome"))
    rome = session.history.get("rome")
    again = ChatSession(session.model, session.local, GREEDY, session.history, session.loader)  # `--continue rome`
    again.continue_from(conversation_to_continue(session.history, "rome"))
    assert "already saved as 'rome'" in again.run(Command("save", "rome")).lines[0]  # its own name: nothing to do
    drain(again.say("And then?"))
    stored = session.history.get("rome")
    assert stored.id == rome.id == again.conversation_id and again.unsaved is None
    assert [m.content for m in stored.messages[:2]] == [m.content for m in rome.messages]
    assert [m.role for m in stored.messages] == ["user", "assistant", "user", "assistant"]


def test_a_name_is_never_taken_from_another_chat_and_load_continues_the_named_conversation(
    session: ChatSession,
) -> None:
    """Issue 12 item 2: a second `/save rome` from another chat deleted the first `rome`; `/load NAME`
    worked on a copy while `chat --continue NAME` wrote into the saved conversation."""
    drain(session.say("Tell me about Rome."))
    session.run(Command("save", "rome"))
    rome = session.conversation_id
    session.run(Command("clear"))
    drain(session.say("Tell me about Paris."))
    with pytest.raises(NameTaken) as refused:
        session.run(Command("save", "rome"))
    assert (refused.value.name, refused.value.conversation_id) == ("rome", rome)
    kept = session.history.get("rome")
    assert kept.id == rome and kept.messages[0].content == "Tell me about Rome." and kept.message_count == 2
    paris = session.conversation_id
    session.run(Command("load", "rome"))
    assert session.conversation_id == rome == conversation_to_continue(session.history, "rome").id  # one meaning
    drain(session.say("More, please."))
    assert len(session.history.get("rome").messages) == 4
    assert len(session.history.get(str(paris)).messages) == 2  # the chat it left is kept too


def test_each_answer_records_the_model_that_wrote_it(session: ChatSession) -> None:
    """Issue 12 item 3: after /model every earlier answer was listed as the new model."""
    drain(session.say("Hi!"))
    session.run(Command("model", "other:1b"))  # the test's loader names the same file as asked
    drain(session.say("Hi again!"))
    stored = session.history.get(str(session.conversation_id))
    assert [m.model for m in stored.messages] == [None, "smollm2:135m", None, "other:1b"]
    assert stored.models == ("smollm2:135m", "other:1b") and stored.model == "other:1b"


def test_a_conversation_deleted_under_the_chat_is_written_again_not_a_traceback(session: ChatSession) -> None:
    """Another program deletes the conversation mid-chat: the next message breaks a foreign key, which is
    said once (never a traceback), and the chat writes its whole conversation again from memory."""
    notices: list[str] = []
    session.notify = worded(notices)
    drain(session.say("Hi!"))
    gone = session.conversation_id
    other = sqlite3.connect(session.history.path, isolation_level=None)
    other.execute("PRAGMA foreign_keys=ON")
    other.execute("DELETE FROM conversations WHERE id = ?", (gone,))
    other.close()
    drain(session.say("Still there?"))
    assert session.unsaved is None and session.conversation_id not in (None, gone)
    stored = session.history.get(str(session.conversation_id))
    assert [(m.role, m.content, m.model) for m in stored.messages] == [
        (t.role, t.content, t.model) for t in session.turns
    ]
    assert len(stored.messages) == 4
    assert "FOREIGN KEY constraint failed" in notices[0] and "changed by another program" in notices[0]
    assert notices[-1] == "The conversation is saved again."


def test_removing_a_system_prompt_says_so_only_when_there_was_one(session: ChatSession) -> None:
    assert session.run(Command("system", "none")).lines == ("No system prompt to remove.",)
    assert session.run(Command("system", "Be brief.")).lines == ("System prompt set.",)
    assert session.run(Command("system", "none")).lines == ("System prompt removed.",)
    assert session.system is None


def test_set_format_holds_answers_to_json_and_off_brings_prose_back(session: ChatSession) -> None:
    session.params = GREEDY
    assert session.run(Command("set", "schema city, country")).lines == ("schema = schema",)
    assert session.params.grammar is not None and session.params.temperature == 0
    answer, _, _ = drain(session.say("What is the capital of France?"))
    assert set(json.loads(answer)) == {"city", "country"}
    assert session.turns[-1].content == answer  # recorded as written
    assert "format: schema" in "\n".join(session.run(Command("show")).lines)
    assert session.describe()["format"].startswith('schema {"type": "object"')
    with pytest.raises(InvalidValue):  # a bad schema changes nothing
        session.run(Command("set", "schema {"))
    assert session.output is not None
    assert session.run(Command("set", "format off")).lines == ("format = off",)
    assert session.params.grammar is None and session.output is None
    with pytest.raises(ChatCommandError, match="usage: /set schema VALUE"):
        session.run(Command("set", "schema"))
