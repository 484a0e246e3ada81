"""The interactive chat on a terminal or a pipe, for `chat` and for `run MODEL` with no prompt on a terminal.

The loop reads a line, hands commands to the session and messages to the model, and shows the answer
as it streams (Markdown on a terminal, raw text otherwise). Ctrl-C during an answer stops it and keeps
what came; every turn is already in the history database when it is shown. The model, the first one and
each `/model`, comes from the loading service, as `run`'s does.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from llamacli.base import paths
from llamacli.cli import messages
from llamacli.cli.output import Output
from llamacli.errors import LlamacliError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from llamacli.cli.chat_input import PlainInput, TerminalInput
    from llamacli.engine import GenerationParams, LoadParams
    from llamacli.services.chat import ChatEvent, ChatSession, Notice
    from llamacli.services.chat_guard import ChatGuard
    from llamacli.services.guard import Guard
    from llamacli.services.loading import Policy
    from llamacli.services.structured import OutputFormat


def start_chat(
    reference: str | None,
    load: LoadParams,
    gen: GenerationParams,
    policy: Policy,
    *,
    system: str | None = None,
    resume: bool = False,
    conversation: str | None = None,
    verbose: bool = False,
    output: OutputFormat | None = None,
    guard: bool = False,
    guard_model: str | None = None,
) -> None:
    """Open the session (resuming one if asked) and run the loop until /bye or Ctrl-D; every answer in
    OUTPUT's format, if given; with GUARD (or GUARD_MODEL), every message and answer screened."""
    from llamacli.cli import guarding, loading
    from llamacli.history.database import History
    from llamacli.services import chat_start

    out = Output()
    loaded = guarding.open_guard(out, guard_model, load, policy) if guarding.wanted(guard, guard_model) else None
    history = History.open()
    try:
        session = chat_start.start(
            history,
            reference,
            load,
            gen,
            policy,
            loading.feedback(out),
            _notifier(out),
            system=system,
            resume=resume,
            conversation=conversation,
        )
        if output is not None:  # else the format a continued conversation had, or prose
            session.set_format(output)
        if verbose:
            out.dim(session.model.runtime_summary())
        _run(out, session, _chat_guard(session, loaded))
    finally:
        history.close()
        if loaded is not None:
            loaded.close()


def _chat_guard(session: ChatSession, loaded: Guard | None) -> ChatGuard | None:
    from llamacli.services.chat_guard import ChatGuard

    return ChatGuard(session, loaded) if loaded is not None else None


def _run(out: Output, session: ChatSession, guard: ChatGuard | None = None) -> None:
    """The loop, on a terminal's line editor or a plain reader of piped lines; the model is freed after."""
    from llamacli.cli.chat_input import PlainInput, TerminalInput

    interactive = sys.stdin.isatty()
    reader = TerminalInput(paths.data_dir() / "chat-input-history") if interactive else PlainInput()
    try:
        if interactive:
            _welcome(out, session)
            if guard is not None:
                out.dim(f"{guard.guard.name} checks every message and answer: answers show once checked.")
        _loop(out, session, reader, guard)
    finally:
        session.close()


def _welcome(out: Output, session: ChatSession) -> None:
    from llamacli.cli.chat_view import markdown_stream

    resumed = f", continuing conversation {session.conversation_id}" if session.conversation_id else ""
    out.dim(
        f"Chatting with {session.local.name} (context {session.model.n_ctx} tokens{resumed}). "
        "/help for commands, /bye or Ctrl-D to leave."
    )
    if session.turns:
        out.dim(f"{len(session.turns)} earlier messages; the last answer was:")
        last = next((t.content for t in reversed(session.turns) if t.role == "assistant"), "")
        renderer = markdown_stream(out)  # as it was shown: Markdown, wrapped at word boundaries
        if renderer is None:
            out.answer(last.rstrip() + "\n")
        else:
            renderer.feed(last.rstrip())
            renderer.finish()


def _notifier(out: Output) -> Callable[[Notice], None]:
    """The chat's notices as lines on stderr (the ones that carry an error, in its words)."""

    def notify(notice: Notice) -> None:
        out.notice(notice if isinstance(notice, str) else messages.describe(notice).line())

    return notify


def _loop(out: Output, session: ChatSession, reader: TerminalInput | PlainInput, guard: ChatGuard | None) -> None:
    from llamacli.cli.chat_view import show_answer
    from llamacli.errors import ChatCommandError, GuardBlocked, LoadWithoutName, NameTaken, NotSaved
    from llamacli.services import chat_commands

    # a slash command's mistake, or the guard's block: one line, the chat goes on
    said_in_chat = (ChatCommandError, LoadWithoutName, NameTaken, NotSaved, GuardBlocked)

    while (line := reader.read()) is not None:
        try:
            parsed = chat_commands.parse(line)
            if isinstance(parsed, str):
                if not parsed.strip():
                    continue
                if guard is not None:
                    with out.status("Checking the message…"):
                        guard.check_message(parsed)
                answer = session.say(parsed)
                show_answer(out, _checked(out, guard, answer), stats=session.show_stats, output=session.output)
                continue
            reply = session.run(parsed)
            for text in reply.lines:
                out.notice(text)
            if reply.answer is not None:
                answer = _checked(out, guard, reply.answer)
                show_answer(out, answer, stats=session.show_stats, output=session.output)
            if reply.exit:
                return
        except said_in_chat as e:
            out.notice(messages.describe(e).line())
        except LlamacliError as e:  # a bad /model or /load, a message too long: the chat goes on
            said = messages.describe(e)
            out.error(said.text, said.hint)
        except KeyboardInterrupt:  # e.g. during a /model load: back to the prompt, the chat goes on
            out.notice("(interrupted)")


def _checked(out: Output, guard: ChatGuard | None, events: Iterator[ChatEvent]) -> Iterator[ChatEvent]:
    """EVENTS as they come without a guard; with one, the answer generated whole under a status line, then
    screened (GuardBlocked when unsafe), then replayed for show_answer."""
    if guard is None:
        return events
    with out.status("Writing the answer (shown once the guard has checked it)…"):
        held = guard.hold(events)
    with out.status("Checking the answer…"):
        guard.check_answer(held)
    return (event for event in held)
