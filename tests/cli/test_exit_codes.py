"""The one exit-code table: every command's "Exit codes:" help and README's table agree with it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import typer

from llamacli.cli import app, exit_codes
from llamacli.errors import ExitCode

README = Path(__file__).resolve().parents[2] / "README.md"


def listed(epilog: str) -> list[tuple[int, str]]:
    """The (code, meaning) lines of an "Exit codes:" block."""
    block = epilog.split("Exit codes:\n", 1)[1]
    return [(int(code), meaning) for code, meaning in re.findall(r"^  (\d+) +(.+)$", block, re.M)]


def epilog_of(command: str) -> str | None:
    """The epilog `app.build` gives COMMAND (a sub-app's own, e.g. `history`)."""
    module_name, attribute, options = app._COMMANDS[command]
    target = getattr(importlib.import_module(f"llamacli.cli.{module_name}"), attribute)
    if isinstance(target, typer.Typer):
        epilog = target.info.epilog
        return epilog if isinstance(epilog, str) else None
    epilog = {"epilog": app.EPILOG, **options}["epilog"]
    if isinstance(epilog, str) and epilog.isidentifier():
        return str(getattr(importlib.import_module(f"llamacli.cli.{module_name}"), epilog))
    return epilog if isinstance(epilog, str) or epilog is None else None


def test_the_table_has_a_meaning_for_every_exit_code_in_order() -> None:
    assert list(exit_codes.MEANINGS) == sorted(ExitCode)
    assert listed(app.EPILOG) == [(int(code), meaning) for code, meaning in exit_codes.MEANINGS.items()]


def sub_commands() -> list[tuple[str, str | None]]:
    """(name, epilog) of each sub-app's commands (`history show`, `cache clear`)."""
    found = []
    for name, (module_name, attribute, _) in app._COMMANDS.items():
        target = getattr(importlib.import_module(f"llamacli.cli.{module_name}"), attribute)
        if isinstance(target, typer.Typer):
            found += [(f"{name} {c.name}", c.epilog) for c in target.registered_commands]
    return found


def test_every_command_and_sub_command_has_an_exit_codes_block() -> None:
    missing = [c for c in app._COMMANDS if c != "ls" and epilog_of(c) is None]
    missing += [name for name, epilog in sub_commands() if not epilog]
    assert missing == []


@pytest.mark.parametrize("command", [c for c in app._COMMANDS if epilog_of(c) is not None])
def test_each_command_s_epilog_lists_table_codes_in_order(command: str) -> None:
    lines = listed(epilog_of(command) or "")
    codes = [code for code, _ in lines]
    assert codes and codes[0] == ExitCode.OK and codes == sorted(set(codes))
    assert set(codes) <= set(ExitCode) and all(meaning.strip() for _, meaning in lines)
    assert ExitCode.USAGE in codes  # every command takes options, so every one can be misused


def test_an_epilog_says_the_table_s_meaning_unless_the_command_has_its_own() -> None:
    text = exit_codes.epilog(ExitCode.INTERRUPTED, (ExitCode.OK, "done"), ExitCode.USAGE)
    assert text == "\b\nExit codes:\n  0    done\n  2    usage error (unknown option, missing argument)\n" + (
        "  130  interrupted (Ctrl-C)\n"
    )


def readme_rows() -> list[tuple[int, str]]:
    """README's "### Exit codes" table: (code, meaning) per row."""
    section = README.read_text().split("\n### Exit codes\n", 1)[1]
    table = section.strip().split("\n\n", 1)[0]
    return [(int(m[1]), m[2]) for m in re.finditer(r"^\| (\d+) \| (.+) \|$", table, re.M)]


def test_the_readme_table_has_the_same_codes_in_order_each_with_its_meaning() -> None:
    rows = readme_rows()
    assert [code for code, _ in rows] == [int(code) for code in exit_codes.MEANINGS]
    for (code, meaning), summary in zip(rows, exit_codes.MEANINGS.values(), strict=True):
        keyword = summary.split(" (")[0]  # "user error", "the model failed to load", ...
        assert meaning.startswith(keyword), (code, keyword)
