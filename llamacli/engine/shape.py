"""A loaded model's shape and metadata, read from llama.cpp (for the memory and speed estimates)."""

from __future__ import annotations

import ctypes
from typing import Any

from llamacli.engine.vocab import Vocabulary


class ModelShape:
    """Read-only facts about the weights `Model` holds (its `_ll`, `_model` and `vocab`)."""

    _ll: Any
    _model: Any
    vocab: Vocabulary

    @property
    def n_layer(self) -> int:
        """Transformer blocks."""
        return int(self._ll.llama_model_n_layer(self._model))

    @property
    def n_head_kv(self) -> int:
        """Key/value heads (grouped-query attention shares them among query heads)."""
        return int(self._ll.llama_model_n_head_kv(self._model))

    @property
    def n_head(self) -> int:
        """Query heads."""
        return int(self._ll.llama_model_n_head(self._model))

    @property
    def n_embd(self) -> int:
        """Embedding width."""
        return int(self._ll.llama_model_n_embd(self._model))

    @property
    def head_dim(self) -> int:
        """Size of one key head: the GGUF's key_length, else n_embd / n_head."""
        arch = self.metadata("general.architecture") or ""
        value = self.metadata(f"{arch}.attention.key_length")
        return int(value) if value else self.n_embd // max(1, self.n_head)

    @property
    def n_ff(self) -> int | None:
        """Feed-forward width, when the GGUF says."""
        arch = self.metadata("general.architecture") or ""
        value = self.metadata(f"{arch}.feed_forward_length")
        return int(value) if value and value.isdigit() else None

    @property
    def n_vocab(self) -> int:
        """Vocabulary size."""
        return self.vocab.size

    @property
    def n_params(self) -> int:
        """Parameters."""
        return int(self._ll.llama_model_n_params(self._model))

    def metadata(self, key: str) -> str | None:
        """A GGUF metadata value as text, or None."""
        size = 256
        while True:
            buffer = ctypes.create_string_buffer(size)
            n = self._ll.llama_model_meta_val_str(self._model, key.encode(), buffer, size)
            if n < 0:
                return None
            if n < size:
                return buffer.raw[:n].decode("utf-8", "replace")
            size = n + 1
