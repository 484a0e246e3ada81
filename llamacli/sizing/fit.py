"""Will a model fit in this machine's memory, and at what context? The one answer of every command.

`models`, `pull`, `run`, `chat`, `recommend` and the picker all ask a `Sizer`: memory only, from the
model's shape (registry entry, local GGUF header, or a remote header read with HTTP Range requests):
weights + KV cache at the context window + compute buffers + overhead (+ weights repacked for this CPU's
kernels), against available RAM (or LLAMACLI_MEMORY) less headroom. What calibration measured (the
process's own overhead, repacking per quant type, the bundled model's exact shape) is used whenever this
machine has a calibration cached, the plain formula otherwise; reading it never loads llama.cpp.

When the model's default context does not fit, the context is shrunk before giving up, as llama.cpp's
`--fit` does (`common_params_fit_impl`: only a context the user did not set, never above the training
context, never below a minimum, rounded down to a multiple of 256): the verdict carries the context
chosen, which is the context to load with. Speed needs a calibration and is `recommend`'s job.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llamacli.base.sizes import format_size, parse_size
from llamacli.engine.params import DEFAULT_CTX
from llamacli.models import splits
from llamacli.models.gguf_info import GGUFInfo
from llamacli.models.registry import ModelEntry, QuantFile, Variant
from llamacli.sizing.calibration import Calibration, load_cached
from llamacli.sizing.estimate import MemoryEstimate, ModelShape, bits_per_weight, memory_need
from llamacli.sizing.picker import Budget

if TYPE_CHECKING:
    from llamacli.hub.metadata import RemoteFile, RemoteHeader

MEMORY_ENV = "LLAMACLI_MEMORY"  # a memory budget such as 8G instead of the available RAM ("what if", tests)
CALIBRATION_MODEL = "smollm2:135m"  # the bundled model every machine has, which calibration measures
MIN_CTX = 1024  # the smallest context a default is shrunk to: a prompt and its answer still fit
CTX_STEP = 256  # shrunk contexts are multiples of this (llama.cpp's fit rounds down to 256 too)


@dataclass(frozen=True)
class MemoryFit:
    """The verdict, with the numbers a message needs and the context to load with (`n_ctx`)."""

    fits: bool
    estimate: MemoryEstimate  # at n_ctx
    usable: int
    budget: int
    n_ctx: int  # the context this verdict is for: the default, or the smaller one that fits
    default_ctx: int  # the context asked for: the model's default window, or the one given
    least: int  # the need at the smallest context it may shrink to (least_ctx): what "at least" means
    least_ctx: int
    calibrated: bool = False  # sized with this machine's calibration (else the plain formula)

    @property
    def need(self) -> int:
        """Memory needed at `n_ctx`."""
        return self.estimate.total

    @property
    def shrunk(self) -> bool:
        """Whether the default context did not fit and a smaller one was chosen."""
        return self.n_ctx < self.default_ctx

    @property
    def reason(self) -> str:
        """One phrase with the numbers (and the smallest context's need when even that does not fit)."""
        verb = "fits" if self.fits else "does not fit"
        if self.shrunk:
            verb += f" at a {self.n_ctx}-token context, not at its default {self.default_ctx}"
        at = f" at a {self.n_ctx}-token context" if not self.shrunk else ""
        if not self.fits and self.least_ctx < self.n_ctx:
            at += f" ({format_size(self.least)} at {self.least_ctx})"
        room = f"{format_size(self.usable)} usable of {format_size(self.budget)}"
        return f"{verb}: needs {format_size(self.need)}{at}, {room}"


def memory_budget(env: Mapping[str, str] = os.environ, available: int | None = None) -> int:
    """LLAMACLI_MEMORY if set, else AVAILABLE (what the caller probed), else the RAM available now."""
    value = env.get(MEMORY_ENV)
    if value:
        return parse_size(value, MEMORY_ENV)
    if available is not None:
        return available
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
    return ModelShape(
        entry.layers,
        entry.kv_heads,
        entry.head_dim,
        entry.parameters,
        n_vocab=entry.vocab_size or ModelShape.n_vocab,
        active_parameters=entry.active_parameters,
    )


def window(trained_ctx: int | None, n_ctx: int | None) -> int:
    """The context window a model is sized at: N_CTX, else its trained context, at most 4096."""
    return n_ctx or min(_positive(trained_ctx) or DEFAULT_CTX, DEFAULT_CTX)


def contexts(default: int, floor: int = MIN_CTX, step: int = CTX_STEP) -> list[int]:
    """The contexts to try, largest first: DEFAULT, then each multiple of STEP below it down to FLOOR.

    Never above DEFAULT (itself at most the training context) and never below FLOOR: a default already
    at or below FLOOR is not shrunk.
    """
    smaller = range((default - 1) // step * step, floor - 1, -step)
    return [default, *(size for size in smaller if size >= floor)]


@dataclass(frozen=True)
class Sizer:
    """Sizes models against one budget with one calibration (None: the formula): the one "does it fit"."""

    budget: Budget
    calibration: Calibration | None = None

    @classmethod
    def here(cls, env: Mapping[str, str] = os.environ, available: int | None = None) -> Sizer:
        """This machine: its memory budget (see `memory_budget`) and its cached calibration, if any."""
        return cls(Budget(memory_budget(env, available), 0.0), cached_calibration(env))

    def need(self, shape: ModelShape, file_size: int, n_ctx: int, quant: str | None) -> MemoryEstimate:
        """The memory estimate at N_CTX tokens: calibrated when there is a calibration, the formula otherwise."""
        return need(shape, file_size, n_ctx, quant, self.calibration)

    def fit(
        self, shape: ModelShape, file_size: int, quant: str | None, trained_ctx: int | None, n_ctx: int | None
    ) -> MemoryFit:
        """The verdict at N_CTX, else at the default window or, when that does not fit, the largest smaller
        context of `contexts` that does (the verdict at the default window when none does)."""
        default = window(trained_ctx, n_ctx)
        tried = contexts(default, default if n_ctx else MIN_CTX)  # a context the user chose is never changed
        chosen = next(
            (size for size in tried if self.budget.holds(self.need(shape, file_size, size, quant).total)), None
        )
        return MemoryFit(
            fits=chosen is not None,
            estimate=self.need(shape, file_size, chosen or default, quant),
            usable=self.budget.usable,
            budget=self.budget.memory,
            n_ctx=chosen or default,
            default_ctx=default,
            least=self.need(shape, file_size, tried[-1], quant).total,
            least_ctx=tried[-1],
            calibrated=self.calibration is not None,
        )

    def entry(self, entry: ModelEntry, quant: QuantFile, n_ctx: int | None = None) -> MemoryFit:
        """A registry variant's verdict (sized from its entry and published file size)."""
        shape = shape_of_entry(entry, self.calibration)
        return self.fit(shape, quant.size, quant.quant, entry.context_length, n_ctx)

    def local(
        self, path: Path, variant: Variant | None, n_ctx: int | None, cache: Path, parts: Sequence[Path] = ()
    ) -> MemoryFit | None:
        """A model on disk (registry shape, else its header, read through CACHE); None when it cannot be sized.

        PARTS: every file of a model split into several (PATH is the first), sized by their total.
        A header that cannot be read is left to the loader, which reports why the file is broken.
        """
        from llamacli.errors import LlamacliError
        from llamacli.models import gguf_info

        if variant is not None:
            shape = shape_of_entry(variant.entry, self.calibration)
            size = sum(part.stat().st_size for part in parts or (path,))
            return self.fit(shape, size, variant.file.quant, variant.entry.context_length, n_ctx)
        try:
            info = splits.combined([gguf_info.read(part, cache) for part in parts or (path,)])
        except LlamacliError:
            return None
        found = shape_of_info(info)
        if found is None:
            return None
        return self.fit(found, info.file_size or path.stat().st_size, info.file_type, info.context_length, n_ctx)


def need(
    shape: ModelShape, file_size: int, n_ctx: int, quant: str | None, calibration: Calibration | None
) -> MemoryEstimate:
    """The memory estimate at N_CTX tokens, with what CALIBRATION measured on this machine when there is one."""
    if calibration is None:
        return memory_need(shape, file_size, n_ctx)
    bits = bits_per_weight(file_size, shape.parameters)
    repacked = calibration.repacked_per_byte(quant, bits) if quant else 0.0
    return memory_need(shape, file_size, n_ctx, calibration.runtime_overhead, repacked)


def cached_calibration(env: Mapping[str, str] = os.environ) -> Calibration | None:
    """This machine's calibration if one was measured (never measures; never loads llama.cpp)."""
    return load_cached(env)


def check(
    shape: ModelShape,
    file_size: int,
    trained_ctx: int | None,
    n_ctx: int | None,
    env: Mapping[str, str] = os.environ,
    quant: str | None = None,
) -> MemoryFit:
    """This machine's verdict at N_CTX (default: the trained context, at most 4096, shrunk if it must be)."""
    return Sizer.here(env).fit(shape, file_size, quant, trained_ctx, n_ctx)


def check_local(
    path: Path,
    variant: Variant | None,
    n_ctx: int | None,
    env: Mapping[str, str] = os.environ,
    parts: Sequence[Path] = (),
) -> MemoryFit | None:
    """This machine's verdict for a model on disk; None when it cannot be sized (see `Sizer.local`).

    Without N_CTX the verdict's `n_ctx` is the context to load with: smaller than the default when only
    a smaller one fits (`shrunk`).
    """
    from llamacli.base import paths

    return Sizer.here(env).local(path, variant, n_ctx, paths.cache_dir(env), parts)


def warning(local_name: str, verdict: MemoryFit | None) -> str | None:
    """The line to show before loading a model that will not fit, or None."""
    if verdict is None or verdict.fits:
        return None
    return f"warning: {local_name} {verdict.reason}; loading it may swap or be killed (try a smaller quant)"


def context_note(local_name: str, verdict: MemoryFit | None) -> str | None:
    """The line to show when a model is loaded at a smaller context than its default, to fit; else None."""
    if verdict is None or not verdict.fits or not verdict.shrunk:
        return None
    return f"{local_name} {verdict.reason}; loading it at {verdict.n_ctx} tokens (--ctx to choose)"


def refuse_before_asking(entry: ModelEntry, quant: QuantFile, env: Mapping[str, str]) -> None:
    """DoesNotFit for a registry model that cannot fit, from its entry and published size: no request at all.

    `pull` asks this before it asks the Hub anything, so a model too big for this machine is refused even
    where the Hub cannot be reached; the Hub's own size is checked again before downloading.
    """
    from llamacli.errors import DoesNotFit

    result = Sizer.here(env).entry(entry, quant)
    if not result.fits:
        raise DoesNotFit(entry.short_name(quant), result.reason, configured_remotes(env))


def configured_remotes(env: Mapping[str, str]) -> tuple[str, ...]:
    """The names of config.toml's remote engines: where a model too big for this machine could run."""
    from llamacli.base import settings

    return tuple(remote.name for remote in settings.load(env).remotes)


def check_before_pull(
    remote: RemoteFile,
    entry: ModelEntry | None,
    force: bool,
    notify: Callable[[str], None],
    env: Mapping[str, str],
    parts: Sequence[RemoteFile] = (),
) -> RemoteHeader | None:
    """Refuse, before downloading, a model that cannot fit in memory; the remote header if one was read.

    PARTS: every part of a model split into several files (REMOTE is the first): sized by their total,
    and from every part's header when there is no registry entry (each lists its own tensors).

    A registry model is sized from its entry (no request); any other file from its GGUF header, read
    from the Hub with HTTP Range requests. A header that cannot be read is left to the download and its
    post-download check, which say what is wrong with the file. A model that fits only at a smaller
    context than its default is downloaded, and the context said.
    """
    from llamacli.errors import DoesNotFit, LlamacliError
    from llamacli.hub import metadata

    sizer = Sizer.here(env)
    shape: ModelShape | None
    trained: int | None
    header = None
    quant = metadata.quant_of(remote.file)
    if entry is not None:
        shape, trained = shape_of_entry(entry, sizer.calibration), entry.context_length
    else:
        try:
            header = metadata.read_header(remote)
        except LlamacliError:
            return None
        info = header.info
        if len(parts) > 1:
            with contextlib.suppress(LlamacliError):
                info = splits.combined([info, *(metadata.read_header(part).info for part in parts[1:])])
        shape, trained = shape_of_info(info), info.context_length
        quant = quant or info.file_type
        if shape is None:
            return header  # not an attention model we can size
    result = sizer.fit(shape, sum(part.size for part in parts) or remote.size, quant, trained, None)
    if result.fits:
        if result.shrunk:
            notify(f"{remote.file} {result.reason}")
        return header
    if not force:
        raise DoesNotFit(f"{remote.repo}/{remote.file}", result.reason, configured_remotes(env))
    notify(f"warning: {remote.file} {result.reason}; downloading anyway (--force)")
    return header
