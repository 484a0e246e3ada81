"""The OpenAI protocol's requests as pydantic models, validated at the door (as vLLM's entrypoint does).

Fields a client may send that llamacli does not use are accepted and ignored (clients send many), but a
field it knows with a wrong type or an out-of-range value is a 400 naming that field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Request(BaseModel):
    model_config = ConfigDict(extra="allow")


class TextPart(BaseModel):
    """One part of a message's content list; only text parts are understood."""

    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """A message of the conversation."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        """The content as one string (text parts joined)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    """`stream_options`."""

    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


Stop = str | list[str] | None


class _Sampling(_Request):
    """What the chat and completions requests share."""

    model: str
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    seed: int | None = None
    stop: Stop = None
    n: int = 1
    ignore_eos: bool = False  # llama.cpp server's extension: generate max_tokens whatever (benchmarks)

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int) -> int:
        if n != 1:
            raise ValueError("only n = 1 is supported")
        return n

    @field_validator("stop")
    @classmethod
    def _few_stops(cls, stop: Stop) -> Stop:
        if isinstance(stop, list) and len(stop) > 16:
            raise ValueError("at most 16 stop sequences")
        return stop

    def stops(self) -> tuple[str, ...]:
        """`stop` as a tuple."""
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def include_usage(self) -> bool:
        """Whether a streamed answer ends with a usage chunk."""
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_Sampling):
    """`POST /v1/chat/completions`."""

    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    response_format: dict[str, Any] | None = None

    @field_validator("response_format")
    @classmethod
    def _text_only(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and value.get("type", "text") != "text":
            raise ValueError(f"response_format {value.get('type')!r} is not supported yet; only 'text'")
        return value

    def token_limit(self) -> int | None:
        """max_completion_tokens, else max_tokens (the older name)."""
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Sampling):
    """`POST /v1/completions` (a single prompt string)."""

    prompt: str
    max_tokens: Annotated[int, Field(ge=1)] | None = 16  # OpenAI's default for completions
    echo: bool = False

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, echo: bool) -> bool:
        if echo:
            raise ValueError("echo is not supported")
        return echo
