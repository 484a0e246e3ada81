"""`llamacli cache` and `cache clear` on a store filled through its own API (no model needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from llamacli.engine.prompt_cache import PromptCache, state_key
from tests.support.cli import run_cli


def fill(home: Path, *entries: tuple[str, int, int]) -> PromptCache:
    """Entries (model label, tokens, payload bytes) in the prompt cache under HOME, oldest first."""
    store = PromptCache(home / "cache" / "prompts")
    for i, (model, tokens, size) in enumerate(entries):
        key = state_key((f"model={model}",), list(range(tokens)))
        assert store.put(key, bytes(size), {"tokens": tokens, "model": model, "kind": "prefix"})
        os.utime(store.directory / f"{key}.kv", (1_700_000_000 + i, 1_700_000_000 + i))
    return store


def test_an_empty_cache_lists_nothing_and_says_where_it_is(isolated: Path) -> None:
    result = run_cli("cache")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == f"0 entries, 0 B of 4.0 GiB at most, in {isolated / 'cache' / 'prompts'}\n"
    data = json.loads(run_cli("cache", "--json").stdout)
    assert data == {
        "directory": str(isolated / "cache" / "prompts"),
        "enabled": True,
        "total_bytes": 0,
        "cap_bytes": 4 * 2**30,
        "entries": [],
    }


def test_entries_are_listed_most_recently_used_first_with_the_total_and_cap(isolated: Path) -> None:
    fill(isolated, ("old.gguf", 100, 3000), ("new.gguf", 250, 5000))
    result = run_cli("cache", env={"LLAMACLI_PROMPT_CACHE_MAX": "1G"})
    assert result.returncode == 0, result.stderr
    header, first, second, summary = result.stdout.decode().splitlines()
    assert header.split() == ["MODEL", "KIND", "TOKENS", "SIZE", "LAST", "USED"]
    assert first.split()[:3] == ["new.gguf", "prefix", "250"] and second.split()[:3] == ["old.gguf", "prefix", "100"]
    assert summary.startswith("2 entries, 8 KiB of 1.0 GiB at most, in ")
    data = json.loads(run_cli("cache", "--json").stdout)
    assert [(e["model"], e["tokens"], e["kind"]) for e in data["entries"]] == [
        ("new.gguf", 250, "prefix"),
        ("old.gguf", 100, "prefix"),
    ]
    assert data["total_bytes"] == sum(e["size_bytes"] for e in data["entries"]) > 8000
    assert data["entries"][0]["last_used"] == 1_700_000_001


def test_clear_removes_every_entry_and_says_how_much(isolated: Path) -> None:
    store = fill(isolated, ("a.gguf", 100, 3000), ("b.gguf", 100, 3000))
    size = store.size()
    result = run_cli("cache", "clear", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"directory": str(store.directory), "removed": 2, "freed_bytes": size}
    assert store.entries() == []
    again = run_cli("cache", "clear")
    assert again.returncode == 0 and again.stdout == b""
    assert again.stderr.decode() == f"Removed 0 entries (0 B) from {store.directory}.\n"


def test_a_damaged_entry_is_not_listed_and_is_removed(isolated: Path) -> None:
    store = fill(isolated, ("a.gguf", 100, 3000), ("b.gguf", 100, 3000))
    victim = sorted(store.directory.glob("*.kv"))[0]
    victim.write_bytes(victim.read_bytes()[:40])  # cut short, as by a crash or a full disk
    data = json.loads(run_cli("cache", "--json").stdout)
    assert len(data["entries"]) == 1 and not victim.exists()


def test_turned_off_the_listing_says_so(isolated: Path) -> None:
    result = run_cli("cache", "--json", env={"LLAMACLI_PROMPT_CACHE": "0"})
    assert json.loads(result.stdout)["enabled"] is False
    result = run_cli("cache", env={"LLAMACLI_PROMPT_CACHE": "0"})
    assert result.returncode == 0 and b"The cache is off" in result.stderr


def test_a_bad_setting_is_one_line_and_exit_1(isolated: Path) -> None:
    result = run_cli("cache", env={"LLAMACLI_PROMPT_CACHE_MAX": "lots"})
    assert result.returncode == 1
    assert result.stderr.decode().count("\n") == 1 and b"LLAMACLI_PROMPT_CACHE_MAX" in result.stderr
    assert result.stdout == b""


def test_listing_the_cache_does_not_load_llama_cpp() -> None:
    code = (
        "import sys; from llamacli.cli import app; sys.argv = ['llamacli', 'cache', '--json']\n"
        "try: app.main()\nexcept SystemExit: pass\n"
        "print(sorted(m for m in ('llama_cpp', 'jinja2', 'numpy') if m in sys.modules), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert result.stderr.decode().strip() == "[]"
