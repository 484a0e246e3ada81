"""Rewrite the `<!-- help:NAME -->` blocks of README.md and docs/*.md with the current `llamacli ... --help` output.

NAME is the command words joined by `-` (`history-show` is `llamacli history show --help`; `main` is
`llamacli --help`). tests/system/test_readme.py fails until this has been run after a change to any help text.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- help:([\w-]+) -->\n```text\n)(.*?)(```\n<!-- /help:\2 -->)", re.S)


def documents() -> list[Path]:
    """Every page that may carry help excerpts: the README, then the docs in name order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def help_text(name: str) -> str:
    """What `llamacli ... --help` prints at 80 columns, as the test runs it."""
    args = [] if name == "main" else name.split("-")
    llamacli = str(Path(sys.executable).parent / "llamacli")
    env = {"COLUMNS": "80", "PATH": ""}
    return subprocess.run([llamacli, *args, "--help"], capture_output=True, text=True, check=True, env=env).stdout


def main() -> None:
    for path in documents():
        text = path.read_text()
        updated = BLOCK.sub(lambda m: m.group(1) + help_text(m.group(2)) + m.group(4), text)
        if updated != text:
            path.write_text(updated)
            print(f"updated {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
