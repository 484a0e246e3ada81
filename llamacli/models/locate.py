"""Turn a model reference into a GGUF file on this machine, without touching the network."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from llamacli.errors import (
    InvalidValue,
    MissingPart,
    ModelNotFound,
    ModelNotLocal,
    NoSuchModelFile,
    PackageMissing,
)
from llamacli.models import references, splits
from llamacli.models.registry import HubSource, PackageSource, Registry, Variant
from llamacli.models.store import Manifest, Store, hub_key, import_key


@dataclass(frozen=True)
class LocalModel:
    """A model file ready to load, and the name to show for it."""

    name: str
    path: Path
    variant: Variant | None = None
    sha256: str | None = None  # a pulled file's verified digest (what the prompt cache keys its states by)
    parts: tuple[Path, ...] = ()  # a model split into several files: every one, in order (`path` is the first)

    @property
    def url(self) -> str | None:
        """None: a local model has no server (services/engines.py's Located, which remote models share)."""
        return None


def package_file(variant: Variant) -> Path:
    """The GGUF inside an installed package, found without importing the package."""
    source = variant.entry.source
    assert isinstance(source, PackageSource)
    spec = importlib.util.find_spec(source.package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / variant.file.file
        if candidate.is_file():
            return candidate
    raise PackageMissing(variant.entry.name, source.pip)


def _local_path(path: Path) -> LocalModel:
    if not path.exists():
        raise NoSuchModelFile(path)
    if not path.is_file():
        raise InvalidValue(f"not a file: {path}", "give the path of a .gguf file")
    return LocalModel(name=str(path), path=path, parts=splits.local_parts(path))  # MissingPart for a lost part


def find_manifest(
    ref: references.Reference, registry: Registry, store: Store, *, intact: bool = True
) -> Manifest | None:
    """The store's record for REF (a pulled or imported model), if its file is on this machine as recorded
    (with INTACT false, whatever became of the file: what `rm` removes)."""
    from llamacli.models.references import DEFAULT_QUANT

    found: Manifest | None = None
    if isinstance(ref, references.HubRef):
        if ref.file:
            found = store.get(hub_key(ref.repo, ref.file))
        else:
            wanted = (ref.quant or DEFAULT_QUANT).upper()
            found = next((m for m in store.all() if m.repo == ref.repo and (m.quant or "") == wanted), None)
    elif isinstance(ref, references.NameRef):
        variant = registry.find(ref.name)
        if variant is None:
            found = store.get(import_key(ref.name))
        elif isinstance(variant.entry.source, HubSource):
            found = store.get(hub_key(variant.entry.source.repo, variant.file.file))
    elif isinstance(ref, references.PathRef):
        wanted_path = ref.path.resolve()
        found = next((m for m in store.all() if store.file_of(m).resolve() == wanted_path), None)
    return found if found is not None and (not intact or store.intact(found)) else None


def locate(text: str, registry: Registry, env: Mapping[str, str] = os.environ) -> LocalModel:
    """Resolve TEXT to a local file; ModelNotFound / ModelNotLocal / PackageMissing otherwise."""
    ref = references.parse(text)
    if isinstance(ref, references.PathRef):
        return _local_path(ref.path)
    store = Store.default(env)
    record = find_manifest(ref, registry, store, intact=False)
    manifest = record if record is not None and store.intact(record) else None
    changed = store.changed_file(record) if record is not None and manifest is None and not record.imported else None
    if isinstance(ref, references.HubRef):
        if manifest is None:
            raise ModelNotLocal(str(ref), changed)
        return _stored(str(ref), store, manifest)
    variant = registry.find(ref.name)
    if variant is None:
        if manifest is None:
            _lost_part(store, record)
            raise ModelNotFound(ref.name, registry.close_matches(ref.name))
        return _stored(ref.name, store, manifest)
    # A family alone (`llama3.2`, `llama3.2:latest`) is shown as the model it selects.
    name = ref.name if ref.name in (variant.entry.name, variant.tag) else variant.entry.name
    if isinstance(variant.entry.source, PackageSource):
        return LocalModel(name=name, path=package_file(variant), variant=variant)
    if manifest is None:
        raise ModelNotLocal(name, changed)
    return _stored(name, store, manifest, variant)


def _stored(name: str, store: Store, manifest: Manifest, variant: Variant | None = None) -> LocalModel:
    """The LocalModel of a pulled or imported model (its parts too, when it is split into several files)."""
    parts = store.files_of(manifest) if manifest.parts else ()
    return LocalModel(name, store.file_of(manifest), variant, _digest_of(manifest), parts)


def _lost_part(store: Store, record: Manifest | None) -> None:
    """MissingPart when an imported model split into parts lost one (its first part still there)."""
    if record is None or not record.imported or not record.parts or not store.file_of(record).is_file():
        return
    missing = store.changed_file(record)
    if missing is not None:
        raise MissingPart(missing, store.files_of(record).index(missing) + 1, len(record.parts))


def _digest_of(manifest: Manifest) -> str | None:
    """The sha256 a pulled file was verified against; None for an import (the user's file may change)."""
    return None if manifest.imported else manifest.sha256
