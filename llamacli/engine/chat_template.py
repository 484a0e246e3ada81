"""Render a model's chat template (Jinja2, from GGUF metadata) in a sandbox.

The template is untrusted input from whoever published the GGUF (CVE-2024-34359 was exactly this):
it is rendered in Jinja2's ImmutableSandboxedEnvironment, and any escape attempt or failure becomes
a TemplateError with the reason, never a traceback and never a side effect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from llamacli.errors import TemplateError


@dataclass(frozen=True)
class Message:
    """One turn of a conversation."""

    role: str  # "system" | "user" | "assistant"
    content: str


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    # Hugging Face's templates expect non-ASCII kept as-is (Jinja's own tojson escapes it for HTML).
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class ChatTemplate:
    """A compiled chat template; compile once per model, render per turn."""

    def __init__(self, source: str, bos_token: str = "", eos_token: str = "") -> None:
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
        )
        env.filters["tojson"] = _tojson
        env.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now)
        try:
            self._template = env.from_string(source)
        except jinja2.exceptions.TemplateError as e:
            raise TemplateError(f"syntax error: {e}") from e
        self.bos_token = bos_token
        self.eos_token = eos_token

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """The prompt text for MESSAGES, ending where the assistant's answer begins."""
        try:
            return self._template.render(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except SecurityError as e:
            raise TemplateError(f"it tried to reach outside its sandbox ({e})") from e
        except jinja2.exceptions.TemplateError as e:
            raise TemplateError(str(e) or type(e).__name__) from e
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError) as e:
            raise TemplateError(f"{type(e).__name__}: {e}") from e


def plain_prompt(messages: Sequence[Message]) -> str:
    """Prompt for a model without a chat template (a base model): the turns as plain text."""
    return "\n\n".join(m.content for m in messages if m.content)
