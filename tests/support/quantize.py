"""Other quantizations of the bundled model, made by llama.cpp's own quantizer."""

from __future__ import annotations

import ctypes
from pathlib import Path

QUANTS = {"Q8_0": 7, "Q4_K_M": 15, "Q2_K": 10}  # llama_ftype values


def requantize(source: Path, out: Path) -> dict[str, Path]:
    """SOURCE requantized to each of QUANTS in directory OUT: {quant: file}."""
    from llamacli.engine import native

    llama_cpp = native.lib()  # with llama.cpp's log routed to our (silent) callback
    files = {}
    for quant, ftype in QUANTS.items():
        target = out / f"SmolLM2-135M-Instruct-{quant}.gguf"
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = ftype
        params.allow_requantize = True
        params.nthread = 2
        rc = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
        assert rc == 0, f"quantizing to {quant} failed"
        files[quant] = target
    return files


def to_f16(source: Path, out: Path) -> Path:
    """SOURCE dequantized to an F16 GGUF in directory OUT (llama.cpp's quantizer, requantizing): an
    unquantized source for `llamacli quantize`, as a user's own F16 conversion would be."""
    from llamacli.engine import native

    target = out / "SmolLM2-135M-Instruct-F16.gguf"
    native.quantize_file(str(source), str(target), 1, allow_requantize=True, threads=2)  # 1: LLAMA_FTYPE_MOSTLY_F16
    return target
