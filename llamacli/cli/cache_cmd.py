"""`llamacli cache`: the prompt states `run` and `chat` keep on disk, listed, and `cache clear` to empty it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from llamacli.cli import exit_codes
from llamacli.cli.output import Output, inert, table
from llamacli.errors import ExitCode

if TYPE_CHECKING:
    from llamacli.services.prompt_cache import CacheReport

CACHE_EPILOG = exit_codes.epilog(
    ExitCode.OK,
    (ExitCode.USER_ERROR, "user error (a bad value in config.toml or the environment)"),
    (ExitCode.USAGE, "usage error (unknown option)"),
)
CLEAR_EPILOG = exit_codes.epilog(ExitCode.OK, (ExitCode.USAGE, "usage error (unknown option)"))

app = typer.Typer(
    no_args_is_help=False,
    invoke_without_command=True,
    rich_markup_mode=None,
    epilog=CACHE_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _list(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object: entries, total, cap.")] = False,
) -> None:
    """Show the prompt states 'run' and 'chat' keep on disk: entries, total and cap.

    A run whose prompt starts like a cached one (the same system prompt, the earlier turns of a chat)
    restores its state instead of evaluating it again. The entries hold the prompts' content, in the
    model's form: 'llamacli cache clear' empties the cache; --no-cache, prompt_cache = false in
    config.toml or LLAMACLI_PROMPT_CACHE=0 turns it off.
    """
    if ctx.invoked_subcommand is not None:
        return
    from llamacli.services import prompt_cache

    out = Output()
    found = prompt_cache.report()
    if json_output:
        out.data(found.to_dict())
        return
    if found.entries:
        out.answer(table(_rows(found), _HEADER, right=(2, 3)))
    out.answer(_summary(found) + "\n")
    if not found.enabled:
        out.notice("The cache is off (prompt_cache = false in config.toml, or LLAMACLI_PROMPT_CACHE=0).")


_HEADER = ("MODEL", "KIND", "TOKENS", "SIZE", "LAST USED")


def _rows(found: CacheReport) -> list[tuple[str, ...]]:
    from llamacli.base.sizes import format_size

    return [
        (
            inert(e.model or "?", False),
            e.kind,
            str(e.tokens),
            format_size(e.size),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used)),
        )
        for e in found.entries
    ]


def _summary(found: CacheReport) -> str:
    from llamacli.base.sizes import format_size

    count = "1 entry" if len(found.entries) == 1 else f"{len(found.entries)} entries"
    return f"{count}, {format_size(found.total)} of {format_size(found.cap)} at most, in {found.directory}"


@app.command("clear", epilog=CLEAR_EPILOG)
def clear(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object: what was removed.")] = False,
) -> None:
    """Remove every entry of the prompt cache (runs then evaluate their prompts in full, and fill it again)."""
    from llamacli.base.sizes import format_size
    from llamacli.services import prompt_cache

    out = Output()
    done = prompt_cache.clear()
    if json_output:
        out.data({"directory": str(done.directory), "removed": done.removed, "freed_bytes": done.freed})
        return
    entries = "1 entry" if done.removed == 1 else f"{done.removed} entries"
    out.notice(f"Removed {entries} ({format_size(done.freed)}) from {done.directory}.")
