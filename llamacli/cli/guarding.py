"""The terminal's side of the guard (services/guard.py), shared by `run`, `chat` and `guard`: loading it with
the usual notices, a status while it reads, and --json's record of what it said."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from llamacli.cli.output import Output

if TYPE_CHECKING:
    from llamacli.engine import LoadParams
    from llamacli.engine.chat_template import Message
    from llamacli.services.guard import Guard, Screening
    from llamacli.services.guard_format import Role
    from llamacli.services.loading import Policy

GuardFlag = Annotated[
    bool,
    typer.Option(
        "--guard",
        help="Screen the prompt before generation and the answer after it with a Llama Guard 3 model"
        " (default llama-guard3:1b); unsafe: exit 5. The answer is printed once checked, not streamed.",
    ),
]
ChatGuardFlag = Annotated[
    bool,
    typer.Option(
        "--guard",
        help="Screen each message before it is sent and each answer after it with a Llama Guard 3 model"
        " (default llama-guard3:1b); unsafe: one line, the chat goes on. Answers show once checked, not streamed.",
    ),
]
GuardModel = Annotated[
    str | None,
    typer.Option("--guard-model", metavar="MODEL", help="The guard model (implies --guard)."),
]


def wanted(guard: bool, guard_model: str | None) -> bool:
    """Whether the flags ask for a guard."""
    return guard or guard_model is not None


def open_guard(out: Output, reference: str | None, base: LoadParams, policy: Policy) -> Guard:
    """The guard model, pulled when missing and loaded, with the notices and status any model gets."""
    from llamacli.cli import loading
    from llamacli.services import guard

    return guard.open_guard(reference, base, policy, loading.feedback(out))


def screen(
    out: Output, guard: Guard, text: str, role: Role, conversation: Sequence[Message] = (), record: dict | None = None
) -> Screening:
    """The guard's verdict on TEXT, under a status line; RECORD (--json's `guard`) gets it under the stage's name.

    GuardBlocked when it is unsafe: `app.main` says which categories and exits 5.
    """
    from llamacli.services.guard import blocked

    stage = "prompt" if role == "user" else "answer"
    with out.status(f"Checking the {stage}…"):
        screening = guard.check(text, role, conversation)
    if record is not None:
        record[stage] = screening.verdict.to_dict()
    blocked(guard.name, stage, screening.verdict)
    return screening
