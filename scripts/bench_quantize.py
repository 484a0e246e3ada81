"""Benchmark `llamacli quantize` against llama.cpp's own `llama-quantize`, measured in the same run.

Same input (the bundled SmolLM2-135M made F16 by llama.cpp's quantizer, as a user's own conversion would
be), same targets, same threads (llama.cpp's default: every hardware thread), outputs on the same disk.
Each side is a whole process from start to exit: ours includes the CLI's start, the header read, the
disk check, the worker process and the registration. Runs alternate and the medians are compared, wall
time (the target: ≤ 1.1× native) and CPU time (user + system, children included: what a busy machine
does not blur). Before each run, the page cache's dirty pages are written back and the previous output is
deleted, so no run pays for another's writes. llama-quantize is built once by scripts/native_tools.sh.

Usage: .venv/bin/python scripts/bench_quantize.py [--repeats N] [--targets Q8_0,Q4_K_M,Q2_K] [--source F16.gguf]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from llamacli.base import hardware
from llamacli.engine import native
from llamacli.models import registry
from llamacli.models.locate import package_file

BIN = Path(sys.executable).parent
SCRIPTS = Path(__file__).resolve().parent
TARGET_RATIO = 1.1


def native_quantize() -> Path:
    """The llama-quantize binary of the llama.cpp llamacli runs on (built on first use)."""
    built = subprocess.run(
        ["bash", str(SCRIPTS / "native_tools.sh"), "llama-quantize"], capture_output=True, text=True, check=True
    )
    return Path(built.stdout.strip().splitlines()[-1]) / "llama-quantize"


@dataclass(frozen=True)
class Timing:
    """One process: wall seconds, and CPU seconds (user + system, its children included)."""

    wall: float
    cpu: float


def timed(command: list[str], env: dict[str, str] | None = None) -> Timing:
    """COMMAND's wall and CPU time; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Timing(wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)


def median(runs: list[Timing]) -> Timing:
    """The median wall time and the median CPU time of RUNS."""
    return Timing(statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs))


def bench_target(tool: Path, source: Path, work: Path, target: str, repeats: int) -> tuple[Timing, Timing, int]:
    """(native, ours, output bytes) for one target type: medians of runs that alternate."""
    env = {**os.environ, "LLAMACLI_HOME": str(work / "home")}
    theirs, ours = [], []
    out = work / f"native-{target}.gguf"
    size = 0
    for i in range(repeats):
        settle()
        theirs.append(timed([str(tool), str(source), str(out), target]))
        size = out.stat().st_size
        out.unlink()
        settle()
        name = f"bench:{target.lower()}-{i}"
        ours.append(timed([str(BIN / "llamacli"), "quantize", str(source), "--to", target, "--name", name], env))
        subprocess.run([str(BIN / "llamacli"), "rm", name], env=env, capture_output=True, check=True)
    return median(theirs), median(ours), size


def settle() -> None:
    """Write back what the previous run left dirty in the page cache, outside the timings: otherwise each run
    pays for the previous one's output (a gigabyte for a 1B model's Q8_0), whichever side wrote it."""
    os.sync()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--targets", default="Q8_0,Q4_K_M,Q2_K")
    parser.add_argument("--source", type=Path, help="an F16/BF16/F32 GGUF to use instead of the bundled model's F16")
    args = parser.parse_args()
    tool = native_quantize()
    bundled = package_file(registry.load({}).get("smollm2:135m"))
    print(f"CPU: {hardware.cpu_name()}, {os.cpu_count()} hardware threads; {native.system_info().strip()}")
    with tempfile.TemporaryDirectory(prefix="llamacli-bench-quantize-") as tmp:
        work = Path(tmp)
        source = args.source or work / "SmolLM2-135M-Instruct-F16.gguf"
        if args.source is None:
            native.quantize_file(str(bundled), str(source), 1, allow_requantize=True)  # 1: F16
        print(f"Input: {source.name}, {source.stat().st_size / 2**20:.0f} MiB; median of {args.repeats} runs each\n")
        print(f"{'':<8} {'wall time':^30} {'CPU time':^30}")
        print(f"{'target':<8} {'native':>9} {'llamacli':>10} {'ratio':>8}  {'native':>9} {'llamacli':>10} {'ratio':>8}")
        worst = worst_cpu = 0.0
        for target in args.targets.split(","):
            theirs, ours, size = bench_target(tool, source, work, target, args.repeats)
            ratio, cpu_ratio = ours.wall / theirs.wall, ours.cpu / theirs.cpu
            worst, worst_cpu = max(worst, ratio), max(worst_cpu, cpu_ratio)
            print(
                f"{target:<8} {theirs.wall:>7.2f} s {ours.wall:>8.2f} s {ratio:>7.2f}×  "
                f"{theirs.cpu:>7.2f} s {ours.cpu:>8.2f} s {cpu_ratio:>7.2f}×  ({size / 2**20:.0f} MiB)"
            )
    load = os.getloadavg()[0]
    verdict = "meets" if worst <= TARGET_RATIO else "misses"
    print(f"\nWorst wall-time ratio {worst:.2f}× ({verdict} the target of ≤ {TARGET_RATIO}×), CPU {worst_cpu:.2f}×")
    print(f"Load average {load:.1f} on {os.cpu_count()} hardware threads (wall times are noisy on a busy machine)")


if __name__ == "__main__":
    main()
