"""A quick measurement of llama.cpp on this machine, cached, that turns shapes into predicted speeds.

The bundled SmolLM2 model is requantized (in a temporary directory, under a second each) to the quant
types the registry publishes, and each copy generates 32 tokens after a 16-token prompt and 32 after a
512-token one, three times (the fastest run counts). From that (see `llamacli.sizing.estimate`): A = the extra
attention work of the deeper run over its extra time per token (the median over the files: attention
reads the f16 KV cache whatever the weights' type), G[quant] = file size over what remains of a token's
time at depth zero, and P[quant] = prompt tok/s × non-embedding parameters. Quant kernels
differ by CPU (Q4_1 has no fast prompt kernel on some AVX512 builds, Q8_0 and Q2_K do), so each type
is measured rather than assumed from its bits.

The result (`llamacli.sizing.calibration`) is cached per machine (CPU, cores, llama.cpp build);
`--recalibrate` measures again. Everything here runs real llama.cpp: it is the core of `llamacli recommend`.

Other work on the machine slows every measurement, so each file's measurement reads what other processes
used meanwhile (the thread governor's `CpuSample`); a calibration during which they kept a third of a core
or more busy (enough for the governor to give up a thread) is marked busy, and is not trusted silently
(see `llamacli.services.recommend.calibration`). A *quick* calibration (the bundled file only, one run:
a few seconds) serves `run` and `chat` when they must rank models and nothing was measured yet.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from llamacli.base import hardware
from llamacli.engine.threads import CpuSample
from llamacli.sizing import estimate
from llamacli.sizing.calibration import BUSY_CORES, Calibration, QuantMeasurement, machine_key
from llamacli.sizing.estimate import ModelShape, QuantSpeed

if TYPE_CHECKING:
    from llamacli.engine import Event, Stats

CALIBRATION_QUANTS = ("Q8_0", "Q4_K_M", "Q2_K")  # requantized from the bundled Q4_1, measured as well
PROMPT_TOKENS = 512  # one full batch, like llama-bench's pp512
SHORT_PROMPT = 16
GENERATED_TOKENS = 32
REPEATS = 3
REPEAT_WITHIN = 5.0  # seconds: no further repeat of a file once its runs took this long (a busy machine)
CALIBRATION_CTX = 1024
IDLE_CHECK_SECONDS = 0.3


@dataclass(frozen=True)
class FileRun:
    """What one file measured, before the attention rate shared by all quant types is known."""

    quant: str
    shape: ModelShape
    size: int
    shallow: float  # generation tok/s after SHORT_PROMPT tokens
    deep: float  # after PROMPT_TOKENS tokens
    reading: float  # prompt tok/s
    resident: int = 0  # what loading and running it added to the process's resident memory
    others: float = 0.0  # cores other processes kept busy meanwhile


def measure_file(path: Path, quant: str, probe_cache: Path | None = None, repeats: int = REPEATS) -> FileRun:
    """Load PATH (as every front end does: the self-test's configuration, the thread governor); read a
    512-token prompt; generate after 16 and after 512 tokens; note what other processes used meanwhile."""
    from llamacli.engine import GenerationParams, LoadParams, Model

    before = _reset_peak_memory()
    with Model(path, LoadParams(n_ctx=CALIBRATION_CTX, probe_cache=probe_cache)) as model:
        shape = shape_of(model)
        words = model.tokenize("The quick brown fox jumps over the lazy dog. " * 60, add_special=True)
        prompt = words[:PROMPT_TOKENS]
        params = GenerationParams(temperature=0, max_tokens=GENERATED_TOKENS, ignore_eos=True)
        # Read after the load: the self-test's child is ours, not other work.
        start = CpuSample.now()
        # Best of a few short runs: on a shared machine, other work only ever slows a run down.
        reading = deep = shallow = 0.0
        for repeat in range(repeats):
            if repeat and CpuSample.now().wall - start.wall > REPEAT_WITHIN:
                break  # a busy machine: more runs would take minutes, and the result is marked busy anyway
            model.reset()
            stats = _finished(model.stream_tokens(prompt, params))
            reading = max(reading, stats.prompt_tokens_per_second)
            deep = max(deep, stats.generation_tokens_per_second)
            model.reset()
            stats = _finished(model.stream_tokens(prompt[:SHORT_PROMPT], params))
            shallow = max(shallow, stats.generation_tokens_per_second)
        others = CpuSample.now().others_since(start)
        resident = _peak_memory() - before  # every weight page was read: all resident
    return FileRun(quant, shape, path.stat().st_size, shallow, deep, reading, resident, others)


def others_now(seconds: float = IDLE_CHECK_SECONDS) -> float:
    """Cores other processes keep busy now (read over SECONDS, this process sleeping meanwhile)."""
    start = CpuSample.now()
    time.sleep(seconds)
    return CpuSample.now().others_since(start)


def idle_now() -> bool:
    """Whether the machine is idle enough now for a calibration that would not be marked busy."""
    return others_now() < BUSY_CORES


def _measure_apart(path: Path, quant: str, probe_cache: Path | None, repeats: int = REPEATS) -> FileRun:
    """`measure_file` in a fresh forked process where there is fork, else here.

    Each file then starts from the same clean heap: memory a previous model freed but the allocator kept
    would otherwise be reused, and a model's own resident memory would be measured short.
    """
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return measure_file(path, quant, probe_cache, repeats)
    with multiprocessing.get_context("fork").Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(measure_file, (path, quant, probe_cache, repeats))


_STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _reset_peak_memory() -> int:
    """Start a new peak (Linux: writing 5 to clear_refs resets VmHWM); the resident memory now."""
    with contextlib.suppress(OSError):
        _CLEAR_REFS.write_text("5")
    return int(psutil.Process().memory_info().rss)


def _peak_memory() -> int:
    """The peak resident memory since `_reset_peak_memory` (Linux), else the resident memory now.

    Loading can briefly hold more than running does (weights being repacked while their file pages are
    read): a fresh process's peak, which is what the estimate predicts, includes it.
    """
    with contextlib.suppress(OSError, ValueError, StopIteration):
        line = next(x for x in _STATUS.read_text().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024
    return int(psutil.Process().memory_info().rss)


def _depths(shape: ModelShape) -> tuple[int, int]:
    """The attention work per token of the shallow and the deep run (at their middle token)."""
    middle = GENERATED_TOKENS // 2
    return (
        estimate.attention_work(shape, SHORT_PROMPT + middle),
        estimate.attention_work(shape, PROMPT_TOKENS + middle),
    )


def attention_rate(shape: ModelShape, shallow: float, deep: float) -> float:
    """A from one file: the deep run's extra attention work over its extra time per token (0: not slower)."""
    near, far = _depths(shape)
    extra = 1 / deep - 1 / shallow
    return (far - near) / extra if extra > 0 else 0.0


def fit_speed(shape: ModelShape, size: int, shallow: float, reading: float, attention: float) -> QuantSpeed:
    """G and P for one file, given A (attention runs on the f16 KV cache whatever the weights' type).

    Each token's time is size / G + attention work / A: what the shallow run's time leaves after its
    attention is the weights' share. Without A, the whole shallow time is.
    """
    near, _ = _depths(shape)
    t_near = 1 / shallow
    weights_time = t_near - near / attention if attention > 0 else t_near
    return QuantSpeed(
        generation_bytes_per_second=size / max(weights_time, t_near / 10),
        prompt_parameter_tokens_per_second=reading * shape.non_embedding_parameters,
        attention_per_second=attention,
    )


def measurements(runs: list[FileRun]) -> dict[str, QuantMeasurement]:
    """Every run's speeds with G, P, and the one A all types share (the median: robust to a noisy run)."""
    rates = sorted(r for run in runs if (r := attention_rate(run.shape, run.shallow, run.deep)) > 0)
    shared = rates[len(rates) // 2] if rates else 0.0
    return {
        run.quant: QuantMeasurement(
            run.quant,
            estimate.bits_per_weight(run.size, run.shape.parameters),
            run.shallow,
            run.reading,
            fit_speed(run.shape, run.size, run.shallow, run.reading, shared),
            run.deep,
            repacked_per_byte(run),
        )
        for run in runs
    }


def repacked_per_byte(run: FileRun) -> float:
    """R: what RUN kept resident beyond the memory formula (runtime overhead aside), per byte of its file."""
    formula = estimate.memory_need(run.shape, run.size, CALIBRATION_CTX, runtime_overhead=0).total
    return max(0.0, (run.resident - formula) / run.size) if run.resident else 0.0


def _finished(events: Iterator[Event]) -> Stats:
    """The stats of a stream that must end in Finished."""
    from llamacli.engine import Finished

    for event in events:
        if isinstance(event, Finished):
            return event.stats
    raise AssertionError("stream ended without Finished")  # pragma: no cover


def shape_of(model: object) -> ModelShape:
    """The estimate's view of a loaded engine Model."""
    from llamacli.engine import Model

    assert isinstance(model, Model)
    return ModelShape(
        layers=model.n_layer,
        kv_heads=model.n_head_kv,
        head_dim=model.head_dim,
        parameters=model.n_params,
        n_vocab=model.n_vocab,
        n_embd=model.n_embd,
        n_ff=model.n_ff,
        heads=model.n_head,
    )


def run(
    bundled: Path,
    progress: Callable[[str], None] = lambda _: None,
    probe_cache: Path | None = None,
    quick: bool = False,
) -> Calibration:
    """Measure this machine on BUNDLED (a Q4_1 GGUF) and its requantized copies (PROBE_CACHE: see LoadParams).

    QUICK: BUNDLED alone, one run (other quant types then borrow its speeds; see `Calibration.measured`).
    """
    from llamacli.engine import native

    native.lib()
    load = os.getloadavg()[0] / hardware.physical_cores() if hasattr(os, "getloadavg") else 0.0
    overhead = psutil.Process().memory_info().rss
    progress("Q4_1")
    runs = [_measure_apart(bundled, "Q4_1", probe_cache, 1 if quick else REPEATS)]
    with tempfile.TemporaryDirectory(prefix="llamacli-calibration-") as directory:
        for quant in () if quick else CALIBRATION_QUANTS:
            progress(quant)
            target = Path(directory) / f"calibration-{quant}.gguf"
            native.quantize(str(bundled), str(target), quant)
            runs.append(_measure_apart(target, quant, probe_cache))
            target.unlink()
    quants, shape = measurements(runs), runs[0].shape
    others = max(run.others for run in runs)
    return Calibration(
        machine_key(), time.time(), overhead, quants, shape, round(load, 2), round(others, 3), quick=quick
    )
