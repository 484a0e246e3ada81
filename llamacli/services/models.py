"""Model management use cases: pull, list, rm, show, import and the catalog. They return results; never print."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamacli.base import paths
from llamacli.base.offline import is_offline
from llamacli.errors import (
    ImportNameInUse,
    InvalidValue,
    ModelNotFound,
    ModelNotLocal,
    ModelNotPulled,
    OfflineRefused,
    PackageMissing,
    PullOfFile,
)
from llamacli.hub import metadata
from llamacli.models import gguf_info, references, registry, splits
from llamacli.models.locate import LocalModel, find_manifest, locate, package_file
from llamacli.models.registry import HubSource, ModelEntry, PackageSource, Registry
from llamacli.models.store import Manifest, Part, Store, hub_key, import_key
from llamacli.services import blob_pull

if TYPE_CHECKING:  # imported where used: `show` and `list` need neither
    from llamacli.hub import download

DISK_MARGIN = blob_pull.DISK_MARGIN


@dataclass(frozen=True)
class PullResult:
    """What a pull did."""

    name: str
    path: Path
    size: int
    sha256: str
    downloaded: int  # body bytes fetched by this process (0 when it was already complete)
    present: bool  # it was already on this machine before


@dataclass(frozen=True)
class LocalEntry:
    """One row of `list`: a model on this machine."""

    name: str
    quant: str | None
    size: int
    parameters: int | None
    modified: float
    path: Path
    source: str  # hf.co/OWNER/REPO, "imported" or "bundled"
    parts: int = 1  # files it is split into (`size` is all of them together)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {**self.__dict__, "path": str(self.path)}


def display_name(manifest: Manifest, reg: Registry) -> str:
    """The shortest name that selects this pulled or imported model."""
    if manifest.imported:
        return manifest.name or manifest.key
    for entry in reg:
        if isinstance(entry.source, HubSource) and entry.source.repo == manifest.repo:
            for q in entry.quants:
                if q.file == manifest.file:
                    return entry.short_name(q)
    if manifest.quant and manifest.repo:
        return f"hf.co/{manifest.repo}:{manifest.quant}"
    return manifest.key


def _pull_target(text: str, reg: Registry) -> tuple[str, str | None, str | None] | LocalModel:
    """(repo, file or None, quant or None) to download, or the LocalModel when nothing can be pulled."""
    ref = references.parse(text)
    if isinstance(ref, references.PathRef):
        raise PullOfFile(text)
    if isinstance(ref, references.HubRef):
        return ref.repo, ref.file, ref.quant
    variant = reg.find(ref.name)
    if variant is None:
        return locate(text, reg)  # an imported name (or ModelNotFound)
    if isinstance(variant.entry.source, PackageSource):
        return LocalModel(ref.name, package_file(variant), variant)
    return variant.entry.source.repo, variant.file.file, variant.file.quant


def _registry_entry(text: str, reg: Registry) -> ModelEntry | None:
    """The registry entry TEXT names, if it is a registry name."""
    ref = references.parse(text)
    variant = reg.find(ref.name) if isinstance(ref, references.NameRef) else None
    return variant.entry if variant is not None else None


def pull(
    text: str,
    progress: download.Progress | None = None,
    notify: Callable[[str], None] = lambda _: None,
    env: Mapping[str, str] = os.environ,
    force: bool = False,
) -> PullResult:
    """Download TEXT's model into the store unless it is already there; verify it.

    A registry model that cannot fit in memory is refused before any request (DoesNotFit); any other file
    once its GGUF header was read from the Hub.
    """
    from llamacli.hub import download
    from llamacli.sizing import fit

    reg = registry.load(env)
    target = _pull_target(text, reg)
    if isinstance(target, LocalModel):
        size = target.path.stat().st_size
        return PullResult(target.name, target.path, size, "", 0, present=True)
    repo, file, quant = target
    store = Store.default(env)
    existing = find_manifest(references.parse(text), reg, store)
    if is_offline(env):  # refused here: huggingface_hub only knows the offline mode it saw at import
        if existing is not None:
            return PullResult(display_name(existing, reg), store.file_of(existing), existing.size, "", 0, present=True)
        raise OfflineRefused(f"downloading {repo}")
    entry = _registry_entry(text, reg)
    if entry is not None and existing is None and not force and quant is not None:
        fit.refuse_before_asking(entry, entry.quant(quant), env)  # before any request: sized from the registry
    if file is None:
        file = metadata.pick_quant(repo, list(metadata.gguf_files(repo)), quant)
    if splits.is_first(file):
        from llamacli.services import split_pull

        got = split_pull.pull(split_pull.Target(repo, file, entry, existing, store), progress, notify, env, force)
        return PullResult(display_name(got.manifest, reg), *got.result)
    remote = metadata.resolve(repo, file)
    blob = store.blob_path(remote.sha256)
    have_blob = store.has_blob(remote.sha256, remote.size)
    present = have_blob and existing is not None and existing.sha256 == remote.sha256
    header = None
    if not have_blob:
        partial = store.partial_path(remote.sha256)
        have = partial.stat().st_size if partial.exists() else 0
        blob_pull.check_disk(store, remote.size - have)
        if not have:  # a resumed pull was checked when it started
            header = fit.check_before_pull(remote, entry, force, notify, env)
    info: gguf_info.GGUFInfo | None
    # The lock covers the download *and* the manifest: `rm` and `sweep` never see the blob unrecorded.
    with store.lock(remote.sha256, on_wait=lambda: notify(f"waiting for another pull of {file}…")):
        downloaded, info = 0, None
        if not store.has_blob(remote.sha256, remote.size):  # another process may have finished it while we waited
            downloaded, info = blob_pull.fetch_blob(
                repo, file, remote, store, header, progress or download.Silent(), notify
            )
            gguf_info.remember(blob, info, paths.cache_dir(env))  # `show` and `run` need not parse it again
        old = store.get(hub_key(repo, file))
        manifest = _record(store, repo, file, remote, old, info or gguf_info.read(blob, paths.cache_dir(env)))
    if old is not None and old.sha256 not in (None, remote.sha256):
        store.release(old.sha256)  # the repository changed the file: drop the superseded blob
    return PullResult(display_name(manifest, reg), blob, remote.size, remote.sha256, downloaded, present)


def _record(
    store: Store, repo: str, file: str, remote: metadata.RemoteFile, old: Manifest | None, info: gguf_info.GGUFInfo
) -> Manifest:
    """Write the model's manifest, unless an identical one is there (a pull of a present model writes nothing)."""
    blob = store.blob_path(remote.sha256)
    manifest = Manifest(
        key=hub_key(repo, file),
        path=str(blob.relative_to(store.root)),
        size=remote.size,
        sha256=remote.sha256,
        repo=repo,
        file=file,
        quant=metadata.quant_of(file) or info.file_type,
        revision=remote.revision,
        parameters=info.parameters,
        created=old.created if old and old.sha256 == remote.sha256 else 0.0,
    )
    if old is not None and old == manifest:
        return old
    return store.put(manifest)


def list_local(env: Mapping[str, str] = os.environ) -> list[LocalEntry]:
    """Every model on this machine: bundled, pulled and imported (only complete, verified files)."""
    reg = registry.load(env)
    out: list[LocalEntry] = []
    for entry in reg:
        if isinstance(entry.source, PackageSource):
            for q in entry.quants:
                variant = registry.Variant(entry, q)
                try:
                    path = package_file(variant)
                except PackageMissing:
                    continue
                stat = path.stat()
                name = entry.short_name(q)
                out.append(LocalEntry(name, q.quant, stat.st_size, entry.parameters, stat.st_mtime, path, "bundled"))
    store = Store.default(env)
    for m in store.all():
        path = store.file_of(m)
        if not store.intact(m):
            continue
        source = ("quantized" if store.made_here(m) else "imported") if m.imported else f"hf.co/{m.repo}"
        name, parts = display_name(m, reg), len(m.files)
        out.append(LocalEntry(name, m.quant, m.size, m.parameters, m.created, path, source, parts))
    return out


@dataclass(frozen=True)
class Removed:
    """What `rm` did to one model."""

    name: str
    freed: int  # bytes deleted
    kept: Path | None = None  # an imported model's file: forgotten, never deleted


def remove(text: str, env: Mapping[str, str] = os.environ) -> Removed:
    """Delete TEXT's model (an imported file is only forgotten)."""
    reg = registry.load(env)
    ref = references.parse(text)
    if isinstance(ref, references.NameRef):
        variant = reg.find(ref.name)
        if variant is not None and isinstance(variant.entry.source, PackageSource):
            raise InvalidValue(
                f"'{text}' is bundled with the Python package {variant.entry.source.pip}",
                f"remove it with: pip uninstall {variant.entry.source.pip}",
            )
        if variant is None and Store.default(env).get(import_key(ref.name)) is None:
            raise ModelNotFound(ref.name, reg.close_matches(ref.name))
    store = Store.default(env)
    store.sweep()  # what a killed pull or rm left behind goes first
    manifest = find_manifest(ref, reg, store, intact=False)  # a file replaced or cut short goes too
    if manifest is not None:
        kept = store.file_of(manifest) if manifest.imported and not store.made_here(manifest) else None
        return Removed(display_name(manifest, reg), store.remove(manifest), kept)
    partial_freed = sum(store.remove_partial(sha) for sha, meta in store.pending() if _same_model(meta, ref, reg))
    if partial_freed:
        return Removed(f"{text} (partial download)", partial_freed)
    raise ModelNotPulled(text)


def files_of(text: str, env: Mapping[str, str] = os.environ) -> tuple[Path, ...]:
    """The files of TEXT's model on this machine, found as `remove` finds them (none when it has none)."""
    store = Store.default(env)
    manifest = find_manifest(references.parse(text), registry.load(env), store, intact=False)
    return store.files_of(manifest) if manifest is not None else ()


def _same_model(meta: Manifest, ref: references.Reference, reg: Registry) -> bool:
    """Whether a (partial) download's record is what REF names."""
    from llamacli.models.references import DEFAULT_QUANT

    if isinstance(ref, references.HubRef):
        if ref.file:
            return meta.key == hub_key(ref.repo, ref.file)
        return meta.repo == ref.repo and meta.quant == (ref.quant or DEFAULT_QUANT).upper()
    if isinstance(ref, references.NameRef):
        variant = reg.find(ref.name)
        if variant is not None and isinstance(variant.entry.source, HubSource):
            return meta.key == hub_key(variant.entry.source.repo, variant.file.file)
    return False


def show(text: str, env: Mapping[str, str] = os.environ) -> tuple[str, Path | None, gguf_info.GGUFInfo]:
    """TEXT's GGUF header: from the local file, else (online) from the Hub with Range requests."""
    reg = registry.load(env)
    try:
        local = locate(text, reg, env)
        headers = [gguf_info.read(part, paths.cache_dir(env)) for part in local.parts or (local.path,)]
        return local.name, local.path, splits.combined(headers)  # a split model's metadata: its first part's
    except ModelNotLocal:
        if is_offline(env):
            raise
    target = _pull_target(text, reg)
    assert not isinstance(target, LocalModel)
    repo, file, quant = target
    if file is None:
        file = metadata.pick_quant(repo, list(metadata.gguf_files(repo)), quant)
    if splits.is_first(file):
        remotes = [metadata.resolve(repo, name) for name in splits.part_names(file)]
        return text, None, splits.combined([metadata.read_header(remote).info for remote in remotes])
    return text, None, metadata.remote_header(repo, file)


_NAME_CHARS = re.compile(r"[^a-z0-9._-]+")


def default_import_name(path: Path) -> str:
    """A registry-style name for an imported file: its lower-cased stem, tagged `local`."""
    found = splits.parse(path.name)  # a split model is named by its parts' common prefix
    base = found[0] if found is not None else path.name.removesuffix(".gguf")
    stem = _NAME_CHARS.sub("-", base.lower()).strip("-._") or "model"
    return f"{stem}:local"


def import_file(
    path: Path, name: str | None = None, env: Mapping[str, str] = os.environ, force: bool = False
) -> LocalEntry:
    """Register a GGUF already on disk under NAME, without copying it.

    A NAME that already names another imported file is refused unless FORCE (then it points here). The
    first part of a model split into several files (`X-00001-of-00003.gguf`) registers every part, each
    of which must be next to it (MissingPart otherwise): llama.cpp finds them there by name.
    """
    path = path.expanduser().resolve()
    if not path.is_file():
        raise InvalidValue(f"no such file: {path}", "give the path of a .gguf file")
    name = (name or default_import_name(path)).lower()
    ref = references.parse(name)
    if not isinstance(ref, references.NameRef) or ":" not in name:
        raise InvalidValue(f"'{name}' is not a model name", "a name looks like FAMILY:TAG, e.g. mymodel:q4")
    reg = registry.load(env)
    if reg.find(name) is not None:
        raise ImportNameInUse(name, None)
    files = splits.local_parts(path) or (path,)
    # ModelLoadError for a file that is not a whole GGUF
    info = splits.combined([gguf_info.read(file, paths.cache_dir(env)) for file in files])
    store = Store.default(env)
    existing = store.get(import_key(name))
    if existing is not None and not force and store.file_of(existing).resolve() != path:
        raise ImportNameInUse(name, store.file_of(existing))
    manifest = store.put(
        Manifest(
            key=import_key(name),
            path=str(path),
            size=sum(file.stat().st_size for file in files),
            name=name,
            quant=info.file_type,
            parameters=info.parameters,
            parts=tuple(Part(str(file), file.stat().st_size) for file in files) if len(files) > 1 else (),
        )
    )
    return LocalEntry(
        name, manifest.quant, manifest.size, info.parameters, manifest.created, path, "imported", len(files)
    )
