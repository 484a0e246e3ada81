"""llama.cpp's own sampler chain for a set of GenerationParams (sampling in C, not in Python)."""

from __future__ import annotations

from typing import Any

from llamacli.engine.params import RANDOM_SEED, GenerationParams
from llamacli.engine.vocab import Vocabulary


def make_sampler(ll: Any, vocab: Vocabulary, params: GenerationParams) -> Any:
    """A new sampler chain (the caller frees it with llama_sampler_free)."""
    chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
    add = ll.llama_sampler_chain_add
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
