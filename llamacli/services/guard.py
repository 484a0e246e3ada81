"""The guard: a Llama Guard 3 model that screens a prompt before generation and an answer after it.

`classify` asks the guard about one text, as the user's turn (role "user") or the model's ("agent"), in
the conversation it belongs to; the guard's answer is held by a grammar to `safe` or `unsafe` and a line
of category codes, so it always parses (guard_format.py). The guard is any local model loaded the way
every model is (services/loading.py): pulled when missing, fit-checked, with the prompt cache keeping the
long shared start of its prompt (the task and the categories) between runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from llamacli.engine.chat_template import Message
from llamacli.engine.events import Finished, Stats, TextDelta
from llamacli.engine.params import GenerationParams, LoadParams
from llamacli.engine.prefix_states import common_prefix
from llamacli.errors import GuardBlocked
from llamacli.services import guard_format
from llamacli.services.guard_format import Role, Verdict

if TYPE_CHECKING:
    from llamacli.engine.events import Event
    from llamacli.services.loading import Feedback, Policy

DEFAULT_GUARD = "llama-guard3:1b"
GUARD_CTX = 4096  # the task and categories take about 300 tokens; the rest is the conversation


class GuardModel(Protocol):
    """What the guard needs of a loaded model (engine.Model): raw tokens in, a constrained answer out."""

    @property
    def n_params(self) -> int: ...

    def tokenize(self, text: str, add_special: bool = True) -> list[int]: ...

    def stream_tokens(
        self,
        prompt: Sequence[int],
        params: GenerationParams,
        boundaries: Sequence[int] = (),
        *,
        conversation: bool = False,
    ) -> Iterator[Event]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Screening:
    """One classification: the verdict, the guard's raw answer, and its timings."""

    verdict: Verdict
    text: str
    stats: Stats | None


def params(codes: Sequence[str] = guard_format.SMALL_CODES) -> GenerationParams:
    """Greedy, short, and held to a verdict by the grammar: the same text always gets the same answer."""
    return GenerationParams(
        temperature=0.0, seed=0, max_tokens=guard_format.MAX_VERDICT_TOKENS, grammar=guard_format.grammar(codes)
    )


def prompt_tokens(
    model: GuardModel, text: str, role: Role = "user", conversation: Sequence[Message] = ()
) -> tuple[list[int], list[int]]:
    """The guard's prompt about TEXT (said by ROLE after CONVERSATION) as MODEL's tokens, and where the start
    every prompt about ROLE's words shares (the task and the categories) ends, for the prompt cache."""
    codes = guard_format.codes_for(model.n_params)
    full = guard_format.prompt(guard_format.turns(text, role, conversation), codes)
    tokens = model.tokenize(full, add_special=False)  # the prompt writes its own begin-of-text token
    # Alone, the prefix's last characters may be tokenized otherwise than followed by the conversation (SmolLM2
    # reads "\n\n" as one token, "\n\n<" as three): what every prompt shares is the tokens both agree on.
    shared = common_prefix(tokens, model.tokenize(guard_format.shared_prefix(codes, role), add_special=False))
    return tokens, [shared] if 0 < shared < len(tokens) else []


def params_for(model: GuardModel) -> GenerationParams:
    """The sampling for MODEL as a guard: its grammar allows the categories it was trained on."""
    return params(guard_format.codes_for(model.n_params))


def last_turn(messages: Sequence[Message]) -> tuple[str, list[Message]]:
    """What a request asks the guard about: its last user message, and the conversation before it."""
    spoken = [m for m in messages if m.role in ("user", "assistant")]
    for index in range(len(spoken) - 1, -1, -1):
        if spoken[index].role == "user":
            return spoken[index].content, spoken[:index]
    return "", []


def classify(model: GuardModel, text: str, role: Role = "user", conversation: Sequence[Message] = ()) -> Screening:
    """The guard's verdict on TEXT, said by ROLE after CONVERSATION, against the categories it was trained on."""
    tokens, boundaries = prompt_tokens(model, text, role, conversation)
    pieces: list[str] = []
    stats = None
    for event in model.stream_tokens(tokens, params_for(model), boundaries):
        if isinstance(event, TextDelta):
            pieces.append(event.text)
        elif isinstance(event, Finished):
            stats = event.stats
    answer = "".join(pieces)
    return Screening(guard_format.parse(answer), answer, stats)


class Guard:
    """A loaded guard model and its name; a context manager that frees it."""

    def __init__(self, name: str, model: GuardModel) -> None:
        self.name = name
        self.model = model

    def check(self, text: str, role: Role = "user", conversation: Sequence[Message] = ()) -> Screening:
        """The verdict on TEXT (see `classify`)."""
        return classify(self.model, text, role, conversation)

    def require_safe(self, text: str, role: Role = "user", conversation: Sequence[Message] = ()) -> Screening:
        """The verdict on TEXT when it is safe; GuardBlocked naming the categories when it is not."""
        screening = self.check(text, role, conversation)
        blocked(self.name, "prompt" if role == "user" else "answer", screening.verdict)
        return screening

    def close(self) -> None:
        """Free the model."""
        self.model.close()

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def blocked(guard: str, stage: str, verdict: Verdict) -> None:
    """GuardBlocked for an unsafe VERDICT on the STAGE ("prompt" or "answer"); nothing for a safe one."""
    if not verdict.safe:
        raise GuardBlocked(stage, guard, verdict.categories, verdict.names())


def load_params(base: LoadParams) -> LoadParams:
    """How the guard is loaded: as the main model (threads, prompt cache), at a context of its own, and without
    the main model's --lora adapters (made for that model, not for the guard)."""
    import dataclasses

    return dataclasses.replace(base, n_ctx=GUARD_CTX, sequences=1, model_identity=None, adapters=())


def open_guard(
    reference: str | None,
    base: LoadParams,
    policy: Policy,
    feedback: Feedback,
    env: Mapping[str, str] = os.environ,
) -> Guard:
    """The guard model REFERENCE (default llama-guard3:1b), chosen, pulled and loaded as any model is, locally
    (a guard on a remote engine would send it the text to screen: not done)."""
    import dataclasses

    from llamacli.services import loading

    local_only = dataclasses.replace(policy, remote=None)
    choice = loading.choose(reference or DEFAULT_GUARD, load_params(base), local_only, feedback, env)
    with feedback.loading(choice.local.name):
        return Guard(choice.local.name, loading.load(choice))


def judge(guard: str, stage: str, answer: str) -> Verdict:
    """The verdict in a guard's ANSWER (generated elsewhere, e.g. by the server's engine) on the STAGE;
    GuardBlocked when it is unsafe, GuardUnreadable when it is no verdict."""
    verdict = guard_format.parse(answer)
    blocked(guard, stage, verdict)
    return verdict
