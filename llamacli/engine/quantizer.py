"""llama.cpp's quantizer in a worker process, so that Ctrl-C stops it at once and a failure cannot take us down.

`llama_model_quantize` is one C call that runs for minutes on a large model; Python cannot interrupt it
(a signal handler runs only when the call returns). So it runs in a child, `python -m
llamacli.engine.quantizer`, in its own session (a terminal's Ctrl-C reaches only the parent, which decides)
and killed by the kernel if the parent dies (PR_SET_PDEATHSIG on Linux). The parent kills it on Ctrl-C or
on any failure of its own; the caller removes what it wrote.

The worker is started before its job is known (`Worker()`), so that loading llama.cpp (≈ 0.2 s) overlaps
the caller's own checks; it reads the job as one line on stdin, and speaks on stdout, one line each:
`tensor DONE TOTAL` after every tensor, `error REASON` before it exits with status 1.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from llamacli.errors import QuantizeFailed

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Worker:
    """A quantizer process, started ahead of its job so llama.cpp loads while the caller checks the job.

    Use as a context manager: leaving it kills a worker that is still running (Ctrl-C, a refusal).
    """

    def __init__(self) -> None:
        self.child = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # llama.cpp's log goes to the child's silent callback; nothing else is ours
            text=True,
            start_new_session=True,
        )

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill the worker unless it has exited, and reap it."""
        if self.child.poll() is None:
            self.child.kill()
        self.child.wait()
        for stream in (self.child.stdin, self.child.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def run(
        self,
        source: Path,
        target: Path,
        ftype: int,
        *,
        allow_requantize: bool = False,
        threads: int = 0,
        on_tensor: Callable[[int, int], None] = lambda done, total: None,
    ) -> None:
        """Quantize SOURCE to TARGET (llama_ftype FTYPE); ON_TENSOR(done, total) as it goes.

        QuantizeFailed when llama.cpp refuses or the worker dies; KeyboardInterrupt (the worker killed first)
        when the user presses Ctrl-C. TARGET may then be partly written: the caller deletes it.
        """
        assert self.child.stdin is not None and self.child.stdout is not None
        job = [str(source), str(target), str(ftype), str(int(allow_requantize)), str(threads)]
        reason = ""
        try:
            with contextlib.suppress(BrokenPipeError):  # a worker that died at start: its status says so below
                self.child.stdin.write("\t".join(job) + "\n")
                self.child.stdin.close()
            for line in self.child.stdout:
                kind, _, rest = line.rstrip("\n").partition(" ")
                if kind == "tensor":
                    done, total = rest.split()
                    on_tensor(int(done), int(total))
                elif kind == "error":
                    reason = rest
            status = self.child.wait()
        except BaseException:  # Ctrl-C, or a failure in ON_TENSOR: the worker must not go on writing
            self.close()
            raise
        if status != 0:
            died = (
                f"the quantizer was killed by signal {-status}" if status < 0 else f"the quantizer exited with {status}"
            )
            raise QuantizeFailed(source, reason or died)


def run(
    source: Path,
    target: Path,
    ftype: int,
    *,
    allow_requantize: bool = False,
    threads: int = 0,
    on_tensor: Callable[[int, int], None] = lambda done, total: None,
) -> None:
    """Quantize SOURCE to TARGET in a worker started for it (see Worker.run)."""
    with Worker() as worker:
        worker.run(source, target, ftype, allow_requantize=allow_requantize, threads=threads, on_tensor=on_tensor)


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (elsewhere the parent's kill is all there is)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def main() -> int:
    """The worker: load llama.cpp, then read one job from stdin (SOURCE TARGET FTYPE ALLOW_REQUANTIZE THREADS,
    tab-separated); 0 when TARGET is complete, 1 on no job (the parent changed its mind) or a failure."""
    _die_with_parent()
    from llamacli.engine import native

    native.lib()
    line = sys.stdin.readline()
    if not line.strip():
        return 1
    source, target, ftype, allow, threads = line.rstrip("\n").split("\t")

    def report(done: int, total: int) -> None:
        sys.stdout.write(f"tensor {done} {total}\n")
        sys.stdout.flush()

    try:
        native.quantize_file(
            source, target, int(ftype), allow_requantize=allow == "1", threads=int(threads), on_tensor=report
        )
    except QuantizeFailed as e:
        print("error", " ".join(e.reason.split()), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
