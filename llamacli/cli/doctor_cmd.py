"""`llamacli doctor`: one command that says whether this install works, and what to do where it does not."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

from llamacli.cli import exit_codes, messages
from llamacli.cli.output import Output
from llamacli.errors import ExitCode

if TYPE_CHECKING:
    from llamacli.services.doctor import Check

DOCTOR_EPILOG = exit_codes.epilog(
    (ExitCode.OK, "every check passed"),
    (ExitCode.USER_ERROR, "a check failed (each failed line says what to do)"),
    (ExitCode.USAGE, "usage error (unknown option)"),
    ExitCode.INTERRUPTED,
)


def doctor(
    deep: Annotated[bool, typer.Option("--deep", help="Also re-hash every pulled model (reads every byte).")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object: ok, and every check.")] = False,
) -> None:
    """Check this install: llama.cpp's build and self-test, the model store, the bundled model, offline mode,
    config and paths.

    \b
    Each check is one line, ✓ or ✗; a ✗ line says what to do. Exit 0 only when every check passes.
    """
    from llamacli.services import doctor as service

    out = Output()
    with out.status("Checking…"):
        report = [_worded(check) for check in service.checks(deep=deep)]
    ok = all(check.ok for check in report)
    if json_output:
        out.data({"ok": ok, "checks": [check.to_dict() for check in report]})
    else:
        width = max(len(check.name) for check in report)
        green, red, reset = ("\x1b[32m", "\x1b[31m", "\x1b[0m") if out.stdout_tty and out.color else ("", "", "")
        for check in report:
            mark = f"{green}✓{reset}" if check.ok else f"{red}✗{reset}"
            out.answer(f"{mark} {check.name:<{width}}  {check.detail}\n")
            if check.fix and not check.ok:
                out.answer(f"  {'':<{width}}  → {check.fix}\n")
    if not ok:
        raise typer.Exit(ExitCode.USER_ERROR)


def _worded(check: Check) -> Check:
    """CHECK with its error, if any, put in words: the message as its detail, the hint as its fix."""
    if check.error is None:
        return check
    said = messages.describe(check.error)
    return dataclasses.replace(check, detail=said.text, fix=said.hint or check.fix, error=None)
