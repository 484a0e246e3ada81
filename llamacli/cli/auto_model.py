"""The picker's choice of model for `run` and `chat`: `auto`, or no model named and none configured.

With a single downloaded registry model (a fresh install has only the bundled one) there is nothing to
rank and nothing is measured. Otherwise the machine's calibration ranks the downloaded models as
`llamacli recommend` does; `--pull` first downloads the model `recommend` would pick when it is not here.
A one-shot command never pays for a full calibration: with none cached it measures the bundled model
once (a few seconds) and leaves the full one to `recommend`. The choice and its reason go to stderr when
`auto` was asked for, with `--pull`, or on a terminal, and say when the speeds were measured on a busy
machine.

When stderr is not a terminal (a script) and no model was named, the choice is kept (see
services/auto_choice.py): later runs use the same model, silently, until it is removed or the picker's
settings change, so pulling another model never switches a script's model behind its back. A kept choice
is announced once, when it is made among several models or replaces an earlier one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llamacli.cli.output import Output

if TYPE_CHECKING:
    from llamacli.models.locate import LocalModel

AUTO = "auto"


def wants_auto(reference: str | None) -> bool:
    """True when the picker chooses: `auto` was named, or no model was named and none is configured."""
    from llamacli.base import settings

    return reference == AUTO or (reference is None and settings.load().default_model is None)


def resolve_auto(out: Output, n_ctx: int | None, *, explicit: bool, pull: bool = False) -> LocalModel:
    """The best downloaded model for this machine (pulling the best one first with PULL); kept for scripts."""
    from llamacli.services import auto_choice

    sticky = not explicit and not out.stderr_tty  # a script that named no model: its choice is kept
    kept = auto_choice.recall() if sticky else None
    if sticky and not pull:
        same = auto_choice.still_valid(kept)
        if same is not None:
            return same
    local, reasons = _pick(out, n_ctx, explicit=explicit, pull=pull)
    if sticky:
        auto_choice.keep(local.name)
        if kept is not None and kept.model != local.name:
            why = "under other settings" if auto_choice.settings_changed(kept) else "no longer here"
            reasons = [*(reasons or []), f"instead of {kept.model}, chosen before and {why}"]
        if reasons is None:
            return local  # the only model here, and nothing changed: nothing to say
        reasons.append("kept for every run that names no model; set default_model in config.toml to choose")
    if reasons is not None and (explicit or pull or out.stderr_tty or sticky):
        out.notice(f"auto: {local.name} ({'; '.join(reasons)})")
    return local


def _pick(out: Output, n_ctx: int | None, *, explicit: bool, pull: bool) -> tuple[LocalModel, list[str] | None]:
    """The picker's model now, with the reasons for it (None: the only model here, nothing was ranked)."""
    from llamacli.base import hardware
    from llamacli.cli.recommend_cmd import calibrate_with_status
    from llamacli.engine import native
    from llamacli.services import recommend as service
    from llamacli.sizing.picker import Budget, fit

    if not (explicit or pull):
        only = service.only_local_model()
        if only is not None:
            return only, None
    info = native.system_info()
    calib = calibrate_with_status(out, recalibrate=False, quick=True)
    report = service.recommend(hardware.probe(lambda: info, native.gpu_offload), calib, n_ctx=n_ctx)
    if pull and report.pick is not None and report.pick != report.local_pick:
        from llamacli.cli.models_cmd import pull_with_progress

        out.notice(f"auto: pulling {report.pick.name}, the pick for this machine: {report.explanation}")
        pull_with_progress(out, report.pick.name)
        report = service.recommend(report.hardware, calib, n_ctx=n_ctx)
    local, chosen, fast_enough = service.resolve_auto(report)
    budget = report.budget if fast_enough else Budget(report.budget.memory, 0)
    reasons = [fit(chosen, budget).reason]
    if not fast_enough:
        reasons.append(f"below the {report.budget.min_speed:g} tok/s floor, but the fastest downloaded model that fits")
    if report.pick and report.pick.name != chosen.name:
        reasons.append(f"{report.pick.name} would suit this machine better: llamacli pull {report.pick.name}")
    if calib.busy:
        reasons.append(f"speeds measured while {calib.busy_note()}, so likely low")
    return local, reasons
