"""Model references as users type them, parsed and checked before any disk or network access.

Forms: a registry name (`smollm2:135m`, `llama3.2:1b-q8_0`), `hf.co/OWNER/REPO:QUANT`,
`hf.co/OWNER/REPO/FILE.gguf`, or a path to a local `.gguf` file.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from llamacli.errors import MalformedReference

# The quantization a Hub reference without one means (`hf.co/OWNER/REPO`): the usual 4-bit balance.
DEFAULT_QUANT = "Q4_K_M"
HUB_PREFIXES = ("hf.co/", "huggingface.co/", "https://huggingface.co/")
# ASCII only: with IGNORECASE alone, [A-Za-z] also matches the Kelvin sign (U+212A) and the long s (U+017F).
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\Z", re.ASCII)
_QUANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z", re.ASCII)
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}\.gguf\Z", re.IGNORECASE | re.ASCII)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*:[A-Za-z0-9][A-Za-z0-9._-]*\Z", re.ASCII)
_FAMILY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z", re.ASCII)  # a name without its tag: `llama3.2`


@dataclass(frozen=True)
class NameRef:
    """A name to look up in the registry."""

    name: str


@dataclass(frozen=True)
class HubRef:
    """A GGUF in a Hub repository, by quant or by file name."""

    repo: str
    quant: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.file}" if self.file else (f":{self.quant}" if self.quant else "")
        return f"hf.co/{self.repo}{tail}"


@dataclass(frozen=True)
class PathRef:
    """A GGUF file on disk."""

    path: Path


Reference = NameRef | HubRef | PathRef


def _parse_hub(text: str, rest: str) -> HubRef:
    if "\\" in rest or "\x00" in rest:
        raise MalformedReference(text, "backslashes and NUL are not allowed")
    quant = None
    parts = rest.split("/")
    if len(parts) == 2 and ":" in parts[1]:
        parts[1], quant = parts[1].split(":", 1)
    if len(parts) not in (2, 3):
        raise MalformedReference(text, "expected hf.co/OWNER/REPO:QUANT or hf.co/OWNER/REPO/FILE.gguf")
    owner, repo = parts[0], parts[1]
    for part in (owner, repo):
        if part in ("", ".", "..") or not _PART.match(part) or ".." in part:
            raise MalformedReference(text, f"{part!r} is not a valid owner or repository name")
    if len(parts) == 3:
        file = parts[2]
        if not _FILE.match(file) or ".." in file:
            raise MalformedReference(text, f"{file!r} is not a plain .gguf file name")
        return HubRef(f"{owner}/{repo}", file=file)
    if quant is not None and not _QUANT.match(quant):
        raise MalformedReference(text, f"{quant!r} is not a quantization name such as Q4_K_M")
    return HubRef(f"{owner}/{repo}", quant=quant)


def parse(text: str) -> Reference:
    """Classify and validate TEXT; MalformedReference if it is malformed."""
    if not text or not text.strip():
        raise MalformedReference(text, "it is empty")
    for prefix in HUB_PREFIXES:
        if text.startswith(prefix):
            return _parse_hub(text, text[len(prefix) :])
    if "\x00" in text:
        raise MalformedReference(text, "NUL is not allowed")
    if text.lower().endswith(".gguf") or "/" in text or text.startswith((".", "~")):
        return PathRef(Path(text).expanduser())
    if not _NAME.match(text) and not _FAMILY.match(text):
        raise MalformedReference(text, "a registry name looks like FAMILY:SIZE, e.g. llama3.2:1b (or the FAMILY alone)")
    return NameRef(text.lower())


def looks_like_model(text: str, families: Collection[str] = ()) -> bool:
    """Whether a first positional argument names a model rather than starting the prompt.

    `llamacli run "why is the sky blue?"` uses the default model: a reference is one word that is an
    `hf.co/` reference, a `.gguf` path, a NAME:TAG registry name, or one of FAMILIES (registry names
    without their tag, as ollama users type them: `llamacli run llama3.2 "hi"`).
    """
    if not text or any(c.isspace() for c in text):
        return False
    if text.lower() in families:
        return True
    return text.startswith(HUB_PREFIXES) or text.lower().endswith(".gguf") or bool(_NAME.match(text))
