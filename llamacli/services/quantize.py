"""`quantize`: a local GGUF (F16, BF16, F32, or a quantized one on request) to another quantization type,
written into the store and registered there like an import, so `list` shows it and `run NAME` runs it.

Two steps, so the CLI can speak between them: `plan` checks everything that can be checked before any
work (the source, the target type, the name, the free disk space) and `quantize` does the work in
llama.cpp's quantizer (engine/quantizer.py: a worker process). The output is written to
`quantized/NAME.PID.part` in the store and renamed into place only when complete; on any failure or
interrupt it is deleted (a process killed outright leaves it to `sweep`, which knows the PID is gone).
"""

from __future__ import annotations

import difflib
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamacli.base import paths
from llamacli.errors import (
    InvalidValue,
    NotEnoughDisk,
    QuantizeNameInUse,
    RequantizeRefused,
    UnknownQuantType,
)
from llamacli.models import gguf_info, references, registry
from llamacli.models.locate import locate
from llamacli.models.store import Store, import_key
from llamacli.services.models import DISK_MARGIN, default_import_name, import_file
from llamacli.sizing.estimate import QUANT_BITS, quantized_size

if TYPE_CHECKING:  # the worker's module is imported when a quantization starts
    from llamacli.engine import quantizer

UNQUANTIZED = frozenset({"F32", "F16", "BF16"})  # what a source may be without --allow-requantize
FTYPES = {name: number for number, name in gguf_info.FILE_TYPES.items()}  # llama_ftype by name
ALIASES = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}  # as llama-quantize accepts them


@dataclass(frozen=True)
class Plan:
    """A quantization checked and ready to run."""

    source: str  # the name or path given
    source_path: Path
    source_type: str | None  # the source's file type (general.file_type), None when the file does not say
    target: str  # the quantization type, canonical (Q4_K_M)
    name: str  # what the result is registered as
    path: Path  # where the result goes (in the store's quantized/ directory)
    tensors: int
    estimated_size: int

    @property
    def requantize(self) -> bool:
        """Whether the source is quantized already (the CLI warns: quality is lost twice)."""
        return self.source_type is not None and self.source_type not in UNQUANTIZED


@dataclass(frozen=True)
class Quantized:
    """What `quantize` made."""

    name: str
    path: Path
    quant: str
    size: int
    source: str
    source_path: Path
    source_size: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {**self.__dict__, "path": str(self.path), "source_path": str(self.source_path)}


def target_type(text: str) -> str:
    """TEXT as one of the types `quantize` makes (case-insensitive, llama-quantize's aliases); else UnknownQuantType."""
    wanted = ALIASES.get(text.upper(), text.upper())
    if wanted not in QUANT_BITS:
        choices = sorted(QUANT_BITS, key=lambda q: QUANT_BITS[q])
        close = difflib.get_close_matches(wanted, choices, n=3, cutoff=0.5)
        raise UnknownQuantType(text, close or choices)
    return wanted


def plan(
    source: str,
    to: str,
    name: str | None = None,
    *,
    allow_requantize: bool = False,
    env: Mapping[str, str] = os.environ,
    free_space: int | None = None,
) -> Plan:
    """Check a quantization before any work; FREE_SPACE: the store's free bytes when known (else asked of the OS)."""
    target = target_type(to)
    local = locate(source, registry.load(env), env)
    if local.parts:  # llama.cpp's quantizer reads and writes one file
        raise InvalidValue(
            f"{local.name} is split into {len(local.parts)} files, which quantize cannot read",
            "merge them first (llama.cpp's llama-gguf-split --merge), import the result, and quantize that",
        )
    info = gguf_info.read(local.path, paths.cache_dir(env))  # ModelLoadError when the file is not a whole GGUF
    if info.file_type not in UNQUANTIZED and info.file_type is not None and not allow_requantize:
        raise RequantizeRefused(local.name, info.file_type)
    name = _free_name(name or default_name(local.name, target), env)
    store = Store.default(env)
    path = _free_path(store.quantized, name)
    estimate = quantized_size(info.parameters, target, info.header_bytes)
    _check_disk(store.root, estimate, free_space)
    return Plan(source, local.path, info.file_type, target, name, path, info.tensors, estimate)


def default_name(source_name: str, target: str) -> str:
    """`NAME-q4_k_m` for a model named NAME; `STEM-q4_k_m:local` for a file or a Hub reference."""
    ref = references.parse(source_name)
    if isinstance(ref, references.NameRef) and ":" in source_name:
        return f"{source_name}-{target.lower()}"
    stem = source_name.rstrip("/").rsplit("/", 1)[-1].replace(":", "-").removesuffix(".gguf")
    return default_import_name(Path(f"{stem}-{target.lower()}.gguf"))


def _free_name(name: str, env: Mapping[str, str]) -> str:
    """NAME lower-cased, in an import's form, and not in use (a registry name, or another model's)."""
    name = name.lower()
    if not isinstance(references.parse(name), references.NameRef) or ":" not in name:
        raise InvalidValue(f"'{name}' is not a model name", "a name looks like FAMILY:TAG, e.g. mymodel:q4")
    if registry.load(env).find(name) is not None:
        raise QuantizeNameInUse(name, None)
    store = Store.default(env)
    existing = store.get(import_key(name))
    if existing is not None:
        raise QuantizeNameInUse(name, store.file_of(existing))
    return name


def _free_path(directory: Path, name: str) -> Path:
    """A file name for NAME in DIRECTORY that no other file has."""
    stem = default_import_name(Path(name.replace(":", "-") + ".gguf")).removesuffix(":local")
    candidate, n = directory / f"{stem}.gguf", 1
    while candidate.exists():
        n += 1
        candidate = directory / f"{stem}-{n}.gguf"
    return candidate


def _check_disk(root: Path, needed: int, free: int | None) -> None:
    probe = root
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free if free is None else free
    if needed + DISK_MARGIN > free:
        raise NotEnoughDisk(root, needed, free, purpose="quantized file")


def quantize(
    job: Plan,
    on_tensor: Callable[[int, int], None] = lambda done, total: None,
    env: Mapping[str, str] = os.environ,
    threads: int = 0,
    started_worker: quantizer.Worker | None = None,
) -> Quantized:
    """Run JOB: write the file (in STARTED_WORKER, else a new worker process), move it into place, register it;
    nothing stays on failure."""
    from llamacli.engine import quantizer

    job.path.parent.mkdir(parents=True, exist_ok=True)
    part = job.path.with_name(f"{job.path.stem}.{os.getpid()}.part")
    started = time.monotonic()
    try:
        with started_worker or quantizer.Worker() as running:
            running.run(
                job.source_path,
                part,
                FTYPES[job.target],
                allow_requantize=job.requantize,
                threads=threads,
                on_tensor=on_tensor,
            )
        os.replace(part, job.path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    seconds = time.monotonic() - started
    try:
        entry = import_file(job.path, job.name, env)
    except BaseException:  # the name taken by another process meanwhile, or the file unreadable: keep nothing
        job.path.unlink(missing_ok=True)
        raise
    return Quantized(
        entry.name,
        job.path,
        job.target,
        entry.size,
        job.source,
        job.source_path,
        job.source_path.stat().st_size,
        round(seconds, 3),
    )
