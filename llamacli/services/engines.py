"""What `run` and `chat` need of a model, local (engine.Model) or remote (remote.RemoteModel): two Protocols
both satisfy, so the front ends and the chat session never ask which one they have."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol

from llamacli.base.lora import Lora
from llamacli.engine.chat_template import Message
from llamacli.engine.events import Event
from llamacli.engine.params import GenerationParams


class Located(Protocol):
    """Which model this is: its NAME as shown and recorded, its file (local) or its server's URL (remote)."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> Path | None: ...

    @property
    def url(self) -> str | None: ...


class ChatEngine(Protocol):
    """A model that answers conversations: `Model` here, `RemoteModel` on a server."""

    n_ctx: int
    n_ctx_train: int
    n_threads: int
    adapters: tuple[Lora, ...]  # the LoRA adapters applied (none for a remote model)

    def close(self) -> None: ...

    def __enter__(self) -> ChatEngine: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def runtime_summary(self) -> str: ...

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Event]: ...

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> Sequence[int]: ...

    def boundaries(
        self, messages: Sequence[Message], prompt: Sequence[int], ends: Sequence[int] | None = None
    ) -> list[int]: ...

    def stream_tokens(
        self,
        prompt: Sequence[int],
        params: GenerationParams,
        boundaries: Sequence[int] = (),
        *,
        conversation: bool = False,
    ) -> Iterator[Event]: ...

    def keep_conversation(self, messages: Sequence[Message]) -> int: ...
