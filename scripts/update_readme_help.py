"""Rewrite the README's `<!-- help:NAME -->` blocks with the current `llamacli ... --help` output."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- help:([\w-]+) -->\n```text\n)(.*?)(```\n<!-- /help:\2 -->)", re.S)


def help_text(name: str) -> str:
    args = [] if name == "main" else name.split("-")
    llamacli = str(Path(sys.executable).parent / "llamacli")
    env = {"COLUMNS": "80", "PATH": ""}
    return subprocess.run([llamacli, *args, "--help"], capture_output=True, text=True, check=True, env=env).stdout


def main() -> None:
    text = README.read_text()
    README.write_text(BLOCK.sub(lambda m: m.group(1) + help_text(m.group(2)) + m.group(4), text))


if __name__ == "__main__":
    main()
