"""The `recommend` use case: probe the machine, calibrate (cached), estimate every registry entry, pick.

Also the `auto` model of `run`: the best *local* model by the same ranking. Returns data, never prints.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from llamacli.base import paths, settings
from llamacli.base.hardware import Hardware
from llamacli.base.remote_settings import RemoteConfig
from llamacli.engine import runtime
from llamacli.errors import InvalidValue, LlamacliError, NoModelFits
from llamacli.models import registry
from llamacli.models.locate import LocalModel, locate, package_file
from llamacli.models.registry import PackageSource, Registry
from llamacli.sizing import calibrate, estimate, picker
from llamacli.sizing.calibration import Calibration, load_cached, save
from llamacli.sizing.fit import CALIBRATION_MODEL, Sizer, memory_budget, shape_of_entry
from llamacli.sizing.picker import Budget, Candidate, Fit

ANSWER_DEPTH = 512  # predicted speed is while answering with this many tokens of conversation in context


@dataclass(frozen=True)
class Row:
    """One line of the table: a candidate, whether it fits (memory, and memory and speed), whether it is on disk."""

    candidate: Candidate
    fit: Fit
    local: bool
    fits_in_memory: bool = False
    default: bool = False  # the quantization the name without a tag selects


@dataclass(frozen=True)
class RemoteOption:
    """A configured remote engine offered when nothing here meets the request: what it serves, or why not.

    No memory or speed numbers: those are the remote machine's, not this one's.
    """

    name: str
    url: str
    models: tuple[str, ...] = ()
    error: LlamacliError | None = None  # why it could not be asked (unreachable, offline, refused...)

    def to_dict(self) -> dict[str, object]:
        """The --json entry (the error as its type name; the CLI words it)."""
        return {
            "name": self.name,
            "url": self.url,
            "models": list(self.models),
            "run": [f"{self.name}/{model}" for model in self.models],
            "error": type(self.error).__name__ if self.error else None,
        }


@dataclass(frozen=True)
class Report:
    """Everything `llamacli recommend` shows."""

    hardware: Hardware
    calibration: Calibration
    budget: Budget
    n_ctx: int | None  # None: each model's default window
    rows: list[Row]
    pick: Candidate | None
    local_pick: Candidate | None
    explanation: str
    engine: runtime.Verdict | None = None  # how llama.cpp runs here (the self-test's verdict), once known
    remotes: tuple[RemoteOption, ...] = ()  # asked only when no model here meets the request

    def to_dict(self) -> dict[str, object]:
        """The --json document."""
        return {
            "hardware": self.hardware.to_dict(),
            "engine": {**self.engine.to_dict(), "description": self.engine.describe()} if self.engine else None,
            "calibration": self.calibration.to_dict(),
            "budget": {"memory": self.budget.memory, "usable": self.budget.usable, "min_speed": self.budget.min_speed},
            "ctx": self.n_ctx,
            "models": [
                {
                    "name": row.candidate.name,
                    "parameters": row.candidate.parameters,
                    "active_parameters": row.candidate.active_parameters or row.candidate.parameters,
                    "mixture_of_experts": row.candidate.active_parameters > 0,
                    "quant": row.candidate.quant,
                    "file_size": row.candidate.file_size,
                    "bits_per_weight": round(row.candidate.bits, 2),
                    "default": row.default,
                    "memory": row.candidate.memory.to_dict(),
                    "n_ctx": row.candidate.n_ctx,
                    "default_ctx": row.candidate.default_ctx,
                    "context_shrunk": row.candidate.shrunk,
                    "generation_tokens_per_second": round(row.candidate.speed.generation, 2),
                    "prompt_tokens_per_second": round(row.candidate.speed.prompt, 2),
                    "fits_in_memory": row.fits_in_memory,
                    "fits": row.fit.fits,
                    "reason": row.fit.reason,
                    "local": row.local,
                }
                for row in self.rows
            ],
            "pick": self.pick.name if self.pick else None,
            "pick_ctx": self.pick.n_ctx if self.pick else None,
            "local_pick": self.local_pick.name if self.local_pick else None,
            "local_pick_ctx": self.local_pick.n_ctx if self.local_pick else None,
            "explanation": self.explanation,
            "remotes": [option.to_dict() for option in self.remotes],
        }


def candidates(reg: Registry, sizer: Sizer, n_ctx: int | None) -> list[Candidate]:
    """Every registry entry at every quant, with memory and speed, sized by SIZER (see `Sizer.fit`).

    Memory is at N_CTX when given, else at the model's default window or the largest smaller context
    that fits SIZER's budget: the verdict `models`, `pull` and `run` give for the same model. Named as
    `list` and `models` name them (the bare name for the default quant).
    """
    assert sizer.calibration is not None  # speeds need one
    out: list[Candidate] = []
    for entry in reg:
        if entry.guard:  # a classifier, not a model to talk to
            continue
        shape = shape_of_entry(entry, sizer.calibration)
        for quant in entry.quants:
            bits = estimate.bits_per_weight(quant.size, entry.parameters)
            verdict = sizer.fit(shape, quant.size, quant.quant, entry.context_length, n_ctx)
            speed = sizer.calibration.speed(quant.quant, bits)
            out.append(
                Candidate(
                    name=entry.short_name(quant),
                    parameters=entry.parameters,
                    quant=quant.quant,
                    file_size=quant.size,
                    memory=verdict.estimate,
                    speed=estimate.predict_speed(shape, quant.size, speed, context_used=ANSWER_DEPTH),
                    n_ctx=verdict.n_ctx,
                    default_ctx=verdict.default_ctx,
                    least=verdict.least,
                    least_ctx=verdict.least_ctx,
                    active_parameters=entry.active_parameters if entry.moe and entry.active_parameters else 0,
                )
            )
    return out


def only_local_model(env: Mapping[str, str] = os.environ) -> LocalModel | None:
    """The downloaded registry model when there is exactly one (nothing to rank), else None."""
    reg = registry.load(env)
    found: list[LocalModel] = []
    for entry in (e for e in reg if not e.guard):
        for quant in entry.quants:
            name = entry.short_name(quant)
            try:
                found.append(locate(name, reg, env))
            except LlamacliError:
                continue
            if len(found) > 1:
                return None
    return found[0] if found else None


def is_local(reg: Registry, env: Mapping[str, str] = os.environ) -> Callable[[Candidate], bool]:
    """The predicate "is this candidate's file on this machine?" (locate, which never touches the network)."""

    def check(candidate: Candidate) -> bool:
        try:
            locate(candidate.name, reg, env)
        except LlamacliError:
            return False
        return True

    return check


def why_measure(cached: Calibration | None, quick: bool, idle: Callable[[], bool]) -> str | None:
    """Why a calibration must be measured now (the notice to show), or None when CACHED will do.

    QUICK (`run`, `chat`): any calibration will do, except one taken on a busy machine that is idle now.
    Otherwise (`recommend`): a full one, not taken on a busy machine unless the machine is still busy.
    IDLE is asked only about a busy calibration (it takes a moment to tell).
    """
    if cached is None:
        if quick:
            return (
                "Measuring this machine's speed on the bundled model to choose among your models "
                "(a few seconds, once; llamacli recommend measures every quantization)…"
            )
        return "Calibrating this machine once (about 10 s; cached, refresh with --recalibrate)…"
    if cached.quick and not quick:
        return "Calibrating this machine fully (about 10 s; so far only a quick measurement was made)…"
    if cached.busy and idle():
        return (
            f"The saved calibration was measured while {cached.busy_note()}; the machine is idle now: "
            "measuring again" + (" (a few seconds)…" if quick else " (about 10 s)…")
        )
    return None


def calibration(
    recalibrate: bool = False,
    env: Mapping[str, str] = os.environ,
    progress: Callable[[str], None] = lambda _: None,
    *,
    quick: bool = False,
    notify: Callable[[str], None] = lambda _: None,
    idle: Callable[[], bool] = calibrate.idle_now,
    measuring: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
) -> Calibration:
    """The cached calibration of this machine, or a fresh one (saved) when absent, stale or asked for.

    QUICK: what `run` and `chat` need to rank models, bounded to a few seconds (see `why_measure`).
    NOTIFY hears why a measurement starts, and when the machine was busy during it; MEASURING wraps the
    measurement alone (a spinner: never around a notice).
    """
    cached = None if recalibrate else load_cached(env)
    why = "Calibrating this machine (about 10 s)…" if recalibrate else why_measure(cached, quick, idle)
    if why is None:
        assert cached is not None
        return cached
    notify(why)
    bundled = _bundled_file(registry.load(env))
    with measuring():
        fresh = calibrate.run(bundled, progress, probe_cache=paths.cache_dir(env), quick=quick and not recalibrate)
    save(fresh, env)
    if fresh.busy:
        notify(
            f"warning: the machine was busy while measuring ({fresh.busy_note()}): predicted speeds are likely "
            "low; it is measured again once the machine is idle"
        )
    return fresh


def _bundled_file(reg: Registry) -> Path:
    variant = reg.get(CALIBRATION_MODEL)
    assert isinstance(variant.entry.source, PackageSource)
    return package_file(variant)


MIN_SPEED_ENV = "LLAMACLI_MIN_SPEED"


def speed_floor(env: Mapping[str, str] = os.environ) -> float:
    """LLAMACLI_MIN_SPEED (tokens/s) if set, else the default floor."""
    value = env.get(MIN_SPEED_ENV, "").strip()
    if not value:
        return picker.DEFAULT_MIN_SPEED
    try:
        floor = float(value)
    except ValueError:
        floor = -1.0
    if not floor >= 0:
        raise InvalidValue(f"{MIN_SPEED_ENV} must be a speed in tokens/s (zero or more), got {value!r}")
    return floor


def check_ctx(n_ctx: int | None) -> None:
    """InvalidValue for a --ctx outside the range `run` and `chat` accept (one definition: settings.KEYS)."""
    key = settings.KEYS["ctx"]
    if n_ctx is not None and (problem := key.problem(n_ctx)) is not None:
        raise InvalidValue(f"{key.flag} {problem}")


def recommend(
    hardware: Hardware,
    calib: Calibration,
    memory: int | None = None,
    min_speed: float | None = None,
    n_ctx: int | None = None,
    env: Mapping[str, str] = os.environ,
    ask_remotes: bool = False,
) -> Report:
    """The table and the pick for this machine (or for the "what if" budget given).

    Without MEMORY or MIN_SPEED, LLAMACLI_MEMORY and LLAMACLI_MIN_SPEED apply (so `run auto` can be told
    too), else the RAM available and 8 tok/s. ASK_REMOTES: when nothing here meets the request, list what
    the configured remote engines serve (`recommend` does; `run auto` does not ask the network).
    """
    check_ctx(n_ctx)
    reg = registry.load(env)
    if memory is None:
        memory = memory_budget(env, available=hardware.available_ram)
    budget = Budget(memory, min_speed if min_speed is not None else speed_floor(env))
    found = candidates(reg, Sizer(budget, calib), n_ctx)
    local = is_local(reg, env)
    defaults = {entry.short_name(q) for entry in reg for q in entry.quants if q.quant == entry.default_quant}
    rows = [Row(c, picker.fit(c, budget), local(c), budget.holds(c.memory.total), c.name in defaults) for c in found]
    chosen = picker.pick(found, budget)
    local_pick = picker.best_local(found, budget, local)
    explanation = picker.explain(chosen, found, budget)
    if calib.busy:  # its speeds are likely low: the sentence people read says so
        explanation += (
            f" Speeds were measured while {calib.busy_note()}, so they are likely low; "
            "recommend measures again once the machine is idle (or use --recalibrate)."
        )
    engine = runtime.recall_machine(paths.cache_dir(env))
    offered = remote_options(env) if chosen is None and ask_remotes else ()
    return Report(hardware, calib, budget, n_ctx, rows, chosen, local_pick, explanation, engine, offered)


def remote_options(env: Mapping[str, str] = os.environ) -> tuple[RemoteOption, ...]:
    """Every configured remote with the models it serves (GET /v1/models; its allow-list when it has one).

    Asked when no model here meets the request: what the remote runs is an option `recommend` cannot size.
    A remote that cannot be asked is listed with why; offline, none is asked.
    """
    from llamacli.base.offline import is_offline
    from llamacli.errors import OfflineRefused

    found = []
    for remote in settings.load(env).remotes:
        if is_offline(env):
            found.append(RemoteOption(remote.name, remote.url, error=OfflineRefused(f"the remote {remote.name}")))
            continue
        found.append(_ask_remote(remote, env))
    return tuple(found)


def _ask_remote(remote: RemoteConfig, env: Mapping[str, str]) -> RemoteOption:
    """REMOTE's models (the allow-list's, in its order, when it has one), or the error that stopped the asking."""
    from llamacli.remote.endpoint import list_model_ids
    from llamacli.services import remotes

    try:
        served = list_model_ids(remotes.endpoint(remote, env))
    except LlamacliError as e:
        return RemoteOption(remote.name, remote.url, error=e)
    models = [m for m in remote.models if m in served] if remote.models else served
    return RemoteOption(remote.name, remote.url, tuple(models))


def resolve_auto(report: Report, env: Mapping[str, str] = os.environ) -> tuple[LocalModel, Candidate, bool]:
    """The best downloaded model: (file, candidate, meets the speed floor).

    When no downloaded model is fast enough, the fastest one that fits in memory is still run (the user
    asked for an answer, slow beats none); NoModelFits only when none fits in memory.
    """
    reg = registry.load(env)
    chosen, fast_enough = report.local_pick, True
    if chosen is None:
        found = [row.candidate for row in report.rows]
        lenient = Budget(report.budget.memory, 0.0)
        local = [c for c in picker.rank(found, lenient) if is_local(reg, env)(c)]
        chosen = max(local, key=lambda c: c.speed.generation) if local else None
        fast_enough = False
    if chosen is None:
        raise NoModelFits(report.explanation, report.pick.name if report.pick else None)
    return locate(chosen.name, reg, env), chosen, fast_enough
