"""The one place that imports llama_cpp: loads the native library once and owns its log output.

Only llama-cpp-python's ctypes bindings (`llama_cpp.llama_cpp`) are loaded: `import llama_cpp` would also
import its high-level `Llama` class and with it numpy, diskcache and the chat-format machinery, about
0.2 s of start-up that the engine does not need.

llama.cpp logs model loading line by line to stderr; `verbose=False` in llama-cpp-python does not
silence all of it, a log callback does. We keep the first error lines so a failed load can say why.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from llamacli.errors import QuantizeFailed

_lib: ModuleType | None = None
_callback: Any = None
_verbose = False
_first_errors: list[str] = []  # the first error lines carry the specific reason; later ones repeat "failed"
# ggml_log_level as this llama.cpp build defines it (checked against its log output).
_GGML_LOG_LEVEL_DEBUG = 1
_GGML_LOG_LEVEL_ERROR = 4
_GGML_LOG_LEVEL_CONT = 5  # continues the previous line, at that line's level
_last_level = 0
_threads_started = False  # whether llama.cpp has run a parallel computation here (see threads_started)


def _on_log(level: int, text: bytes | None, _user_data: Any) -> None:
    global _last_level
    if level == _GGML_LOG_LEVEL_CONT:
        level = _last_level
    _last_level = level
    message = (text or b"").decode("utf-8", "replace")
    if level == _GGML_LOG_LEVEL_ERROR and message.strip() and len(_first_errors) < 2:
        _first_errors.append(message.strip().rstrip("."))
    if _on_tensor is not None:
        _note_tensor(message)
    if _verbose and level != _GGML_LOG_LEVEL_DEBUG:
        sys.stderr.write(message)


def _import_bindings() -> ModuleType:
    """`llama_cpp.llama_cpp` without running `llama_cpp/__init__.py` (see the module docstring)."""
    if "llama_cpp" in sys.modules:  # the whole package is already loaded: share its bindings
        return importlib.import_module("llama_cpp.llama_cpp")
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("llama-cpp-python is not installed (pip install llama-cpp-python)")
    sys.modules["llama_cpp"] = importlib.util.module_from_spec(spec)  # a package shell, not executed
    try:
        return importlib.import_module("llama_cpp.llama_cpp")
    finally:
        # A later `import llama_cpp` runs the real __init__, which reuses the loaded bindings module.
        del sys.modules["llama_cpp"]


def lib(verbose: bool = False) -> ModuleType:
    """The llama.cpp bindings, imported and initialised on first use."""
    global _lib, _callback, _verbose
    _verbose = verbose
    if _lib is None:
        llama_cpp = _import_bindings()
        _callback = llama_cpp.llama_log_callback(_on_log)  # kept alive: C holds the pointer
        llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        _lib = llama_cpp
    return _lib


def grammar_converter() -> ModuleType:
    """llama-cpp-python's JSON-Schema-to-GBNF converter (`llama_cpp/llama_grammar.py`, pure Python), loaded from
    its file so that neither llama_cpp's __init__ nor the native library is loaded for it."""
    name = "llamacli._llama_grammar"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec("llama_cpp")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ImportError("llama-cpp-python is not installed (pip install llama-cpp-python)")
    file_spec = importlib.util.spec_from_file_location(name, f"{locations[0]}/llama_grammar.py")
    assert file_spec is not None and file_spec.loader is not None
    module = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def note_threads_started() -> None:
    """Record that llama.cpp's OpenMP worker pool exists in this process (called before a decode)."""
    global _threads_started
    _threads_started = True


def threads_started() -> bool:
    """Whether this process has computed with llama.cpp: libgomp's pool then does not survive fork()."""
    return _threads_started


def take_errors() -> str:
    """The error lines llama.cpp logged since the last call, joined; empty if none."""
    text = "; ".join(_first_errors)
    _first_errors.clear()
    return text


def load_model(ll: ModuleType, path: Path, parts: Sequence[Path], params: Any) -> Any:
    """llama.cpp's model from PATH, or from PARTS in order: a model split into several files, whatever their
    names (llama.cpp checks each part's `split.no`); a null pointer when it cannot be loaded."""
    if not parts:
        return ll.llama_model_load_from_file(str(path).encode(), params)
    names = (ctypes.c_char_p * len(parts))(*(str(part).encode() for part in parts))
    return ll.llama_model_load_from_splits(names, len(parts), params)


def system_info() -> str:
    """llama.cpp's own description of the CPU features it was built for and uses (AVX2, NEON, ...)."""
    return (lib().llama_print_system_info() or b"").decode("utf-8", "replace")


def gpu_offload() -> bool:
    """Whether this llama.cpp build can offload layers to a GPU (CUDA, Metal, Vulkan, ...)."""
    return bool(lib().llama_supports_gpu_offload())


QUANT_FTYPES = {"Q4_1": 3, "Q8_0": 7, "Q2_K": 10, "Q4_K_M": 15}  # llama_ftype values of llama.h (calibration's)
# llama.cpp logs one line per tensor as it quantizes: "[  12/ 272] blk.0.attn_q.weight - ...". Read only to
# show progress (a changed format leaves the bar still until the end, nothing else depends on it).
_TENSOR_LINE = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]")
_on_tensor: Callable[[int, int], None] | None = None


def _note_tensor(message: str) -> None:
    found = _TENSOR_LINE.match(message) if _on_tensor is not None else None
    if found and _on_tensor is not None:
        _on_tensor(int(found.group(1)), int(found.group(2)))


def quantize_file(
    source: str,
    target: str,
    ftype: int,
    *,
    allow_requantize: bool = False,
    threads: int = 0,
    on_tensor: Callable[[int, int], None] | None = None,
) -> None:
    """Write SOURCE quantized to llama_ftype FTYPE as TARGET with llama.cpp's quantizer (llama-quantize's own
    defaults); ON_TENSOR(done, total) after each tensor; QuantizeFailed with llama.cpp's reason.

    THREADS 0: llama.cpp's default (every hardware thread), as `llama-quantize` does.
    """
    global _on_tensor
    ll = lib()
    params = ll.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = allow_requantize
    params.nthread = threads
    take_errors()
    _on_tensor = on_tensor
    try:
        failed = ll.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params)) != 0
    finally:
        _on_tensor = None
    if failed:
        raise QuantizeFailed(Path(source), take_errors() or "llama.cpp's quantizer failed")


def quantize(source: str, target: str, quant: str) -> None:
    """Write a copy of the GGUF SOURCE requantized to QUANT (calibration and validation models)."""
    quantize_file(source, target, QUANT_FTYPES[quant], allow_requantize=True)
