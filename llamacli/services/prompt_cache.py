"""The on-disk prompt cache as people see it (`llamacli cache`): its entries, size and cap; emptied on request.

No llama.cpp here: a listing reads the entries' headers only, so `llamacli cache` starts fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamacli.base import settings
from llamacli.engine.params import DEFAULT_PROMPT_CACHE_BYTES
from llamacli.engine.prompt_cache import CacheEntry, PromptCache, default_dir


@dataclass(frozen=True)
class CacheReport:
    """The entries, most recently used first, their total size, the cap, and whether runs use the cache."""

    directory: Path
    entries: list[CacheEntry]
    total: int
    cap: int
    enabled: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {
            "directory": str(self.directory),
            "enabled": self.enabled,
            "total_bytes": self.total,
            "cap_bytes": self.cap,
            "entries": [
                {
                    "model": e.model,
                    "kind": e.kind,
                    "tokens": e.tokens,
                    "size_bytes": e.size,
                    "last_used": e.last_used,
                    "key": e.key,
                }
                for e in self.entries
            ],
        }


@dataclass(frozen=True)
class Cleared:
    """What `cache clear` removed."""

    directory: Path
    removed: int
    freed: int  # bytes


def _store(env: Mapping[str, str]) -> tuple[PromptCache, settings.Settings]:
    config = settings.load(env)
    return PromptCache(default_dir(env), config.prompt_cache_max or DEFAULT_PROMPT_CACHE_BYTES), config


def report(env: Mapping[str, str] = os.environ) -> CacheReport:
    """The cache's entries and totals (a damaged entry file is removed on the way, as a run would)."""
    store, config = _store(env)
    entries = store.entries()
    return CacheReport(
        store.directory, entries, sum(e.size for e in entries), store.max_bytes, config.prompt_cache is not False
    )


def clear(env: Mapping[str, str] = os.environ) -> Cleared:
    """Remove every entry (and dead writers' temporary files); config.toml is not read, so it cannot stop this."""
    store = PromptCache(default_dir(env))
    before = store.size()
    removed = store.clear()
    return Cleared(store.directory, removed, before)
