"""`pull` of a model the Hub publishes in parts (`NAME-00001-of-0000N.gguf` ..., models/splits.py).

Every part is resolved first (its size and sha256 from the Hub's LFS metadata) and the whole model is
checked against the disk and the memory before a byte is downloaded. Each part is then its own blob,
fetched by the single-file machinery (services/blob_pull.py: resumable, verified, under the blob's lock),
so an interrupted pull starts again at the part it stopped in; finished parts are never fetched again.
The locks of the parts already in place are held until the manifest, which names every part in order, is
written: `rm` and `sweep` never see a part unrecorded while the pull runs. The progress covers the whole
model.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llamacli.base import paths
from llamacli.hub import metadata
from llamacli.models import gguf_info, splits
from llamacli.models.registry import ModelEntry
from llamacli.models.store import Manifest, Part, Store, hub_key
from llamacli.services import blob_pull

if TYPE_CHECKING:
    from llamacli.hub import download


@dataclass(frozen=True)
class Target:
    """What to pull: the first part's path in REPO, its registry entry (if any), the store and its record."""

    repo: str
    first: str
    entry: ModelEntry | None
    existing: Manifest | None
    store: Store


@dataclass(frozen=True)
class Pulled:
    """The model's manifest, and what `PullResult` says after the name: (path, size, sha256, fetched, present)."""

    manifest: Manifest
    result: tuple[Path, int, str, int, bool]


class WholeModel:
    """One progress for every part: a part's bytes are counted after the bytes of the parts before it."""

    def __init__(self, inner: download.Progress, total: int) -> None:
        self.inner, self.total = inner, total
        self.before = 0  # bytes of parts already in place, counted when the display starts
        self.started = False

    def skip(self, size: int) -> None:
        """A part already in place: its bytes count as done."""
        if self.started:
            self.inner.advance(size)
        else:
            self.before += size

    def file(self, name: str, sha256: str) -> None:
        """The part about to be fetched (the total stays the whole model's)."""
        self.inner.file(name, sha256)

    def start(self, total: int, done: int) -> None:
        """A part's transfer begins with DONE of its TOTAL bytes on disk."""
        if self.started:
            self.inner.advance(done)
        else:
            self.started = True
            self.inner.start(self.total, self.before + done)

    def advance(self, n: int) -> None:
        """N more bytes were written."""
        self.inner.advance(n)

    def retry(self, reason: str) -> None:
        """The connection dropped; resuming."""
        self.inner.retry(reason)


def pull(
    target: Target,
    progress: download.Progress | None,
    notify: Callable[[str], None],
    env: Mapping[str, str] = os.environ,
    force: bool = False,
) -> Pulled:
    """Download every part of TARGET that is not in place yet, then record the model (see the module)."""
    from llamacli.hub import download

    store, key = target.store, hub_key(target.repo, target.first)
    remotes = [metadata.resolve(target.repo, name) for name in splits.part_names(target.first)]
    digests = tuple(remote.sha256 for remote in remotes)
    missing = [remote for remote in remotes if not store.has_blob(remote.sha256, remote.size)]
    present = not missing and target.existing is not None and target.existing.digests == digests
    header = _check_first(target, remotes, missing, notify, env, force) if missing else None
    whole = WholeModel(progress or download.Silent(), sum(remote.size for remote in remotes))
    downloaded, cache = 0, paths.cache_dir(env)
    with contextlib.ExitStack() as held:  # in part order, as `rm` takes them
        for no, remote in enumerate(remotes, start=1):
            wait = f"waiting for another pull of {remote.file}…"
            held.enter_context(store.lock(remote.sha256, on_wait=lambda wait=wait: notify(wait)))
            if store.has_blob(remote.sha256, remote.size):  # another process may have finished it meanwhile
                whole.skip(remote.size)
                continue
            first_header = header if no == 1 else None
            fetched, info = blob_pull.fetch_blob(
                target.repo, remote.file, remote, store, first_header, whole, notify, key=key
            )
            gguf_info.remember(store.blob_path(remote.sha256), info, cache)
            downloaded += fetched
        info = splits.combined([gguf_info.read(store.blob_path(sha), cache) for sha in digests])
        old = store.get(key)
        manifest = _record(target, remotes, old, info)
    for sha in old.digests if old is not None else ():
        if sha not in digests:
            store.release(sha)  # the repository changed the file: drop the superseded part
    first = remotes[0]
    return Pulled(manifest, (store.blob_path(first.sha256), manifest.size, first.sha256, downloaded, present))


def _check_first(
    target: Target,
    remotes: list[metadata.RemoteFile],
    missing: list[metadata.RemoteFile],
    notify: Callable[[str], None],
    env: Mapping[str, str],
    force: bool,
) -> metadata.RemoteHeader | None:
    """Before any byte: room on disk for the missing parts, and (on a fresh start) room in memory for the
    whole model; the first part's header when it was read for that."""
    from llamacli.sizing import fit

    store = target.store
    started = [store.partial_path(remote.sha256) for remote in missing]
    have = sum(partial.stat().st_size for partial in started if partial.exists())
    blob_pull.check_disk(store, sum(remote.size for remote in missing) - have)
    if len(missing) < len(remotes) or have:  # a resumed pull was checked when it started
        return None
    return fit.check_before_pull(remotes[0], target.entry, force, notify, env, parts=remotes)


def _record(
    target: Target, remotes: list[metadata.RemoteFile], old: Manifest | None, info: gguf_info.GGUFInfo
) -> Manifest:
    """Write the model's manifest with every part in order (unless an identical one is there)."""
    store = target.store
    parts = tuple(
        Part(str(store.blob_path(remote.sha256).relative_to(store.root)), remote.size, remote.sha256)
        for remote in remotes
    )
    first = parts[0]
    manifest = Manifest(
        key=hub_key(target.repo, target.first),
        path=first.path,
        size=sum(part.size for part in parts),
        sha256=first.sha256,
        repo=target.repo,
        file=target.first,
        quant=metadata.quant_of(target.first) or info.file_type,
        revision=remotes[0].revision,
        parameters=info.parameters,
        created=old.created if old and old.digests == tuple(p.sha256 for p in parts) else 0.0,
        parts=parts,
    )
    if old is not None and old == manifest:
        return old
    return store.put(manifest)
