"""Property tests: real GGUF headers, mutated where it hurts, never get past the reader in any other way.

A mutation changes one field the format gives meaning to (a count, a key or string length, a value or
array type, an array length, the alignment, block_count, a tensor's dimensions, type or offset), flips a
byte, cuts the file, or inserts or deletes bytes. `gguf_info.read` must then either accept the file or
raise ModelLoadError, within a memory bound, and what it accepts must be usable by the memory estimate.
The slow test runs `llamacli show` and `llamacli run` on mutated copies of the real model: a documented
exit code, one error line, no traceback, no death by signal.
"""

from __future__ import annotations

import json
import shutil
import struct
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamacli.errors import ModelLoadError
from llamacli.models import gguf_info
from llamacli.sizing import fit
from tests.support.cli import run_cli
from tests.support.gguf_factory import small_gguf

SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
INTERESTING = [
    *range(14), 16, 31, 32, 33, 63, 64, 255, 256, 600, 4095, 4096, 65535, 65536,
    0x7FC00000, 0x7F800000, 0xFF800000,  # f32 NaN, +inf, -inf: with a type changed to f32
    2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63,
    0x7FF8000000000000, 0x7FF0000000000000,  # f64 NaN, +inf
    2**64 - 1,
]  # fmt: skip


@dataclass(frozen=True)
class Field:
    """One field of the header: where it is, its struct format, and its value there."""

    offset: int
    fmt: str
    value: int | float


class Layout:
    """The header's fields by kind, walked independently of the reader under test."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.header_bytes = 0
        self.kinds: dict[str, list[Field]] = defaultdict(list)
        self.typed: list[Field] = []  # scalar values; their value type is the u32 before them

    def __repr__(self) -> str:  # hypothesis prints a failing example's arguments: not a 2 MB header
        return f"Layout({len(self.data)} bytes, {sum(map(len, self.kinds.values()))} fields)"

    def add(self, kind: str, offset: int, fmt: str) -> int | float:
        value: int | float = struct.unpack_from(fmt, self.data, offset)[0]
        self.kinds[kind].append(Field(offset, fmt, value))
        return value


def layout_of(data: bytes) -> Layout:
    """Walk a well-formed GGUF header and record every field a mutation may target."""
    out = Layout(data)
    n_tensors = int(out.add("n_tensors", 8, "<Q"))
    n_kv = int(out.add("n_kv", 16, "<Q"))
    pos = 24

    def string(kind: str) -> bytes:
        nonlocal pos
        n = int(out.add(kind, pos, "<Q"))
        pos += 8 + n
        return data[pos - n : pos]

    for _ in range(n_kv):
        key = string("key_length").decode()
        vtype = int(out.add("value_type", pos, "<I"))
        pos += 4
        if vtype == 8:
            string("string_length")
        elif vtype == 9:
            etype = int(out.add("array_type", pos, "<I"))
            count = int(out.add("array_length", pos + 4, "<Q"))
            pos += 12
            for _ in range(count):
                if etype == 8:
                    string("array_string_length")
                else:
                    pos += struct.calcsize(SCALARS[etype])
        else:
            kind = {"general.alignment": "alignment"}.get(
                key, "block_count" if key.endswith(".block_count") else "scalar"
            )
            out.add(kind, pos, SCALARS[vtype])
            out.typed.append(out.kinds[kind][-1])
            pos += struct.calcsize(SCALARS[vtype])
    for _ in range(n_tensors):
        string("tensor_name_length")
        n_dims = int(out.add("n_dims", pos, "<I"))
        pos += 4
        for _ in range(n_dims):
            out.add("tensor_dim", pos, "<Q")
            pos += 8
        out.add("tensor_type", pos, "<I")
        out.add("tensor_offset", pos + 4, "<Q")
        pos += 12
    out.header_bytes = pos
    return out


def _pack(fmt: str, value: int | float) -> bytes:
    if fmt in ("<f", "<d"):
        return struct.pack(fmt, float(value))
    if fmt == "<?":
        return bytes([int(value) & 0xFF])
    bits = struct.calcsize(fmt) * 8
    value = int(value) % (1 << bits)
    return value.to_bytes(bits // 8, "little")  # a signed field gets the same bits


Mutation = Callable[[bytearray], bytearray]


@st.composite
def mutations(draw: st.DrawFn, layout: Layout) -> list[tuple[str, Mutation]]:
    """One to three changes: fields and byte flips in place, then at most one cut, insert or delete."""
    changes: list[tuple[str, Mutation]] = []
    for _ in range(draw(st.integers(1, 3))):
        choice = draw(st.integers(0, 6))
        if choice == 0:  # another value type of the same width, and a value for it (NaN in a count...)
            target = draw(st.sampled_from(layout.typed))
            width = struct.calcsize(target.fmt)
            vtype = draw(st.sampled_from([t for t, f in SCALARS.items() if struct.calcsize(f) == width]))
            fmt = SCALARS[vtype]
            special = st.sampled_from([float("nan"), float("inf"), -float("inf"), -0.0, 3e38, -1.0])
            value = draw(special if fmt in ("<f", "<d") else st.sampled_from(INTERESTING))
            raw = struct.pack("<I", vtype) + _pack(fmt, value)

            def retype(b: bytearray, at: int = target.offset - 4, raw: bytes = raw) -> bytearray:
                b[at : at + len(raw)] = raw
                return b

            changes.append((f"type@{target.offset - 4}={vtype},{value!r}", retype))
        elif choice == 1:  # rename a key (one byte of it): the model then lacks that key
            target = draw(st.sampled_from(layout.kinds["key_length"]))
            at = target.offset + 8 + draw(st.integers(0, max(0, int(target.value) - 1)))

            def rename(b: bytearray, at: int = at) -> bytearray:
                b[at] = ord("X") if b[at] != ord("X") else ord("Y")
                return b

            changes.append((f"rename@{at}", rename))
        elif choice > 2:
            kind = draw(st.sampled_from(sorted(layout.kinds)))
            target = draw(st.sampled_from(layout.kinds[kind]))
            if target.fmt in ("<f", "<d"):
                value: int | float = draw(st.floats(width=32 if target.fmt == "<f" else 64))
            else:
                value = draw(
                    st.one_of(
                        st.sampled_from(INTERESTING),
                        st.integers(-4, 4).map(lambda d, v=target.value: int(v) + d),
                        st.integers(0, 2**64 - 1),
                    )
                )
            raw = _pack(target.fmt, value)

            def put(b: bytearray, at: int = target.offset, raw: bytes = raw) -> bytearray:
                b[at : at + len(raw)] = raw
                return b

            changes.append((f"{kind}@{target.offset}={value!r}", put))
        else:
            at, mask = (
                draw(st.integers(8, layout.header_bytes - 1)),
                draw(st.integers(1, 255)),
            )  # magic, version: tested

            def flip(b: bytearray, at: int = at, mask: int = mask) -> bytearray:
                b[at] ^= mask
                return b

            changes.append((f"flip@{at}^{mask}", flip))
    op = draw(st.sampled_from(["none", "none", "cut", "insert", "delete"]))
    at = draw(st.integers(24, layout.header_bytes))
    n = draw(st.integers(1, 64))
    if op == "cut":
        changes.append((f"cut@{at}", lambda b: b[:at]))
    elif op == "insert":
        changes.append((f"insert@{at}+{n}", lambda b: b[:at] + bytearray(n) + b[at:]))
    elif op == "delete":
        changes.append((f"delete@{at}-{n}", lambda b: b[:at] + b[at + n :]))
    return changes


def mutate(data: bytes, changes: list[tuple[str, Mutation]]) -> bytes:
    buf = bytearray(data)
    for _, change in changes:
        buf = change(buf)
    return bytes(buf)


def read_within_bound(path: Path) -> tuple[gguf_info.GGUFInfo | None, int]:
    """Read PATH as `show` does; the header (or None when refused) and the peak of Python allocations."""
    tracemalloc.start()
    try:
        try:
            info: gguf_info.GGUFInfo | None = gguf_info.read(path)
        except ModelLoadError:
            info = None
        return info, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def usable(info: gguf_info.GGUFInfo) -> None:
    """What the commands do with an accepted header: JSON for `show`, the memory check for `run`."""
    json.dumps(info.to_dict())
    shape = fit.shape_of_info(info)
    if shape is not None:
        fit.check(shape, info.file_size, info.context_length, None, env={"LLAMACLI_MEMORY": "8G"})


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def small(work: Path) -> Layout:
    """The small synthetic GGUF (every value type, four tensors) and its layout."""
    return layout_of(small_gguf(work / "small.gguf").read_bytes())


@pytest.fixture(scope="module")
def smollm2_header(smollm2_path: Path) -> Layout:
    """The real SmolLM2 header (49k-token vocabulary, 272 tensors), without the tensor data."""
    with smollm2_path.open("rb") as f:
        head = f.read(2_000_000)
    layout = layout_of(head)
    return layout_of(head[: layout.header_bytes])


def fuzz(examples: int) -> settings:
    """Reproducible in CI: the same examples every run (derandomize), no deadline on a busy machine."""
    return settings(max_examples=examples, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def check_reader(layout: Layout, changes: list[tuple[str, Mutation]], path: Path) -> None:
    """Read the mutant; allocations stay linear in its size, whatever counts it claims.

    The bound: one string decoded from the whole file (a misread length) takes up to 4 bytes per byte
    as a Python str, plus the 8-byte token offsets, plus a fixed allowance for the interpreter.
    """
    path.write_bytes(mutate(layout.data, changes))
    bound = 6 * path.stat().st_size + (1 << 20)
    info, peak = read_within_bound(path)
    assert peak < bound, f"{peak} bytes allocated reading {path.stat().st_size} bytes ({[c for c, _ in changes]})"
    if info is not None:
        usable(info)


@fuzz(400)
@given(data=st.data())
def test_mutated_small_headers_are_accepted_or_model_load_errors(
    small: Layout, work: Path, data: st.DataObject
) -> None:
    changes = data.draw(mutations(small))
    check_reader(small, changes, work / "small-mutant.gguf")


@fuzz(15)
@given(data=st.data())
def test_mutated_real_headers_are_accepted_or_model_load_errors(
    smollm2_header: Layout, work: Path, data: st.DataObject
) -> None:
    changes = data.draw(mutations(smollm2_header))
    check_reader(smollm2_header, changes, work / "real-mutant.gguf")


@pytest.mark.slow
@fuzz(20)
@given(data=st.data())
def test_show_and_run_on_mutated_models_exit_cleanly(
    smollm2_path: Path, smollm2_header: Layout, work: Path, data: st.DataObject
) -> None:
    """The whole model with a mutated header, through the real commands (llama.cpp's loader included)."""
    changes = data.draw(mutations(smollm2_header))
    path = work / "model-mutant.gguf"
    with path.open("wb") as out, smollm2_path.open("rb") as source:
        out.write(mutate(smollm2_header.data, changes))  # the header mutated...
        source.seek(len(smollm2_header.data))
        shutil.copyfileobj(source, out, 1 << 22)  # ...and the tensor data after it as it was
    described = [c for c, _ in changes]
    for args in (["show", str(path)], ["run", str(path), "hi", "-n", "1", "--temperature", "0"]):
        result = run_cli(*args, timeout=120)
        assert result.returncode >= 0, f"killed by signal {-result.returncode}: {args[0]} {described}"
        assert result.returncode in (0, 1, 3), (args[0], described, result.stderr)
        assert b"Traceback" not in result.stderr, (args[0], described, result.stderr)
        if result.returncode:
            error_lines = [line for line in result.stderr.splitlines() if line.startswith(b"llamacli: error:")]
            assert len(error_lines) == 1, (args[0], described, result.stderr)
