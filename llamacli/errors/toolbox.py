"""The Llama toolbox: LoRA adapters, `quantize`, and the guard."""

from __future__ import annotations

from pathlib import Path

from llamacli.errors.base import LlamacliError
from llamacli.errors.models import ImportNameInUse


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
