"""Benchmark `llamacli run` against baselines measured in the same run, printed as ratios.

1. Engine generation and prompt speed vs a tight loop over llama-cpp-python's low-level API
   (llama_decode + llama.cpp's C sampler chain, no detokenization), at 128 and 2,048 generated tokens,
   same model, threads, context, prompt tokens and sampler (greedy, end-of-generation banned); each side
   loads once and clears its KV cache before every run; runs alternate and the medians are compared.
2. Wall time of `llamacli run smollm2:135m "Hello" -n 16` vs a minimal Python script doing the same
   through llama-cpp-python (`Llama(...).create_chat_completion`), same context size and threads.
3. Wall time of `llamacli --help` (absolute: the target is 0.25 s).

Usage: .venv/bin/python scripts/bench_run.py [--quick]
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import time
from pathlib import Path

from llamacli.base import hardware
from llamacli.engine import GenerationParams, LoadParams, Model, native
from llamacli.engine.chat_template import Message
from llamacli.models import registry
from llamacli.models.locate import package_file

BIN = Path(sys.executable).parent
N_CTX = 4096


class BaselineLoop:
    """The tightest generation loop llama-cpp-python allows, on its own model and context.

    Like the engine, it loads once and clears the KV cache before each run, so both sides do the same
    work from the same state; only the per-token code differs.
    """

    def __init__(self, ll, path: Path, threads: int) -> None:
        self.ll = ll
        self.model = ll.llama_model_load_from_file(str(path).encode(), ll.llama_model_default_params())
        cparams = ll.llama_context_default_params()
        cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = N_CTX, 512, 512
        cparams.n_threads = cparams.n_threads_batch = threads
        cparams.no_perf = True
        self.ctx = ll.llama_init_from_model(self.model, cparams)
        vocab = ll.llama_model_get_vocab(self.model)
        n_vocab = ll.llama_vocab_n_tokens(vocab)
        banned = [t for t in range(n_vocab) if ll.llama_vocab_is_eog(vocab, t)]
        self.chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        biases = (ll.llama_logit_bias * len(banned))(*[ll.llama_logit_bias(t, float("-inf")) for t in banned])
        ll.llama_sampler_chain_add(self.chain, ll.llama_sampler_init_logit_bias(n_vocab, len(banned), biases))
        ll.llama_sampler_chain_add(self.chain, ll.llama_sampler_init_greedy())

    def run(self, prompt: list[int], n_gen: int) -> tuple[float, float]:
        """(prompt tok/s, generation tok/s)."""
        ll, ctx = self.ll, self.ctx
        ll.llama_memory_clear(ll.llama_get_memory(ctx), True)
        ll.llama_sampler_reset(self.chain)
        started = time.perf_counter()
        for start in range(0, len(prompt), 512):
            chunk = prompt[start : start + 512]
            array = (ll.llama_token * len(chunk))(*chunk)
            assert ll.llama_decode(ctx, ll.llama_batch_get_one(array, len(chunk))) == 0
        prompt_done = time.perf_counter()
        slot = (ll.llama_token * 1)()
        batch = ll.llama_batch_get_one(slot, 1)
        sample, decode, chain = ll.llama_sampler_sample, ll.llama_decode, self.chain
        for _ in range(n_gen - 1):
            slot[0] = sample(chain, ctx, -1)
            decode(ctx, batch)
        sample(chain, ctx, -1)
        finished = time.perf_counter()
        return len(prompt) / (prompt_done - started), n_gen / (finished - prompt_done)

    def close(self) -> None:
        self.ll.llama_sampler_free(self.chain)
        self.ll.llama_free(self.ctx)
        self.ll.llama_model_free(self.model)


def engine_run(model: Model, messages: list[Message], n_gen: int) -> tuple[float, float, int]:
    model.reset()
    params = GenerationParams(temperature=0, max_tokens=n_gen, ignore_eos=True)
    result = model.generate(messages, params)
    assert result.stats.generated_tokens == n_gen, result.stats
    return result.stats.prompt_tokens_per_second, result.stats.generation_tokens_per_second, result.stats.prompt_tokens


def wall(command: list[str], runs: int) -> float:
    """Median wall time of COMMAND, stdout discarded."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, check=True
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


MINIMAL_SCRIPT = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx={n_ctx}, n_threads={threads}, n_threads_batch={threads}, verbose=False)
out = llm.create_chat_completion(messages=[{{"role": "user", "content": "Hello"}}], max_tokens=16)
print(out["choices"][0]["message"]["content"])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, 128 tokens only")
    parser.add_argument("--lengths", type=int, nargs="+", help="generated-token counts to compare (default 128 2048)")
    parser.add_argument("--engine-only", action="store_true", help="skip the wall-time comparisons")
    args = parser.parse_args()
    compileall.compile_dir(
        Path(__file__).resolve().parents[1] / "llamacli", quiet=1
    )  # time what an installed wheel runs, not compiling
    path = package_file(registry.load({}).get("smollm2:135m"))
    threads = hardware.physical_cores()
    reps = 1 if args.quick else 4
    lengths = args.lengths or ([128] if args.quick else [128, 2048])
    print(f"model: {path.name}  threads: {threads}  context: {N_CTX}")

    long_prompt = [Message("user", "Here are some notes. " + "The quick brown fox jumps over the lazy dog. " * 45)]
    ll = native.lib()
    with Model(path, LoadParams(n_ctx=N_CTX, n_threads=threads)) as model:
        prompt_tokens = model.render(long_prompt)
        print(f"prompt: {len(prompt_tokens)} tokens")
        header = ("generated", "engine gen", "loop gen", "ratio", "engine pp", "loop pp", "ratio")
        print("{:>10} {:>11} {:>9} {:>6} {:>10} {:>8} {:>6}".format(*header))
        baseline = BaselineLoop(ll, path, threads)
        for n_gen in lengths:
            engine_gen, loop_gen, engine_pp, loop_pp = [], [], [], []
            for rep in range(reps):  # interleaved, order alternated: drift in machine load hits both alike
                for side in ("engine", "loop") if rep % 2 == 0 else ("loop", "engine"):
                    if side == "engine":
                        pp, gen, _ = engine_run(model, long_prompt, n_gen)
                        engine_pp.append(pp)
                        engine_gen.append(gen)
                    else:
                        pp, gen = baseline.run(prompt_tokens, n_gen)
                        loop_pp.append(pp)
                        loop_gen.append(gen)
            eg, lg = statistics.median(engine_gen), statistics.median(loop_gen)
            ep, lp = statistics.median(engine_pp), statistics.median(loop_pp)
            print(f"{n_gen:>10} {eg:>9.1f}/s {lg:>7.1f}/s {eg / lg:>6.3f} {ep:>8.1f}/s {lp:>6.1f}/s {ep / lp:>6.3f}")
        baseline.close()

    if args.engine_only:
        return
    runs = 3 if args.quick else 7
    script = Path("/tmp/llamacli_bench_minimal.py")
    script.write_text(MINIMAL_SCRIPT.format(n_ctx=N_CTX, threads=threads))
    ours = [str(BIN / "llamacli"), "run", "smollm2:135m", "Hello", "-n", "16"]
    theirs = [sys.executable, str(script), str(path)]
    wall(ours, 1)  # warm the page cache for both
    wall(theirs, 1)
    t_ours, t_theirs = wall(ours, runs), wall(theirs, runs)
    print(
        f"one-shot -n 16: llamacli {t_ours:.3f} s, minimal llama-cpp-python script {t_theirs:.3f} s, "
        f"ratio {t_ours / t_theirs:.3f} (target <= 1.2)"
    )
    t_help = wall([str(BIN / "llamacli"), "--help"], runs * 2)
    t_python = wall([sys.executable, "-c", "pass"], runs * 2)
    print(f"llamacli --help: {t_help:.3f} s (target <= 0.25 s); bare python start-up {t_python:.3f} s")


if __name__ == "__main__":
    main()
