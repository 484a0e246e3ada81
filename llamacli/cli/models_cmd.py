"""`pull`, `list`/`ls`, `rm`, `show`, `import` and `models`: thin doors over llamacli.services.models."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llamacli.base.sizes import format_active_parameters, format_parameters, format_size
from llamacli.cli import exit_codes
from llamacli.cli.output import Output, inert, moe_note, table
from llamacli.cli.progress import pull_with_progress
from llamacli.errors import ExitCode

if TYPE_CHECKING:
    from llamacli.models.gguf_info import GGUFInfo

JSON = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
REF = Annotated[str, typer.Argument(metavar="MODEL", help="Registry name, hf.co/OWNER/REPO[:QUANT|/FILE] or path.")]
PULL_REF = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="Registry name or hf.co/OWNER/REPO[:QUANT|/FILE] (a file on disk needs no pull: run it by path, "
        "or name it with 'llamacli import').",
    ),
]


def _when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


_C = ExitCode
OK, USER, USAGE, LOAD, NETWORK, INTERRUPTED = _C.OK, _C.USER_ERROR, _C.USAGE, _C.MODEL_LOAD, _C.NETWORK, _C.INTERRUPTED
PULL_EPILOG = exit_codes.epilog(
    (OK, "success (also when the model was already complete: no body is downloaded again)"),
    (USER, "user error (malformed reference, unknown model or quantization, not enough disk, offline)"),
    USAGE,
    (LOAD, "the downloaded file is not a valid GGUF (it was deleted)"),
    (NETWORK, "network or download failure, access denied (set HF_TOKEN), sha256 mismatch (file deleted)"),
    (INTERRUPTED, "interrupted (Ctrl-C): pull again to resume"),
)
LIST_EPILOG = exit_codes.epilog(
    OK,
    (USER, "a malformed models.toml or config.toml (the message names the file and line)"),
    (USAGE, "usage error (unknown option)"),
    INTERRUPTED,
)
RM_EPILOG = exit_codes.epilog(
    (OK, "success (an imported model is forgotten; its file is kept)"),
    (USER, "user error (unknown model, not on this machine, bundled, being downloaded by another process)"),
    USAGE,
    INTERRUPTED,
)
SHOW_EPILOG = exit_codes.epilog(
    OK,
    (USER, "user error (malformed reference, unknown model, not downloaded and offline)"),
    USAGE,
    (LOAD, "not a valid GGUF file (corrupt, cut short or unsupported)"),
    (NETWORK, "network failure reading the header from the Hub"),
    INTERRUPTED,
)
IMPORT_EPILOG = exit_codes.epilog(
    OK,
    (USER, "user error (no such file, bad name, a registry name, a name already in use without --force)"),
    USAGE,
    (LOAD, "not a valid GGUF file (corrupt, cut short or unsupported): nothing is registered"),
    INTERRUPTED,
)


def pull(
    model: PULL_REF,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: model, path, size, sha256, bytes downloaded.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Download even if the model cannot fit in memory.")] = False,
) -> None:
    """Download a model from the Hub (verified, resumable).

    The file's sha256 must match the Hub's; an interrupted pull resumes where it stopped.
    Honours HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE and proxy variables.

    \b
    Examples:
      llamacli pull llama3.2:1b
      llamacli pull hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q8_0
    """
    out = Output()
    result = pull_with_progress(out, model, force=force)
    if json_output:
        out.data(
            {
                "model": result.name,
                "path": str(result.path),
                "size": result.size,
                "sha256": result.sha256,
                "downloaded": result.downloaded,
                "already_present": result.present,
            }
        )
    else:
        state = "already up to date" if result.present or not result.downloaded else "pulled"
        out.notice(f"{result.name}: {state} ({format_size(result.size)}) {result.path}")


def list_models(
    json_output: JSON = False,
    remote: Annotated[
        str | None,
        typer.Option(
            "--remote", "-r", help="List what a remote engine serves (a [remotes.NAME] or a URL).", show_default=False
        ),
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Never touch the network.")] = False,
) -> None:
    """List the models on this machine (alias: ls), or those a remote engine serves (--remote).

    Name, quantization, size on disk, parameters and when it arrived; only complete, verified files.
    """
    from llamacli.services import models

    out = Output()
    if remote is not None:
        _list_remote(out, remote, offline, json_output=json_output)
        return
    entries = models.list_local()
    if json_output:
        out.data([e.to_dict() for e in entries])
        return
    rows = [
        [e.name, e.quant or "-", _size(e.size, e.parts), format_parameters(e.parameters), _when(e.modified)]
        for e in entries
    ]
    out.answer(table(rows, ["NAME", "QUANT", "SIZE", "PARAMS", "MODIFIED"]))


def _list_remote(out: Output, remote: str, offline: bool, *, json_output: bool) -> None:
    """GET /v1/models of REMOTE: the model ids (as run takes them after NAME/), who owns them, their context."""
    from llamacli.services import remotes

    config, served = remotes.served(remote, offline)
    if json_output:
        out.data({"remote": config.name or None, "url": config.url, "models": served})
        return
    prefix = f"{config.name}/" if config.name else ""
    rows = [
        [prefix + str(m.get("id")), str(m.get("owned_by") or "-"), str(m.get("max_model_len") or "-")] for m in served
    ]
    out.answer(table(rows, ["NAME", "OWNED BY", "CTX"]))


def rm(models_: Annotated[list[str], typer.Argument(metavar="MODEL...", help="Models to delete.")]) -> None:
    """Delete models from this machine and free their space.

    An imported file is only forgotten, never deleted; a file another name shares stays.
    """
    from llamacli.services import models

    out = Output()
    for ref in models_:
        done = models.remove(ref)
        if done.kept is not None:
            out.notice(f"forgotten {done.name}; file kept: {done.kept}")
        else:
            out.notice(f"deleted {done.name}" + (f" ({format_size(done.freed)} freed)" if done.freed else ""))


def show(
    model: REF,
    json_output: JSON = False,
    template: Annotated[bool, typer.Option("--template", help="Print only the chat template.")] = False,
) -> None:
    """Show a model's GGUF metadata.

    Read from the file's header only; a model not downloaded yet is read from the Hub with
    Range requests (a few MiB, not the whole file).
    """
    from llamacli.services import models

    out = Output()
    name, path, info = models.show(model)
    if template:  # raw into a pipe (it is the data asked for); inert on a terminal
        text = info.chat_template or ""
        out.answer((inert(text) if out.stdout_tty else text) + "\n")
        return
    if json_output:
        out.data({"model": name, "path": str(path) if path else None, **info.to_dict()})
        return
    rows = _adapter_rows(name, path, info) if info.file_kind == "adapter" else _model_rows(name, path, info)
    out.answer("".join(f"{k:<16} {'-' if v is None else inert(str(v), keep_lines=False)}\n" for k, v in rows))


def _adapter_rows(name: str, path: Path | None, info: GGUFInfo) -> list[tuple[str, object]]:
    """`show` of a LoRA adapter: what base model it is for, and its size (docs/lora.md)."""
    return [
        ("adapter", name),
        ("path", str(path) if path else "-"),
        ("name", info.name or "-"),
        ("type", info.adapter_type or "-"),
        ("base", f"{info.architecture} (the architecture of the model it was trained on)"),
        ("alpha", "-" if info.lora_alpha is None else f"{info.lora_alpha:g}"),
        ("rank", info.lora_rank),
        ("tensors", f"{info.tensors} ({info.tensors // 2} adapted matrices)"),
        ("parameters", f"{info.parameters:,} ({format_parameters(info.parameters)})"),
        ("file size", format_size(info.file_size)),
    ]


def _model_rows(name: str, path: Path | None, info: GGUFInfo) -> list[tuple[str, object]]:
    """`show` of a model: its shape, tokens and template."""
    special = ", ".join(f"{k}={v['text']!r} ({v['id']})" for k, v in info.special_tokens.items())
    tmpl = info.chat_template
    return [
        ("model", name),
        ("path", str(path) if path else "(on the Hub; not downloaded)"),
        ("name", info.name or "-"),
        ("architecture", info.architecture),
        ("parameters", f"{info.parameters:,} ({format_parameters(info.parameters)})"),
        ("quantization", info.file_type or "-"),
        ("file size", _size(info.file_size, info.parts)),
        ("context length", info.context_length),
        ("layers", info.layers),
        ("heads", info.heads),
        ("kv heads", info.kv_heads),
        ("head size", info.head_dim),
        ("embedding size", info.embedding_size),
        ("vocabulary size", info.vocab_size),
        ("license", info.license or "-"),
        ("special tokens", special or "-"),
        ("chat template", f"{len(tmpl)} characters (--template prints it)" if tmpl else "none (a base model)"),
    ]


def import_(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="A .gguf file already on disk.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Name to register it under [default: FILE-STEM:local].")
    ] = None,
    json_output: JSON = False,
    force: Annotated[
        bool, typer.Option("--force", help="Re-point a NAME that already names another imported file.")
    ] = False,
) -> None:
    """Register a GGUF file already on disk, without copying it.

    Then use it by name: llamacli run NAME "prompt". The file's header is checked, and that its
    tensor data is all there (a file cut short is refused).
    """
    from llamacli.services import models

    out = Output()
    entry = models.import_file(path, name, force=force)
    if json_output:
        out.data(entry.to_dict())
    else:
        out.notice(f"imported {entry.path} as {entry.name} ({_size(entry.size, entry.parts)}, not copied)")


def _size(size: int, parts: int) -> str:
    """A model's bytes on disk, and into how many files it is split when more than one."""
    return format_size(size) + (f" in {parts} parts" if parts > 1 else "")


def catalog(json_output: JSON = False) -> None:
    """List the model registry, with what is already on this machine.

    * marks each model's default quantization (what the name without a tag selects). MEMORY is what it
    needs at its default context (the estimate 'recommend' uses), ✓ when that fits the memory budget
    (LLAMACLI_MEMORY, else available RAM).
    """
    from llamacli.services import catalog as service

    out = Output()
    rows = service.catalog()
    if json_output:
        out.data([r.to_dict() for r in rows])
        return
    header = ["NAME", "QUANT", "SIZE", "PARAMS", "LICENSE", "LOCAL", "CTX", "MEMORY"]
    cells = [
        [
            r.name + (" *" if r.default else ""),
            r.quant,
            format_size(r.size),
            format_active_parameters(r.parameters, r.active_parameters),
            r.license,
            "yes" if r.local else "-",
            str(r.n_ctx),
            ("✓ " if r.fits_in_memory else "✗ ") + format_size(r.memory.total),
        ]
        for r in rows
    ]
    out.answer(table(cells, header) + moe_note([(r.name, r.active_parameters) for r in rows if r.default]))
