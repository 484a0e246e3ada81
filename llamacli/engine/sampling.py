"""Choosing the next token: llama.cpp's own sampler chain (sampling in C, not in Python), and a grammar
that constrains it checked the fast way.

A grammar sampler in front of the chain checks every token of the vocabulary against the grammar at every
step (128K tokens for Llama 3): the slowness users of llama-cpp-python's `response_format` report
(llama.cpp issue #7554). llama.cpp's own common sampler does better, and so does `Sampler`: sample with the
plain chain, check only the sampled token against the grammar, and only when the grammar rejects it sample
again with the grammar applied to the whole vocabulary. The answer is the same one a grammar-first chain
gives whenever the first choice was allowed, and a grammar-allowed token always (with a repeat penalty, whose
history must hold the answer's tokens only, the grammar-first chain samples every token). A greedy resample first
tries the likeliest TOP_CANDIDATES tokens only (the best one the grammar allows among them is the best it
allows at all), so a full pass over 128K tokens (about 25 ms) is paid only when none of them fits.
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Callable
from typing import Any

from llamacli.engine.params import RANDOM_SEED, GenerationParams
from llamacli.engine.vocab import Vocabulary
from llamacli.errors import SchemaUnsupported

TOP_CANDIDATES = 64  # a greedy resample looks at these first (the likeliest raw tokens)


def make_sampler(ll: Any, vocab: Vocabulary, params: GenerationParams, grammar: Any = None) -> Any:
    """A new sampler chain, GRAMMAR (a sampler the chain then owns) first when given; freed by the caller."""
    chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
    add = ll.llama_sampler_chain_add
    if grammar is not None:
        add(chain, grammar)
    if params.ignore_eos:
        banned = vocab.end_of_generation_tokens()
        biases = (ll.llama_logit_bias * len(banned))(*[ll.llama_logit_bias(t, float("-inf")) for t in banned])
        add(chain, ll.llama_sampler_init_logit_bias(vocab.size, len(banned), biases))
    if params.repeat_penalty != 1.0:
        add(chain, ll.llama_sampler_init_penalties(vocab.size, params.repeat_last_n, params.repeat_penalty, 0.0, 0.0))
    if params.temperature <= 0:
        add(chain, ll.llama_sampler_init_greedy())
        return chain
    if params.top_k > 0:
        add(chain, ll.llama_sampler_init_top_k(params.top_k))
    if params.top_p < 1.0:
        add(chain, ll.llama_sampler_init_top_p(params.top_p, 1))
    if params.min_p > 0.0:
        add(chain, ll.llama_sampler_init_min_p(params.min_p, 1))
    add(chain, ll.llama_sampler_init_temp(params.temperature))
    seed = ll.LLAMA_DEFAULT_SEED if params.seed in (None, RANDOM_SEED) else params.seed & 0xFFFFFFFF
    add(chain, ll.llama_sampler_init_dist(seed))
    return chain


class Sampler:
    """Samples a token from a decoded output (`sample(ctx, index)`); `free()` when done."""

    sample: Callable[[Any, int], int]

    def __init__(self, ll: Any, vocab: Vocabulary, params: GenerationParams) -> None:
        self._ll = ll
        self._chain = make_sampler(ll, vocab, params)
        self._full: Any = None
        self.rejected = 0  # tokens the grammar refused, sampled again under it (for benchmarks)
        if params.grammar is None:
            self.sample = functools.partial(ll.llama_sampler_sample, self._chain)  # the hot path: no Python frame
            return
        grammar = ll.llama_sampler_init_grammar(vocab.handle, params.grammar.encode(), b"root")
        if not grammar:
            ll.llama_sampler_free(self._chain)
            raise SchemaUnsupported("grammar", "#", "llama.cpp could not parse the grammar made from the schema")
        self._grammar = grammar
        self._full = make_sampler(ll, vocab, params, grammar)  # owns the grammar sampler from here on
        if params.repeat_penalty != 1.0:
            # A penalty remembers every token its chain accepts: checking the plain chain's choice would record
            # tokens the grammar then refuses, and the resampling chain would miss those it did not choose. So
            # with a penalty every token comes from the grammar-first chain, whose history is the answer's.
            self.sample = functools.partial(ll.llama_sampler_sample, self._full)
            return
        self._one = (ll.llama_token_data * 1)()
        self._candidates = ll.llama_token_data_array(self._one, 1, -1, False)
        self._candidates_p = ctypes.byref(self._candidates)
        self._n_vocab = vocab.size
        # Greedy with no penalty or bias: the best allowed token can be found among the raw likeliest ones.
        self._greedy = params.temperature <= 0 and params.repeat_penalty == 1.0 and not params.ignore_eos
        self._greedy = self._greedy and vocab.size > TOP_CANDIDATES
        self._top = (ll.llama_token_data * TOP_CANDIDATES)()
        self._top_array = ll.llama_token_data_array(self._top, TOP_CANDIDATES, -1, False)
        self.sample = self._constrained

    def _constrained(self, ctx: Any, index: int) -> int:
        ll = self._ll
        token = int(ll.llama_sampler_sample(self._chain, ctx, index))
        one = self._one[0]
        one.id, one.logit, one.p = token, 1.0, 0.0
        self._candidates.size, self._candidates.selected, self._candidates.sorted = 1, -1, False
        ll.llama_sampler_apply(self._grammar, self._candidates_p)
        if math.isfinite(one.logit):
            ll.llama_sampler_accept(self._grammar, token)
            return token
        self.rejected += 1
        if self._greedy and (best := self._best_allowed_among_top(ctx, index)) is not None:
            ll.llama_sampler_accept(self._grammar, best)
            return best
        return int(ll.llama_sampler_sample(self._full, ctx, index))  # the grammar over every token; accepts it

    def _best_allowed_among_top(self, ctx: Any, index: int) -> int | None:
        """The likeliest token the grammar allows among the TOP_CANDIDATES likeliest (None: none of them)."""
        import numpy as np

        ll = self._ll
        logits = np.ctypeslib.as_array(ll.llama_get_logits_ith(ctx, index), shape=(self._n_vocab,))
        top = np.argpartition(logits, -TOP_CANDIDATES)[-TOP_CANDIDATES:]
        top = top[np.lexsort((top, -logits[top]))]  # by logit, then by id (greedy's choice among equals)
        for slot, token in zip(self._top, top.tolist(), strict=True):
            slot.id, slot.logit, slot.p = token, float(logits[token]), 0.0
        array = self._top_array
        array.size, array.selected, array.sorted = TOP_CANDIDATES, -1, False
        ll.llama_sampler_apply(self._grammar, ctypes.byref(array))
        for slot in self._top:
            if math.isfinite(slot.logit):
                return int(slot.id)
        return None

    def free(self) -> None:
        """Free the native samplers (idempotent)."""
        for chain in (self._chain, self._full):
            if chain is not None:
                self._ll.llama_sampler_free(chain)
        self._chain = self._full = None
