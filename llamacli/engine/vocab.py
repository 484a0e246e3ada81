"""A model's vocabulary on llama.cpp's low-level API: tokenizing, token pieces, end-of-generation tokens."""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any


class Vocabulary:
    """Tokens to text and back for one loaded model (valid while the model is)."""

    def __init__(self, ll: Any, vocab: Any) -> None:
        self._ll = ll
        self.handle = vocab
        self._pieces: dict[int, bytes] = {}
        self._piece_buffer = ctypes.create_string_buffer(256)
        self._eog_tokens: list[int] | None = None
        self._max_piece_bytes: int | None = None

    @property
    def size(self) -> int:
        """Number of tokens."""
        return int(self._ll.llama_vocab_n_tokens(self.handle))

    def token_text(self, token: int) -> str:
        """A token's text as the vocabulary spells it (special tokens included); empty for none (-1)."""
        if token < 0:
            return ""
        raw = self._ll.llama_vocab_get_text(self.handle, token)
        return (raw or b"").decode("utf-8", "replace")

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        """Tokens of TEXT; special tokens written in the text (<|im_start|>) are parsed as such."""
        data = text.encode("utf-8")
        capacity = len(data) + 8
        while True:
            tokens = (self._ll.llama_token * capacity)()
            n = self._ll.llama_tokenize(self.handle, data, len(data), tokens, capacity, add_special, True)
            if n >= 0:
                return list(tokens[:n])
            capacity = -n

    def piece(self, token: int) -> bytes:
        """The bytes of one token (special tokens render as nothing); any length, cached."""
        cached = self._pieces.get(token)
        if cached is not None:
            return cached
        buffer = self._piece_buffer
        n = self._ll.llama_token_to_piece(self.handle, token, buffer, len(buffer), 0, False)
        if n < 0:  # longer than the buffer: grow it (llama-cpp-python's fixed 32 bytes truncates here)
            buffer = self._piece_buffer = ctypes.create_string_buffer(-n)
            n = self._ll.llama_token_to_piece(self.handle, token, buffer, len(buffer), 0, False)
        piece = buffer.raw[:n]
        self._pieces[token] = piece
        return piece

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of TOKENS (special tokens omitted)."""
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", "replace")

    def max_piece_bytes(self) -> int:
        """The longest piece in the vocabulary, in bytes (a scan of the whole vocabulary: once)."""
        if self._max_piece_bytes is None:
            self._max_piece_bytes = max(1, max(len(self.piece(t)) for t in range(self.size)))
        return self._max_piece_bytes

    def end_of_generation_tokens(self) -> list[int]:
        """Every token that ends a turn (a scan of the whole vocabulary: once)."""
        if self._eog_tokens is None:
            ll, vocab = self._ll, self.handle
            self._eog_tokens = [t for t in range(self.size) if ll.llama_vocab_is_eog(vocab, t)]
        return self._eog_tokens
