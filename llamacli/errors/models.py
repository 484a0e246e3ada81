"""Finding, pulling, importing and storing models: references, the registry, the Hub, the store."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path

from llamacli.errors.base import LlamacliError


class MalformedReference(LlamacliError):
    """TEXT is not a model reference (a name, hf.co/OWNER/REPO[:QUANT|/FILE] or a path)."""

    def __init__(self, text: str, why: str) -> None:
        super().__init__(text, why)
        self.text = text
        self.why = why


class NoSuchModelFile(LlamacliError):
    """A model given by its path names no file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.path = path


class PullOfFile(LlamacliError):
    """`pull` of a file on disk: there is nothing to download."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class ImportNameInUse(LlamacliError):
    """`import` onto a NAME the registry has (FILE None), or that already names another imported FILE."""

    def __init__(self, name: str, file: Path | None) -> None:
        super().__init__(name, file)
        self.name = name
        self.file = file


class ModelNotFound(LlamacliError):
    """A model reference names nothing known."""

    def __init__(self, name: str, close_matches: Sequence[str]) -> None:
        super().__init__(name)
        self.name = name
        self.close_matches = tuple(close_matches)


class PackageMissing(LlamacliError):
    """A bundled model's Python package is not installed."""

    def __init__(self, model: str, package: str) -> None:
        super().__init__(model, package)
        self.model = model
        self.package = package


class RegistryError(LlamacliError):
    """A models.toml (ours or the user's) is malformed: PROBLEM at PATH, LINE when known."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        super().__init__(path, line, problem)
        self.path = path
        self.line = line
        self.problem = problem


class MissingPart(LlamacliError):
    """A part of a model split into several files is not where llama.cpp looks for it (next to the first)."""

    def __init__(self, path: Path, no: int, count: int) -> None:
        super().__init__(path, no, count)
        self.path = path
        self.no = no
        self.count = count


class ModelNotLocal(LlamacliError):
    """A known model whose file is not on this machine yet."""

    def __init__(self, name: str, changed: Path | None = None) -> None:
        super().__init__(name, changed)
        self.name = name
        self.changed = changed  # its file in the store, when that is no longer the verified download


class DownloadError(LlamacliError):
    """A download failed: the network, the server, or what the server said (exit 4).

    UNTRUSTED: the server's answer was refused as invalid, before anything was written.
    """

    def __init__(self, repo: str, file: str | None, reason: str, untrusted: bool = False) -> None:
        super().__init__(repo, file, reason)
        self.repo = repo
        self.file = file
        self.reason = reason
        self.untrusted = untrusted


class AuthRequired(DownloadError):
    """The Hub refused access (401/403): a gated or private repository."""

    def __init__(self, repo: str, status: int) -> None:
        super().__init__(repo, None, f"HTTP {status}")
        self.status = status


class IntegrityError(DownloadError):
    """The downloaded bytes do not hash to the sha256 the Hub published; the file was deleted."""

    def __init__(self, repo: str, file: str, expected: str, actual: str) -> None:
        super().__init__(repo, file, "sha256 mismatch")
        self.expected = expected
        self.actual = actual


class RemoteNotFound(LlamacliError):
    """The repository, revision or file WHAT does not exist on the Hub (a user error: exit 1)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class QuantNotFound(RemoteNotFound):
    """REPO has no single .gguf file of quantization WANTED; AVAILABLE are the ones it has."""

    def __init__(self, repo: str, wanted: str, available: Sequence[str]) -> None:
        super().__init__(f"no {wanted} .gguf file in {repo}")
        self.repo = repo
        self.wanted = wanted
        self.available = tuple(available)


class QuantAmbiguous(RemoteNotFound):
    """Several files of REPO (MATCHES) are quantization WANTED."""

    def __init__(self, repo: str, wanted: str, matches: Sequence[str]) -> None:
        super().__init__(f"{len(matches)} files match {wanted} in {repo}")
        self.repo = repo
        self.wanted = wanted
        self.matches = tuple(matches)


class OfflineRefused(LlamacliError):
    """A network operation (WHAT) was asked for in offline mode (HF_HUB_OFFLINE or --offline)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class NotEnoughDisk(LlamacliError):
    """The model does not fit in the free space of the model store."""

    def __init__(self, path: Path, needed: int, free: int, purpose: str = "download") -> None:
        super().__init__(path, needed, free)
        self.path = path
        self.needed = needed
        self.free = free
        self.purpose = purpose  # what needs the space: "download", "quantized file"


class ModelNotPulled(LlamacliError):
    """`rm` or `show` of a model that is not on this machine."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class StoreError(LlamacliError):
    """The model store cannot be written (disk full, file size limit, permissions); nothing half-written stays.

    A partial download keeps what was written before the failure, for the next pull to resume.
    """

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(path, error.strerror or str(error))
        self.path = path
        self.errno = error.errno
        self.reason = error.strerror or str(error)

    @property
    def disk_full(self) -> bool:
        """The file system (or the user's quota) has no room left."""
        return self.errno in (errno.ENOSPC, errno.EDQUOT)

    @property
    def too_large(self) -> bool:
        """The file outgrew the file system's or the process's (ulimit -f) file size limit."""
        return self.errno == errno.EFBIG


class OutsideStore(LlamacliError):
    """A path the store was about to delete leads outside it (a symlinked directory): refused."""

    def __init__(self, path: Path, root: Path) -> None:
        super().__init__(path, root)
        self.path = path
        self.root = root


class BusyError(LlamacliError):
    """Another process is downloading that file right now."""

    def __init__(self, sha256: str) -> None:
        super().__init__(sha256)
        self.sha256 = sha256
