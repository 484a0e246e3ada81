"""The README and docs/ tell the truth: their --help excerpts are what the program prints, and their links lead
somewhere (an existing file, and a heading in it when the link names one)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import LLAMACLI, REPO

HELP_BLOCK = re.compile(r"<!-- help:([\w-]+) -->\n```text\n(.*?)```\n<!-- /help:\1 -->", re.S)
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Every top-level command that is not an alias has its --help in the docs (hw, ls and help print another's).
COMMANDS = {"run", "chat", "pull", "list", "rm", "show", "import", "models", "recommend", "doctor", "paths"} | {
    "quantize",
    "history",
    "cache",
}


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def excerpts() -> dict[str, str]:
    """`page:command` -> the excerpt, for every help block in every page."""
    found = {}
    for page in documents():
        for command, text in HELP_BLOCK.findall(page.read_text()):
            found[f"{page.relative_to(REPO)}:{command}"] = text
    return found


def prose(page: Path) -> str:
    """The page without fenced code blocks or inline code, where `[x](y)` and `# x` are not links or headings."""
    text = FENCE.sub("", page.read_text())
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings: lower case, punctuation dropped, spaces to hyphens, -N on repeats."""
    seen: dict[str, int] = {}
    result = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", FENCE.sub("", page.read_text()), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def links() -> list[tuple[Path, str]]:
    return [(page, target) for page in documents() for target in LINK.findall(prose(page))]


def test_docs_have_help_excerpts_of_every_command() -> None:
    assert {key.split(":")[1].split("-")[0] for key in excerpts()} >= COMMANDS


@pytest.mark.parametrize("key", sorted(excerpts()))
def test_help_excerpt_is_current(key: str) -> None:
    command = key.split(":")[1]
    args = [] if command == "main" else command.split("-")
    result = subprocess.run(
        [LLAMACLI, *args, "--help"], capture_output=True, text=True, check=True, env={"COLUMNS": "80", "PATH": ""}
    )
    assert excerpts()[key] == result.stdout, "run scripts/update_readme_help.py"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {target.split("#")[0] for page, target in links() if page.name == "README.md"}
    assert {f"docs/{page.name}" for page in documents()[1:]} <= linked


def test_the_link_checker_sees_links_and_anchors() -> None:
    readme = REPO / "README.md"
    assert (readme, "docs/run.md") in links()
    assert "exit-codes" in anchors(readme)


@pytest.mark.parametrize(("page", "target"), links(), ids=[f"{p.name}->{t}" for p, t in links()])
def test_relative_link_resolves(page: Path, target: str) -> None:
    if re.match(r"[a-z]+:", target):
        return  # http(s) and mailto links are not checked: the tests make no network calls
    path, _, anchor = target.partition("#")
    file = (page.parent / path).resolve() if path else page
    assert file.exists(), f"{page.relative_to(REPO)} links to {target}: no such file"
    assert file.is_relative_to(REPO), f"{page.relative_to(REPO)} links outside the repository: {target}"
    if anchor:
        assert anchor in anchors(file), f"{page.relative_to(REPO)} links to {target}: no such heading"
