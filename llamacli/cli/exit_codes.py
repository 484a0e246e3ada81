"""The one table of exit codes and what each means; every command's "Exit codes:" help is made from it.

README.md's exit code table is tested against it (tests/cli/test_exit_codes.py).
"""

from __future__ import annotations

from llamacli.errors import ExitCode

MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.USER_ERROR: "user error (unknown model, bad value, prompt too long for the context)",
    ExitCode.USAGE: "usage error (unknown option, missing argument)",
    ExitCode.MODEL_LOAD: "the model failed to load (corrupt, truncated or unsupported file)",
    ExitCode.NETWORK: "network or download failure",
    ExitCode.BLOCKED: "blocked by the guard (the prompt or the answer is unsafe)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
    ExitCode.STDOUT_CLOSED: "stdout was closed early (e.g. piped into head)",
}


def epilog(*codes: ExitCode | tuple[ExitCode, str]) -> str:
    """The "Exit codes:" block of a command's help: each of CODES, in the table's order, with its
    meaning in the table, or (CODE, MEANING) with what it means for that command."""
    says = dict(code if isinstance(code, tuple) else (code, MEANINGS[code]) for code in codes)
    lines = [f"  {int(code):<4} {says[code]}" for code in MEANINGS if code in says]
    return "\b\nExit codes:\n" + "\n".join(lines) + "\n"
