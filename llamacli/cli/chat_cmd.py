"""`llamacli chat`: an interactive conversation with a model loaded once (the loop is in cli/chat_ui.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from llamacli.cli import exit_codes, guarding, options
from llamacli.cli.output import Output
from llamacli.errors import ExitCode, UsageError
from llamacli.models import references

CHAT_EPILOG = exit_codes.epilog(*(code for code in ExitCode if code not in (ExitCode.STDOUT_CLOSED, ExitCode.BLOCKED)))


def chat(
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[MODEL] [ID]",
            help="Model reference (optional); with --continue, the conversation ID or saved name.",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--continue", "-C", help="Resume the latest conversation (or the one named by ID).")
    ] = False,
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
    verbose: options.Verbose = False,
    debug: options.Debug = False,
    offline: options.Offline = False,
    pull: options.PullBest = False,
    remote: options.Remote = None,
    guard: guarding.ChatGuardFlag = False,
    guard_model: guarding.GuardModel = None,
) -> None:
    """Chat with a model; every turn is saved. /help inside lists the commands.

    Answers stream as Markdown. 'llamacli history' lists conversations; --continue resumes one.

    \b
    Examples:
      llamacli chat
      llamacli chat smollm2:135m --system "Answer briefly."
      llamacli chat --continue          (the latest conversation)
      llamacli chat --continue 12       (conversation 12, or a /save name)
      llamacli chat --schema 'name, age int'   (every answer a JSON object; /set format off)
      llamacli chat smollm2:135m --lora pirate.gguf   (a LoRA adapter, named in /show; docs/lora.md)
      llamacli chat --guard             (messages and answers screened by llama-guard3:1b)

    Every option's default can be set in config.toml (README: Configuration).
    """
    from llamacli.cli import loading
    from llamacli.cli.chat_ui import start_chat
    from llamacli.services import structured

    out = Output()
    output = structured.from_flags(format, schema, schema_multi)  # refused here, before anything is loaded
    reference, conversation = _split_words(list(words or []), resume, model)
    flags = options.flags(locals())
    chosen = options.with_lora(options.resolve(out, flags, debug=debug), lora)
    # A conversation being continued keeps its own system prompt unless --system is given.
    system = system if resume else chosen.system
    policy = loading.policy(out, offline=offline, pull_best=pull, remote=remote)
    start_chat(
        reference,
        chosen.load,
        chosen.gen,
        policy,
        system=system,
        resume=resume,
        conversation=conversation,
        verbose=verbose,
        output=output,
        guard=guard,
        guard_model=guard_model,
    )


def _looks_like_model(word: str) -> bool:
    """A model reference, or NAME/MODEL of a configured remote."""
    from llamacli.services.remotes import names_remote

    return references.looks_like_model(word) or names_remote(word)


def _split_words(words: list[str], resume: bool, model: str | None) -> tuple[str | None, str | None]:
    """(model reference, conversation id) from the positional words and -m."""
    if len(words) > 2 or (len(words) == 2 and not resume):
        raise UsageError(f"unexpected argument '{words[-1]}'", "usage: llamacli chat [MODEL] [--continue [ID]]")
    reference, conversation = model, None
    for word in words:
        if resume and conversation is None and (model is not None or not _looks_like_model(word)):
            conversation = word
        elif reference is None:
            reference = word
        else:
            raise UsageError(f"two models given: '{reference}' and '{word}'", "name one model")
    return reference, conversation
