"""The model store's invariant, checked by the crash, concurrency and disk-full tests after every step.

Whatever was killed or raced, `llamacli list --json` lists only complete, verified models: each listed file
exists, has the size listed and hashes to what the Hub published for that name; every blob hashes to the
digest in its name (blobs appear only by rename after verification); every JSON record parses (they are
written atomically).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.support.cli import run_cli

_digests: dict[tuple[int, int, int], str] = {}  # (inode, size, mtime_ns) → sha256: a blob is never rewritten


def file_sha256(path: Path) -> str:
    """The sha256 of PATH (cached per inode, size and mtime: the checks run often)."""
    stat = path.stat()
    key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(8 << 20):
                digest.update(block)
        _digests[key] = digest.hexdigest()
    return _digests[key]


def listed(env: dict[str, str] | None = None) -> list[dict[str, object]]:
    """The non-bundled models `llamacli list --json` shows (it must succeed cleanly)."""
    result = run_cli("list", "--json", env=env)
    assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr
    return [e for e in json.loads(result.stdout) if e["source"] != "bundled"]


def assert_consistent(home: Path, expected: dict[str, str]) -> list[dict[str, object]]:
    """Check the invariant; EXPECTED maps each model name that may be listed to its sha256. The listing."""
    entries = listed()
    for entry in entries:
        name, path = str(entry["name"]), Path(str(entry["path"]))
        assert name in expected, f"unexpected model listed: {entry}"
        assert path.is_file(), f"{name} is listed but its file is missing: {path}"
        assert path.stat().st_size == entry["size"], f"{name} is listed but its file is partial: {path}"
        assert file_sha256(path) == expected[name], f"{name} is listed but its sha256 is wrong: {path}"
    root = home / "models"
    for blob in sorted((root / "blobs").glob("*")) if (root / "blobs").is_dir() else []:
        assert blob.name == f"sha256-{file_sha256(blob)}.gguf", f"a blob does not hash to its name: {blob}"
    for record in [*root.glob("manifests/*.json"), *root.glob("partial/*.json")]:
        with record.open(encoding="utf-8") as f:
            json.load(f)  # raises on a half-written record
    return entries


def store_files(home: Path) -> list[str]:
    """Every file in the store, relative to it (lock files aside: they are empty and harmless)."""
    root = home / "models"
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.suffix != ".lock")


def snapshot(home: Path) -> dict[str, bytes]:
    """The store's small files' contents and the big files' sizes, to compare before and after."""
    root = home / "models"
    out: dict[str, bytes] = {}
    for name in store_files(home):
        path = root / name
        size = path.stat().st_size
        out[name] = path.read_bytes() if size < 1 << 16 else str(size).encode()
    return out
