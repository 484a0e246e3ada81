"""A model served by a remote engine, offering what `run` and `chat` use of a local `Model`.

Context accounting is an estimate (a remote has no tokenizer we can call cheaply): a prompt "renders" to a
sequence whose length estimates its tokens and which carries the messages, so chat's trimming works on it
unchanged, and the server's own limit is the last word (its error, if the estimate was short).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import overload

from llamacli.base.lora import Lora
from llamacli.engine.chat_template import Message
from llamacli.engine.events import Completion, Event, collect
from llamacli.engine.params import GenerationParams
from llamacli.errors import ContextOverflow
from llamacli.remote import client
from llamacli.remote.endpoint import Endpoint
from llamacli.remote.probe import Capabilities, request_extras

CHARS_PER_TOKEN = 3.5  # English text in Llama-family tokenizers is ~4 characters a token: err on the long side
PER_MESSAGE = 4  # a chat template's tokens around each message
UNKNOWN_CTX = 131_072  # a server that does not say: its own error is the limit


@dataclass(frozen=True)
class RemoteTarget:
    """Where a remote model runs: NAME as shown and recorded (`gpu/llama3.3:70b`), the MODEL id the server
    knows, and its endpoint. `path` is None: there is no file here."""

    name: str
    model: str
    endpoint: Endpoint
    path: Path | None = None

    @property
    def url(self) -> str | None:
        """The remote's base URL."""
        return self.endpoint.root


class RemotePrompt(Sequence[int]):
    """A conversation as a remote prompt: its length estimates its tokens; it carries the messages."""

    def __init__(self, messages: Sequence[Message]) -> None:
        self.messages = list(messages)
        chars = sum(len(m.content) for m in self.messages)
        self._length = int(chars / CHARS_PER_TOKEN) + PER_MESSAGE * (len(self.messages) + 1)

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[int]: ...
    def __getitem__(self, index: int | slice) -> int | Sequence[int]:
        raise TypeError("a remote prompt has no tokens here, only an estimate of their number")


class RemoteModel:
    """TARGET's model on its server, with the server's CAPS; a context manager like `Model` (nothing to free)."""

    def __init__(self, target: RemoteTarget, caps: Capabilities, n_ctx: int | None = None) -> None:
        self.target = target
        self.caps = caps
        served = caps.context_of(target.model)
        self.n_ctx = n_ctx or served or UNKNOWN_CTX
        self.n_ctx_train = served or self.n_ctx
        self.n_threads = 0  # the server's business
        self.load_seconds = 0.0
        self.adapters: tuple[Lora, ...] = ()  # the server's business too (serve MODEL --lora FILE)

    def close(self) -> None:
        """Nothing is held between requests (each stream closes its own connection)."""

    def __enter__(self) -> RemoteModel:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def runtime_summary(self) -> str:
        """One line on where this runs."""
        ctx = f"context {self.n_ctx} tokens" if self.n_ctx != UNKNOWN_CTX else "context: the server's"
        return f"remote: {self.target.model} on {self.caps.describe()} at {self.target.endpoint.root} · {ctx}"

    # -- what chat's context accounting uses ------------------------------------------------------

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> RemotePrompt:
        """MESSAGES as a remote prompt (an estimate of its length; the messages are what is sent)."""
        return RemotePrompt(messages)

    def boundaries(
        self, messages: Sequence[Message], prompt: Sequence[int], ends: Sequence[int] | None = None
    ) -> list[int]:
        """No prompt states here: the server keeps its own cache."""
        return []

    def keep_conversation(self, messages: Sequence[Message]) -> int:
        """Nothing to keep here: the server's prompt cache is its own."""
        return 0

    # -- generation -------------------------------------------------------------------------------

    def generate(self, messages: Sequence[Message], params: GenerationParams) -> Completion:
        """The whole answer at once (built on `stream`)."""
        return collect(self.stream(messages, params))

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Event]:
        """The answer's events; what the server cannot take is refused before anything is sent."""
        extras = request_extras(self.target.endpoint, self.caps, params)
        request = client.body(self.target.model, messages, params, extras)
        return client.stream_chat(self.target.endpoint, self.target.model, request)

    def stream_tokens(
        self,
        prompt: Sequence[int],
        params: GenerationParams,
        boundaries: Sequence[int] = (),
        *,
        conversation: bool = False,
    ) -> Iterator[Event]:
        """Chat's call: PROMPT is what `render` gave (its messages are sent)."""
        if not isinstance(prompt, RemotePrompt):
            raise TypeError("a remote model streams the prompts it rendered")
        if len(prompt) >= self.n_ctx:
            raise ContextOverflow(len(prompt), self.n_ctx, self.n_ctx_train)
        return self.stream(prompt.messages, params)
