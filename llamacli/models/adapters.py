"""Whether a LoRA adapter fits a model, from the two GGUF headers alone, before anything is loaded.

llama.cpp checks the same when it loads an adapter (`llama_adapter_lora_init_impl` in
src/llama-adapter.cpp: architecture, each lora_a/lora_b pair against its base tensor), but its refusal is
a log line and a NULL; here the refusal names the adapter, the model and what differs, and comes before
the model is loaded. Shapes are in GGUF's order (ne[0] first): a base weight is (n_in, n_out), its
`lora_a` (n_in, r) and its `lora_b` (r, n_out).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from llamacli.base.lora import Lora
from llamacli.errors import AdapterLoadError, AdapterMismatch, ModelLoadError
from llamacli.models import gguf_info
from llamacli.models.gguf_info import GGUFInfo

Shapes = dict[str, tuple[int, ...]]
_A, _B = ".lora_a", ".lora_b"


def read(path: Path) -> tuple[GGUFInfo, Shapes]:
    """PATH's header and tensor shapes as a LoRA adapter's; AdapterLoadError when it is not one."""
    if not path.is_file():
        raise AdapterLoadError(path, "no such file")
    try:
        info, shapes = gguf_info.read_shapes(path)
    except ModelLoadError as e:
        raise AdapterLoadError(path, e.reason) from e
    if info.file_kind != "adapter":
        raise AdapterLoadError(path, f"it is not a LoRA adapter (its general.type is {info.file_kind or 'not set'})")
    if info.adapter_type != "lora":
        raise AdapterLoadError(path, f"its adapter.type is {info.adapter_type or 'not set'}; only 'lora' is supported")
    return info, shapes


def check(adapters: Iterable[Lora], model_path: Path, model_name: str) -> None:
    """Refuse any of ADAPTERS not made for the model at MODEL_PATH (shown as MODEL_NAME)."""
    base: tuple[GGUFInfo, Shapes] | None = None
    for adapter in adapters:
        info, shapes = read(adapter.path)
        if base is None:
            base = gguf_info.read_shapes(model_path)
        reason = mismatch(info, shapes, *base)
        if reason is not None:
            raise AdapterMismatch(adapter.path, model_name, reason)


def mismatch(adapter: GGUFInfo, shapes: Shapes, model: GGUFInfo, model_shapes: Shapes) -> str | None:
    """What makes the adapter unfit for the model, or None when every pair matches its base tensor."""
    if adapter.architecture != model.architecture:
        return f"it is for a {adapter.architecture} model, and this one is {model.architecture}"
    for name, (a, b) in _pairs(shapes).items():
        if not a or not b:
            return f"its {name} has no {'lora_a' if not a else 'lora_b'} (a damaged adapter)"
        if name not in model_shapes:
            return f"the model has no tensor {name}"
        if not _fits(name, model_shapes[name], a, b):
            made_for, has = _dims(_implied(name, a, b)), _dims(model_shapes[name])
            return f"its {name} pair is for a {made_for} matrix, the model's is {has}"
    return None


def _pairs(shapes: Shapes) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """The adapter's lora_a/lora_b shapes by base tensor name; norm vectors are ignored, as llama.cpp does."""
    halves: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, dims in shapes.items():
        for suffix in (_A, _B):
            if name.endswith(suffix):
                halves.setdefault(name.removesuffix(suffix), {})[suffix] = dims
    return {name: (got.get(_A, ()), got.get(_B, ())) for name, got in halves.items()}


def _fits(name: str, base: tuple[int, ...], a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """llama.cpp's shape rule; the token embedding's pair is stored the other way round."""
    if len(a) != 2 or len(b) != 2 or len(base) < 2:
        return False
    if name.endswith("token_embd.weight"):
        return base[0] == b[1] and base[1] == a[1]
    return base[0] == a[0] and base[1] == b[1] and a[1] == b[0]


def _implied(name: str, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The base shape an A/B pair is made for."""
    if len(a) != 2 or len(b) != 2:
        return (*a, *b)
    return (b[1], a[1]) if name.endswith("token_embd.weight") else (a[0], b[1])


def _dims(shape: Iterable[int]) -> str:
    return "×".join(str(d) for d in shape) or "incomplete"
