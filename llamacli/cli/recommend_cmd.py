"""`llamacli recommend` (alias `hw`): this machine, every model's memory and speed on it, and the pick."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from llamacli.base.sizes import parse_size
from llamacli.cli import exit_codes
from llamacli.cli.output import Output
from llamacli.errors import ExitCode, InvalidValue

if TYPE_CHECKING:
    from llamacli.base.hardware import Hardware
    from llamacli.engine.runtime import Verdict
    from llamacli.services.recommend import Report, Row
    from llamacli.sizing.calibration import Calibration

RECOMMEND_EPILOG = exit_codes.epilog(  # calibrating runs the bundled model; nothing is downloaded
    ExitCode.OK, ExitCode.USER_ERROR, ExitCode.USAGE, ExitCode.MODEL_LOAD, ExitCode.INTERRUPTED
)


def recommend(
    memory: Annotated[
        str | None,
        typer.Option(
            "--memory",
            help="Memory budget: 8G, 512M, 16GiB (binary units; a bare number is GiB) [default: LLAMACLI_MEMORY, "
            "else available RAM].",
            show_default=False,
        ),
    ] = None,
    min_speed: Annotated[
        float | None,
        typer.Option(
            "--min-speed",
            help="Slowest acceptable generation, tokens/s [default: LLAMACLI_MIN_SPEED, else 8].",
            show_default=False,
        ),
    ] = None,
    ctx: Annotated[
        int | None,
        typer.Option(
            "--ctx",
            "-c",
            help="Context window to size the KV cache for [default: model's, at most 4096].",
            show_default=False,
        ),
    ] = None,
    recalibrate: Annotated[
        bool, typer.Option("--recalibrate", help="Measure this machine again (about 10 s).")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show this machine, every model's memory need and speed on it, and the best pick.

    \b
    Examples:
      llamacli recommend
      llamacli recommend --memory 8G --min-speed 5 --ctx 8192
      llamacli hw --json
    """
    from llamacli.base import hardware
    from llamacli.engine import native
    from llamacli.services import recommend as service

    budget = parse_size(memory) if memory is not None else None
    if min_speed is not None and not min_speed >= 0:
        raise InvalidValue(f"--min-speed must be zero or more, got {min_speed:g}")
    service.check_ctx(ctx)  # before calibrating: a bad value is said at once
    out = Output()
    info = native.system_info()
    machine = hardware.probe(lambda: info, native.gpu_offload)
    calib = calibrate_with_status(out, recalibrate)
    report = service.recommend(machine, calib, memory=budget, min_speed=min_speed, n_ctx=ctx, ask_remotes=True)
    if json_output:
        out.data(_worded(report))
        return
    out.answer(render(report))


def _worded(report: Report) -> dict[str, object]:
    """The --json document, with each remote's error in the words the CLI uses for it."""
    from llamacli.cli.messages import describe

    data = report.to_dict()
    data["remotes"] = [
        {**option.to_dict(), "error": describe(option.error).text if option.error else None}
        for option in report.remotes
    ]
    return data


def _remote_lines(report: Report) -> list[str]:
    """What the configured remote engines serve, offered when nothing here meets the request."""
    from llamacli.cli.messages import describe

    if not report.remotes:
        return []
    lines = ["", "Nothing here meets the request; the configured remote engines run on their own machines:"]
    for option in report.remotes:
        if option.error is not None:
            lines.append(f"  {option.name}  {option.url}  cannot be asked: {describe(option.error).text}")
        elif not option.models:
            lines.append(f"  {option.name}  {option.url}  serves no model")
        else:
            first = f"{option.name}/{option.models[0]}"
            lines.append(f"  {option.name}  {option.url}  serves {', '.join(option.models)}  (llamacli run {first})")
    return lines


def calibrate_with_status(out: Output, recalibrate: bool) -> Calibration:
    """The machine's calibration, saying on stderr why when it has to be measured."""
    from llamacli.services import recommend as service

    return service.calibration(recalibrate, notify=out.notice, measuring=lambda: out.status("Calibrating…"))


def _machine_lines(hw: Hardware, calib: Calibration, engine: Verdict | None) -> list[str]:
    from llamacli.base.sizes import format_size
    from llamacli.engine.threads import wait_policy

    features = " ".join(f for f in hw.cpu_features if f not in ("LLAMAFILE", "OPENMP", "REPACK")) or "none"
    lines = [
        f"CPU     {hw.cpu}: {hw.physical_cores} physical / {hw.logical_cores} logical cores; {features}",
        f"Memory  {format_size(hw.total_ram)} total, {format_size(hw.available_ram)} available",
        f"GPU     {hw.gpu or 'none (llama.cpp is built for the CPU)'}",
        f"OS      {hw.os}",
        f"Disk    {format_size(hw.free_disk)} free in {hw.models_dir}",
        f"Engine  llama.cpp with {engine.describe() if engine else 'its defaults (not self-tested yet)'}",
        f"        threads: up to {hw.physical_cores}, fewer while other processes use the CPU; {wait_policy()}",
    ]
    measured = ", ".join(
        f"{m.quant} {m.generation_tokens_per_second:.0f}/{m.prompt_tokens_per_second:.0f}"
        for m in calib.quants.values()
    )
    lines.append(f"Speed   bundled model, generation/prompt tok/s: {measured}")
    if calib.busy:
        lines.append(
            f"        (measured while {calib.busy_note()}: speeds are likely low; measured again "
            "once the machine is idle, or now with --recalibrate)"
        )
    return lines


def render(report: Report) -> str:
    """The human report: machine, budget, table, pick."""
    from llamacli.base.sizes import format_size
    from llamacli.cli.output import table

    budget = report.budget
    from llamacli.engine.params import DEFAULT_CTX
    from llamacli.sizing.fit import MIN_CTX

    window = (
        f"{report.n_ctx} tokens"
        if report.n_ctx
        else f"each model's default (at most {DEFAULT_CTX} tokens), down to {MIN_CTX} where only that fits"
    )
    lines = _machine_lines(report.hardware, report.calibration, report.engine)
    floor = f"at least {budget.min_speed:g} tok/s" if budget.min_speed > 0 else "no speed floor"
    lines += [f"Budget  {format_size(budget.usable)} usable of {format_size(budget.memory)}, {floor}; context {window}"]
    lines += ["", table([_row(row, budget.min_speed) for row in report.rows], HEADER).rstrip("\n")]
    from llamacli.cli.output import moe_note

    moe = moe_note([(row.candidate.name, row.candidate.active_parameters) for row in report.rows if row.default])
    lines += ["", LEGEND, *([moe.rstrip("\n")] if moe else []), "", f"Pick: {report.explanation}"]
    if report.pick and report.local_pick and report.local_pick.name != report.pick.name:
        lines.append(f"Best downloaded: {report.local_pick.name} (llamacli run auto uses it).")
    lines += _remote_lines(report)
    return "\n".join(lines) + "\n"


# The columns `models` has mean the same here (NAME with * for the default quant, SIZE the file, PARAMS).
HEADER = ("NAME", "QUANT", "SIZE", "PARAMS", "LOCAL", "CTX", "MEMORY", "GEN/S", "PROMPT/S", "FIT")
LEGEND = (
    "* default quantization (the name without a tag)   CTX: context sized for   "
    "MEMORY: need, ✓ fits the memory budget   FIT: memory and speed floor"
)


def _row(row: Row, floor: float) -> list[str]:
    from llamacli.base.sizes import format_active_parameters, format_size
    from llamacli.sizing.picker import format_speed

    c = row.candidate
    return [
        c.name + (" *" if row.default else ""),
        c.quant,
        format_size(c.file_size),
        format_active_parameters(c.parameters, c.active_parameters),
        "yes" if row.local else "-",
        str(c.n_ctx),
        ("✓ " if row.fits_in_memory else "✗ ") + format_size(c.memory.total),
        format_speed(c.speed.generation, floor),
        f"{c.speed.prompt:.0f}",
        ("✓ " if row.fit.fits else "✗ ") + row.fit.reason,
    ]
