"""The README's --help excerpts are what the program prints."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.support.cli import LLAMACLI, REPO


def excerpts() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    found = re.findall(r"<!-- help:([\w-]+) -->\n```text\n(.*?)```\n<!-- /help:\1 -->", text, re.S)
    return dict(found)


def test_readme_has_help_excerpts() -> None:
    assert "run" in excerpts()


@pytest.mark.parametrize("command", sorted(excerpts()))
def test_help_excerpt_is_current(command: str) -> None:
    args = [] if command == "main" else command.split("-")
    result = subprocess.run(
        [LLAMACLI, *args, "--help"], capture_output=True, text=True, check=True, env={"COLUMNS": "80", "PATH": ""}
    )
    assert excerpts()[command] == result.stdout
