"""`llamacli history`: the conversations chat recorded, listed or shown one at a time."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from llamacli.cli import exit_codes
from llamacli.cli.output import Output, inert, table
from llamacli.errors import ExitCode

if TYPE_CHECKING:
    from llamacli.history.database import Conversation

HISTORY_EPILOG = exit_codes.epilog(
    ExitCode.OK,
    (ExitCode.USER_ERROR, "user error (no such conversation; the history cannot be read)"),
    ExitCode.USAGE,
    ExitCode.STDOUT_CLOSED,
)

app = typer.Typer(
    help="Conversations recorded by 'llamacli chat' (every turn is saved as it happens).",
    epilog=HISTORY_EPILOG,
    no_args_is_help=False,
    invoke_without_command=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-l", help="Show at most this many (0: all).")] = 20,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON array of conversations.")] = False,
) -> None:
    """List recorded conversations, newest first. 'history show ID' prints one; 'chat --continue ID' resumes it."""
    if ctx.invoked_subcommand is not None:
        return
    from llamacli.history.database import History

    out = Output()
    with History.open() as history:
        conversations = history.list(limit or None)
    if json_output:  # the list: each conversation without its messages ('history show ID --json' has them)
        out.data([c.to_dict(messages=False) | {"first_message": c.first_message} for c in conversations])
        return
    if not conversations:
        out.notice("No conversations yet: 'llamacli chat' starts one.")
        return
    out.answer(table([_row(c) for c in conversations], _HEADER, right=(0, 3)))


_HEADER = ("ID", "UPDATED", "MODELS", "MESSAGES", "NAME", "FIRST MESSAGE")


def _row(c: Conversation) -> tuple[str, ...]:
    first = " ".join(c.first_message.split())
    first = first if len(first) <= 60 else first[:59] + "…"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated))
    return (str(c.id), when, ", ".join(c.models) or c.model, str(c.message_count), c.name or "-", inert(first, False))


@app.command("show", epilog=HISTORY_EPILOG)
def show(
    conversation: Annotated[str, typer.Argument(metavar="ID", help="Conversation id or saved name.")],
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object with every message.")] = False,
) -> None:
    """Print one conversation (plain text, or --json)."""
    from llamacli.history.database import History

    out = Output()
    with History.open() as history:
        found = history.get(conversation)
    if json_output:
        out.data(found.to_dict())
        return
    label = f" [{found.name}]" if found.name else ""
    out.answer(f"# conversation {found.id}{label} with {', '.join(found.models) or found.model}\n")
    if found.system:
        out.answer(f"\n[system]\n{found.system}\n")
    several = len(found.models) > 1  # then each answer says which model wrote it
    for message in found.messages:
        by = f" · {message.model}" if several and message.model else ""
        note = " (interrupted)" if message.interrupted else ""
        out.answer(f"\n[{message.role}{by}]{note}\n{message.content}\n")
