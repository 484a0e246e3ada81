"""The model store under the data directory: verified blobs, partial downloads, manifests, locks.

Layout (`llamacli paths` shows the root; `LLAMACLI_HOME/models` when that is set):

    blobs/sha256-<hex>.gguf       complete files, verified against the Hub's sha256, never written in place
    partial/sha256-<hex>.part     downloads in progress (persist across processes: the next pull resumes)
    partial/sha256-<hex>.lock     held while a process downloads that blob (two pulls: one download)
    manifests/<id>.json           one per model: where it came from and which file is it (models/manifest.py;
                                  a model split into parts names each part's blob, in order)
    quantized/<name>.gguf         files `quantize` made (registered like imports, but ours: rm deletes them)
    quantized/<name>.PID.part     a quantization in progress (swept once process PID is gone)

A model is present only when its manifest exists, and a manifest is written (atomically) only after
its blob was verified and moved into place: nothing half-written is ever listed or loaded. Imported
models have a manifest pointing at the user's own file, which is never copied, moved or deleted.

Crash consistency (kill -9 at any instant): every JSON file is written to a temporary name and renamed;
a blob's lock is held from its download through the writing of its manifest, and by `rm` while it
deletes; `rm` deletes the file before the manifest. What an interrupted command can leave behind (a
blob no manifest points at, a manifest whose file is gone, a stale record or temporary file) is never
listed, and `sweep` (run by `rm`) deletes it.

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
from dataclasses import replace
from pathlib import Path

from llamacli.base import paths
from llamacli.errors import BusyError, OutsideStore, StoreError
from llamacli.models.manifest import Manifest, Part, from_json, hub_key, import_key

__all__ = ["Manifest", "Part", "Store", "hub_key", "import_key"]

SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
MANIFEST_MAX = 1 << 20  # ours are a few hundred bytes; anything larger is not a manifest
RM_WAIT = 10.0  # seconds rm waits for a pull that is recording the same file (a download is never waited for)


class Store:
    """The models directory of one LLAMACLI_HOME (or platform data directory)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def default(cls, env: Mapping[str, str] = os.environ) -> Store:
        """The store of the current environment."""
        return cls(paths.models_dir(env))

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def partials(self) -> Path:
        return self.root / "partial"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def quantized(self) -> Path:
        return self.root / "quantized"

    def made_here(self, manifest: Manifest) -> bool:
        """Whether an imported model's file is one `quantize` wrote into the store (so `rm` deletes it)."""
        return manifest.imported and Path(manifest.path).parent.resolve() == self.quantized.resolve()

    def blob_path(self, sha256: str) -> Path:
        """Where the verified file of that digest lives."""
        return self.blobs / f"sha256-{_digest(sha256)}.gguf"

    def partial_path(self, sha256: str) -> Path:
        """Where a download of that digest is written while in progress."""
        return self.partials / f"sha256-{_digest(sha256)}.part"

    @contextlib.contextmanager
    def lock(self, sha256: str, on_wait: object = None, timeout: float = -1) -> Iterator[None]:
        """Hold the lock of one blob (released by the kernel if the process dies).

        Waits for it (calling ON_WAIT first) up to TIMEOUT seconds (-1: forever), then BusyError.
        """
        from filelock import FileLock, Timeout

        self.partials.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.partials / f"sha256-{sha256}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if callable(on_wait):
                on_wait()
            try:
                lock.acquire(timeout=timeout)
            except Timeout:
                raise BusyError(sha256) from None
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def _if_free(self, sha256: str) -> Iterator[bool]:
        """Hold the blob's lock if no process holds it right now; yields whether it is held."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.partials / f"sha256-{sha256}.lock"))
        self.partials.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def file_of(self, manifest: Manifest) -> Path:
        """The GGUF a manifest points at."""
        return self.root / manifest.path

    def intact(self, manifest: Manifest) -> bool:
        """Whether MANIFEST's files are as recorded: an imported file exists, a pulled one is still its blob."""
        return self.changed_file(manifest) is None

    def files_of(self, manifest: Manifest) -> tuple[Path, ...]:
        """Every file of a model, in order (a split model's parts; else its one file)."""
        return tuple(self.root / part.path for part in manifest.files)

    def changed_file(self, manifest: Manifest) -> Path | None:
        """The first of MANIFEST's files that is not as recorded (missing, replaced, cut short); None if all are."""
        for part, path in zip(manifest.files, self.files_of(manifest), strict=True):
            whole = path.is_file() if manifest.imported else self.has_blob(part.sha256 or "", part.size)
            if not whole:
                return path
        return None

    def has_blob(self, sha256: str, size: int) -> bool:
        """Whether the verified blob is in place: a regular file of SIZE bytes.

        Not a symlink put where it was (loading would follow it to a file nobody verified), not a file
        cut short: either one makes the model absent, so `pull` downloads it again over it.
        """
        try:
            st = self.blob_path(sha256).lstat()
        except (OSError, ValueError):  # ValueError: not a digest
            return False
        return stat.S_ISREG(st.st_mode) and st.st_size == size

    def mark_partial(self, sha256: str, manifest: Manifest) -> None:
        """Record what a partial download is, so `rm` can find it before it completes."""
        _write_atomic(self.partials / f"sha256-{sha256}.json", json.dumps(manifest.to_json()))

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
        with self._if_free(sha256) as free:
            if not free:
                raise BusyError(sha256)
            return self._drop_partial(sha256)

    def _drop_partial(self, sha256: str) -> int:
        """Delete a partial download and its record (the caller holds the lock); bytes freed."""
        freed = self._delete(self.partial_path(sha256))
        self.unmark_partial(sha256)
        return freed

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
            manifest = from_json(json.loads(file.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None  # absent, or not ours: never listed
        if manifest is None:
            return None
        if not record and not manifest.imported and not self._own_blob(manifest):
            return None
        return manifest

    def _own_blob(self, manifest: Manifest) -> bool:
        """Whether a pulled model's manifest names valid digests and those digests' blobs as its files."""
        first = manifest.files[0]
        if (first.path, first.sha256) != (manifest.path, manifest.sha256):
            return False
        return all(
            part.sha256 is not None
            and SHA256.match(part.sha256)
            and Path(part.path) == self.blob_path(part.sha256).relative_to(self.root)
            for part in manifest.files
        )

    def put(self, manifest: Manifest) -> Manifest:
        """Record a present model (atomically: a reader sees the old state or the new, never half)."""
        manifest = replace(manifest, created=manifest.created or time.time())
        _write_atomic(self._manifest_file(manifest.key), json.dumps(manifest.to_json(), indent=2))
        return manifest

    def all(self) -> list[Manifest]:
        """Every present model, oldest first."""
        if not self.manifests.is_dir():
            return []
        found = [m for f in sorted(self.manifests.glob("*.json")) if (m := self._load(f)) is not None]
        return sorted(found, key=lambda m: m.created)

    def remove(self, manifest: Manifest) -> int:
        """Forget a model and delete its blobs (every part's) unless another manifest uses them; bytes freed.

        The file goes first and the manifest last, under the blob's lock (so a pull cannot be recording
        the same file meanwhile): a kill in between leaves a manifest whose file is missing, which is
        never listed and which `sweep` drops, never a blob nobody points at. Every path is checked
        before anything is deleted, so a refusal (OutsideStore) changes nothing.
        """
        if manifest.imported or manifest.sha256 is None or not SHA256.match(manifest.sha256):
            freed = self._delete(self.file_of(manifest)) if self.made_here(manifest) else 0
            self._delete(self._manifest_file(manifest.key))  # an imported file is the user's: only forgotten
            return freed
        digests = manifest.digests
        for path in (self._manifest_file(manifest.key), *map(self.blob_path, digests)):
            self._check_inside(path)
        for path in map(self.partial_path, digests):
            self._check_inside(path)
        freed = 0
        with contextlib.ExitStack() as held:  # every part's lock, in order (as a pull takes them)
            for sha in digests:
                held.enter_context(self.lock(sha, timeout=RM_WAIT))
            for sha in dict.fromkeys(digests):
                freed += 0 if self._used(sha, besides=manifest.key) else self._delete_blob(sha)
            self._delete(self._manifest_file(manifest.key))
        return freed

    def release(self, sha256: str) -> int:
        """Delete the blob of SHA256 unless a manifest points at it (a superseded file); bytes freed."""
        with self.lock(sha256, timeout=RM_WAIT):
            return 0 if self._used(sha256) else self._delete_blob(sha256)

    def _used(self, sha256: str, besides: str | None = None) -> bool:
        return any(sha256 in m.digests and not m.imported and m.key != besides for m in self.all())

    def _delete_blob(self, sha256: str) -> int:
        """Delete the blob and any partial download of SHA256 (the caller holds its lock); bytes freed."""
        return self._delete(self.blob_path(sha256)) + self._drop_partial(sha256)

    def sweep(self) -> int:
        """Delete what interrupted commands left behind; return bytes freed.

        A blob no manifest points at (a pull killed between moving its file into place and recording
        it), a manifest whose blob is gone (an rm killed between its two steps), a partial record
        without its partial file, a temporary file of a dead process. Blobs a process holds are skipped.
        """
        freed = 0
        for stale in [*self.manifests.glob("*.tmp"), *self.partials.glob("*.tmp"), *self.quantized.glob("*.part")]:
            if not _alive(stale):
                with contextlib.suppress(OSError):
                    stale.unlink(missing_ok=True)
        shas = {p.name.removeprefix("sha256-").split(".")[0] for p in self.blobs.glob("sha256-*.gguf")}
        shas |= {p.name.removeprefix("sha256-").removesuffix(".json") for p in self.partials.glob("sha256-*.json")}
        shas |= {sha for m in self.all() if not m.imported for sha in m.digests}
        for sha in sorted(filter(SHA256.match, shas)):  # an odd name is not ours to delete
            with contextlib.suppress(OSError, OutsideStore), self._if_free(sha) as free:  # housekeeping: never fails
                freed += self._sweep_one(sha) if free else 0
        return freed

    def _sweep_one(self, sha256: str) -> int:
        """Sweep one digest whose lock the caller holds."""
        for m in self.all():
            if sha256 in m.digests and not m.imported and not all(f.is_file() for f in self.files_of(m)):
                self._delete(self._manifest_file(m.key))
        if not self.partial_path(sha256).exists():
            self.unmark_partial(sha256)
        blob = self.blob_path(sha256)
        if blob.is_file() and not self._used(sha256):
            return self._delete_blob(sha256)
        return 0

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


def _write_atomic(target: Path, text: str) -> None:
    """Write TEXT to TARGET through a temporary file and a rename; StoreError (nothing changed) if it fails."""
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as e:  # a full disk, a file size limit, a read-only store
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise StoreError(target, e) from e


def _alive(tmp: Path) -> bool:
    """Whether the process that wrote TMP (NAME.PID.tmp, or NAME.PID.part) still runs."""
    pid = tmp.stem.rsplit(".", 1)[-1]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _digest(sha256: str) -> str:
    """SHA256 checked before it becomes part of a file name (a digest is never a path)."""
    if not SHA256.match(sha256):
        raise ValueError(f"not a sha256 digest: {sha256!r}")
    return sha256
