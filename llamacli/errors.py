"""Domain errors: each carries the data a message needs, and no words for people.

The CLI words them, picks their exit code and prints one line on stderr in exactly one place
(`llamacli.cli.messages`, used by `llamacli.cli.app.main`); nothing below the CLI prints or exits. Only
`WordedError`s come with their words: checks of input phrased where the input is checked.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from enum import IntEnum, StrEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Documented exit codes; their meanings, per command, are in `llamacli.cli.exit_codes`."""

    OK = 0
    USER_ERROR = 1
    USAGE = 2
    MODEL_LOAD = 3
    NETWORK = 4
    BLOCKED = 5  # the guard (--guard, `llamacli guard`) found the prompt or the answer unsafe
    INTERRUPTED = 130
    STDOUT_CLOSED = 141  # what a shell reports for a writer killed by SIGPIPE, e.g. `llamacli run ... | head -c 5`


class LlamacliError(Exception):
    """Base of every error the user should see as a one-line message."""


class WordedError(LlamacliError):
    """An error raised with its MESSAGE and HINT: a value or line of input refused where it is checked."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(WordedError):
    """The command line is incomplete or contradictory."""


class InvalidValue(WordedError):
    """A flag or setting has a value out of its range."""


class ConfigError(WordedError):
    """The user's config.toml is malformed."""


class ChatCommandError(WordedError):
    """A slash command in chat is unknown or has a bad argument; shown in the chat, which goes on."""


class NoPrompt(LlamacliError):
    """`run` got no prompt: neither arguments nor text on stdin."""


class MalformedReference(LlamacliError):
    """TEXT is not a model reference (a name, hf.co/OWNER/REPO[:QUANT|/FILE] or a path)."""

    def __init__(self, text: str, why: str) -> None:
        super().__init__(text, why)
        self.text = text
        self.why = why


class NoSuchModelFile(LlamacliError):
    """A model given by its path names no file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.path = path


class PullOfFile(LlamacliError):
    """`pull` of a file on disk: there is nothing to download."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class ImportNameInUse(LlamacliError):
    """`import` onto a NAME the registry has (FILE None), or that already names another imported FILE."""

    def __init__(self, name: str, file: Path | None) -> None:
        super().__init__(name, file)
        self.name = name
        self.file = file


class ModelNotFound(LlamacliError):
    """A model reference names nothing known."""

    def __init__(self, name: str, close_matches: Sequence[str]) -> None:
        super().__init__(name)
        self.name = name
        self.close_matches = tuple(close_matches)


class PackageMissing(LlamacliError):
    """A bundled model's Python package is not installed."""

    def __init__(self, model: str, package: str) -> None:
        super().__init__(model, package)
        self.model = model
        self.package = package


class RegistryError(LlamacliError):
    """A models.toml (ours or the user's) is malformed: PROBLEM at PATH, LINE when known."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        super().__init__(path, line, problem)
        self.path = path
        self.line = line
        self.problem = problem


class MissingPart(LlamacliError):
    """A part of a model split into several files is not where llama.cpp looks for it (next to the first)."""

    def __init__(self, path: Path, no: int, count: int) -> None:
        super().__init__(path, no, count)
        self.path = path
        self.no = no
        self.count = count


class ModelLoadError(LlamacliError):
    """llama.cpp could not load a GGUF file (corrupt, truncated, unsupported)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason


class EngineCrash(LlamacliError):
    """llama.cpp's native code crashes running a model on this CPU in every configuration tried."""

    def __init__(self, path: Path, crashes: Sequence[str], cpu_has_amx: bool) -> None:
        super().__init__(path, crashes)
        self.path = path
        self.crashes = tuple(crashes)
        self.cpu_has_amx = cpu_has_amx  # then the known cause: llama.cpp built with its AMX kernels


class TemplateError(LlamacliError):
    """The model's chat template failed to render or tried to escape the sandbox."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ContextOverflow(LlamacliError):
    """The prompt does not fit in the context window."""

    def __init__(self, prompt_tokens: int, n_ctx: int, n_ctx_train: int, at_least: bool = False) -> None:
        super().__init__(prompt_tokens, n_ctx, n_ctx_train)
        self.prompt_tokens = prompt_tokens
        self.n_ctx = n_ctx
        self.n_ctx_train = n_ctx_train
        self.at_least = at_least  # counted from a lower bound, without tokenizing a huge text


class ContextBeyondTraining(LlamacliError):
    """A context window larger than the model was trained on: refused, since answers past it fall apart."""

    def __init__(self, n_ctx: int, n_ctx_train: int) -> None:
        super().__init__(n_ctx, n_ctx_train)
        self.n_ctx = n_ctx
        self.n_ctx_train = n_ctx_train


class ModelNotLocal(LlamacliError):
    """A known model whose file is not on this machine yet."""

    def __init__(self, name: str, changed: Path | None = None) -> None:
        super().__init__(name, changed)
        self.name = name
        self.changed = changed  # its file in the store, when that is no longer the verified download


class DownloadError(LlamacliError):
    """A download failed: the network, the server, or what the server said (exit 4).

    UNTRUSTED: the server's answer was refused as invalid, before anything was written.
    """

    def __init__(self, repo: str, file: str | None, reason: str, untrusted: bool = False) -> None:
        super().__init__(repo, file, reason)
        self.repo = repo
        self.file = file
        self.reason = reason
        self.untrusted = untrusted


class AuthRequired(DownloadError):
    """The Hub refused access (401/403): a gated or private repository."""

    def __init__(self, repo: str, status: int) -> None:
        super().__init__(repo, None, f"HTTP {status}")
        self.status = status


class IntegrityError(DownloadError):
    """The downloaded bytes do not hash to the sha256 the Hub published; the file was deleted."""

    def __init__(self, repo: str, file: str, expected: str, actual: str) -> None:
        super().__init__(repo, file, "sha256 mismatch")
        self.expected = expected
        self.actual = actual


class RemoteNotFound(LlamacliError):
    """The repository, revision or file WHAT does not exist on the Hub (a user error: exit 1)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class QuantNotFound(RemoteNotFound):
    """REPO has no single .gguf file of quantization WANTED; AVAILABLE are the ones it has."""

    def __init__(self, repo: str, wanted: str, available: Sequence[str]) -> None:
        super().__init__(f"no {wanted} .gguf file in {repo}")
        self.repo = repo
        self.wanted = wanted
        self.available = tuple(available)


class QuantAmbiguous(RemoteNotFound):
    """Several files of REPO (MATCHES) are quantization WANTED."""

    def __init__(self, repo: str, wanted: str, matches: Sequence[str]) -> None:
        super().__init__(f"{len(matches)} files match {wanted} in {repo}")
        self.repo = repo
        self.wanted = wanted
        self.matches = tuple(matches)


class OfflineRefused(LlamacliError):
    """A network operation (WHAT) was asked for in offline mode (HF_HUB_OFFLINE or --offline)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class NotEnoughDisk(LlamacliError):
    """The model does not fit in the free space of the model store."""

    def __init__(self, path: Path, needed: int, free: int, purpose: str = "download") -> None:
        super().__init__(path, needed, free)
        self.path = path
        self.needed = needed
        self.free = free
        self.purpose = purpose  # what needs the space: "download", "quantized file"


class ModelNotPulled(LlamacliError):
    """`rm` or `show` of a model that is not on this machine."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class StoreError(LlamacliError):
    """The model store cannot be written (disk full, file size limit, permissions); nothing half-written stays.

    A partial download keeps what was written before the failure, for the next pull to resume.
    """

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(path, error.strerror or str(error))
        self.path = path
        self.errno = error.errno
        self.reason = error.strerror or str(error)

    @property
    def disk_full(self) -> bool:
        """The file system (or the user's quota) has no room left."""
        return self.errno in (errno.ENOSPC, errno.EDQUOT)

    @property
    def too_large(self) -> bool:
        """The file outgrew the file system's or the process's (ulimit -f) file size limit."""
        return self.errno == errno.EFBIG


class OutsideStore(LlamacliError):
    """A path the store was about to delete leads outside it (a symlinked directory): refused."""

    def __init__(self, path: Path, root: Path) -> None:
        super().__init__(path, root)
        self.path = path
        self.root = root


class BusyError(LlamacliError):
    """Another process is downloading that file right now."""

    def __init__(self, sha256: str) -> None:
        super().__init__(sha256)
        self.sha256 = sha256


class ConversationNotFound(LlamacliError):
    """No conversation in the history has that id or saved name."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class HistoryProblem(StrEnum):
    """What went wrong with the history database, read from sqlite's error code (not its message)."""

    FULL = "full"  # no room left (or an I/O error, which is most often that)
    DAMAGED = "damaged"  # not a database, or a corrupt one
    LOCKED = "locked"  # another process holds the write lock past the timeout
    CHANGED = "changed"  # a constraint broke: another program changed the rows under us
    UNWRITABLE = "unwritable"  # anything else: permissions, a read-only file, a missing directory


class HistoryUnavailable(LlamacliError):
    """The conversation history cannot be read or written: a full disk, a damaged or locked database.

    REASON is sqlite's (or the OS's) own words, for the person; PROBLEM what kind of failure it is.
    """

    def __init__(self, path: Path, reason: str, problem: HistoryProblem = HistoryProblem.UNWRITABLE) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason
        self.problem = problem


class HistoryBehind(LlamacliError):
    """Told, not raised: the history failed (CAUSE); a chat goes on, and is saved when writing works again."""

    def __init__(self, cause: HistoryUnavailable) -> None:
        super().__init__(cause)
        self.cause = cause


class NameTaken(LlamacliError):
    """A conversation name is already on another conversation (names are never moved or deleted)."""

    def __init__(self, name: str, conversation_id: int, message_count: int) -> None:
        super().__init__(name, conversation_id, message_count)
        self.name = name
        self.conversation_id = conversation_id
        self.message_count = message_count


class NotSaved(LlamacliError):
    """`/save` in chat while the history is failing (CAUSE), or before anything was written (CAUSE None)."""

    def __init__(self, cause: HistoryUnavailable | None) -> None:
        super().__init__(cause)
        self.cause = cause


class LoadWithoutName(LlamacliError):
    """`/load` in chat with no conversation named."""


class NoModelFits(LlamacliError):
    """`auto` found no downloaded model that fits this machine's memory and speed budget.

    EXPLANATION says why; BETTER names the best fit to download, when there is one.
    """

    def __init__(self, explanation: str, better: str | None) -> None:
        super().__init__(explanation, better)
        self.explanation = explanation
        self.better = better


class DoesNotFit(LlamacliError):
    """The model needs more memory than this machine has to give (checked before downloading).

    REMOTES: the configured remote engines (`[remotes.NAME]`) it could run on instead.
    """

    def __init__(self, model: str, reason: str, remotes: tuple[str, ...] = ()) -> None:
        super().__init__(model, reason, remotes)
        self.model = model
        self.reason = reason
        self.remotes = remotes


class ServerBusy(LlamacliError):
    """The server's queue is full (QUEUED requests wait already), or it is shutting down (0)."""

    def __init__(self, queued: int) -> None:
        super().__init__(queued)
        self.queued = queued


class EngineFailure(LlamacliError):
    """llama.cpp failed in the middle of a batched generation, or the engine is closing (REASON)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AddressNeedsKey(LlamacliError):
    """`serve` was asked to listen beyond loopback (HOST) without an API key."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host


class SchemaUnsupported(LlamacliError):
    """A JSON Schema uses KEYWORD (at WHERE, a JSON pointer) that a grammar cannot enforce; WHY says more."""

    def __init__(self, keyword: str, where: str, why: str) -> None:
        super().__init__(keyword, where, why)
        self.keyword = keyword
        self.where = where
        self.why = why


class DocumentCut(LlamacliError):
    """A structured answer ended (the token limit, the context) before its JSON document closed."""

    def __init__(self, generated: int) -> None:
        super().__init__(generated)
        self.generated = generated


# -- remote engines (llamacli.remote) ---------------------------------------------------------------


class RemoteError(LlamacliError):
    """Something went wrong talking to the remote engine at URL (exit 4 unless said otherwise)."""

    def __init__(self, url: str, *data: object) -> None:
        super().__init__(url, *data)
        self.url = url


class UnknownRemote(LlamacliError):
    """NAME is not a `[remotes.NAME]` table of config.toml (KNOWN are)."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(name, known)
        self.name = name
        self.known = tuple(known)


class RemoteUnreachable(RemoteError):
    """Nothing answers at URL: refused, no route, a name that does not resolve, a timeout (REASON)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)
        self.reason = reason


class RemoteTLS(RemoteError):
    """The TLS handshake with URL failed (a certificate that does not verify, a protocol mismatch)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)
        self.reason = reason


class RemoteAuth(RemoteError):
    """URL refused the request (STATUS 401 or 403); KEY_ENV names the variable that holds its key, if any;
    KEY_SET says whether that variable has a value. The key itself is never kept here."""

    def __init__(self, url: str, status: int, remote: str | None, key_env: str | None, key_set: bool) -> None:
        super().__init__(url, status, remote, key_env, key_set)
        self.status = status
        self.remote = remote
        self.key_env = key_env
        self.key_set = key_set


class RemoteModelMissing(RemoteError):
    """URL does not serve MODEL; AVAILABLE are those it does (or those config.toml allows, when ALLOW_LIST)."""

    def __init__(self, url: str, model: str, available: Sequence[str], allow_list: bool = False) -> None:
        super().__init__(url, model, available, allow_list)
        self.model = model
        self.available = tuple(available)
        self.allow_list = allow_list


class RemoteBusy(RemoteError):
    """URL answered STATUS (429 or 503) after TRIES tries; RETRY_AFTER is what it asked to wait, if it said."""

    def __init__(self, url: str, status: int, tries: int, retry_after: float | None) -> None:
        super().__init__(url, status, tries, retry_after)
        self.status = status
        self.tries = tries
        self.retry_after = retry_after


class RemoteRefused(RemoteError):
    """URL refused the request as invalid (a 4xx other than 401/403/404/429): its MESSAGE (exit 1)."""

    def __init__(self, url: str, status: int, message: str) -> None:
        super().__init__(url, status, message)
        self.status = status
        self.message = message


class RemoteFailed(RemoteError):
    """URL failed (a 5xx, or an error inside the stream): its MESSAGE."""

    def __init__(self, url: str, status: int | None, message: str) -> None:
        super().__init__(url, status, message)
        self.status = status
        self.message = message


class RemoteStreamCut(RemoteError):
    """The answer's stream from URL ended before it finished (RECEIVED characters had arrived): REASON."""

    def __init__(self, url: str, received: int, reason: str) -> None:
        super().__init__(url, received, reason)
        self.received = received
        self.reason = reason


class RemoteGarbled(RemoteError):
    """URL sent something that is not the OpenAI API's SSE or JSON (WHAT, with a short EXCERPT)."""

    def __init__(self, url: str, what: str, excerpt: str) -> None:
        super().__init__(url, what, excerpt)
        self.what = what
        self.excerpt = excerpt


class RemoteUnsupported(LlamacliError):
    """The engine at URL (a KIND server) cannot do WHAT (a flag and its value): refused before sending (exit 1)."""

    def __init__(self, url: str, kind: str, what: str, why: str) -> None:
        super().__init__(url, kind, what, why)
        self.url = url
        self.kind = kind
        self.what = what
        self.why = why


class AdapterMismatch(LlamacliError):
    """A LoRA adapter made for another base model than MODEL: REASON says what differs (checked before loading)."""

    def __init__(self, adapter: Path, model: str, reason: str) -> None:
        super().__init__(adapter, model, reason)
        self.adapter = adapter
        self.model = model
        self.reason = reason


class AdapterLoadError(LlamacliError):
    """A LoRA adapter file that cannot be used: missing, not a GGUF, not an adapter, or refused by llama.cpp."""

    def __init__(self, adapter: Path, reason: str) -> None:
        super().__init__(adapter, reason)
        self.adapter = adapter
        self.reason = reason


# -- quantize ------------------------------------------------------------------------------------


class QuantizeNameInUse(ImportNameInUse):
    """`quantize --name NAME` (or its default name) names a registry model (FILE None) or another model's FILE."""


class UnknownQuantType(LlamacliError):
    """`quantize --to TARGET`: not a type llamacli's quantizer makes (CHOICES are)."""

    def __init__(self, target: str, choices: list[str]) -> None:
        super().__init__(target, choices)
        self.target = target
        self.choices = choices


class RequantizeRefused(LlamacliError):
    """SOURCE is already quantized (QUANT): quantizing it again loses more quality, so it needs a flag."""

    def __init__(self, source: str, quant: str) -> None:
        super().__init__(source, quant)
        self.source = source
        self.quant = quant


class QuantizeFailed(LlamacliError):
    """llama.cpp's quantizer stopped on PATH for REASON (its first error line); nothing was kept."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason


class GuardBlocked(LlamacliError):
    """The guard model found the prompt (STAGE "prompt") or the answer ("answer") unsafe."""

    def __init__(self, stage: str, guard: str, codes: tuple[str, ...], names: str) -> None:
        super().__init__(stage, guard, codes)
        self.stage = stage
        self.guard = guard  # the guard model's name
        self.codes = codes  # S1, S10...
        self.names = names  # "S1 Violent Crimes, S10 Hate"


class GuardUnreadable(LlamacliError):
    """The guard model answered something that is not a verdict (its grammar should make that impossible)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text
