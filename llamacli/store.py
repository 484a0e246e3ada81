"""The model store under the data directory: verified blobs, partial downloads, manifests, locks.

Layout (`llamacli paths` shows the root; `LLAMACLI_HOME/models` when that is set):

    blobs/sha256-<hex>.gguf       complete files, verified against the Hub's sha256, never written in place
    partial/sha256-<hex>.part     downloads in progress (persist across processes: the next pull resumes)
    partial/sha256-<hex>.lock     held while a process downloads that blob (two pulls: one download)
    manifests/<id>.json           one per model: where it came from and which file is it

A model is present only when its manifest exists, and a manifest is written (atomically) only after
its blob was verified and moved into place: nothing half-written is ever listed or loaded. Imported
models have a manifest pointing at the user's own file, which is never copied, moved or deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from llamacli import paths
from llamacli.errors import BusyError


@dataclass(frozen=True)
class Manifest:
    """A model on this machine: its source and its file."""

    key: str  # hf.co/OWNER/REPO/FILE for pulls, import:NAME for imports
    path: str  # relative to the store for pulled blobs (a portable LLAMACLI_HOME), absolute for imports
    size: int
    sha256: str | None = None
    repo: str | None = None
    file: str | None = None
    quant: str | None = None
    revision: str | None = None
    name: str | None = None  # the name an import was registered under
    parameters: int | None = None  # from the GGUF header, read once when the model arrived
    created: float = 0.0

    @property
    def imported(self) -> bool:
        """Whether the file is the user's own (never deleted by rm)."""
        return self.key.startswith("import:")


def hub_key(repo: str, file: str) -> str:
    """The manifest key of a file pulled from a Hub repository."""
    return f"hf.co/{repo}/{file}"


def import_key(name: str) -> str:
    """The manifest key of an imported file."""
    return f"import:{name}"


class Store:
    """The models directory of one LLAMACLI_HOME (or platform data directory)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def default(cls, env: Mapping[str, str] = os.environ) -> Store:
        """The store of the current environment."""
        return cls(paths.data_dir(env) / "models")

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def partials(self) -> Path:
        return self.root / "partial"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    def blob_path(self, sha256: str) -> Path:
        """Where the verified file of that digest lives."""
        return self.blobs / f"sha256-{sha256}.gguf"

    def partial_path(self, sha256: str) -> Path:
        """Where a download of that digest is written while in progress."""
        return self.partials / f"sha256-{sha256}.part"

    @contextlib.contextmanager
    def lock(self, sha256: str, on_wait: object = None) -> Iterator[None]:
        """Hold the download lock of one blob (released by the kernel if the process dies)."""
        from filelock import FileLock, Timeout

        self.partials.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.partials / f"sha256-{sha256}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if callable(on_wait):
                on_wait()
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def file_of(self, manifest: Manifest) -> Path:
        """The GGUF a manifest points at."""
        return self.root / manifest.path

    def mark_partial(self, sha256: str, manifest: Manifest) -> None:
        """Record what a partial download is, so `rm` can find it before it completes."""
        self.partials.mkdir(parents=True, exist_ok=True)
        target = self.partials / f"sha256-{sha256}.json"
        target.write_text(json.dumps(asdict(manifest)), encoding="utf-8")

    def unmark_partial(self, sha256: str) -> None:
        """The download completed (or was deleted): forget its record."""
        (self.partials / f"sha256-{sha256}.json").unlink(missing_ok=True)

    def pending(self) -> list[tuple[str, Manifest]]:
        """Partial downloads on disk: (sha256, what they will be)."""
        if not self.partials.is_dir():
            return []
        out = []
        for meta in sorted(self.partials.glob("sha256-*.json")):
            found = self._load(meta)
            sha = meta.name.removeprefix("sha256-").removesuffix(".json")
            if found is not None and self.partial_path(sha).exists():
                out.append((sha, found))
        return out

    def remove_partial(self, sha256: str) -> int:
        """Delete a partial download unless a process is writing it right now; return bytes freed."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.partials / f"sha256-{sha256}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise BusyError(sha256) from None
        try:
            partial = self.partial_path(sha256)
            freed = partial.stat().st_size if partial.exists() else 0
            partial.unlink(missing_ok=True)
            self.unmark_partial(sha256)
            return freed
        finally:
            lock.release()

    def _manifest_file(self, key: str) -> Path:
        return self.manifests / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"

    def get(self, key: str) -> Manifest | None:
        """The manifest for KEY, if that model is present."""
        return self._load(self._manifest_file(key))

    def _load(self, file: Path) -> Manifest | None:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            return Manifest(**data)
        except (OSError, ValueError, TypeError):
            return None  # absent, or not ours: never listed

    def put(self, manifest: Manifest) -> Manifest:
        """Record a present model (atomically: a reader sees the old state or the new, never half)."""
        self.manifests.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(**{**asdict(manifest), "created": manifest.created or time.time()})
        target = self._manifest_file(manifest.key)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(manifest), indent=2), encoding="utf-8")
        os.replace(tmp, target)
        return manifest

    def all(self) -> list[Manifest]:
        """Every present model, oldest first."""
        if not self.manifests.is_dir():
            return []
        found = [m for f in sorted(self.manifests.glob("*.json")) if (m := self._load(f)) is not None]
        return sorted(found, key=lambda m: m.created)

    def remove(self, manifest: Manifest) -> int:
        """Forget a model and delete its blob unless another manifest uses it; return bytes freed."""
        self._manifest_file(manifest.key).unlink(missing_ok=True)
        if manifest.imported or manifest.sha256 is None:
            return 0
        if any(m.sha256 == manifest.sha256 and not m.imported for m in self.all()):
            return 0
        freed = 0
        for path in (self.blob_path(manifest.sha256), self.partial_path(manifest.sha256)):
            with contextlib.suppress(FileNotFoundError):
                freed += path.stat().st_size
                path.unlink()
        return freed
