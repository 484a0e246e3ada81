"""Survive llama.cpp's native crashes by trying each model in a forked child first.

Two kinds of crash cannot be caught in Python, so a child runs them before the real load does:
- *Hostile files.* llama.cpp validates some header values with GGML_ASSERT, which calls abort(): a GGUF
  whose `block_count` is 600 kills any process that loads it. The child first runs the loader only up
  to the point where it would read weights (hyperparameters, vocabulary and tensor shapes are checked);
  if it dies there, the parent reports the assertion as a ModelLoadError.
- *Kernels that crash on this CPU* (AMX on llama-cpp-python 0.3.36: SIGILL on the first batched
  matmul, see runtime.py). The child then loads the weights and decodes a batch of 64 tokens and a few
  single tokens; if it dies, the next configuration of `runtime.LADDER` is tried.

The machine's verdict (tried on the bundled model) is kept per llama.cpp build and CPU, each file's
verdict per file identity as well: only the first load of a file pays (about 0.3 s for the bundled
model). A child is forked, not spawned: nothing is imported again. Forking is safe here because the
parent has not generated yet in the cases that matter (a `run`, a chat's first model); a later model in
a long-lived process (`/model` in chat) is tried in a fresh interpreter instead, since libgomp's worker
pool does not survive fork.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llamacli.base import file_facts, hardware
from llamacli.engine import native, runtime
from llamacli.engine.runtime import LADDER, RuntimeConfig, Verdict
from llamacli.errors import EngineCrash, ModelLoadError

_LOAD_FAILED = 3  # llama.cpp refused the file cleanly: the real load reports its reason
_HEADER_OK, _WEIGHTS_OK = b"h", b"w"  # progress written to the status pipe
SELFTEST_BATCH = 64  # the smallest batch on which llama.cpp's AMX path crashed; enough for any batched kernel
SELFTEST_SINGLES = 4
# Test-only switch, documented in the README: makes the child die by SIGILL after loading the weights
# when extra buffer types are on ("extra-buffers") or always ("always"), as an AMX CPU's child does.
CRASH_SWITCH = "LLAMACLI_TEST_SELFTEST_SIGILL"


def _header_check(ll: Any, path: Path, parts: Sequence[Path]) -> bool:
    """Run llama.cpp's loader up to the weights and stop it there; whether it got that far."""
    reached = False

    def stop_at_weights(_progress: float, _user_data: object) -> bool:
        nonlocal reached
        reached = True
        return False  # llama.cpp abandons the load here, cleanly

    callback = ll.llama_progress_callback(stop_at_weights)
    params = ll.llama_model_default_params()
    params.progress_callback = callback
    params.use_extra_bufts = False  # no repacked copies of the weights: nothing to allocate
    native.load_model(ll, path, parts, params)
    return reached


def _decode_check(lib: Any, path: Path, parts: Sequence[Path], config: RuntimeConfig, status_fd: int) -> int:
    """Load PATH (or its PARTS) under CONFIG and decode a batch and a few single tokens; the child's exit status."""
    params = lib.llama_model_default_params()
    params.use_extra_bufts = config.extra_buffers
    model = native.load_model(lib, path, parts, params)
    if not model:
        return _LOAD_FAILED
    os.write(status_fd, _WEIGHTS_OK)
    switch = os.environ.get(CRASH_SWITCH, "")
    if switch == "always" or (switch == "extra-buffers" and config.extra_buffers):
        os.kill(os.getpid(), signal.SIGILL)
    threads = hardware.physical_cores()
    if config.max_threads is not None:
        threads = min(threads, config.max_threads)
    cparams = lib.llama_context_default_params()
    cparams.n_ctx = SELFTEST_BATCH * 2
    cparams.n_batch = cparams.n_ubatch = SELFTEST_BATCH
    cparams.n_threads = cparams.n_threads_batch = threads
    ctx = lib.llama_init_from_model(model, cparams)
    if not ctx:
        return _LOAD_FAILED
    n_vocab = lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(model))
    tokens = [(7 + 31 * i) % n_vocab for i in range(SELFTEST_BATCH)]  # any valid ids: only the kernels matter
    batch = (lib.llama_token * SELFTEST_BATCH)(*tokens)
    if lib.llama_decode(ctx, lib.llama_batch_get_one(batch, SELFTEST_BATCH)) != 0:
        return _LOAD_FAILED
    single = (lib.llama_token * 1)(tokens[0])
    for _ in range(SELFTEST_SINGLES):
        if lib.llama_decode(ctx, lib.llama_batch_get_one(single, 1)) != 0:
            return _LOAD_FAILED
    return 0


def child_main(path: Path, config: RuntimeConfig, header: bool, status_fd: int, parts: Sequence[Path] = ()) -> int:
    """What the child runs: the header check (when HEADER), then the decode check under CONFIG."""
    faulthandler.disable()  # a crash here is expected: no Python crash report
    os.environ["GGML_NO_BACKTRACE"] = "1"  # no gdb backtrace on abort
    ll = native.lib()
    if header:
        if not _header_check(ll, path, parts):
            return _LOAD_FAILED
        os.write(status_fd, _HEADER_OK)
    return _decode_check(ll, path, parts, config, status_fd)


def _assertion(text: str) -> str:
    for line in text.splitlines():
        if "GGML_ASSERT" in line or "error" in line.lower():
            return line.split(": ", 1)[-1].strip() if "GGML_ASSERT" in line else line.strip()
    return text.strip().splitlines()[-1] if text.strip() else "no message"


class _Outcome:
    """How one child ended: its exit code or signal, how far it got, what it printed."""

    def __init__(self, status: int, progress: bytes, output: str) -> None:
        self.signal = signal.Signals(os.WTERMSIG(status)).name if os.WIFSIGNALED(status) else None
        self.code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        self.header_ok = _HEADER_OK in progress
        self.weights_ok = _WEIGHTS_OK in progress
        self.output = output


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _fork_child(path: Path, config: RuntimeConfig, header: bool, parts: Sequence[Path]) -> _Outcome:
    native.lib()  # load the library before forking, so the child imports nothing
    out_r, out_w = os.pipe()
    status_r, status_w = os.pipe()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = _LOAD_FAILED
        try:
            os.close(out_r)
            os.close(status_r)
            os.dup2(out_w, 2)  # the GGML_ASSERT message goes to the parent
            code = child_main(path, config, header, status_w, parts)
        finally:
            os._exit(code)
    os.close(out_w)
    os.close(status_w)
    output = _read_all(out_r)[-65536:].decode("utf-8", "replace")
    progress = _read_all(status_r)
    os.close(out_r)
    os.close(status_r)
    _, status = os.waitpid(pid, 0)
    return _Outcome(status, progress, output)


def _spawn_child(path: Path, config: RuntimeConfig, header: bool, parts: Sequence[Path]) -> _Outcome:
    """The same child in a fresh interpreter (for a process whose OpenMP pool would not survive fork)."""
    status_r, status_w = os.pipe()
    args = [sys.executable, "-m", "llamacli.engine.probe", str(path), config.name, str(int(header)), str(status_w)]
    args += [str(part) for part in parts]
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(status_w,)
    )
    os.close(status_w)
    stderr = proc.communicate()[1] or b""  # first: a child blocked on a full stderr pipe never exits
    progress = _read_all(status_r)  # a few bytes, held in the pipe until read
    os.close(status_r)
    status = proc.returncode
    wait_status = (-status & 0x7F) if status < 0 else (status << 8)  # back to a waitpid status
    return _Outcome(wait_status, progress, stderr[-65536:].decode("utf-8", "replace"))


def _try(path: Path, config: RuntimeConfig, header: bool, parts: Sequence[Path]) -> _Outcome:
    if native.threads_started():
        return _spawn_child(path, config, header, parts)
    return _fork_child(path, config, header, parts)


def _ladder(path: Path, start: RuntimeConfig, parts: Sequence[Path] = ()) -> tuple[Verdict, bool]:
    """Step down the ladder from START until a configuration runs PATH: (verdict, whether it was run to the
    end; not when llama.cpp refused the file cleanly, which the real load then reports). Raises if none runs."""
    crashes: list[str] = []
    header = True
    for config in LADDER[LADDER.index(start) :]:
        outcome = _try(path, config, header, parts)
        if outcome.signal is None:
            return Verdict(config, tuple(crashes), fresh=True), outcome.code == 0
        if header and not outcome.header_ok:  # died before the weights: the file itself is hostile
            raise ModelLoadError(path, f"llama.cpp crashed reading it ({outcome.signal}): {_assertion(outcome.output)}")
        header = False
        stage = "running" if outcome.weights_ok else "loading"
        crashes.append(f"{config.name}: {outcome.signal} while {stage}")
    raise EngineCrash(path, tuple(crashes), runtime.cpu_has_amx())


def _file_kind() -> str:
    return f"runs-{runtime.machine_key()}"


# Verdicts found in this process when there is no cache directory (embedding code, tests): each file is
# still tried once per process, not at every load.
_in_process: dict[tuple[object, ...], Verdict] = {}


def _process_key(path: Path) -> tuple[object, ...]:
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, runtime.machine_key(), os.environ.get(CRASH_SWITCH))


def ensure_runs(
    path: Path, cache_dir: Path | None, reference: Path | None = None, parts: Sequence[Path] = ()
) -> Verdict:
    """The configuration in which llama.cpp loads and runs PATH on this machine, tried in a child once.

    PARTS: every file of a model split into several (PATH is the first), loaded together in the child too.

    The machine's own verdict comes first, from REFERENCE (the bundled model: a known-good file, so a
    crash says something about the machine, not the file); PATH then starts from it. Raises
    ModelLoadError for a file that crashes llama.cpp's loader, EngineCrash when no configuration runs it.
    """
    if not hasattr(os, "fork"):  # Windows: no fork, nor the crashes this guards against so far
        return Verdict(LADDER[0])
    if cache_dir is None:
        key = _process_key(path)
        if key not in _in_process:
            verdict, passed = _ladder(path, LADDER[0], parts)
            if not passed:
                return verdict
            _in_process[key] = verdict
        return _in_process[key]
    machine = runtime.recall_machine(cache_dir)
    if machine is None and reference is not None and reference != path and reference.is_file():
        try:
            tried, passed = _ladder(reference, LADDER[0])
        except (ModelLoadError, EngineCrash):
            passed = False  # the bundled file is damaged: PATH alone decides
        if passed:
            machine = tried
            runtime.remember_machine(cache_dir, machine)
    remembered = Verdict.from_dict(file_facts.recall(path, _file_kind(), cache_dir))
    if remembered is not None:
        return remembered
    verdict, passed = _ladder(path, machine.config if machine is not None else LADDER[0], parts)
    if machine is not None and verdict.config == machine.config and not verdict.crashes:
        verdict = Verdict(verdict.config, machine.crashes, fresh=True)  # the reason is the machine's
    if passed:
        if machine is None:  # the first file tried stands for the machine
            runtime.remember_machine(cache_dir, verdict)
        file_facts.remember(path, _file_kind(), cache_dir, verdict.to_dict())
    return verdict


if __name__ == "__main__":  # pragma: no cover - the spawned child (see _spawn_child)
    _path, _config, _header, _fd = sys.argv[1:5]
    _code = _LOAD_FAILED
    try:
        _parts = [Path(part) for part in sys.argv[5:]]
        _code = child_main(Path(_path), runtime.config_named(_config), _header == "1", int(_fd), _parts)
    finally:
        os._exit(_code)
