"""Remote engines as a use case: which references run remotely, opening one, listing what remotes serve.

A reference runs remotely when `--remote` (or LLAMACLI_REMOTE) names a remote (a URL, or a configured
name), or when it is NAME/MODEL and NAME is a `[remotes.NAME]` of config.toml: a configured name wins over
reading NAME/MODEL as a Hub owner/repo, and only then. Offline refuses every remote before a socket is
opened. llamacli.remote (and httpx with it) is imported only when a remote is used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llamacli.base import paths, settings
from llamacli.base.remote_settings import RemoteConfig, check_url
from llamacli.engine.params import LoadParams
from llamacli.errors import (
    ConfigError,
    LlamacliError,
    OfflineRefused,
    RemoteModelMissing,
    RemoteUnsupported,
    UnknownRemote,
)

if TYPE_CHECKING:
    from llamacli.remote.endpoint import Endpoint
    from llamacli.remote.model import RemoteModel, RemoteTarget

ENV = "LLAMACLI_REMOTE"


@dataclass(frozen=True)
class Wanted:
    """A model to run remotely: the remote (its config; name None for a bare URL) and the model, if named."""

    remote: RemoteConfig
    model: str | None


def wanted(reference: str | None, remote: str | None, env: Mapping[str, str] = os.environ) -> Wanted | None:
    """Where REFERENCE runs when it runs remotely (REMOTE: --remote's value), else None (it is local)."""
    config = settings.load(env)
    remote = remote or env.get(ENV, "").strip() or None
    if remote is not None:
        return Wanted(_remote(remote, config), reference)
    if reference and "@" in reference and "://" in reference:  # MODEL@URL: how an ad hoc remote's model is recorded
        model, _, url = reference.rpartition("@")
        return Wanted(_remote(url, config), model or None)
    if reference and "/" in reference and "://" not in reference:
        name, model = reference.split("/", 1)
        if (found := config.remote(name)) is not None and model:
            return Wanted(found, model)
    return None


def names_remote(word: str, env: Mapping[str, str] = os.environ) -> bool:
    """Whether WORD is NAME/MODEL of a configured remote (how `run` and `chat` tell it from a prompt's first word)."""
    name, slash, model = word.partition("/")
    return bool(slash and model) and settings.load(env).remote(name) is not None


def _remote(text: str, config: settings.Settings) -> RemoteConfig:
    """--remote's TEXT: a configured name, or a URL."""
    if (found := config.remote(text)) is not None:
        return found
    if "://" not in text:
        raise UnknownRemote(text, [r.name for r in config.remotes])
    try:
        return RemoteConfig("", check_url(text, "--remote"))
    except ConfigError as e:
        raise UnknownRemote(text, [r.name for r in config.remotes]) from e


def endpoint(remote: RemoteConfig, env: Mapping[str, str] = os.environ) -> Endpoint:
    """The endpoint of REMOTE (a bare URL is an ad hoc one: no name, key or allow-list)."""
    from llamacli.remote.endpoint import Endpoint, root_of

    if not remote.name:
        return Endpoint(root_of(remote.url), env=env)
    return Endpoint.of(remote, env)


def open_remote(
    want: Wanted, load: LoadParams, offline: bool, env: Mapping[str, str] = os.environ
) -> tuple[RemoteTarget, RemoteModel]:
    """The remote model WANT names, its server probed (cached) and its settings checked; nothing is generated."""
    where = want.remote.name or want.remote.url
    if offline:
        raise OfflineRefused(f"the remote {where}")
    from llamacli.remote import probe
    from llamacli.remote.endpoint import list_model_ids
    from llamacli.remote.model import RemoteModel, RemoteTarget

    point = endpoint(want.remote, env)
    model = want.model
    if model is None:  # the server's (or the allow-list's) first model
        models = list(point.models) or list_model_ids(point)
        if not models:
            raise RemoteModelMissing(point.root, "(none named)", [])
        model = models[0]
    if point.models and model not in point.models:
        raise RemoteModelMissing(point.root, model, point.models, allow_list=True)
    caps = probe.capabilities(point, paths.cache_dir(env))
    served = caps.context_of(model)
    if load.n_ctx is not None and served is not None and load.n_ctx > served:
        why = f"its context is {served} tokens, set where the server starts"
        raise RemoteUnsupported(point.root, caps.describe(), f"--ctx {load.n_ctx}", why)
    target = RemoteTarget(point.label(model), model, point)
    return target, RemoteModel(target, caps, load.n_ctx)


@dataclass(frozen=True)
class Status:
    """A configured remote and whether it answers: its kind and models, or why not."""

    remote: RemoteConfig
    answers: bool
    kind: str | None = None
    models: tuple[str, ...] = ()
    error: LlamacliError | None = None  # why it does not answer
    context: int | None = None  # its context window in tokens, when it says (llama.cpp's /props, vLLM's one model)


def status(remote: RemoteConfig, offline: bool, env: Mapping[str, str] = os.environ) -> Status:
    """Whether REMOTE answers, and what it is and serves (never raises for a remote that fails)."""
    from llamacli.remote import probe
    from llamacli.remote.endpoint import list_model_ids

    if offline:
        return Status(remote, False, error=OfflineRefused(f"the remote {remote.name}"))
    point = endpoint(remote, env)
    try:
        caps = probe.capabilities(point, paths.cache_dir(env))
        models = list_model_ids(point)
    except LlamacliError as e:
        return Status(remote, False, error=e)
    context = caps.n_ctx or (caps.context_of(models[0]) if len(models) == 1 else None)
    return Status(remote, True, caps.describe(), tuple(models), context=context)


def served(
    remote_text: str, offline: bool, env: Mapping[str, str] = os.environ
) -> tuple[RemoteConfig, list[dict[str, object]]]:
    """What REMOTE_TEXT (a configured name or a URL) serves: GET /v1/models."""
    from llamacli.remote.endpoint import list_models

    remote = _remote(remote_text, settings.load(env))
    if offline:
        raise OfflineRefused(f"the remote {remote.name or remote.url}")
    return remote, list_models(endpoint(remote, env))
