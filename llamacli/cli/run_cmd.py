"""`llamacli run`: one prompt in, one streamed answer out; a good citizen in shell pipelines."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from llamacli.cli import exit_codes, guarding, options, timings
from llamacli.cli.output import Output
from llamacli.errors import ExitCode, InvalidValue, LlamacliError
from llamacli.models import references

if TYPE_CHECKING:
    from llamacli.base.lora import Lora
    from llamacli.engine import Event, Finished, Stats
    from llamacli.services import run as service
    from llamacli.services.engines import Located
    from llamacli.services.loading import Policy
    from llamacli.services.structured import OutputFormat

RUN_EPILOG = exit_codes.epilog(*ExitCode)
Adapters = tuple["Lora", ...]  # the LoRA adapters a model runs with, named in --json


def _split_words(words: list[str], model: str | None) -> tuple[str | None, str]:
    """(model reference or None, prompt text) from the positional words."""
    piped = sys.stdin is not None and not sys.stdin.isatty()
    if model is None and words and words[0] == "auto" and (len(words) > 1 or piped):  # the picker chooses
        return words[0], " ".join(words[1:])
    if model is None and words and (references.looks_like_model(words[0], _families()) or _remote_word(words[0])):
        return words[0], " ".join(words[1:])
    return model, " ".join(words)


def _families() -> set[str]:
    """Registry names without a tag that select a model (`llama3.2`): a first word that is one is the model."""
    from llamacli.models import registry

    reg = registry.load()
    return {family for family in reg.families() if reg.family_default(family) is not None}


def _remote_word(word: str) -> bool:
    """NAME/MODEL of a configured remote."""
    from llamacli.services.remotes import names_remote

    return names_remote(word)


MAX_STDIN_BYTES = 64 * 1024 * 1024  # far beyond any context window (1M tokens is about 4 MiB of text)


def _read_stdin(out: Output) -> str | None:
    """Piped input, bounded: a runaway pipe gets an error, not an out-of-memory kill.

    Bytes that are not UTF-8 become U+FFFD, with a warning on stderr naming where the first one is.
    """
    from llamacli.services import run as service

    if sys.stdin is None or sys.stdin.isatty():
        return None
    data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise InvalidValue(
            f"stdin is larger than {MAX_STDIN_BYTES // (1024 * 1024)} MiB",
            "no model's context window holds that much text: split the input or pass a part of it",
        )
    decoded = service.decode_input(data)
    if decoded.first_bad is not None:
        sequences = "1 invalid sequence" if decoded.replaced == 1 else f"{decoded.replaced} invalid sequences"
        out.notice(
            f"warning: stdin is not UTF-8 (first at byte {decoded.first_bad}): {sequences} replaced by U+FFFD"
            " (for the exact text, convert it first, e.g. iconv -f latin1 -t utf-8)"
        )
    return decoded.text


def run(
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[MODEL] PROMPT", help="Model reference (optional), then the prompt.", show_default=False
        ),
    ] = None,
    model: options.Model = None,
    system: options.System = None,
    max_tokens: options.MaxTokens = None,
    temperature: options.Temperature = None,
    top_p: options.TopP = None,
    top_k: options.TopK = None,
    min_p: options.MinP = None,
    repeat_penalty: options.RepeatPenalty = None,
    seed: options.Seed = None,
    ctx: options.Ctx = None,
    threads: options.Threads = None,
    stop: options.Stop = None,
    prompt_cache: options.PromptCache = None,
    lora: options.Lora = None,
    format: options.Format = None,
    schema: options.Schema = None,
    schema_multi: options.SchemaMulti = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object: model, text (and data, its value, with a format), finish reason, stats.",
        ),
    ] = False,
    verbose: options.Verbose = False,
    debug: options.Debug = False,
    offline: options.Offline = False,
    pull: options.PullBest = False,
    remote: options.Remote = None,
    guard: guarding.GuardFlag = False,
    guard_model: guarding.GuardModel = None,
) -> None:
    """Answer one prompt. Piped stdin is appended to PROMPT after a blank line (or is the prompt).

    \b
    Examples:
      llamacli run "Why is the sky blue?"
      llamacli run smollm2:135m "Write a haiku" --temperature 0 -n 40
      cat notes.txt | llamacli run "Summarize:" --json
      llamacli run "Invent a dog" --schema 'name, age int, tricks list' --temperature 0
      llamacli run smollm2:135m "Ahoy" --lora pirate.gguf:0.8   (a LoRA adapter; docs/lora.md)
      llamacli run --guard "How do I bake bread?"

    Every option's default can be set in config.toml (README: Configuration).
    """
    from llamacli.cli import loading
    from llamacli.services import run as service
    from llamacli.services import structured

    out = Output()
    output = structured.from_flags(format, schema, schema_multi)  # refused here, before anything is loaded
    reference, prompt = _split_words(list(words or []), model)
    flags = options.flags(locals())
    chosen = options.with_lora(options.resolve(out, flags, debug=debug), lora)
    policy = loading.policy(out, offline=offline, pull_best=pull, remote=remote)
    if not prompt.strip() and not json_output and sys.stdin.isatty() and sys.stdout.isatty():
        from llamacli.cli.chat_ui import start_chat  # `run MODEL` on a terminal, no prompt: a chat

        start_chat(
            reference,
            chosen.load,
            chosen.gen,
            policy,
            system=chosen.system,
            verbose=verbose,
            output=output,
            guard=guard,
            guard_model=guard_model,
        )
        return
    text = service.compose_prompt(prompt, _read_stdin(out))
    if guarding.wanted(guard, guard_model):
        _run_guarded(
            out, text, reference, guard_model, chosen, policy, output, json_output=json_output, verbose=verbose
        )
        return
    local, engine = loading.open_model(out, reference, chosen.load, policy)
    with engine:
        system = structured.system_prompt(chosen.system, output)
        events = engine.stream(service.conversation(text, system), output.apply(chosen.gen) if output else chosen.gen)
        try:
            if output is not None:
                _render_document(out, events, local, engine.adapters, json_output=json_output, verbose=verbose)
            else:
                _render(out, events, local, engine.adapters, json_output=json_output, verbose=verbose)
            if verbose:
                out.dim(engine.runtime_summary())
        except KeyboardInterrupt:
            out.notice("interrupted")
            raise typer.Exit(ExitCode.INTERRUPTED) from None


def _run_guarded(
    out: Output,
    text: str,
    reference: str | None,
    guard_model: str | None,
    chosen: service.Options,
    policy: Policy,
    output: OutputFormat | None,
    *,
    json_output: bool,
    verbose: bool,
) -> None:
    """`run --guard`: the prompt screened before the model is even loaded, the answer generated whole and
    screened before a word of it is printed (so it is not streamed). --json says what the guard said, and
    still prints its object when the guard blocks (without text); stdout has nothing else then."""
    from llamacli.cli import loading, structured_view
    from llamacli.engine.chat_template import Message
    from llamacli.errors import GuardBlocked
    from llamacli.services import run as service
    from llamacli.services import structured

    record: dict[str, object] = {}
    local: Located | None = None
    try:
        with guarding.open_guard(out, guard_model, chosen.load, policy) as guard:
            record["model"] = guard.name
            guarding.screen(out, guard, text, "user", record=record)
            local, engine = loading.open_model(out, reference, chosen.load, policy)
            with engine:
                system = structured.system_prompt(chosen.system, output)
                params = output.apply(chosen.gen) if output else chosen.gen
                events = engine.stream(service.conversation(text, system), params)
                answer, finished = structured_view.collect(out, events, "Writing…")
                adapters = engine.adapters
                if verbose:
                    out.dim(engine.runtime_summary())
            guarding.screen(out, guard, answer, "agent", [Message("user", text)], record=record)
    except GuardBlocked as blocked:
        if json_output:
            name = local.name if local is not None else reference
            out.data({"model": name, "text": None, "blocked": blocked.stage, "guard": record})
        raise
    except KeyboardInterrupt:
        out.notice("interrupted")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    if verbose:
        out.dim(stats_line(finished.stats))
    value = structured_view.value_of(answer, finished) if output is not None else None
    if json_output:
        data = {"data": value} if output else None
        out.data(_envelope(local, adapters, answer, finished, data) | {"guard": record})
    elif output is not None:
        out.document(value)
    else:
        out.answer(answer.rstrip("\n") + "\n")


def _render(
    out: Output, events: Iterator[Event], local: Located, adapters: Adapters, *, json_output: bool, verbose: bool
) -> None:
    """Stream deltas to stdout as they come (or collect them for --json), then the end matter."""
    from llamacli.cli.chat_view import markdown_stream
    from llamacli.engine import Finished, TextDelta

    pieces: list[str] = []
    renderer = None if json_output else markdown_stream(out)  # Markdown on a terminal, raw text in a pipe
    try:
        with out.status("Reading the prompt…"):
            first = next(events)
        for event in itertools.chain((first,), events):
            if isinstance(event, TextDelta):
                if renderer is not None:
                    renderer.feed(event.text)
                elif not json_output:
                    out.answer(event.text)
                pieces.append(event.text)
            elif isinstance(event, Finished):
                if json_output:
                    out.data(_envelope(local, adapters, "".join(pieces), event))
                elif renderer is not None:
                    renderer.finish()
                else:
                    out.answer("\n")
                if verbose:
                    out.dim(stats_line(event.stats))
    except (KeyboardInterrupt, LlamacliError):  # what arrived stays on the screen, ended by a newline
        if renderer is not None:
            renderer.finish()
        elif pieces and not json_output:
            out.answer("\n")
        raise
    finally:
        events.close()  # type: ignore[attr-defined]


def _render_document(
    out: Output, events: Iterator[Event], local: Located, adapters: Adapters, *, json_output: bool, verbose: bool
) -> None:
    """A structured answer, printed once whole (cli/structured_view.py); DocumentCut when it was cut."""
    from llamacli.cli import structured_view

    text, finished = structured_view.collect(out, events)
    if verbose:
        out.dim(stats_line(finished.stats))
    value = structured_view.value_of(text, finished)
    if json_output:
        out.data(_envelope(local, adapters, text, finished, {"data": value}))
    else:
        out.document(value)


def _envelope(
    local: Located, adapters: Adapters, text: str, finished: Finished, data: dict[str, object] | None = None
) -> dict[str, object]:
    """--json's object: the model (its file, or the remote's URL) and its LoRA adapters, the answer's text (and
    DATA: its parsed value), why it ended, the timings."""
    return {
        "model": local.name,
        "path": str(local.path) if local.path else None,
        **({"remote": local.url} if local.url else {}),
        **({"adapters": [a.to_dict() for a in adapters]} if adapters else {}),
        "text": text,
        **(data or {}),
        "finish_reason": finished.reason,
        "stats": finished.stats.to_dict(),
    }


def stats_line(stats: Stats) -> str:
    """One human line of timings, as shown after an answer."""
    return (
        f"{timings.generated(stats)} · "
        f"prompt {stats.prompt_tokens} tokens{_cache_note(stats)}, {stats.prompt_tokens_per_second:.1f} tok/s · "
        f"first token {stats.time_to_first_token:.2f} s · load {stats.load_seconds:.2f} s"
    )


def _cache_note(stats: Stats) -> str:
    """What the on-disk prompt cache did for this prompt: tokens restored from it, or saved to it."""
    if stats.restored_prompt_tokens:
        return f" ({stats.restored_prompt_tokens} from the prompt cache)"
    if stats.saved_prompt_tokens:
        return f" ({stats.saved_prompt_tokens} saved to the prompt cache)"
    return ""
