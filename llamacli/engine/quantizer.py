"""llama.cpp's quantizer in a worker process, so that Ctrl-C stops it at once and a failure cannot take us down.

`llama_model_quantize` is one C call that runs for minutes on a large model; Python cannot interrupt it
(a signal handler runs only when the call returns). So it runs in a child, `python -m
llamacli.engine.quantizer`, in its own session (a terminal's Ctrl-C reaches only the parent, which decides)
and killed by the kernel if the parent dies (PR_SET_PDEATHSIG on Linux). The parent kills it on Ctrl-C or
on any failure of its own; the caller removes what it wrote.

The child speaks on stdout, one line each: `tensor DONE TOTAL` after every tensor, `error REASON` before it
exits with status 1.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from llamacli.errors import QuantizeFailed

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def run(
    source: Path,
    target: Path,
    ftype: int,
    *,
    allow_requantize: bool = False,
    threads: int = 0,
    on_tensor: Callable[[int, int], None] = lambda done, total: None,
) -> None:
    """Quantize SOURCE to TARGET (llama_ftype FTYPE) in a worker; ON_TENSOR(done, total) as it goes.

    QuantizeFailed when llama.cpp refuses or the worker dies; KeyboardInterrupt (the worker killed first)
    when the user presses Ctrl-C. TARGET may then be partly written: the caller deletes it.
    """
    command = [sys.executable, "-m", __name__, str(source), str(target), str(ftype), str(int(allow_requantize))]
    child = subprocess.Popen(
        [*command, str(threads)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # llama.cpp's log goes to the child's silent callback; nothing else is ours
        text=True,
        start_new_session=True,
    )
    reason = ""
    try:
        assert child.stdout is not None
        for line in child.stdout:
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "tensor":
                done, total = rest.split()
                on_tensor(int(done), int(total))
            elif kind == "error":
                reason = rest
        status = child.wait()
    except BaseException:  # Ctrl-C, or a failure in ON_TENSOR: the worker must not go on writing
        child.kill()
        child.wait()
        raise
    finally:
        if child.stdout is not None:
            child.stdout.close()
    if status != 0:
        died = f"the quantizer was killed by signal {-status}" if status < 0 else f"the quantizer exited with {status}"
        raise QuantizeFailed(source, reason or died)


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (elsewhere the parent's kill is all there is)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def main(argv: Sequence[str]) -> int:
    """The worker: SOURCE TARGET FTYPE ALLOW_REQUANTIZE THREADS; 0 when TARGET is complete."""
    _die_with_parent()
    from llamacli.engine import native

    source, target, ftype, allow, threads = argv

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
    sys.exit(main(sys.argv[1:]))
