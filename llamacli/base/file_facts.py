"""Facts about one exact file, remembered between runs (its GGUF header, whether llama.cpp loads it).

A file is identified by device, inode, size and modification time, so rewriting or replacing it gives
a new identity and a stale fact is never used; the path is not part of it, so a download renamed into
the store keeps what was learnt while it was verified. Entries are small JSON files under the cache
directory: an unreadable one counts as absent, and failing to write one only costs the next run time.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def _entry(path: Path, kind: str, cache_dir: Path) -> Path:
    st = path.stat()
    return cache_dir / kind / f"{st.st_dev}-{st.st_ino}-{st.st_size}-{st.st_mtime_ns}.json"


def recall(path: Path, kind: str, cache_dir: Path) -> Any | None:
    """What was remembered of KIND for PATH as it is now, or None."""
    try:
        return json.loads(_entry(path, kind, cache_dir).read_bytes())
    except (OSError, ValueError):
        return None


def remember(path: Path, kind: str, cache_dir: Path, value: Any) -> None:
    """Keep VALUE (JSON-ready) as the KIND fact of PATH as it is now; best effort, atomic."""
    with contextlib.suppress(OSError):
        entry = _entry(path, kind, cache_dir)
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(value, f)
            os.replace(tmp, entry)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
