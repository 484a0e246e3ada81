"""Loading and running a model in llama.cpp, and what it generates (templates, windows, documents)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from llamacli.errors.base import LlamacliError


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
