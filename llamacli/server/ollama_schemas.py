"""The ollama protocol's requests as pydantic models, validated at the door (as openai_schemas.py does).

Field names and defaults follow ollama's api/types.go: `stream` is true unless sent false, sampling lives
in `options` (unknown options such as num_ctx or num_gpu are accepted and ignored: clients send the whole
set), `keep_alive` is seconds or a Go duration. What llamacli cannot do yet (structured output, images,
tools) is refused with a 400 naming the field rather than silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llamacli.base.durations import parse_duration
from llamacli.errors import InvalidValue


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


def _nothing(value: Any, why: str) -> Any:
    """VALUE when it is empty (None, "", [], {}); else a ValueError (parse() names the field)."""
    if value:
        raise ValueError(f"not supported {why}")
    return value


class Options(_Loose):
    """`options`: the sampling and stopping ones are used; load-time ones (num_ctx, num_gpu...) are ignored."""

    temperature: Annotated[float, Field(ge=0)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=0)] | None = None
    min_p: Annotated[float, Field(ge=0, le=1)] | None = None
    seed: int | None = None
    num_predict: int | None = None  # <= 0 (ollama's -1, -2): until the model stops or the window is full
    stop: str | Annotated[list[str], Field(max_length=16)] | None = None
    repeat_penalty: Annotated[float, Field(gt=0)] | None = None
    repeat_last_n: Annotated[int, Field(ge=-1)] | None = None  # -1: the whole window

    def stops(self) -> tuple[str, ...]:
        """`stop` as a tuple."""
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class _Generating(_Loose):
    """What /api/chat and /api/generate share."""

    model: str = ""  # empty: the first model `serve` was started with
    stream: bool = True  # ollama streams unless told not to
    options: Options = Field(default_factory=Options)
    keep_alive: float | None = None  # seconds; negative: forever; 0: unload after this request
    format: Any = None  # "json" or a JSON Schema: the answer constrained to it (services/structured.py)
    think: Any = None  # accepted and ignored: no thinking models here yet

    @field_validator("keep_alive", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        if value is None:
            return None
        try:
            return parse_duration(value, "keep_alive")
        except InvalidValue as e:
            raise ValueError(e.message) from None

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, value: Any) -> Any:
        return {} if value is None else value


class ChatMessage(_Loose):
    """A message of the conversation."""

    role: Literal["system", "user", "assistant"]
    content: str = ""
    images: list[Any] | None = None
    tool_calls: list[Any] | None = None

    @field_validator("images")
    @classmethod
    def _no_images(cls, value: list[Any] | None) -> list[Any] | None:
        return _nothing(value, "(no vision models here)")

    @field_validator("tool_calls")
    @classmethod
    def _no_tool_calls(cls, value: list[Any] | None) -> list[Any] | None:
        return _nothing(value, "yet")


class ChatRequest(_Generating):
    """`POST /api/chat`; no messages: load the model (or unload it, with keep_alive 0)."""

    messages: list[ChatMessage] = Field(default_factory=list)
    tools: list[Any] | None = None

    @field_validator("tools")
    @classmethod
    def _no_tools(cls, value: list[Any] | None) -> list[Any] | None:
        return _nothing(value, "yet")


class GenerateRequest(_Generating):
    """`POST /api/generate`; an empty prompt: load the model (or unload it, with keep_alive 0)."""

    prompt: str = ""
    system: str = ""  # replaces the configured system prompt
    raw: bool = False  # the prompt as it is, no chat template
    images: list[Any] | None = None
    suffix: str = ""
    template: str = ""
    context: list[int] | None = None

    @field_validator("images")
    @classmethod
    def _no_images(cls, value: list[Any] | None) -> list[Any] | None:
        return _nothing(value, "(no vision models here)")

    @field_validator("suffix")
    @classmethod
    def _no_suffix(cls, value: str) -> str:
        return _nothing(value, "(no fill-in-the-middle)")

    @field_validator("template")
    @classmethod
    def _no_template(cls, value: str) -> str:
        return _nothing(value, "(ollama's Go templates; use raw with a prompt written out)")

    @field_validator("context")
    @classmethod
    def _no_context(cls, value: list[int] | None) -> list[int] | None:
        return _nothing(value, "(use /api/chat to carry a conversation)")

    @model_validator(mode="after")
    def _raw_alone(self) -> GenerateRequest:
        if self.raw and self.system:
            raise ValueError("raw mode does not take a system prompt")  # as ollama refuses it
        return self


class _Named(_Loose):
    """A request about one model: `model`, or `name` as older clients send it."""

    model: str = ""
    name: str = ""

    def target(self) -> str:
        """The model asked about."""
        return self.model or self.name


class ShowRequest(_Named):
    """`POST /api/show`."""


class PullRequest(_Named):
    """`POST /api/pull`: streamed unless told not to, as ollama does."""

    stream: bool = True
    insecure: bool = False  # accepted and ignored: the Hub is reached as HF_ENDPOINT says


class DeleteRequest(_Named):
    """`DELETE /api/delete`."""
