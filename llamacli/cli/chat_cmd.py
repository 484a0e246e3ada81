"""`llamacli chat`: an interactive conversation with a model loaded once.

The loop reads a line, hands commands to the session and messages to the model, and shows the answer
as it streams (Markdown on a terminal, raw text otherwise). Ctrl-C during an answer stops it and keeps
what came; every turn is already in the history database when it is shown.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from llamacli.base import paths
from llamacli.cli import exit_codes, messages, options
from llamacli.cli.output import Output
from llamacli.errors import ExitCode, LlamacliError, UsageError
from llamacli.models import references

if TYPE_CHECKING:
    from collections.abc import Callable

    from llamacli.cli.chat_input import PlainInput, TerminalInput
    from llamacli.engine import GenerationParams, LoadParams
    from llamacli.services.chat import ChatSession, Notice

CHAT_EPILOG = exit_codes.epilog(*(code for code in ExitCode if code is not ExitCode.STDOUT_CLOSED))


def chat(
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[MODEL] [ID]",
            help="Model reference (optional); with --continue, the conversation ID or saved name.",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--continue", "-C", help="Resume the latest conversation (or the one named by ID).")
    ] = False,
    model: options.Model = None,
    system: options.System = None,
    max_tokens: options.MaxTokens = None,
    temperature: options.Temperature = None,
    top_p: options.TopP = None,
    top_k: options.TopK = None,
    min_p: options.MinP = None,
    repeat_penalty: options.RepeatPenalty = None,
    seed: options.Seed = None,
    ctx: options.Ctx = None,
    threads: options.Threads = None,
    stop: options.Stop = None,
    verbose: options.Verbose = False,
    debug: options.Debug = False,
    offline: options.Offline = False,
    pull: options.PullBest = False,
) -> None:
    """Chat with a model; every turn is saved. /help inside lists the commands.

    Answers stream as Markdown. 'llamacli history' lists conversations; --continue resumes one.

    \b
    Examples:
      llamacli chat
      llamacli chat smollm2:135m --system "Answer briefly."
      llamacli chat --continue          (the latest conversation)
      llamacli chat --continue 12       (conversation 12, or a /save name)

    Every option's default can be set in config.toml (README: Configuration).
    """
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    reference, conversation = _split_words(list(words or []), resume, model)
    flags = options.flags(locals())
    chosen = options.resolve(Output(), flags, debug=debug)
    # A conversation being continued keeps its own system prompt unless --system is given.
    system = system if resume else chosen.system
    start_chat(
        reference,
        chosen.load,
        chosen.gen,
        system=system,
        resume=resume,
        conversation=conversation,
        pull=pull and not offline,
        verbose=verbose,
    )


def _split_words(words: list[str], resume: bool, model: str | None) -> tuple[str | None, str | None]:
    """(model reference, conversation id) from the positional words and -m."""
    if len(words) > 2 or (len(words) == 2 and not resume):
        raise UsageError(f"unexpected argument '{words[-1]}'", "usage: llamacli chat [MODEL] [--continue [ID]]")
    reference, conversation = model, None
    for word in words:
        if resume and conversation is None and (model is not None or not references.looks_like_model(word)):
            conversation = word
        elif reference is None:
            reference = word
        else:
            raise UsageError(f"two models given: '{reference}' and '{word}'", "name one model")
    return reference, conversation


def start_chat(
    reference: str | None,
    load: LoadParams,
    gen: GenerationParams,
    *,
    system: str | None = None,
    resume: bool = False,
    conversation: str | None = None,
    pull: bool = False,
    verbose: bool = False,
) -> None:
    """Open the session (resuming one if asked) and run the loop until /bye or Ctrl-D."""
    from llamacli.cli import auto_model
    from llamacli.cli.chat_input import PlainInput, TerminalInput
    from llamacli.cli.run_cmd import warn_if_too_big
    from llamacli.engine import Model
    from llamacli.history.database import History
    from llamacli.services import run as service
    from llamacli.services.chat import ChatSession, conversation_to_continue, model_loader

    out = Output()
    history = History.open()
    try:
        past = conversation_to_continue(history, conversation) if resume else None
        if past is None and auto_model.wants_auto(reference):
            explicit = reference == auto_model.AUTO
            local = auto_model.resolve_auto(out, load.n_ctx, explicit=explicit, pull=pull)
        else:
            local = service.resolve(reference or (past.model if past else None))
        warn_if_too_big(out, local, load.n_ctx)
        with out.status(f"Loading {local.name}…"):
            model = Model(local.path, load)
        if verbose:
            out.dim(model.runtime_summary())
        loader = model_loader(load, service.resolve)
        session = ChatSession(model, local, gen, history, loader, system=system, notify=_notifier(out))
        if past:
            session.continue_from(past)
        interactive = sys.stdin.isatty()
        reader = TerminalInput(paths.data_dir() / "chat-input-history") if interactive else PlainInput()
        try:
            if interactive:
                _welcome(out, session)
            _loop(out, session, reader)
        finally:
            session.close()
    finally:
        history.close()


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
                show_answer(out, session.say(parsed), stats=session.show_stats)
                continue
            reply = session.run(parsed)
            for text in reply.lines:
                out.notice(text)
            if reply.answer is not None:
                show_answer(out, reply.answer, stats=session.show_stats)
            if reply.exit:
                return
        except said_in_chat as e:
            out.notice(messages.describe(e).line())
        except LlamacliError as e:  # a bad /model or /load, a message too long: the chat goes on
            said = messages.describe(e)
            out.error(said.text, said.hint)
        except KeyboardInterrupt:  # e.g. during a /model load: back to the prompt, the chat goes on
            out.notice("(interrupted)")
