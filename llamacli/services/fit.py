"""Will a model fit in this machine's memory? Checked before a download and before a load.

Memory only, from the model's shape (registry entry, local GGUF header, or a remote header read with
HTTP Range requests): weights + KV cache at the context window + compute buffers + overhead, against
available RAM (or LLAMACLI_MEMORY) less headroom. Speed needs a calibration and is `recommend`'s job.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llamacli.engine.params import DEFAULT_CTX
from llamacli.estimate import ModelShape, memory_need
from llamacli.gguf_info import GGUFInfo
from llamacli.picker import Budget, gib
from llamacli.registry import ModelEntry, Variant
from llamacli.sizes import parse_size

if TYPE_CHECKING:
    from llamacli.hub import RemoteFile, RemoteHeader

MEMORY_ENV = "LLAMACLI_MEMORY"  # a memory budget such as 8G instead of the available RAM ("what if", tests)


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
            f"{verb}: needs {gib(self.need)} at a {self.n_ctx}-token context, "
            f"{gib(self.usable)} usable of {gib(self.budget)}"
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


def shape_of_entry(entry: ModelEntry) -> ModelShape:
    """The estimate's shape from a registry entry."""
    return ModelShape(entry.layers, entry.kv_heads, entry.head_dim, entry.parameters)


def check(
    shape: ModelShape, file_size: int, trained_ctx: int | None, n_ctx: int | None, env: Mapping[str, str] = os.environ
) -> MemoryFit:
    """Memory need at N_CTX (default: the trained context, at most 4096) against the budget."""
    window = n_ctx or min(_positive(trained_ctx) or DEFAULT_CTX, DEFAULT_CTX)
    need = memory_need(shape, file_size, window).total
    budget = Budget(memory_budget(env), 0.0)
    return MemoryFit(need <= budget.usable, need, budget.usable, budget.memory, window)


def check_local(
    path: Path, variant: Variant | None, n_ctx: int | None, env: Mapping[str, str] = os.environ
) -> MemoryFit | None:
    """The verdict for a model on disk (registry shape, else its header); None when it cannot be sized.

    A header that cannot be read is left to the loader, which reports why the file is broken.
    """
    from llamacli import gguf_info, paths
    from llamacli.errors import LlamacliError

    if variant is not None:
        return check(shape_of_entry(variant.entry), path.stat().st_size, variant.entry.context_length, n_ctx, env)
    try:
        info = gguf_info.read(path, paths.cache_dir(env))
    except LlamacliError:
        return None
    shape = shape_of_info(info)
    return check(shape, info.file_size or path.stat().st_size, info.context_length, n_ctx, env) if shape else None


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
    from llamacli import hub
    from llamacli.errors import DoesNotFit, LlamacliError

    shape: ModelShape | None
    trained: int | None
    header = None
    if entry is not None:
        shape, trained = shape_of_entry(entry), entry.context_length
    else:
        try:
            header = hub.read_header(remote)
        except LlamacliError:
            return None
        shape, trained = shape_of_info(header.info), header.info.context_length
        if shape is None:
            return header  # not an attention model we can size
    verdict = check(shape, remote.size, trained, None, env)
    if verdict.fits:
        return header
    if not force:
        raise DoesNotFit(f"{remote.repo}/{remote.file}", verdict.reason)
    notify(f"warning: {remote.file} {verdict.reason}; downloading anyway (--force)")
    return header
