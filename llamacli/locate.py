"""Turn a model reference into a GGUF file on this machine, without touching the network."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from llamacli import references
from llamacli.errors import InvalidValue, ModelNotLocal, PackageMissing
from llamacli.registry import PackageSource, Registry, Variant


@dataclass(frozen=True)
class LocalModel:
    """A model file ready to load, and the name to show for it."""

    name: str
    path: Path
    variant: Variant | None = None


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
        raise InvalidValue(f"no such model file: {path}", "check the path, or use a name from 'llamacli models'")
    if not path.is_file():
        raise InvalidValue(f"not a file: {path}", "give the path of a .gguf file")
    return LocalModel(name=str(path), path=path)


def locate(text: str, registry: Registry, env: Mapping[str, str] = os.environ) -> LocalModel:
    """Resolve TEXT to a local file; ModelNotFound / ModelNotLocal / PackageMissing otherwise."""
    ref = references.parse(text)
    if isinstance(ref, references.PathRef):
        return _local_path(ref.path)
    if isinstance(ref, references.HubRef):
        raise ModelNotLocal(str(ref))
    variant = registry.get(ref.name)
    if isinstance(variant.entry.source, PackageSource):
        return LocalModel(name=ref.name, path=package_file(variant), variant=variant)
    raise ModelNotLocal(ref.name)
