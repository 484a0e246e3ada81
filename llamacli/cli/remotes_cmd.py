"""`llamacli remotes`: the remote engines of config.toml, and whether each answers."""

from __future__ import annotations

from typing import Annotated

import typer

from llamacli.cli import exit_codes, messages
from llamacli.cli.output import Output, table
from llamacli.errors import ExitCode

REMOTES_EPILOG = exit_codes.epilog(
    (ExitCode.OK, "success: every remote answers (or none is configured)"),
    ExitCode.USER_ERROR,
    ExitCode.USAGE,
    (ExitCode.NETWORK, "a remote does not answer, or refuses us"),
)


def remotes(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON list: name, url, answers, kind, context, models, error.")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never touch the network (every remote is not asked).")
    ] = False,
) -> None:
    """List the remote engines configured in config.toml ([remotes.NAME]) and whether each answers.

    Each is asked what it is (llama.cpp, vLLM, ollama, llamacli serve, or plain OpenAI) and what it serves.
    'llamacli list --remote NAME' lists its models; 'llamacli run NAME/MODEL ...' runs there.
    """
    from llamacli.base import settings
    from llamacli.services import remotes as service

    out = Output()
    found = [service.status(r, offline) for r in settings.load().remotes]
    rows, data = [], []
    for s in found:
        said = messages.describe(s.error).text if s.error is not None else None
        data.append(
            {
                "name": s.remote.name,
                "url": s.remote.url,
                "answers": s.answers,
                "kind": s.kind,
                "context": s.context,
                "models": list(s.models),
                "error": said,
            }
        )
        context = f", context {s.context}" if s.context else ""
        what = f"{s.kind}{context}, {len(s.models)} models" if s.answers else f"no: {said}"
        rows.append([s.remote.name, s.remote.url, what])
    if json_output:
        out.data(data)
    elif rows:
        out.answer(table(rows, ["NAME", "URL", "ANSWERS"]))
    else:
        out.notice("No remotes configured: add [remotes.NAME] with a url to config.toml (docs/remote.md).")
    if any(not s.answers for s in found):
        raise typer.Exit(ExitCode.NETWORK)
