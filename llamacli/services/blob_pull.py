"""One verified blob into the store: the download, its record for `rm`, its checks, the move into place.

`pull` of a single file runs this once; `pull` of a model split into parts (services/split_pull.py) once
per part, each part its own resumable, locked, content-addressed blob. The caller holds the blob's lock.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from llamacli.base.sizes import format_size
from llamacli.errors import DownloadError, IntegrityError, ModelLoadError, NotEnoughDisk, StoreError
from llamacli.hub import metadata
from llamacli.models import gguf_info
from llamacli.models.store import Manifest, Store, hub_key

if TYPE_CHECKING:
    from llamacli.hub import download

DISK_MARGIN = 64 << 20  # leave room for the manifest, logs, and the filesystem's own needs


def check_disk(store: Store, needed: int) -> None:
    """NotEnoughDisk unless NEEDED bytes (and a margin) fit on the store's filesystem."""
    probe = store.root
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed + DISK_MARGIN > free:
        raise NotEnoughDisk(store.root, needed, free)


def verify_gguf(partial: Path, header: metadata.RemoteHeader | None) -> gguf_info.GGUFInfo:
    """The post-download check: a file that hashes right but is no GGUF is deleted (exit 3).

    When the header was already parsed from the Hub before the download (for the memory check) and the
    file starts with exactly those bytes, that parse stands: the same bytes give the same header.
    """
    if header is not None:
        with partial.open("rb") as f:
            if f.read(len(header.prefix)) == header.prefix:
                return header.info
    try:
        return gguf_info.read(partial)
    except ModelLoadError:
        partial.unlink(missing_ok=True)
        raise


def fetch_blob(
    repo: str,
    file: str,
    remote: metadata.RemoteFile,
    store: Store,
    header: metadata.RemoteHeader | None,
    progress: download.Progress,
    notify: Callable[[str], None],
    key: str | None = None,
) -> tuple[int, gguf_info.GGUFInfo]:
    """Download into the store with a record of the partial file (for `rm`, under KEY: the model's, which
    for a part is its first part's); (body bytes, header)."""
    key = key or hub_key(repo, file)
    pending = Manifest(key, "", remote.size, remote.sha256, repo, file, metadata.quant_of(file))
    store.mark_partial(remote.sha256, pending)
    try:
        result = _download(remote, store, store.partial_path(remote.sha256), header, progress, notify)
    except (IntegrityError, ModelLoadError):
        store.unmark_partial(remote.sha256)  # the bad file is gone; nothing to resume
        raise
    store.unmark_partial(remote.sha256)
    return result


def _download(
    remote: metadata.RemoteFile,
    store: Store,
    partial: Path,
    header: metadata.RemoteHeader | None,
    progress: download.Progress,
    notify: Callable[[str], None],
) -> tuple[int, gguf_info.GGUFInfo]:
    """Fetch, verify the sha256 and the GGUF header, and move into place; (body bytes fetched, header)."""
    from llamacli.hub import download

    if partial.exists() and partial.stat().st_size:
        notify(f"resuming {remote.file} from {format_size(partial.stat().st_size)}")
    before = partial.stat().st_size if partial.exists() else 0
    request = download.Request(remote.url, remote.headers, remote.size, remote.sha256)
    prefix = header.prefix if header is not None else b""  # the header read fetched the first bytes: keep them
    progress.file(remote.file, remote.sha256)
    try:
        download.fetch(metadata.client(), request, partial, progress, prefix=prefix)
    except download.TransferFailed as e:
        raise DownloadError(remote.repo, remote.file, str(e)) from e
    except download.DigestMismatch as e:
        raise IntegrityError(remote.repo, remote.file, remote.sha256, e.actual) from e
    except OSError as e:  # the disk filled up, or the store is not writable
        raise StoreError(partial, e) from e
    info = verify_gguf(partial, header)
    store.blobs.mkdir(parents=True, exist_ok=True)
    os.replace(partial, store.blob_path(remote.sha256))
    return remote.size - before, info
