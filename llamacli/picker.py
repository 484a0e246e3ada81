"""Which model suits this machine: fit each candidate against a budget, rank, pick, and say why.

The rule: the largest model (by parameters) whose memory need fits the budget with headroom and whose
predicted generation speed meets the floor, at the best quantization (most bits per weight) that does.
Ties (same size and bits) go to the smaller memory need, then to registry order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llamacli.estimate import MemoryEstimate, SpeedEstimate, bits_per_weight

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
        return max(0, self.memory - max(int(self.memory * HEADROOM), MIN_HEADROOM))


@dataclass(frozen=True)
class Candidate:
    """One model at one quantization, with its estimates."""

    name: str  # the tag that selects exactly this file, e.g. llama3.2:1b-q8_0
    parameters: int
    quant: str
    file_size: int
    memory: MemoryEstimate
    speed: SpeedEstimate

    @property
    def bits(self) -> float:
        """Bits per weight: the quality order of quantizations of one model."""
        return bits_per_weight(self.file_size, self.parameters)


@dataclass(frozen=True)
class Fit:
    """Whether a candidate fits the budget, and the reason in words with numbers."""

    fits: bool
    reason: str


def gib(n: float) -> str:
    """Bytes as GiB with one decimal (or MiB below 1 GiB), as people read memory sizes."""
    return f"{n / 2**30:.1f} GiB" if abs(n) >= 2**30 else f"{n / 2**20:.0f} MiB"


def fit(candidate: Candidate, budget: Budget) -> Fit:
    """Check memory (with headroom) then speed; the reason names the binding number."""
    need = candidate.memory.total
    if need > budget.usable:
        return Fit(False, f"needs {gib(need)}, {gib(budget.usable)} usable of {gib(budget.memory)}")
    if candidate.speed.generation < budget.min_speed:
        return Fit(False, f"{candidate.speed.generation:.1f} tok/s is below the {budget.min_speed:g} tok/s floor")
    return Fit(True, f"needs {gib(need)} of {gib(budget.usable)} usable, {candidate.speed.generation:.1f} tok/s")


def rank(candidates: Sequence[Candidate], budget: Budget) -> list[Candidate]:
    """The candidates that fit, best first: largest model, then most bits, then least memory."""
    fitting = [c for c in candidates if fit(c, budget).fits]
    order = {id(c): i for i, c in enumerate(candidates)}
    return sorted(fitting, key=lambda c: (-c.parameters, -round(c.bits, 2), c.memory.total, order[id(c)]))


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
        smallest = min(candidates, key=lambda c: c.memory.total)
        fastest = max(candidates, key=lambda c: c.speed.generation)
        if smallest.memory.total > budget.usable:
            return (
                f"Nothing fits: the smallest, {smallest.name}, needs {gib(smallest.memory.total)} "
                f"but {gib(budget.usable)} is usable."
            )
        return (
            f"Nothing fits: the fastest that fits in memory is too slow "
            f"({fastest.name}: {fastest.speed.generation:.1f} tok/s, floor {budget.min_speed:g} tok/s)."
        )
    bigger = [c for c in candidates if c.parameters > chosen.parameters]
    why_not_bigger = ""
    if bigger:
        nearest = min(bigger, key=lambda c: (c.parameters, c.memory.total))
        why_not_bigger = f"; the next size up, {nearest.name}, {fit(nearest, budget).reason}"
    return (
        f"{chosen.name} is the largest model that fits: it needs {gib(chosen.memory.total)} of "
        f"{gib(budget.usable)} usable and should generate {chosen.speed.generation:.0f} tok/s "
        f"(floor {budget.min_speed:g}){why_not_bigger}."
    )
