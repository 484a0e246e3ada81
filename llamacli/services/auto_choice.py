"""The picker's model for runs that name none (and have no default configured), or that name `auto`.

With a single downloaded registry model (a fresh install has only the bundled one) there is nothing to
rank and nothing is measured. Otherwise the machine's calibration ranks the downloaded models as
`llamacli recommend` does; with `pull_best` (`--pull`) the model `recommend` would pick is downloaded
first when it is not here. A one-shot never pays for a full calibration: with none cached it measures
the bundled model once (a few seconds) and leaves the full one to `recommend`. The choice and its reason
are notified, saying when the speeds were measured on a busy machine.

A script's `llamacli run "hi"` must not change model because another model was pulled meanwhile. So,
with `keep` (the CLI sets it when stderr is not a terminal) and no model named, the picker's choice is
written down the first time it is made and reused while it is still on disk and the picker's own
settings (LLAMACLI_MEMORY, LLAMACLI_MIN_SPEED) are as they were. Setting `default_model` or
LLAMACLI_MODEL takes over; removing the model, or changing those settings, makes the next such run
choose again (and say so). A kept choice is announced once, when it is made among several models or
replaces an earlier one. Returns data, never prints.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass

from llamacli.base import paths, settings
from llamacli.errors import LlamacliError
from llamacli.models import registry
from llamacli.models.locate import LocalModel, locate
from llamacli.sizing.fit import MEMORY_ENV

# What the picker was told: a change means "choose again". The second is services.recommend.MIN_SPEED_ENV,
# spelled out so that a run naming its model does not import the recommender (calibration and all).
SETTINGS = (MEMORY_ENV, "LLAMACLI_MIN_SPEED")
AUTO = "auto"


@dataclass(frozen=True)
class Kept:
    """The remembered choice: the model's name and the settings it was chosen under."""

    model: str
    settings: dict[str, str | None]


def _settings(env: Mapping[str, str]) -> dict[str, str | None]:
    return {name: env.get(name) or None for name in SETTINGS}


def recall(env: Mapping[str, str] = os.environ) -> Kept | None:
    """What was kept, if anything readable was."""
    try:
        data = json.loads(paths.auto_choice_file(env).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("model"), str):
        return None
    if not isinstance(data.get("settings"), dict):
        return None
    return Kept(data["model"], data["settings"])


def still_valid(kept: Kept | None, env: Mapping[str, str] = os.environ) -> LocalModel | None:
    """KEPT's model when it is still on this machine and was chosen under the same settings, else None."""
    if kept is None or settings_changed(kept, env):
        return None
    try:
        return locate(kept.model, registry.load(env), env)  # on disk only: never the network
    except LlamacliError:
        return None


def settings_changed(kept: Kept, env: Mapping[str, str] = os.environ) -> bool:
    """Whether the picker's settings differ from those KEPT was chosen under."""
    return kept.settings != _settings(env)


def keep(model: str, env: Mapping[str, str] = os.environ) -> None:
    """Remember MODEL as the choice under the current settings (best effort, atomic)."""
    target = paths.auto_choice_file(env)
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"model": model, "settings": _settings(env)}, f)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def wants_auto(reference: str | None, env: Mapping[str, str] = os.environ) -> bool:
    """True when the picker chooses: `auto` was named, or no model was named and none is configured."""
    return reference == AUTO or (reference is None and settings.load(env).default_model is None)


@dataclass(frozen=True)
class Picking:
    """How the picker may act and talk: pull the best model first, keep its choice, say why, show a measurement."""

    explicit: bool  # `auto` was named (never kept: the person asked for the picker's choice now)
    keep: bool = False  # a script: keep the choice for later runs that name no model
    pull: Callable[[str], object] | None = None  # download a model first (None: only what is here)
    notify: Callable[[str], None] = lambda _: None
    measuring: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext


def choose(n_ctx: int | None, how: Picking, env: Mapping[str, str] = os.environ) -> LocalModel:
    """The best downloaded model for this machine at N_CTX (pulling the best one first when HOW says so)."""
    sticky = how.keep and not how.explicit
    kept = recall(env) if sticky else None
    if sticky and how.pull is None and (same := still_valid(kept, env)) is not None:
        return same
    local, reasons = _pick(n_ctx, how, env)
    if sticky:
        keep(local.name, env)
        if kept is not None and kept.model != local.name:
            why = "under other settings" if settings_changed(kept, env) else "no longer here"
            reasons = [*(reasons or []), f"instead of {kept.model}, chosen before and {why}"]
        if reasons is None:
            return local  # the only model here, and nothing changed: nothing to say
        reasons.append("kept for every run that names no model; set default_model in config.toml to choose")
    if reasons is not None:
        how.notify(f"auto: {local.name} ({'; '.join(reasons)})")
    return local


def _pick(n_ctx: int | None, how: Picking, env: Mapping[str, str]) -> tuple[LocalModel, list[str] | None]:
    """The picker's model now, with the reasons for it (None: the only model here, nothing was ranked)."""
    from llamacli.base import hardware
    from llamacli.engine import native
    from llamacli.services import recommend as service
    from llamacli.sizing.picker import Budget, fit

    if not (how.explicit or how.pull):
        only = service.only_local_model(env)
        if only is not None:
            return only, None
    info = native.system_info()
    calib = service.calibration(env=env, quick=True, notify=how.notify, measuring=how.measuring)
    report = service.recommend(hardware.probe(lambda: info, native.gpu_offload, env), calib, n_ctx=n_ctx, env=env)
    if how.pull is not None and report.pick is not None and report.pick != report.local_pick:
        how.notify(f"auto: pulling {report.pick.name}, the pick for this machine: {report.explanation}")
        how.pull(report.pick.name)
        report = service.recommend(report.hardware, calib, n_ctx=n_ctx, env=env)
    local, chosen, fast_enough = service.resolve_auto(report, env)
    budget = report.budget if fast_enough else Budget(report.budget.memory, 0)
    reasons = [fit(chosen, budget).reason]
    if not fast_enough:
        reasons.append(f"below the {report.budget.min_speed:g} tok/s floor, but the fastest downloaded model that fits")
    if report.pick and report.pick.name != chosen.name:
        reasons.append(f"{report.pick.name} would suit this machine better: llamacli pull {report.pick.name}")
    if calib.busy:
        reasons.append(f"speeds measured while {calib.busy_note()}, so likely low")
    return local, reasons
