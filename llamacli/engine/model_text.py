"""A loaded model's text side: its chat template, tokens, and where a rendered conversation's messages end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llamacli.engine.chat_template import ChatTemplate, Message, plain_prompt
from llamacli.engine.prefix_states import message_boundaries
from llamacli.engine.vocab import Vocabulary
from llamacli.errors import ContextOverflow, TemplateError


class ModelText:
    """Tokens and prompts for `Model` (its `_ll`, `_model`, `vocab`, `template` and window)."""

    _ll: Any
    _model: Any
    vocab: Vocabulary
    template: ChatTemplate | None
    n_ctx: int
    n_ctx_train: int

    def _load_template(self) -> ChatTemplate | None:
        source = self._ll.llama_model_chat_template(self._model, None)
        if not source:
            return None
        bos = self.vocab.token_text(self._ll.llama_vocab_bos(self.vocab.handle))
        eos = self.vocab.token_text(self._ll.llama_vocab_eos(self.vocab.handle))
        return ChatTemplate(source.decode("utf-8", "replace"), bos_token=bos, eos_token=eos)

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        """Tokens of TEXT; special tokens written in the text (<|im_start|>) are parsed as such."""
        return self.vocab.tokenize(text, add_special)

    def piece(self, token: int) -> bytes:
        """The bytes of one token (special tokens render as nothing); any length, cached."""
        return self.vocab.piece(token)

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of TOKENS (special tokens omitted)."""
        return self.vocab.detokenize(tokens)

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        """Prompt tokens for a conversation, through the model's own chat template."""
        if self.template is None:
            text, add_special = plain_prompt(messages), True
        else:
            text = self.template.render(messages, add_generation_prompt)
            # Templates that write the BOS token themselves must not get a second one from the tokenizer.
            bos = self.template.bos_token
            add_special = not (bos and text.startswith(bos))
        self._refuse_certain_overflow(text)
        return self.tokenize(text, add_special=add_special)

    def _prefix_tokens(self, messages: Sequence[Message]) -> list[int] | None:
        """The first messages of a conversation as tokens, without a generation prompt; None if refused."""
        try:
            return self.render(messages, add_generation_prompt=False)
        except TemplateError:  # some templates insist on a conversation ending with the user
            return None

    def _refuse_certain_overflow(self, text: str) -> None:
        """ContextOverflow, without tokenizing, for a text too long for the window whatever its tokens.

        Tokenizing many megabytes costs seconds and memory; every token covers at most the longest piece
        in the vocabulary, which bounds the token count from below.
        """
        if len(text) <= self.n_ctx * 16:  # cheap common case: a token rarely covers more than 16 characters
            return
        size = len(text.encode("utf-8"))
        at_least = -(-size // self.vocab.max_piece_bytes())
        if at_least >= self.n_ctx:
            raise ContextOverflow(at_least, self.n_ctx, self.n_ctx_train, at_least=True)

    def boundaries(
        self, messages: Sequence[Message], prompt: Sequence[int], ends: Sequence[int] | None = None
    ) -> list[int]:
        """Where PROMPT (MESSAGES rendered) has its messages end, but the last: for `stream_tokens`.

        ENDS: only after those many messages (a chat: its system prompt and its last answer), to spare
        rendering every earlier turn again.
        """
        return message_boundaries(messages, prompt, self._prefix_tokens, ends) if len(messages) > 1 else []
