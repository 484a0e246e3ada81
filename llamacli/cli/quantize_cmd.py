"""`quantize`: a thin door over llamacli.services.quantize, with its progress on stderr."""

from __future__ import annotations

import os
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llamacli.base.sizes import format_size
from llamacli.cli import exit_codes
from llamacli.cli.output import Output
from llamacli.errors import ExitCode

if TYPE_CHECKING:
    from llamacli.engine.quantizer import Worker
    from llamacli.services.quantize import Plan, Quantized

_C = ExitCode
QUANTIZE_EPILOG = exit_codes.epilog(
    (_C.OK, "success: the new model is registered under its name"),
    (
        _C.USER_ERROR,
        "user error (unknown model or type, already quantized, name in use, not enough disk)",
    ),
    _C.USAGE,
    (_C.MODEL_LOAD, "the source is not a valid GGUF, or llama.cpp's quantizer failed (nothing is kept)"),
    (_C.INTERRUPTED, "interrupted (Ctrl-C): the partial file is deleted, nothing is registered"),
)
PLAIN_STEP = 10  # percent between two plain progress lines (stderr not a terminal)


class QuantizeProgress:
    """Tensors done, on stderr: a Rich bar on a terminal, a line every PLAIN_STEP percent otherwise."""

    def __init__(self, out: Output, label: str, tensors: int) -> None:
        self.out = out
        self.label = label
        self.total = tensors
        self.bar: Any = None
        self.task: Any = None
        self.shown = -1  # the last percent step written as a plain line

    def __enter__(self) -> QuantizeProgress:
        if self.out.stderr_tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            console = Console(file=self.out.stderr, no_color=not self.out.color)
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            self.bar = Progress(*columns, console=console)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total)
        else:
            self.out.notice(f"{self.label}: {self.total} tensors")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self.bar is not None:
            self.bar.stop()
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            self.out.notice("interrupted: the partial file is deleted; nothing was registered")

    def tensor(self, done: int, total: int) -> None:
        """DONE of TOTAL tensors are written (llama.cpp's own count)."""
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)
            return
        step = done * 100 // max(total, 1) // PLAIN_STEP * PLAIN_STEP
        if step > self.shown:
            self.shown = step
            self.out.notice(f"  {step:3d}% ({done}/{total} tensors)")


def quantize(
    source: Annotated[str, typer.Argument(metavar="SOURCE", help="A GGUF file, or a model on this machine.")],
    to: Annotated[
        str, typer.Option("--to", "-q", metavar="TYPE", help="Quantization type: Q2_K, Q4_K_M, Q8_0, Q6_K, F16, ...")
    ],
    name: Annotated[
        str | None,
        typer.Option(
            "--name", metavar="NAME", help="Name to register it under [default: SOURCE-type, e.g. x:f16-q4_k_m]."
        ),
    ] = None,
    allow_requantize: Annotated[
        bool, typer.Option("--allow-requantize", help="Accept a source that is already quantized (loses quality).")
    ] = False,
    threads: Annotated[
        int,
        typer.Option(
            "--threads", "-t", min=0, metavar="N", help="CPU threads (0: every hardware thread, as llama-quantize)."
        ),
    ] = 0,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: name, path, sizes, seconds.")
    ] = False,
) -> None:
    """Quantize a GGUF model with llama.cpp's quantizer and add the result to this machine's models.

    The source should be F16, BF16 or F32; an already quantized one needs --allow-requantize. The
    file is written into the model store (never half: Ctrl-C leaves nothing) and named SOURCE-TYPE,
    so 'llamacli run SOURCE-TYPE' runs it and 'llamacli rm' deletes it.

    \b
    Examples:
      llamacli quantize ~/models/Llama-3.2-1B-Instruct-F16.gguf --to Q4_K_M
      llamacli quantize mymodel:f16 --to Q8_0 --name mymodel:q8
    """
    from llamacli.engine.quantizer import Worker

    out = Output()
    with Worker() as worker:  # started first: llama.cpp loads in it while the plan is checked
        from llamacli.services import quantize as service

        job = service.plan(source, to, name, allow_requantize=allow_requantize)
        result = _run(out, job, worker, threads)
    if json_output:
        out.data(result.to_dict())
        return
    out.notice(
        f"quantized {result.source} ({format_size(result.source_size)}) to {result.quant} as {result.name} "
        f"({format_size(result.size)}) in {result.seconds:.1f} s: {result.path}"
    )


def _run(out: Output, job: Plan, worker: Worker, threads: int) -> Quantized:
    """JOB in WORKER, with the warning a requantization deserves and the progress on stderr."""
    from llamacli.services import quantize as service

    if job.requantize:
        out.notice(
            f"warning: {job.source} is already quantized ({job.source_type}): "
            f"requantizing to {job.target} loses more quality than quantizing the original F16 or BF16 weights"
        )
    shown = job.source_path.name if os.sep in job.source else job.source  # a path's file name fits beside the bar
    label = f"quantizing {shown} to {job.target}"
    with QuantizeProgress(out, label, job.tensors) as progress:
        return service.quantize(job, progress.tensor, threads=threads, started_worker=worker)
