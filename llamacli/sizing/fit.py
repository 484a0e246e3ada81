"""Will a model fit in this machine's memory? The one answer `models`, `recommend`, `pull` and `run` give.

Memory only, from the model's shape (registry entry, local GGUF header, or a remote header read with
HTTP Range requests): weights + KV cache at the context window + compute buffers + overhead (+ weights
repacked for this CPU's kernels), against available RAM (or LLAMACLI_MEMORY) less headroom. What
calibration measured (the process's own overhead, repacking per quant type, the bundled model's exact
shape) is used whenever this machine has a calibration cached, by every command alike; reading it never
loads llama.cpp. Speed needs a calibration and is `recommend`'s job.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llamacli.base.sizes import format_size, parse_size
from llamacli.engine.params import DEFAULT_CTX
from llamacli.models.gguf_info import GGUFInfo
from llamacli.models.registry import ModelEntry, QuantFile, Variant
from llamacli.sizing import calibrate
from llamacli.sizing.calibrate import Calibration
from llamacli.sizing.estimate import MemoryEstimate, ModelShape, bits_per_weight, memory_need
from llamacli.sizing.picker import Budget

if TYPE_CHECKING:
    from llamacli.hub.metadata import RemoteFile, RemoteHeader

MEMORY_ENV = "LLAMACLI_MEMORY"  # a memory budget such as 8G instead of the available RAM ("what if", tests)
CALIBRATION_MODEL = "smollm2:135m"  # the bundled model every machine has, which calibration measures


@dataclass(frozen=True)
class MemoryFit:
    """The verdict, with the numbers a message needs."""

    fits: bool
    need: int
    usable: int
    budget: int
    n_ctx: int

    @property
    def reason(self) -> str:
        """One phrase with the numbers."""
        verb = "fits" if self.fits else "does not fit"
        return (
            f"{verb}: needs {format_size(self.need)} at a {self.n_ctx}-token context, "
            f"{format_size(self.usable)} usable of {format_size(self.budget)}"
        )


def memory_budget(env: Mapping[str, str] = os.environ) -> int:
    """LLAMACLI_MEMORY if set, else the RAM available now."""
    value = env.get(MEMORY_ENV)
    if value:
        return parse_size(value, MEMORY_ENV)
    import psutil

    return int(psutil.virtual_memory().available)


def _positive(value: int | None) -> int | None:
    return value if value is not None and value > 0 else None


def shape_of_info(info: GGUFInfo) -> ModelShape | None:
    """The estimate's shape from a GGUF header; None when the header lacks the attention shape.

    Sizes from an untrusted header count only when positive: a negative block_count with no
    embedding_length made the width solver take the square root of a negative number (a traceback
    from `run` before llama.cpp even saw the file).
    """
    layers, kv_heads, head_dim = _positive(info.layers), _positive(info.kv_heads), _positive(info.head_dim)
    if not (layers and kv_heads and head_dim):
        return None
    return ModelShape(
        layers,
        kv_heads,
        head_dim,
        max(0, info.parameters),
        n_vocab=_positive(info.vocab_size) or ModelShape.n_vocab,
        n_embd=_positive(info.embedding_size),
        heads=_positive(info.heads),
    )


def shape_of_entry(entry: ModelEntry, calibration: Calibration | None = None) -> ModelShape:
    """The estimate's shape from a registry entry; the calibration model's measured shape when it is that model."""
    if calibration is not None and calibration.reference_shape is not None and entry.name == CALIBRATION_MODEL:
        return calibration.reference_shape
    return ModelShape(entry.layers, entry.kv_heads, entry.head_dim, entry.parameters)


def window(trained_ctx: int | None, n_ctx: int | None) -> int:
    """The context window a model is sized at: N_CTX, else its trained context, at most 4096."""
    return n_ctx or min(_positive(trained_ctx) or DEFAULT_CTX, DEFAULT_CTX)


def need(
    shape: ModelShape, file_size: int, n_ctx: int, quant: str | None, calibration: Calibration | None
) -> MemoryEstimate:
    """The memory estimate at N_CTX tokens, with what CALIBRATION measured on this machine when there is one."""
    if calibration is None:
        return memory_need(shape, file_size, n_ctx)
    bits = bits_per_weight(file_size, shape.parameters)
    repacked = calibration.repacked_per_byte(quant, bits) if quant else 0.0
    return memory_need(shape, file_size, n_ctx, calibration.runtime_overhead, repacked)


def entry_need(
    entry: ModelEntry, quant: QuantFile, n_ctx: int | None, calibration: Calibration | None
) -> MemoryEstimate:
    """A registry variant's memory need at N_CTX (default: its trained context, at most 4096)."""
    shape = shape_of_entry(entry, calibration)
    return need(shape, quant.size, window(entry.context_length, n_ctx), quant.quant, calibration)


def cached_calibration(env: Mapping[str, str] = os.environ) -> Calibration | None:
    """This machine's calibration if one was measured (never measures; never loads llama.cpp)."""
    return calibrate.load_cached(env)


def verdict(estimate: MemoryEstimate, budget: Budget, n_ctx: int) -> MemoryFit:
    """ESTIMATE against BUDGET: the one memory test (`Budget.holds`)."""
    return MemoryFit(budget.holds(estimate.total), estimate.total, budget.usable, budget.memory, n_ctx)


def check(
    shape: ModelShape,
    file_size: int,
    trained_ctx: int | None,
    n_ctx: int | None,
    env: Mapping[str, str] = os.environ,
    quant: str | None = None,
) -> MemoryFit:
    """Memory need at N_CTX (default: the trained context, at most 4096) against the budget."""
    size = window(trained_ctx, n_ctx)
    estimate = need(shape, file_size, size, quant, cached_calibration(env))
    return verdict(estimate, Budget(memory_budget(env), 0.0), size)


def check_local(
    path: Path, variant: Variant | None, n_ctx: int | None, env: Mapping[str, str] = os.environ
) -> MemoryFit | None:
    """The verdict for a model on disk (registry shape, else its header); None when it cannot be sized.

    A header that cannot be read is left to the loader, which reports why the file is broken.
    """
    from llamacli.base import paths
    from llamacli.errors import LlamacliError
    from llamacli.models import gguf_info

    if variant is not None:
        size = window(variant.entry.context_length, n_ctx)
        calibration = cached_calibration(env)
        estimate = need(
            shape_of_entry(variant.entry, calibration), path.stat().st_size, size, variant.file.quant, calibration
        )
        return verdict(estimate, Budget(memory_budget(env), 0.0), size)
    try:
        info = gguf_info.read(path, paths.cache_dir(env))
    except LlamacliError:
        return None
    shape = shape_of_info(info)
    if shape is None:
        return None
    return check(shape, info.file_size or path.stat().st_size, info.context_length, n_ctx, env, info.file_type)


def warning(local_name: str, verdict: MemoryFit | None) -> str | None:
    """The line to show before loading a model that will not fit, or None."""
    if verdict is None or verdict.fits:
        return None
    return f"warning: {local_name} {verdict.reason}; loading it may swap or be killed (try a smaller quant)"


def check_before_pull(
    remote: RemoteFile,
    entry: ModelEntry | None,
    force: bool,
    notify: Callable[[str], None],
    env: Mapping[str, str],
) -> RemoteHeader | None:
    """Refuse, before downloading, a model that cannot fit in memory; the remote header if one was read.

    A registry model is sized from its entry (no request); any other file from its GGUF header, read
    from the Hub with HTTP Range requests. A header that cannot be read is left to the download and its
    post-download check, which say what is wrong with the file.
    """
    from llamacli.errors import DoesNotFit, LlamacliError
    from llamacli.hub import metadata

    shape: ModelShape | None
    trained: int | None
    header = None
    quant = metadata.quant_of(remote.file)
    if entry is not None:
        shape, trained = shape_of_entry(entry, cached_calibration(env)), entry.context_length
    else:
        try:
            header = metadata.read_header(remote)
        except LlamacliError:
            return None
        shape, trained = shape_of_info(header.info), header.info.context_length
        quant = quant or header.info.file_type
        if shape is None:
            return header  # not an attention model we can size
    result = check(shape, remote.size, trained, None, env, quant)
    if result.fits:
        return header
    if not force:
        raise DoesNotFit(f"{remote.repo}/{remote.file}", result.reason)
    notify(f"warning: {remote.file} {result.reason}; downloading anyway (--force)")
    return header
