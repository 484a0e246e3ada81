"""The terminal side of getting a model (services/loading.py): its notices, pull bars and status lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llamacli.cli.output import Output

if TYPE_CHECKING:
    from llamacli.engine import LoadParams
    from llamacli.services.engines import ChatEngine, Located
    from llamacli.services.loading import Feedback, Policy


def feedback(out: Output) -> Feedback:
    """Notices on stderr, a progress bar (or line) per pull, a status while calibrating."""
    from llamacli.cli.progress import PullProgress
    from llamacli.services.loading import Feedback

    return Feedback(
        notify=out.notice,
        pulling=lambda name: PullProgress(out, name),
        measuring=lambda: out.status("Calibrating…"),
        loading=lambda name: out.status(f"Loading {name}…"),
    )


def policy(out: Output, *, offline: bool, pull_best: bool, remote: str | None = None) -> Policy:
    """`--offline`, `--pull` and `--remote` as policy; a script (stderr not a terminal) keeps the picker's choice."""
    from llamacli.services.loading import Policy

    return Policy(offline=offline, pull_best=pull_best, keep_choice=not out.stderr_tty, remote=remote)


def open_model(out: Output, reference: str | None, params: LoadParams, how: Policy) -> tuple[Located, ChatEngine]:
    """The service's model, with its notices, pull bars and a "Loading…" status on this terminal."""
    from llamacli.services import loading

    return loading.open_model(reference, params, how, feedback(out))
