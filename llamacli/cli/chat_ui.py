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
    from collections.abc import Callable

    from llamacli.cli.chat_input import PlainInput, TerminalInput
    from llamacli.engine import GenerationParams, LoadParams
    from llamacli.services.chat import ChatSession, Notice
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
) -> None:
    """Open the session (resuming one if asked) and run the loop until /bye or Ctrl-D; every answer in
    OUTPUT's format, if given."""
    from llamacli.cli import loading
    from llamacli.history.database import History
    from llamacli.services import chat_start

    out = Output()
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
        session.set_format(output)
        if verbose:
            out.dim(session.model.runtime_summary())
        _run(out, session)
    finally:
        history.close()


def _run(out: Output, session: ChatSession) -> None:
    """The loop, on a terminal's line editor or a plain reader of piped lines; the model is freed after."""
    from llamacli.cli.chat_input import PlainInput, TerminalInput

    interactive = sys.stdin.isatty()
    reader = TerminalInput(paths.data_dir() / "chat-input-history") if interactive else PlainInput()
    try:
        if interactive:
            _welcome(out, session)
        _loop(out, session, reader)
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


def _loop(out: Output, session: ChatSession, reader: TerminalInput | PlainInput) -> None:
    from llamacli.cli.chat_view import show_answer
    from llamacli.errors import ChatCommandError, LoadWithoutName, NameTaken, NotSaved
    from llamacli.services import chat_commands

    said_in_chat = (ChatCommandError, LoadWithoutName, NameTaken, NotSaved)  # a slash command's mistake

    while (line := reader.read()) is not None:
        try:
            parsed = chat_commands.parse(line)
            if isinstance(parsed, str):
                if not parsed.strip():
                    continue
                show_answer(out, session.say(parsed), stats=session.show_stats, output=session.output)
                continue
            reply = session.run(parsed)
            for text in reply.lines:
                out.notice(text)
            if reply.answer is not None:
                show_answer(out, reply.answer, stats=session.show_stats, output=session.output)
            if reply.exit:
                return
        except said_in_chat as e:
            out.notice(messages.describe(e).line())
        except LlamacliError as e:  # a bad /model or /load, a message too long: the chat goes on
            said = messages.describe(e)
            out.error(said.text, said.hint)
        except KeyboardInterrupt:  # e.g. during a /model load: back to the prompt, the chat goes on
            out.notice("(interrupted)")
