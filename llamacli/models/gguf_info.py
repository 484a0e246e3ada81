"""GGUF metadata from the header only: the key/value table and the tensor table, never tensor data.

Why not `gguf.GGUFReader`: it builds a numpy view per string, so SmolLM2's 49k-token vocabulary takes
3-5 s to parse and Llama 3's 128k tokens + 280k merges far longer; `show` must answer in well under a
second, and the remote header read (for the memory check before a pull) must work on a prefix of the
file. This walker reads the same format (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md) with
`struct` over any bytes-like prefix, checks every length against the file size (and that the tensor data
the table describes fits in the file, as llama.cpp's loader will), and says how many more bytes it needs
when the prefix is too short. The tests check it field by field against `gguf.GGUFReader`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import mmap
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from llamacli.base import file_facts
from llamacli.errors import ModelLoadError

MAGIC = b"GGUF"
SPECIAL_TOKENS = ("bos", "eos", "eot", "eom", "unknown", "padding", "sep", "mask")
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_KEY = 65535  # the GGUF spec: a key is at most 2^16 - 1 bytes (a misread length could otherwise be the file)
# llama.cpp's llama_ftype (general.file_type), as gguf.LlamaFileType names them.
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
}  # fmt: skip
# ggml tensor types: (elements per block, bytes per block), as gguf.GGML_QUANT_SIZES lists them (a test checks).
TENSOR_TYPES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}  # fmt: skip
# GGUF value types: struct format of the scalars; 8 = string, 9 = array.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class GGUFInfo:
    """What `show` prints and the memory estimate needs, from one GGUF header."""

    architecture: str
    name: str | None
    parameters: int
    file_type: str | None
    context_length: int | None
    layers: int | None
    heads: int | None
    kv_heads: int | None
    embedding_size: int | None
    head_dim: int | None
    vocab_size: int | None
    license: str | None
    chat_template: str | None
    special_tokens: dict[str, Any] = field(default_factory=dict)
    tensors: int = 0
    header_bytes: int = 0  # where tensor data starts: how much of the file a header read needs
    file_size: int = 0
    # general.type: "model", "adapter" (a LoRA for a base model of `architecture`), or None when not said
    file_kind: str | None = None
    adapter_type: str | None = None  # adapter.type ("lora")
    lora_alpha: float | None = None  # adapter.lora.alpha
    lora_rank: int | None = None  # the largest rank among the adapter's lora_a tensors
    parts: int = 1  # files the model is split into (models/splits.py adds theirs up)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


class NeedMore(Exception):
    """The prefix ends inside the header: read at least `needed` bytes and parse again."""

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


class Malformed(Exception):
    """The bytes are not a GGUF header (reason in the message)."""


class _Cursor:
    """Bounds-checked little-endian reads over a prefix of a file of known size."""

    def __init__(self, buf: Any, file_size: int) -> None:
        self.buf = buf
        self.have = len(buf)
        self.file_size = file_size
        self.pos = 0

    def take(self, n: int) -> int:
        """Reserve N bytes; return where they start."""
        start, end = self.pos, self.pos + n
        if n < 0 or end > self.file_size:
            raise Malformed(f"a length at byte {start} runs past the end of the file")
        if end > self.have:
            raise NeedMore(max(end, self.have * 2))
        self.pos = end
        return start

    def unpack(self, fmt: str, size: int) -> Any:
        return struct.unpack_from(fmt, self.buf, self.take(size))[0]

    def u32(self) -> int:
        return int(self.unpack("<I", 4))

    def u64(self) -> int:
        return int(self.unpack("<Q", 8))

    def string(self, limit: int | None = None) -> str:
        """A length-prefixed UTF-8 string (decoded in place: no copy of its bytes); Malformed over LIMIT."""
        n = self.u64()
        if limit is not None and n > limit:
            raise Malformed(f"a key of {n} bytes at byte {self.pos - 8} (at most {limit})")
        start = self.take(n)
        return str(memoryview(self.buf)[start : start + n], "utf-8", "replace")


def _value(cur: _Cursor, vtype: int, keep_index: bool) -> Any:
    """One value; arrays become their first element (or a string index when KEEP_INDEX) and a count."""
    if vtype in _SCALARS:
        fmt = _SCALARS[vtype]
        return cur.unpack(fmt, struct.calcsize(fmt))
    if vtype == _STRING:
        return cur.string()
    if vtype != _ARRAY:
        raise Malformed(f"unknown value type {vtype} at byte {cur.pos}")
    etype, count = cur.u32(), cur.u64()
    if count > cur.file_size:
        raise Malformed(f"an array of {count} items cannot fit in the file")
    if etype in _SCALARS:
        size = struct.calcsize(_SCALARS[etype])
        start = cur.take(size * count)
        first = struct.unpack_from(_SCALARS[etype], cur.buf, start)[0] if count else None
        return _Array(count, first, None)
    if etype == _STRING:
        return _Array(count, None, _skip_strings(cur, count, keep_index))
    raise Malformed(f"arrays of type {etype} are not supported")


_U64 = struct.Struct("<Q").unpack_from
INDEX_EVERY = 256  # remember where every 256th token starts: enough to find any token, bounded memory


def _skip_strings(cur: _Cursor, count: int, keep_index: bool) -> list[int] | None:
    """Walk COUNT length-prefixed strings (the hot loop: Llama 3 has 128k tokens and 280k merges).

    The fast path reads lengths without per-string bounds checks and lets `struct` stop it at the end of
    the buffer; only then does the careful walk say whether the file is malformed or the prefix short.
    With KEEP_INDEX, the start of every INDEX_EVERY-th string is kept (see `_string_at`), never one
    offset per string: a hostile array of a hundred million empty strings costs no memory.
    """
    if count * 8 > cur.file_size - cur.pos:  # every string has at least its 8-byte length
        raise Malformed(f"an array of {count} strings cannot fit in the file")
    buf, pos = cur.buf, cur.pos
    index: list[int] | None = [] if keep_index else None
    try:
        if index is None:
            for _ in range(count):
                pos += 8 + _U64(buf, pos)[0]
        else:
            blocks, rest = divmod(count, INDEX_EVERY)
            mark, every = index.append, range(INDEX_EVERY)
            for _ in range(blocks):
                mark(pos)
                for _ in every:
                    pos += 8 + _U64(buf, pos)[0]
            mark(pos)
            for _ in range(rest):
                pos += 8 + _U64(buf, pos)[0]
    except (struct.error, OverflowError):
        _stopped_early(cur, count)
    if pos > cur.file_size:
        raise Malformed(f"a string array runs past the end of the file (byte {pos})")
    if pos > cur.have:
        raise NeedMore(max(pos, cur.have * 2))
    cur.pos = pos
    return index


def _stopped_early(cur: _Cursor, count: int) -> NoReturn:
    """Why COUNT strings from the cursor cannot be walked in the buffer: Malformed, or NeedMore with how much.

    A short prefix asks for an estimate of the whole array (the remaining strings at the average length
    so far, plus a margin), so a remote header read takes two or three requests, not one per doubling.
    """
    buf, start, have, size = cur.buf, cur.pos, cur.have, cur.file_size
    pos = start
    for i in range(count):
        if pos + 8 > have:
            if pos + 8 > size:
                break
            average = (pos - start) / i if i else 16
            raise NeedMore(max(int(pos + (count - i) * average * 1.25) + (1 << 20), have * 2))
        pos += 8 + _U64(buf, pos)[0]
    raise Malformed(f"a string array runs past the end of the file (byte {pos})")


def _string_at(buf: Any, index: list[int], i: int) -> str:
    """String I of an array walked with KEEP_INDEX (at most INDEX_EVERY - 1 strings skipped to find it)."""
    pos = index[i // INDEX_EVERY]
    for _ in range(i % INDEX_EVERY):
        pos += 8 + _U64(buf, pos)[0]
    n = _U64(buf, pos)[0]
    return bytes(buf[pos + 8 : pos + 8 + n]).decode("utf-8", "replace")


@dataclass
class _Array:
    count: int
    first: Any
    string_index: list[int] | None


def parse(buf: Any, file_size: int, shapes: dict[str, tuple[int, ...]] | None = None) -> GGUFInfo:
    """Parse the header in BUF (a prefix of a FILE_SIZE-byte file); NeedMore or Malformed otherwise.

    SHAPES, when given, receives every tensor's name and dimensions (GGUF's order: ne[0] first).
    """
    cur = _Cursor(buf, file_size)
    if bytes(buf[cur.take(4) : 4]) != MAGIC:
        raise Malformed("bad magic: not a GGUF file")
    version = cur.u32()
    if version not in (2, 3):
        raise Malformed(f"GGUF version {version} is not supported")
    n_tensors, n_kv = cur.u64(), cur.u64()
    if n_kv * 13 > file_size or n_tensors * 24 > file_size:
        raise Malformed(f"{n_kv} keys and {n_tensors} tensors cannot fit in the file")
    kv: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string(limit=MAX_KEY)
        kv[key] = _value(cur, cur.u32(), keep_index=key == "tokenizer.ggml.tokens")
    parameters = data_end = rank = 0  # data_end: where the last byte of tensor data falls, after the data offset
    for _ in range(n_tensors):
        name = cur.string(limit=MAX_KEY)
        n_dims = cur.u32()
        if n_dims > MAX_DIMS:
            raise Malformed(f"a tensor with {n_dims} dimensions (at most {MAX_DIMS})")
        dims = [cur.u64() for _ in range(n_dims)]
        if shapes is not None:
            shapes[name] = tuple(dims)
        if name.endswith(".lora_a") and n_dims == 2:
            rank = max(rank, dims[1])
        count = math.prod(dims)
        parameters += count
        tensor_type, offset = cur.u32(), cur.u64()
        if tensor_type in TENSOR_TYPES and dims:
            block, block_bytes = TENSOR_TYPES[tensor_type]
            data_end = max(data_end, offset + dims[0] // block * block_bytes * (count // dims[0] if dims[0] else 0))
    alignment = kv.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise Malformed("general.alignment must be a power of two")
    data_offset = -(-cur.pos // alignment) * alignment
    if data_offset + data_end > file_size:  # llama.cpp refuses it at load: say so before it is imported or shown
        raise Malformed(
            f"the file is cut short: its tensors need {data_offset + data_end:,} bytes and it has {file_size:,}"
            " (an incomplete download or copy)"
        )
    info = _info(kv, buf, parameters, n_tensors, data_offset, file_size)
    return _with_adapter(info, kv, rank) if info.file_kind == "adapter" else info


def _with_adapter(info: GGUFInfo, kv: dict[str, Any], rank: int) -> GGUFInfo:
    """INFO with what an adapter's header says of it: its type, alpha and rank."""
    kind, alpha = kv.get("adapter.type"), kv.get("adapter.lora.alpha")
    return dataclasses.replace(
        info,
        adapter_type=kind if isinstance(kind, str) else None,
        lora_alpha=float(alpha) if isinstance(alpha, int | float) and not isinstance(alpha, bool) else None,
        lora_rank=rank or None,
    )


def _info(kv: dict[str, Any], buf: Any, parameters: int, n_tensors: int, data_offset: int, size: int) -> GGUFInfo:
    def text(key: str) -> str | None:
        value = kv.get(key)
        return value if isinstance(value, str) else None

    def number(key: str) -> int | None:
        """An integer field; None when absent or not an integer (a float here may be NaN or inf: not a count)."""
        value = kv.get(key)
        if isinstance(value, _Array):  # per-layer values (some models): report the first
            value = value.first
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    arch = text("general.architecture") or "unknown"
    embedding, heads = number(f"{arch}.embedding_length"), number(f"{arch}.attention.head_count")
    file_type = number("general.file_type")
    tokens = kv.get("tokenizer.ggml.tokens")
    return GGUFInfo(
        architecture=arch,
        name=text("general.name"),
        parameters=parameters,
        file_type=None if file_type is None else FILE_TYPES.get(file_type, f"type {file_type}"),
        context_length=number(f"{arch}.context_length"),
        layers=number(f"{arch}.block_count"),
        heads=heads,
        kv_heads=number(f"{arch}.attention.head_count_kv") or heads,
        embedding_size=embedding,
        head_dim=number(f"{arch}.attention.key_length") or (embedding // heads if embedding and heads else None),
        vocab_size=tokens.count if isinstance(tokens, _Array) else number(f"{arch}.vocab_size"),
        license=text("general.license"),
        chat_template=text("tokenizer.chat_template"),
        special_tokens=_special(kv, buf, tokens if isinstance(tokens, _Array) else None, number),
        tensors=n_tensors,
        header_bytes=data_offset,
        file_size=size,
        file_kind=text("general.type"),
    )


def _special(kv: dict[str, Any], buf: Any, tokens: _Array | None, number: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    index = tokens.string_index if tokens else None
    for kind in SPECIAL_TOKENS:
        token_id = number(f"tokenizer.ggml.{kind}_token_id")
        if token_id is None:
            continue
        text = None
        if index is not None and tokens is not None and 0 <= token_id < tokens.count:
            text = _string_at(buf, index, token_id)
        out[kind] = {"id": token_id, "text": text}
    return out


HEADER_FACT = "gguf-header-3"  # the file_facts kind (the number changes when GGUFInfo or its checks do)


def read(path: Path, cache_dir: Path | None = None) -> GGUFInfo:
    """Parse the header of the GGUF at PATH (memory-mapped: only header pages are read).

    With CACHE_DIR, a header already parsed for this exact file is recalled instead (Llama 3's 128k-token
    vocabulary takes tens of milliseconds to walk) and a new parse is remembered.
    ModelLoadError (exit 3) when it is not a readable GGUF.
    """
    if cache_dir is not None:
        with contextlib.suppress(OSError, TypeError):
            known = file_facts.recall(path, HEADER_FACT, cache_dir)
            if isinstance(known, dict):
                return GGUFInfo(**known)
    info = _read(path)
    if cache_dir is not None:
        remember(path, info, cache_dir)
    return info


def remember(path: Path, info: GGUFInfo, cache_dir: Path) -> None:
    """Keep INFO as PATH's header (after a download, whose header was checked as it was verified)."""
    file_facts.remember(path, HEADER_FACT, cache_dir, info.to_dict())


def read_shapes(path: Path) -> tuple[GGUFInfo, dict[str, tuple[int, ...]]]:
    """PATH's header and its tensors' dimensions by name (to match a LoRA adapter with its base model)."""
    shapes: dict[str, tuple[int, ...]] = {}
    return _read(path, shapes), shapes


def _read(path: Path, shapes: dict[str, tuple[int, ...]] | None = None) -> GGUFInfo:
    """Parse PATH's header, whatever is wrong with the file reported as ModelLoadError."""
    try:
        with path.open("rb") as f:
            size = path.stat().st_size
            if size == 0:
                raise ModelLoadError(path, "the file is empty")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return parse(mm, size, shapes)
    except OSError as e:
        raise ModelLoadError(path, e.strerror or str(e)) from e
    except NeedMore as e:  # cannot happen with the whole file mapped; kept for completeness
        raise ModelLoadError(path, f"the header needs {e.needed} bytes") from e
    except Malformed as e:
        raise ModelLoadError(path, f"not a valid GGUF file: {e}") from e
