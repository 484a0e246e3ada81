"""The one place that imports llama_cpp: loads the native library once and owns its log output.

llama.cpp logs model loading line by line to stderr; `verbose=False` in llama-cpp-python does not
silence all of it, a log callback does. We keep the last error lines so a failed load can say why.
"""

from __future__ import annotations

import ctypes
import sys
from types import ModuleType
from typing import Any

_lib: ModuleType | None = None
_callback: Any = None
_verbose = False
_first_errors: list[str] = []  # the first error lines carry the specific reason; later ones repeat "failed"
# ggml_log_level as this llama.cpp build defines it (checked against its log output).
_GGML_LOG_LEVEL_DEBUG = 1
_GGML_LOG_LEVEL_ERROR = 4
_GGML_LOG_LEVEL_CONT = 5  # continues the previous line, at that line's level
_last_level = 0


def _on_log(level: int, text: bytes | None, _user_data: Any) -> None:
    global _last_level
    if level == _GGML_LOG_LEVEL_CONT:
        level = _last_level
    _last_level = level
    message = (text or b"").decode("utf-8", "replace")
    if level == _GGML_LOG_LEVEL_ERROR and message.strip() and len(_first_errors) < 2:
        _first_errors.append(message.strip().rstrip("."))
    if _verbose and level != _GGML_LOG_LEVEL_DEBUG:
        sys.stderr.write(message)


def lib(verbose: bool = False) -> ModuleType:
    """The llama_cpp module, imported and initialised on first use."""
    global _lib, _callback, _verbose
    _verbose = verbose
    if _lib is None:
        import llama_cpp

        _callback = llama_cpp.llama_log_callback(_on_log)  # kept alive: C holds the pointer
        llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        _lib = llama_cpp
    return _lib


def take_errors() -> str:
    """The error lines llama.cpp logged since the last call, joined; empty if none."""
    text = "; ".join(_first_errors)
    _first_errors.clear()
    return text


def system_info() -> str:
    """llama.cpp's own description of the CPU features it was built for and uses (AVX2, NEON, ...)."""
    return (lib().llama_print_system_info() or b"").decode("utf-8", "replace")


def gpu_offload() -> bool:
    """Whether this llama.cpp build can offload layers to a GPU (CUDA, Metal, Vulkan, ...)."""
    return bool(lib().llama_supports_gpu_offload())


QUANT_FTYPES = {"Q4_1": 3, "Q8_0": 7, "Q2_K": 10, "Q4_K_M": 15}  # llama_ftype values of llama.h


def quantize(source: str, target: str, quant: str) -> None:
    """Write a copy of the GGUF SOURCE requantized to QUANT (calibration and validation models)."""
    ll = lib()
    params = ll.llama_model_quantize_default_params()
    params.ftype = QUANT_FTYPES[quant]
    params.allow_requantize = True
    params.nthread = 0
    if ll.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params)) != 0:
        raise RuntimeError(f"llama.cpp could not quantize {source} to {quant}: {take_errors()}")
