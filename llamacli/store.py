"""The model store under the data directory: verified blobs, partial downloads, manifests, locks.

Layout (`llamacli paths` shows the root; `LLAMACLI_HOME/models` when that is set):

    blobs/sha256-<hex>.gguf       complete files, verified against the Hub's sha256, never written in place
    partial/sha256-<hex>.part     downloads in progress (persist across processes: the next pull resumes)
    partial/sha256-<hex>.lock     held while a process downloads that blob (two pulls: one download)
    manifests/<id>.json           one per model: where it came from and which file is it

A model is present only when its manifest exists, and a manifest is written (atomically) only after
its blob was verified and moved into place: nothing half-written is ever listed or loaded. Imported
models have a manifest pointing at the user's own file, which is never copied, moved or deleted.

Everything read back from disk is untrusted (a manifest may be edited, a blob or a directory replaced
by a symlink): a manifest is used only if it is a regular file with fields of the right types, and a
pulled model's file must be its own blob, named by a 64-hex sha256. Nothing is deleted unless the
directory it sits in resolves inside the store, and symlinks are removed, never followed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from llamacli import paths
from llamacli.errors import BusyError, OutsideStore

SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
MANIFEST_MAX = 1 << 20  # ours are a few hundred bytes; anything larger is not a manifest
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "key": (str,),
    "path": (str,),
    "size": (int,),
    "sha256": (str, type(None)),
    "repo": (str, type(None)),
    "file": (str, type(None)),
    "quant": (str, type(None)),
    "revision": (str, type(None)),
    "name": (str, type(None)),
    "parameters": (int, type(None)),
    "created": (int, float),
}


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
        return self.blobs / f"sha256-{_digest(sha256)}.gguf"

    def partial_path(self, sha256: str) -> Path:
        """Where a download of that digest is written while in progress."""
        return self.partials / f"sha256-{_digest(sha256)}.part"

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
            found = self._load(meta, record=True)
            sha = meta.name.removeprefix("sha256-").removesuffix(".json")
            if found is not None and SHA256.match(sha) and self.partial_path(sha).exists():
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
            freed = self._delete(self.partial_path(sha256))
            self.unmark_partial(sha256)
            return freed
        finally:
            lock.release()

    def _manifest_file(self, key: str) -> Path:
        return self.manifests / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"

    def get(self, key: str) -> Manifest | None:
        """The manifest for KEY, if that model is present."""
        return self._load(self._manifest_file(key))

    def _load(self, file: Path, record: bool = False) -> Manifest | None:
        """The manifest in FILE, or None when it is absent or not one of ours (never listed or deleted).

        RECORD: FILE describes a partial download (no blob yet; `rm` finds it by its digest).

        A symlink or any other non-regular file is not followed (a FIFO would block, a link could lead
        anywhere), fields must have their types (a string where a number belongs crashed `list`), and a
        pulled model must point at its own blob: an edited path cannot lead `run` or `rm` out of the store.
        """
        try:
            info = file.lstat()
            if not stat.S_ISREG(info.st_mode) or info.st_size > MANIFEST_MAX:
                return None
            data = json.loads(file.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not all(
                isinstance(v, _FIELD_TYPES.get(k, ())) and not isinstance(v, bool) for k, v in data.items()
            ):
                return None
            manifest = Manifest(**data)
        except (OSError, ValueError, TypeError):
            return None  # absent, or not ours: never listed
        if not record and not manifest.imported and not self._own_blob(manifest):
            return None
        return manifest

    def _own_blob(self, manifest: Manifest) -> bool:
        """Whether a pulled model's manifest names a valid digest and that digest's blob as its file."""
        if manifest.sha256 is None or not SHA256.match(manifest.sha256):
            return False
        return Path(manifest.path) == self.blob_path(manifest.sha256).relative_to(self.root)

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
        """Forget a model and delete its blob unless another manifest uses it; return bytes freed.

        Every path is checked before anything is deleted, so a refusal (OutsideStore) changes nothing.
        """
        targets = [self._manifest_file(manifest.key)]
        if manifest.imported or manifest.sha256 is None or not SHA256.match(manifest.sha256):
            pass  # an imported file is the user's: forgotten, never deleted
        elif not any(m.sha256 == manifest.sha256 and not m.imported and m.key != manifest.key for m in self.all()):
            targets += [self.blob_path(manifest.sha256), self.partial_path(manifest.sha256)]
        for path in targets:
            self._check_inside(path)
        sizes = [self._delete(path) for path in targets]
        return sum(sizes[1:])

    def _check_inside(self, path: Path) -> None:
        """OutsideStore unless the directory holding PATH resolves inside the store's root.

        A `blobs/` or `partial/` replaced by a symlink would otherwise make `rm` delete a file of the
        same name somewhere else. (The root itself may be a symlink: a store moved to a larger disk.)
        """
        if not path.parent.resolve().is_relative_to(self.root.resolve()):
            raise OutsideStore(path, self.root)

    def _delete(self, path: Path) -> int:
        """Unlink PATH (a symlink itself, never its target) once it is known to be inside; bytes freed."""
        self._check_inside(path)
        try:
            info = path.lstat()
        except FileNotFoundError:
            return 0
        path.unlink(missing_ok=True)
        return info.st_size if stat.S_ISREG(info.st_mode) else 0


def _digest(sha256: str) -> str:
    """SHA256 checked before it becomes part of a file name (a digest is never a path)."""
    if not SHA256.match(sha256):
        raise ValueError(f"not a sha256 digest: {sha256!r}")
    return sha256
