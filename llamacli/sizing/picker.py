"""Which model suits this machine: fit each candidate against a budget, rank, pick, and say why.

The rule: the largest model (by parameters; a mixture of experts by `Candidate.size_rank`) whose memory
need fits the budget with headroom and whose predicted generation speed meets the floor, at the best
quantization (most bits per weight) that does.
A candidate's memory is at the context it was sized at (`llamacli.sizing.fit`): its default, or a
smaller one when only that fits. A bigger model at a smaller context beats a smaller model; within one
model size, a quantization that fits at the default context beats one that fits only at a smaller one
(a prompt that no longer fits is worse than a coarser quantization). Ties (same size and bits) go to
the smaller memory need, then to registry order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llamacli.base.sizes import format_size
from llamacli.sizing.estimate import MemoryEstimate, SpeedEstimate, bits_per_weight

DEFAULT_MIN_SPEED = 8.0  # tok/s: about reading speed; slower feels broken in a chat
HEADROOM = 0.10  # keep this share of the memory budget free for the OS, the browser, the page cache
MIN_HEADROOM = 512 * 2**20  # ... and at least this much


@dataclass(frozen=True)
class Budget:
    """What the user allows: memory (bytes) and the slowest acceptable generation (tok/s)."""

    memory: int
    min_speed: float = DEFAULT_MIN_SPEED

    @property
    def usable(self) -> int:
        """Memory a model may take once headroom is kept free."""
        return max(0, self.memory - headroom(self.memory))

    def holds(self, need: int) -> bool:
        """Whether a model needing NEED bytes fits: the one memory test of `models`, `recommend`, `pull`, `run`."""
        return need <= self.usable


def headroom(memory: int) -> int:
    """What a budget of MEMORY bytes keeps free."""
    return max(int(memory * HEADROOM), MIN_HEADROOM)


def smallest_budget(need: int) -> int:
    """The least budget whose usable part holds NEED bytes, rounded up to what `format_size` shows exactly
    (a whole MiB, or a tenth of a GiB from 1 GiB on), so "at least" never rounds down."""
    least = max(need + MIN_HEADROOM, math.ceil(need / (1 - HEADROOM)))
    if least >= 2**30:
        tenths = math.ceil(least * 10 / 2**30)
        return -(-tenths * 2**30 // 10)
    return -(-least // 2**20) * 2**20


@dataclass(frozen=True)
class Candidate:
    """One model at one quantization, with its estimates."""

    name: str  # the tag that selects exactly this file, e.g. llama3.2:1b-q8_0
    parameters: int
    quant: str
    file_size: int
    memory: MemoryEstimate  # at n_ctx
    speed: SpeedEstimate
    n_ctx: int = 0  # the context memory is sized at (0: not said)
    default_ctx: int = 0  # the model's default context: above n_ctx when that was shrunk to fit
    least: int = 0  # memory at the smallest context it may shrink to, least_ctx (0: memory.total)
    least_ctx: int = 0
    active_parameters: int = 0  # a mixture of experts' parameters per token (0: dense, all of them)

    @property
    def bits(self) -> float:
        """Bits per weight: the quality order of quantizations of one model."""
        return bits_per_weight(self.file_size, self.parameters)

    @property
    def size_rank(self) -> float:
        """What "the largest model" compares: its parameters; for a mixture of experts the geometric mean of
        its total and active parameters (a common rule of thumb for its dense equivalent: Llama 4 Scout,
        108B with 17B active, ranks as a 43B, below a dense 70B)."""
        if 0 < self.active_parameters < self.parameters:
            return math.sqrt(self.parameters * self.active_parameters)
        return float(self.parameters)

    @property
    def shrunk(self) -> bool:
        """Whether it fits only at a context smaller than its default."""
        return self.n_ctx < self.default_ctx

    @property
    def least_memory(self) -> int:
        """The least memory it can run in (at its smallest context)."""
        return self.least or self.memory.total

    def at_context(self) -> str:
        """ " at a 2048-token context (its default 4096 does not fit)" when shrunk, else nothing."""
        if not self.shrunk:
            return ""
        return f" at a {self.n_ctx}-token context (its default {self.default_ctx} does not fit)"


@dataclass(frozen=True)
class Fit:
    """Whether a candidate fits the budget, and the reason in words with numbers."""

    fits: bool
    reason: str


def format_speed(tok_s: float, floor: float | None = None) -> str:
    """Tokens per second as shown: one decimal (two significant digits below 1), never rounded across FLOOR.

    7.96 against an 8 tok/s floor shows as 7.96, not as an 8.0 said to be below 8 (the decision is made on
    the exact prediction; the text must not contradict it).
    """
    digits = 1 if tok_s >= 1 else max(1, 1 - math.floor(math.log10(tok_s))) if tok_s > 0 else 1
    text = f"{tok_s:.{digits}f}"
    while floor is not None and (tok_s < floor) != (float(text) < floor) and digits < 9:
        digits += 1
        text = f"{tok_s:.{digits}f}"
    return text


def fit(candidate: Candidate, budget: Budget) -> Fit:
    """Check memory (with headroom) then speed; the reason names the binding number."""
    need = candidate.memory.total
    if not budget.holds(need):
        least = f" ({format_size(c.least)} at {c.least_ctx})" if 0 < (c := candidate).least_ctx < c.n_ctx else ""
        room = f"{format_size(budget.usable)} usable of {format_size(budget.memory)}"
        return Fit(False, f"needs {format_size(need)}{least}, {room}")
    speed = format_speed(candidate.speed.generation, budget.min_speed)
    if candidate.speed.generation < budget.min_speed:
        return Fit(False, f"{speed} tok/s is below the {budget.min_speed:g} tok/s floor")
    usable = format_size(budget.usable)
    return Fit(True, f"needs {format_size(need)} of {usable} usable{candidate.at_context()}, {speed} tok/s")


def rank(candidates: Sequence[Candidate], budget: Budget) -> list[Candidate]:
    """The candidates that fit, best first: largest model, then most bits, then least memory."""
    fitting = [c for c in candidates if fit(c, budget).fits]
    order = {id(c): i for i, c in enumerate(candidates)}
    return sorted(fitting, key=lambda c: (-c.size_rank, c.shrunk, -round(c.bits, 2), c.memory.total, order[id(c)]))


def pick(candidates: Sequence[Candidate], budget: Budget) -> Candidate | None:
    """The best candidate that fits, or None."""
    ranked = rank(candidates, budget)
    return ranked[0] if ranked else None


def best_local(
    candidates: Sequence[Candidate], budget: Budget, is_local: Callable[[Candidate], bool]
) -> Candidate | None:
    """The best candidate that fits and is already on this machine (IS_LOCAL decides), or None."""
    for candidate in rank(candidates, budget):
        if is_local(candidate):
            return candidate
    return None


def explain(chosen: Candidate | None, candidates: Sequence[Candidate], budget: Budget) -> str:
    """One sentence saying why CHOSEN (or why nothing)."""
    if chosen is None:
        if not candidates:
            return "No model is known to choose from."
        smallest = min(candidates, key=lambda c: c.least_memory)
        if not budget.holds(smallest.least_memory):
            return too_small(smallest, budget)
        fastest = max((c for c in candidates if budget.holds(c.memory.total)), key=lambda c: c.speed.generation)
        speed = format_speed(fastest.speed.generation, budget.min_speed)
        return (
            f"Nothing fits: the fastest that fits in memory is too slow "
            f"({fastest.name}: {speed} tok/s, floor {budget.min_speed:g} tok/s)."
        )
    bigger = [c for c in candidates if c.size_rank > chosen.size_rank]
    why_not_bigger = ""
    if bigger:
        nearest = min(bigger, key=lambda c: (c.size_rank, c.memory.total))
        why_not_bigger = f"; the next size up, {nearest.name}, {fit(nearest, budget).reason}"
    floor = f"floor {budget.min_speed:g}" if budget.min_speed > 0 else "no speed floor"
    return (
        f"{chosen.name} is the largest model that fits{chosen.at_context()}: it needs "
        f"{format_size(chosen.memory.total)} of "
        f"{format_size(budget.usable)} usable and should generate "
        f"{format_speed(chosen.speed.generation, budget.min_speed)} tok/s ({floor}){why_not_bigger}."
    )


def too_small(smallest: Candidate, budget: Budget) -> str:
    """Why nothing fits when the budget is below the smallest model, in plain words with the way out."""
    need, least = format_size(smallest.least_memory), format_size(smallest_budget(smallest.least_memory))
    if 0 < smallest.least_ctx < smallest.n_ctx:
        need += f" (at a {smallest.least_ctx}-token context)"
    if budget.usable == 0:
        kept = f"a budget of {format_size(budget.memory)} is all headroom (at least {format_size(MIN_HEADROOM)} "
        return (
            f"Nothing fits: {kept}is kept free), so no model can run in it; the smallest, {smallest.name}, "
            f"needs {need}, which takes a budget of at least {least}."
        )
    return (
        f"Nothing fits: the smallest, {smallest.name}, needs {need} but {format_size(budget.usable)} "
        f"of {format_size(budget.memory)} is usable; it takes a budget of at least {least}."
    )
