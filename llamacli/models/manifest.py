"""What the store records of one model (`manifests/<id>.json`): where it came from and which files it is.

A model split into parts (models/splits.py) records every part in order (`parts`); a single file
records none, so manifests written before parts existed still load. Everything read back is untrusted:
`from_json` accepts a manifest only with fields of the right types (a string where a number belongs
crashed `list`), and the store then checks that a pulled model's files are its own blobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    "parts": (list,),
}
_PART_TYPES: dict[str, tuple[type, ...]] = {"path": (str,), "size": (int,), "sha256": (str, type(None))}


@dataclass(frozen=True)
class Part:
    """One file of a model split into parts: its path (as the manifest's), bytes and verified sha256."""

    path: str
    size: int
    sha256: str | None = None


@dataclass(frozen=True)
class Manifest:
    """A model on this machine: its source and its file (the first part, for a split model)."""

    key: str  # hf.co/OWNER/REPO/FILE for pulls, import:NAME for imports
    path: str  # relative to the store for pulled blobs (a portable LLAMACLI_HOME), absolute for imports
    size: int  # every part's bytes together
    sha256: str | None = None
    repo: str | None = None
    file: str | None = None
    quant: str | None = None
    revision: str | None = None
    name: str | None = None  # the name an import was registered under
    parameters: int | None = None  # from the GGUF header, read once when the model arrived
    created: float = 0.0
    parts: tuple[Part, ...] = ()  # a split model's files in order (the first is `path`); () for one file

    @property
    def imported(self) -> bool:
        """Whether the file is the user's own (never deleted by rm)."""
        return self.key.startswith("import:")

    @property
    def files(self) -> tuple[Part, ...]:
        """Every file of the model, in order: its parts, or its one file."""
        return self.parts or (Part(self.path, self.size, self.sha256),)

    @property
    def digests(self) -> tuple[str, ...]:
        """The verified sha256 of each of its files that has one (a pulled model's blobs)."""
        return tuple(part.sha256 for part in self.files if part.sha256 is not None)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dictionary (what `from_json` reads back)."""
        data = {name: getattr(self, name) for name in _FIELD_TYPES if name != "parts"}
        return data | {"parts": [part.__dict__ for part in self.parts]} if self.parts else data


def from_json(data: Any) -> Manifest | None:
    """The manifest DATA describes, or None when a field is missing, unknown or of the wrong type."""
    if not isinstance(data, dict) or not _typed(data, _FIELD_TYPES):
        return None
    parts = data.get("parts", [])
    if not all(isinstance(part, dict) and _typed(part, _PART_TYPES) for part in parts):
        return None
    try:
        return Manifest(**{**data, "parts": tuple(Part(**part) for part in parts)})
    except TypeError:
        return None


def _typed(data: dict[str, Any], types: dict[str, tuple[type, ...]]) -> bool:
    return all(isinstance(v, types.get(k, ())) and not isinstance(v, bool) for k, v in data.items())


def hub_key(repo: str, file: str) -> str:
    """The manifest key of a file pulled from a Hub repository (a split model's: its first part's)."""
    return f"hf.co/{repo}/{file}"


def import_key(name: str) -> str:
    """The manifest key of an imported file."""
    return f"import:{name}"
