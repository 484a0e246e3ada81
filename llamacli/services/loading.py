"""How every front end gets a model: choose it, pull it when it is missing, check that it fits, load it.

`run`, `chat`, chat's `/model` and any later front end go through here, so they behave the same for a
model that is missing (pulled first, with a notice), unfit (a warning) or changed on disk since it was
verified (pulled again). Two steps, `choose` then `load`, so a front end can show a status around the
load. Offline is policy, never a write to os.environ: with it (or HF_HUB_OFFLINE in the env given),
nothing here touches the network, and a model that is not on disk is `ModelNotLocal`, which says how to
get it. Services never print: what the person should hear goes to `Feedback.notify`, a download's
progress to the display `Feedback.pulling` gives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llamacli.base.offline import is_offline
from llamacli.engine.params import LoadParams
from llamacli.errors import ModelNotLocal, UsageError
from llamacli.models.locate import LocalModel
from llamacli.services import auto_choice
from llamacli.services import run as run_service

if TYPE_CHECKING:
    from llamacli.engine import Model
    from llamacli.hub.download import Progress
    from llamacli.services.chat import Loader
    from llamacli.services.engines import ChatEngine, Located
    from llamacli.sizing.fit import MemoryFit


@dataclass(frozen=True)
class Policy:
    """What the service may do to get a model: the network, pulls, and the picker's memory."""

    offline: bool = False  # never touch the network (--offline); HF_HUB_OFFLINE in the env counts too
    pull_if_missing: bool = True  # a named model not downloaded, or changed on disk, is pulled first
    pull_best: bool = False  # with the picker: first download the model `recommend` picks (--pull)
    force: bool = False  # pull a model even when it will not fit in memory
    keep_choice: bool = False  # a script naming no model: the picker's choice is kept for later runs
    remote: str | None = None  # --remote: run on this remote engine (a URL or a configured name; services/remotes.py)


def _silent(_: str) -> None:
    """The default notify: say nothing."""


@contextlib.contextmanager
def _no_display(_: str) -> Iterator[Progress]:
    """The default pull display: none."""
    from llamacli.hub.download import Silent

    yield Silent()


@dataclass(frozen=True)
class Feedback:
    """How the service talks to the person while it works (a front end's; silent by default)."""

    notify: Callable[[str], None] = _silent  # one line: a pull about to start, a fit warning, the picker's choice
    pulling: Callable[[str], AbstractContextManager[Progress]] = _no_display  # a display around one pull
    measuring: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext  # around a calibration
    loading: Callable[[str], AbstractContextManager[object]] = lambda _name: contextlib.nullcontext()  # a load


@dataclass(frozen=True)
class Choice:
    """The model that will be loaded, its memory verdict (None: it could not be sized), and how to load it.

    `params` is what `load` uses: the caller's, with the context shrunk when the model fits only at a
    smaller one than its default and no context was asked for.
    """

    local: LocalModel
    fit: MemoryFit | None
    params: LoadParams


def choose(
    reference: str | None,
    params: LoadParams,
    policy: Policy = Policy(),
    feedback: Feedback = Feedback(),
    env: Mapping[str, str] = os.environ,
) -> Choice:
    """The model for REFERENCE (None: the configured default, else the picker's; `auto`: the picker's).

    Pulls it first when it is missing or changed and the POLICY allows; warns when it will not fit.
    """
    offline = policy.offline or is_offline(env)
    if auto_choice.wants_auto(reference, env):
        local = auto_choice.choose(params.n_ctx, _picking(reference, policy, offline, feedback, env), env)
    else:
        local = _named(reference, policy, offline, feedback, env)
    params = adapted(params, local)
    verdict = check_fit(local, params.n_ctx, env)
    _warn(local, verdict, feedback, env)
    return Choice(local, verdict, _identified(_fitted(params, verdict), local))


def load(choice: Choice) -> Model:
    """Load CHOICE with its params (ModelLoadError for a file llama.cpp refuses)."""
    from llamacli.engine import Model

    params = choice.params
    if choice.local.parts:
        params = dataclasses.replace(params, parts=choice.local.parts)
    return Model(choice.local.path, params)


def open_model(
    reference: str | None,
    params: LoadParams,
    policy: Policy = Policy(),
    feedback: Feedback = Feedback(),
    env: Mapping[str, str] = os.environ,
) -> tuple[Located, ChatEngine]:
    """`choose` then `load`, inside FEEDBACK's display of the load: what a front end usually wants.

    A remote reference (--remote, LLAMACLI_REMOTE, or NAME/MODEL of a configured remote) opens the
    remote model instead (services/remotes.py): its server probed, its settings checked, nothing loaded.
    """
    from llamacli.services import remotes

    if (wanted := remotes.wanted(reference, policy.remote, env)) is not None:
        if params.adapters:
            raise UsageError(
                "--lora applies to models loaded here, not to a remote engine",
                "start the server with the adapter: llamacli serve MODEL --lora FILE",
            )
        with feedback.loading(wanted.remote.name or wanted.remote.url):
            return remotes.open_remote(wanted, params, policy.offline or is_offline(env), env)
    choice = choose(reference, params, policy, feedback, env)
    with feedback.loading(choice.local.name):
        return choice.local, load(choice)


def loader(
    params: LoadParams, policy: Policy = Policy(), feedback: Feedback = Feedback(), env: Mapping[str, str] = os.environ
) -> Loader:
    """A chat's `/model REF`: the same choice, pull and fit check as the model the chat started with."""

    return lambda reference: open_model(reference, params, policy, feedback, env)


def check_fit(local: LocalModel, n_ctx: int | None, env: Mapping[str, str] = os.environ) -> MemoryFit | None:
    """The memory verdict for LOCAL at N_CTX: the one place loading asks sizing."""
    from llamacli.sizing import fit

    return fit.check_local(local.path, local.variant, n_ctx, env, local.parts)


def adapted(params: LoadParams, local: LocalModel) -> LoadParams:
    """PARAMS with LOCAL's own adapters (its models.toml entry's) before those asked for, every one checked
    against the model's header: an adapter made for another model is refused here, before the load."""
    own = local.variant.entry.adapters if local.variant is not None else ()
    if not own and not params.adapters:
        return params
    from llamacli.models import adapters

    wanted = (*own, *params.adapters)
    adapters.check(wanted, local.path, local.name)
    return dataclasses.replace(params, adapters=wanted)


def _warn(local: LocalModel, verdict: MemoryFit | None, feedback: Feedback, env: Mapping[str, str]) -> None:
    """Say so before llama.cpp tries to load a model that will not fit, or loads it at a smaller context."""
    from llamacli.sizing import fit

    if line := fit.warning(local.name, verdict):
        feedback.notify(line + _remote_way_out(env))
    elif line := fit.context_note(local.name, verdict):
        feedback.notify(line)


def _remote_way_out(env: Mapping[str, str]) -> str:
    """'; or run it on the remote 'box' ...' when a remote engine is configured, else nothing."""
    from llamacli.sizing.fit import configured_remotes

    remotes = configured_remotes(env)
    return f"; or run it on the remote '{remotes[0]}': llamacli run {remotes[0]}/MODEL" if remotes else ""


def _fitted(params: LoadParams, verdict: MemoryFit | None) -> LoadParams:
    """PARAMS at the context the fit check chose; a context the person asked for is never changed."""
    if params.n_ctx is not None or verdict is None or not (verdict.fits and verdict.shrunk):
        return params
    return dataclasses.replace(params, n_ctx=verdict.n_ctx)


def _identified(params: LoadParams, local: LocalModel) -> LoadParams:
    """PARAMS naming LOCAL for the prompt cache: a pulled file by its verified sha256; others (the bundled
    model, imports, paths) by their path, size and mtime, the engine's default."""
    if params.prompt_cache_dir is None or not local.sha256:
        return params
    return dataclasses.replace(params, model_identity=f"sha256:{local.sha256}")


def _named(
    reference: str | None, policy: Policy, offline: bool, feedback: Feedback, env: Mapping[str, str]
) -> LocalModel:
    """The model named or configured; one not downloaded yet (or changed) is pulled first, with a notice."""
    try:
        return run_service.resolve(reference, env)
    except ModelNotLocal as e:
        if offline or not policy.pull_if_missing:
            raise
        missing, why = e.name, "changed on disk since it was verified" if e.changed else "is not downloaded yet"
    feedback.notify(f"{missing} {why}: pulling it first")
    _pull(missing, policy, feedback, env)
    return run_service.resolve(reference, env)


def _pull(name: str, policy: Policy, feedback: Feedback, env: Mapping[str, str]) -> None:
    """Download NAME into the store, drawing its progress on the front end's display."""
    from llamacli.services import models

    with feedback.pulling(name) as progress:
        models.pull(name, progress, feedback.notify, env, force=policy.force)


def _picking(
    reference: str | None, policy: Policy, offline: bool, feedback: Feedback, env: Mapping[str, str]
) -> auto_choice.Picking:
    """How the picker may act under POLICY."""
    pull_best = policy.pull_best and not offline
    return auto_choice.Picking(
        explicit=reference == auto_choice.AUTO,
        keep=policy.keep_choice,
        pull=(lambda name: _pull(name, policy, feedback, env)) if pull_best else None,
        notify=feedback.notify,
        measuring=feedback.measuring,
    )
