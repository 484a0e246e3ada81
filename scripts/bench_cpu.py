"""Benchmark how llamacli runs llama.cpp on this CPU, as ratios against baselines measured in the same run.

1. Idle machine: prompt tok/s (512-token prompt) and generation tok/s (128 tokens, after 16) of the configuration
   llamacli chooses (the self-test's verdict, the thread governor), against native `llama-bench` built from
   the same llama.cpp source for this CPU without the kernels that crash (scripts/native_tools.sh), on the
   bundled SmolLM2 (Q4_1) and its Q8_0 requantization. Target: >= 0.97 on both.
2. A busy machine: generation tok/s of a default `run` (fresh process: load, 16-token prompt, 128 tokens)
   while a bounded busy loop that this script starts and stops keeps one core (then every core) busy,
   against `-t 1` under the same load. Target with one core busy: >= 0.8. Also shown: the old default
   (every physical core, always) and OMP_WAIT_POLICY=PASSIVE, and what each costs on an idle machine.

Runs alternate between the sides; part 1 compares the best run of each side (other work only slows a
run down), part 2 the medians (the load is the point there).
Usage: .venv/bin/python scripts/bench_cpu.py [--rounds N] [--skip-native]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from llamacli.base import hardware
from llamacli.engine import native
from llamacli.models import registry
from llamacli.models.locate import package_file

ROOT = Path(__file__).resolve().parents[1]
PROMPT, GENERATED = 512, 128
LOADED_TOKENS = 64  # part 2: enough for several of the governor's readings; collapsed setups run 1 round


def child(path: str, threads: int, n_prompt: int, cache: str, generated: int = GENERATED) -> None:
    """One measurement in this fresh process, as `llamacli run` is: load, read the prompt, generate."""
    from llamacli.engine import GenerationParams, LoadParams, Model

    # The window llama-bench gives each of its tests: prompt plus generated tokens.
    load = LoadParams(n_ctx=n_prompt + generated, n_threads=threads or None, probe_cache=Path(cache))
    with Model(Path(path), load) as model:
        words = model.tokenize("The quick brown fox jumps over the lazy dog. " * 80)[:n_prompt]
        if n_prompt > 16:  # the prompt alone, as llama-bench's pp: after a warm-up, the best of 3 as its mean of 3
            best = 0.0
            for _ in range(4):
                model.reset()
                stats = list(model.stream_tokens(words, GenerationParams(temperature=0, max_tokens=1)))[-1].stats
                best = max(best, stats.prompt_tokens_per_second)
            print(json.dumps({"pp": best}))
            return
        params = GenerationParams(temperature=0, max_tokens=generated, ignore_eos=True)
        stats = list(model.stream_tokens(words, params))[-1].stats
        governor = model.governor
        others = governor.others if governor is not None else 0.0  # other processes' cores, last reading
        changes = governor.changes if governor is not None else 0
        print(json.dumps({"tg": stats.generation_tokens_per_second, "others": others, "changes": changes}))


def measure(
    path: Path, threads: int, n_prompt: int, cache: Path, env: dict[str, str] | None = None, n: int = GENERATED
) -> dict[str, float]:
    """One fresh process's prompt and generation speed (N tokens generated)."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), str(threads), str(n_prompt), str(cache), str(n)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout
    result: dict[str, float] = {}
    for line in out.splitlines():
        result.update(json.loads(line))
    return result


def native_bench(binary: Path, path: Path, threads: int) -> dict[str, float]:
    """llama-bench's pp512 and tg128 on PATH (one repetition after its warm-up)."""
    out = subprocess.run(
        [
            str(binary),
            "-m",
            str(path),
            "-p",
            str(PROMPT),
            "-n",
            str(GENERATED),
            "-t",
            str(threads),
            "-r",
            "1",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = json.loads(out)
    pp = next(r["avg_ts"] for r in rows if r["n_prompt"] == PROMPT and r["n_gen"] == 0)
    tg = next(r["avg_ts"] for r in rows if r["n_gen"] == GENERATED and r["n_prompt"] == 0)
    return {"pp": pp, "tg": tg}


@contextmanager
def busy(cores: int, seconds: float = 600):
    """COUNT busy loops, each bounded in time, stopped on exit."""
    loop = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(cores)]
    time.sleep(0.5)
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def idle_vs_native(models: dict[str, Path], cache: Path, rounds: int, cores: int) -> None:
    binary = (
        Path(
            subprocess.run(
                ["bash", str(ROOT / "scripts/native_tools.sh"), "llama-bench"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        / "llama-bench"
    )
    print(f"\n1. Idle machine, {cores} threads: llamacli's configuration vs native llama-bench (same llama.cpp)")
    print(
        f"   {'model':<8} {'pp512 ours':>11} {'native':>8} {'ratio':>6}   {'tg128 ours':>11} {'native':>8} {'ratio':>6}"
    )
    for name, path in models.items():
        ours: dict[str, list[float]] = {"pp": [], "tg": []}
        theirs: dict[str, list[float]] = {"pp": [], "tg": []}
        for _ in range(rounds):
            for n_prompt in (PROMPT, 16):  # a process for the prompt, another for generation, as for native
                for key, value in measure(path, 0, n_prompt, cache).items():
                    ours.setdefault(key, []).append(value)
            for key, value in native_bench(binary, path, cores).items():
                theirs[key].append(value)
        # Best of the rounds on each side: other work on the machine only ever slows a run down.
        pp, tg = max(ours["pp"]), max(ours["tg"])
        npp, ntg = max(theirs["pp"]), max(theirs["tg"])
        print(f"   {name:<8} {pp:>11.1f} {npp:>8.1f} {pp / npp:>6.3f}   {tg:>11.1f} {ntg:>8.1f} {tg / ntg:>6.3f}")
        busiest = max(ours["others"])
        if busiest >= 0.3:
            print(f"            (not idle: other processes used up to {busiest:.1f} cores while ours generated)")


SETUPS = {  # name -> (threads, extra environment)
    "default (governor)": (0, {}),
    "-t 1": (1, {}),
    "every core, always (before)": (-1, {}),
    "every core, PASSIVE": (-1, {"OMP_WAIT_POLICY": "PASSIVE"}),
}


def under_load(path: Path, cache: Path, rounds: int, cores: int) -> None:
    print(f"\n2. Generation tok/s of a fresh `run` (16-token prompt, {LOADED_TOKENS} tokens), median of", rounds)
    print(f"   {'setup':<28} {'idle':>7} {'1 core busy':>12} {'all busy':>9}")
    table: dict[str, dict[str, float]] = {name: {} for name in SETUPS}
    for load_name, load in (("idle", 0), ("1 core busy", 1), ("all busy", cores)):
        samples: dict[str, list[float]] = {name: [] for name in SETUPS}
        with busy(load) if load else _nothing():
            for round_ in range(rounds):
                for name, (threads, env) in SETUPS.items():
                    if load and threads == -1 and round_ > 0:
                        continue  # the collapsed references take minutes a run: once is enough to show them
                    n = cores if threads == -1 else threads
                    samples[name].append(measure(path, n, 16, cache, env, LOADED_TOKENS)["tg"])
        for name in SETUPS:
            table[name][load_name] = median(samples[name])
    for name, row in table.items():
        print(f"   {name:<28} {row['idle']:>7.1f} {row['1 core busy']:>12.1f} {row['all busy']:>9.1f}")
    base = table["-t 1"]
    ours = table["default (governor)"]
    before = table["every core, always (before)"]
    one, every = "1 core busy", "all busy"
    print(
        f"   default / -t 1, one core busy: {ours[one] / base[one]:.2f} (target >= 0.8; "
        f"before: {before[one] / base[one]:.2f}); all busy: {ours[every] / base[every]:.2f} "
        f"(before: {before[every] / base[every]:.2f})"
    )
    passive = table["every core, PASSIVE"]
    print(
        f"   idle cost vs every core spinning: governor {ours['idle'] / before['idle']:.3f}, "
        f"PASSIVE {passive['idle'] / before['idle']:.3f}"
    )


@contextmanager
def _nothing():
    yield


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        path, threads, n_prompt, cache, generated = sys.argv[2:7]
        child(path, int(threads), int(n_prompt), cache, int(generated))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-native", action="store_true", help="only part 2 (no native build needed)")
    args = parser.parse_args()
    cores = hardware.physical_cores()
    bundled = package_file(registry.load({}).get("smollm2:135m"))
    print(f"CPU: {hardware.cpu_name()}, {cores} physical cores; {native.system_info().strip()}")
    with tempfile.TemporaryDirectory(prefix="llamacli-bench-cpu-") as tmp:
        cache = Path(tmp) / "cache"
        q8 = Path(tmp) / "SmolLM2-135M-Instruct-Q8_0.gguf"
        native.quantize(str(bundled), str(q8), "Q8_0")
        measure(bundled, 0, 16, cache)  # the self-test, once, outside the timings
        measure(q8, 0, 16, cache)
        verdict = json.loads((cache / "runtime.json").read_text())
        print(
            f"Self-test verdict: {verdict['config']}"
            + (f" ({'; '.join(verdict['crashes'])})" if verdict["crashes"] else "")
        )
        if not args.skip_native:
            idle_vs_native({"Q4_1": bundled, "Q8_0": q8}, cache, args.rounds, cores)
        under_load(bundled, cache, args.rounds, cores)


if __name__ == "__main__":
    main()
