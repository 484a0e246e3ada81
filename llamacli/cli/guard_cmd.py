"""`llamacli guard`: ask a Llama Guard 3 model whether a text is safe, for scripts."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from llamacli.cli import exit_codes, guarding, options
from llamacli.cli.output import Output
from llamacli.errors import ExitCode, InvalidValue

GUARD_EPILOG = exit_codes.epilog(
    ExitCode.OK,
    ExitCode.USER_ERROR,
    ExitCode.USAGE,
    ExitCode.MODEL_LOAD,
    ExitCode.NETWORK,
    (ExitCode.BLOCKED, "the text is unsafe"),
    ExitCode.INTERRUPTED,
    ExitCode.STDOUT_CLOSED,
)
MAX_TEXT_BYTES = 1024 * 1024  # the guard reads at most 4,096 tokens: a megabyte of text is far beyond


def guard(
    words: Annotated[
        list[str] | None,
        typer.Argument(metavar="TEXT", help="The text to classify (piped stdin is appended).", show_default=False),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="The guard model.  [default: llama-guard3:1b]")
    ] = None,
    agent: Annotated[
        bool, typer.Option("--agent", help="Classify TEXT as a model's answer (default: as a user's prompt).")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: model, safe, categories and their names.")
    ] = False,
    threads: options.Threads = None,
    offline: options.Offline = False,
    verbose: options.Verbose = False,
) -> None:
    """Classify TEXT with a Llama Guard 3 model: prints `safe`, or `unsafe` and the categories (`unsafe S1,S10`).

    \b
    Examples:
      llamacli guard "How do I bake bread?"
      cat answer.txt | llamacli guard --agent --json
      llamacli guard -m llama-guard3:8b "..." || echo blocked

    The categories' names (S1 Violent Crimes ... S13 Elections, S14 Code Interpreter Abuse on the 8B) are in
    docs/guard.md.
    """
    from llamacli.cli import loading
    from llamacli.services import run as run_service
    from llamacli.services.guard import classify

    out = Output()
    text = run_service.compose_prompt(" ".join(words or []), _read_stdin())
    params = run_service.load_params(n_threads=threads)
    policy = loading.policy(out, offline=offline, pull_best=False)
    with guarding.open_guard(out, model, params, policy) as loaded, out.status("Checking…"):
        screening = classify(loaded.model, text, "agent" if agent else "user")
    verdict = screening.verdict
    if verbose and screening.stats is not None:
        stats = screening.stats
        out.dim(f"prompt {stats.prompt_tokens} tokens · load {stats.load_seconds:.2f} s")
    if json_output:
        out.data({"model": loaded.name, **verdict.to_dict()})
    else:
        out.answer(verdict.line() + "\n")
        if not verdict.safe and out.stderr_tty:
            out.notice(verdict.names())
    if not verdict.safe:
        raise typer.Exit(ExitCode.BLOCKED)


def _read_stdin() -> str | None:
    """Piped text (bounded), as `run` reads it."""
    if sys.stdin is None or sys.stdin.isatty():
        return None
    data = sys.stdin.buffer.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        raise InvalidValue(f"stdin is larger than {MAX_TEXT_BYTES // 1024} KiB", "the guard reads 4,096 tokens at most")
    return data.decode("utf-8", errors="replace")
