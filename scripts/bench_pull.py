"""Benchmark `llamacli pull` and `llamacli show` against baselines measured in the same run.

1. Download throughput: `llamacli pull` of a file from the loopback Hub (tests/hubserver.py: HEAD,
   302 to the other origin, Range-capable GET; the whole command, with sha256 hashing, the GGUF check
   and fsync) vs a plain streaming GET of the same URL with httpx (httpx2, the fork huggingface_hub 2.4
   uses) written to a file. Ratio = pull throughput / plain GET throughput (target >= 0.9). Every side
   is a fresh process; the server runs in its own and sends bodies with sendfile (a CDN does not spend
   this machine's two cores); each run starts after `sync`, so none pays for the last one's writeback.
2. `show` on the largest local file: the header parse (`gguf_info.read`) and the whole `llamacli show`
   command, the first time (the header is parsed) and again (the header is remembered per file), on
   the bundled SmolLM2 file and on a synthetic GGUF with a Llama-3-sized vocabulary (128,256 tokens
   + 280,147 merges, written with the gguf package) padded to --size MB (target < 0.2 s). With
   --reference, the gguf package's own GGUFReader on the same files.

Usage: .venv/bin/python scripts/bench_pull.py [--size MB] [--runs N] [--reference]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llamacli.models import gguf_info, registry  # noqa: E402
from llamacli.models.locate import package_file  # noqa: E402
from tests.support.hubserver import HubServer  # noqa: E402

BIN = Path(sys.executable).parent
REPO_NAME = "bench/Bench-GGUF"


def llama3_like(path: Path, size_mb: int) -> Path:
    """A GGUF whose header is as heavy as Llama 3's (128k tokens, 280k merges), padded to SIZE_MB."""
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    writer.add_block_count(16)
    writer.add_context_length(131072)
    writer.add_embedding_length(2048)
    writer.add_head_count(32)
    writer.add_head_count_kv(8)
    writer.add_file_type(7)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"tok{i:06d}".encode() for i in range(128_256)])
    writer.add_token_merges([f"m{i} x{i}" for i in range(280_147)])
    writer.add_bos_token_id(128000)
    writer.add_eos_token_id(128009)
    writer.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    writer.add_tensor("pad", np.zeros(max(1, size_mb << 18), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def timed(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    """Best wall time of RUNS calls (the least disturbed by other work on a shared machine)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def settle() -> None:
    """Let earlier runs' disk writeback finish, so no run pays for the one before it (not timed)."""
    os.sync()
    time.sleep(1)


def plain_get(url: str, target: Path, durable: bool = False) -> None:
    """The baseline: what anyone would write with httpx (defaults, streamed to a file); DURABLE adds an fsync."""
    import httpx2

    with httpx2.Client() as client, client.stream("GET", url) as response, target.open("wb") as f:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            f.write(chunk)
        if durable:
            f.flush()
            os.fsync(f.fileno())


def serve(file: Path) -> None:
    """Run the loopback Hub in this process until stdin closes (so no benchmarked client shares its GIL)."""
    server = HubServer().start()
    server.add(REPO_NAME, {"Bench-Q8_0.gguf": file})
    print(server.endpoint, server.cdn, server.repos[REPO_NAME].files["Bench-Q8_0.gguf"].sha256, flush=True)
    sys.stdin.read()
    server.stop()


def bench_pull(file: Path, runs: int, workdir: Path) -> None:
    """Both sides are fresh processes (interpreter start-up and imports included) against a server process."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(file)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    endpoint, cdn, sha = server.stdout.readline().split()
    size = file.stat().st_size
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HUB_DISABLE_TELEMETRY": "1"}

    def pull() -> float:
        home = Path(tempfile.mkdtemp(dir=workdir))
        started = time.perf_counter()
        result = subprocess.run(
            [str(BIN / "llamacli"), "pull", f"hf.co/{REPO_NAME}:Q8_0"],
            env={**env, "LLAMACLI_HOME": str(home)},
            capture_output=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        assert result.returncode == 0, result.stderr
        subprocess.run(["rm", "-rf", str(home)], check=True)
        return elapsed

    def baseline(*flags: str) -> float:
        target = workdir / "plain.gguf"
        command = [sys.executable, __file__, "--plain-get", f"{cdn}/cdn/{sha}", str(target), *flags]
        started = time.perf_counter()
        subprocess.run(command, check=True)
        elapsed = time.perf_counter() - started
        target.unlink()
        return elapsed

    file.read_bytes()  # warm the page cache for both
    t_pull: list[float] = []
    t_plain: list[float] = []
    t_durable: list[float] = []
    for _ in range(runs):  # interleaved, so all see the same machine load; each starts with a quiet disk
        for times, run in ((t_plain, baseline), (t_durable, lambda: baseline("--fsync")), (t_pull, pull)):
            settle()
            times.append(run())  # the command alone: removing its file afterwards is not timed
    server.communicate("")
    plain, durable, ours = min(t_plain), min(t_durable), min(t_pull)
    print(f"download of {size / 1e6:.0f} MB from the loopback Hub (best of {runs}; each a fresh process):")
    print(f"  plain httpx GET          {plain:6.2f} s  {size / plain / 1e6:7.1f} MB/s")
    print(
        f"  plain GET, then fsync    {durable:6.2f} s  {size / durable / 1e6:7.1f} MB/s   (on disk, as pull leaves it)"
    )
    print(f"  llamacli pull            {ours:6.2f} s  {size / ours / 1e6:7.1f} MB/s   (whole command)")
    print(f"  ratio pull / plain       {plain / ours:6.2f}   (target >= 0.9)")
    print(f"  ratio pull / plain+fsync {durable / ours:6.2f}")
    print(f"  median ratio pull / plain {statistics.median(t_plain) / statistics.median(t_pull):5.2f}")


def bench_show(files: dict[str, Path], runs: int, reference: bool, workdir: Path) -> None:
    """First `show` of a file (nothing remembered: a fresh LLAMACLI_HOME each run) and later ones."""
    from gguf import GGUFReader

    def show(path: Path, home: Path) -> None:
        env = {**os.environ, "LLAMACLI_HOME": str(home)}
        subprocess.run([str(BIN / "llamacli"), "show", str(path)], capture_output=True, check=True, env=env)

    print(f"show (best of {runs}):")
    for label, path in files.items():
        read = timed(lambda p=path: gguf_info.read(p), runs)
        first = timed(lambda p=path: show(p, Path(tempfile.mkdtemp(dir=workdir))), runs)
        home = Path(tempfile.mkdtemp(dir=workdir))
        show(path, home)
        again = timed(lambda p=path, h=home: show(p, h), runs)
        line = f"  {label:<44} header parse {read:5.3f} s · llamacli show: first {first:4.2f} s, again {again:4.2f} s"
        if reference:
            started = time.perf_counter()
            GGUFReader(path)
            line += f" · gguf.GGUFReader {time.perf_counter() - started:5.2f} s (once)"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1000, help="size of the synthetic model file, MB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reference", action="store_true", help="also time gguf.GGUFReader (slow: tens of s)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--plain-get", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--fsync", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)
    if args.plain_get:
        return plain_get(args.plain_get[0], Path(args.plain_get[1]), durable=args.fsync)
    compileall.compile_dir(REPO / "llamacli", quiet=1)  # time what an installed wheel runs, not compiling
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        big = llama3_like(work / "llama3-like.gguf", args.size)
        smollm2 = package_file(registry.load({}).get("smollm2:135m"))
        settle()  # writing the 1 GB file left writeback that would slow start-up-sized work
        time.sleep(2)
        bench_show(
            {
                f"SmolLM2 Q4_1 ({smollm2.stat().st_size / 1e6:.0f} MB, 49k vocab)": smollm2,
                f"Llama-3-like header ({big.stat().st_size / 1e6:.0f} MB, 128k vocab)": big,
            },
            args.runs,
            args.reference,
            work,
        )
        bench_pull(big, args.runs, work)


if __name__ == "__main__":
    main()
