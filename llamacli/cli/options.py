"""Options that several commands share, declared once so their names, help and defaults agree."""

from __future__ import annotations

from typing import Annotated

import typer

System = Annotated[str | None, typer.Option("--system", "-s", help="System prompt.")]
Temperature = Annotated[float, typer.Option(help="Sampling temperature; 0 is greedy (deterministic).")]
TopP = Annotated[float, typer.Option("--top-p", help="Nucleus sampling threshold.")]
TopK = Annotated[int, typer.Option("--top-k", help="Sample among the K likeliest tokens (0: all).")]
Seed = Annotated[int | None, typer.Option(help="Random seed, for reproducible sampling (-1: random).")]
Ctx = Annotated[
    int | None,
    typer.Option("--ctx", "-c", help="Context window in tokens [default: model's, at most 4096].", show_default=False),
]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        "-t",
        help="CPU threads [default: physical cores, fewer while other processes use some].",
        show_default=False,
    ),
]
Offline = Annotated[bool, typer.Option("--offline", help="Never touch the network.")]
PullBest = Annotated[
    bool,
    typer.Option(
        "--pull", help="With no model named (or 'auto'): first download the model 'recommend' picks, if not here."
    ),
]
