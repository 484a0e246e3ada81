"""Survive llama.cpp's abort() on hostile GGUF files by dry-running its loader in a child process.

llama.cpp validates some header values with GGML_ASSERT, which calls abort(): a GGUF whose
`block_count` is 600 kills the whole Python process with SIGABRT, and no exception can be caught.
Rather than mirror every assertion llama.cpp has (and miss the next one), a forked child runs the same
loader and stops it, through the progress callback, where it would start reading weights (so the
hyperparameters, vocabulary and tensor shapes are checked, but no weights are read). If the child
dies, the parent reports the assertion it printed as a ModelLoadError; if it succeeds, the verdict is
remembered for this exact file (device, inode, size, mtime), so only the first load of a file pays
for the probe (about 0.1 s for a small model).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from pathlib import Path

from llamacli import file_facts
from llamacli.engine import native
from llamacli.errors import ModelLoadError

_CHILD_FAILED_TO_LOAD = 3
LOADABLE = "loadable"  # the file_facts kind of a good verdict


def _child(path: Path, write_fd: int) -> None:  # pragma: no cover - runs in the forked child
    try:
        faulthandler.disable()  # an abort here is expected: no Python crash report
        os.dup2(write_fd, 2)  # the GGML_ASSERT message goes to the parent
        os.environ["GGML_NO_BACKTRACE"] = "1"  # no gdb backtrace on abort
        ll = native.lib()
        reached_weights = False

        def stop_at_weights(_progress: float, _user_data: object) -> bool:
            nonlocal reached_weights
            reached_weights = True
            return False  # llama.cpp abandons the load here, cleanly

        callback = ll.llama_progress_callback(stop_at_weights)
        params = ll.llama_model_default_params()
        params.progress_callback = callback
        params.use_extra_bufts = False  # no repacked copies of the weights: nothing to allocate
        ll.llama_model_load_from_file(str(path).encode(), params)
        os._exit(0 if reached_weights else _CHILD_FAILED_TO_LOAD)
    except BaseException:
        os._exit(_CHILD_FAILED_TO_LOAD)


def _assertion(text: str) -> str:
    for line in text.splitlines():
        if "GGML_ASSERT" in line or "error" in line.lower():
            return line.split(": ", 1)[-1].strip() if "GGML_ASSERT" in line else line.strip()
    return text.strip().splitlines()[-1] if text.strip() else "no message"


def ensure_loadable(path: Path, cache_dir: Path | None) -> None:
    """Raise ModelLoadError if llama.cpp would abort() while loading PATH; cheap once PATH was probed."""
    if not hasattr(os, "fork"):  # Windows: no fork; llama.cpp's own checks are all we have
        return
    if cache_dir is not None and file_facts.recall(path, LOADABLE, cache_dir):
        return
    native.lib()  # load the library before forking, so the child does not import anything
    read_fd, write_fd = os.pipe()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_fd)
        _child(path, write_fd)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        output = pipe.read(64 * 1024).decode("utf-8", "replace")
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        raise ModelLoadError(path, f"llama.cpp crashed reading it ({name}): {_assertion(output)}")
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and cache_dir is not None:
        file_facts.remember(path, LOADABLE, cache_dir, True)
    # A plain load failure is left to the real load, which reports llama.cpp's reason.
