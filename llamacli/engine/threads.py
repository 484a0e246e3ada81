"""How many threads generate each token: every core when the cores are free, fewer when other work has them.

llama.cpp's OpenMP workers spin at each of the hundreds of barriers in a token's graph. When another
process holds a core, a worker waits in the run queue while the others spin on the cores it needs:
measured on 2 cores with one kept busy, 2 threads generated 24 tok/s where 1 thread made 42; with both
busy, 0.9 against 13, and single tokens took seconds. Letting the workers sleep instead
(OMP_WAIT_POLICY=PASSIVE) cures that but costs 13-50% of an idle machine's speed, on every token; timing
the candidates costs whole seconds whenever the collapsed one is timed. So the workers keep spinning and
the governor reads what the other processes use (the machine's CPU time less this process's, from
/proc/stat, a few microseconds) as generation starts and every quarter second of it, and generates with
the cores they leave free: a core counts as taken once others use more than a third of it, and as free
again once they use less than a fifth.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

SAMPLE_EVERY = 0.25  # seconds between readings of the CPU accounting while generating
TAKEN = 0.65  # floor(others + TAKEN) cores are taken: a core is lost once others use 0.35 of it
TAKEN_TO_RETURN = 0.8  # and won back only once they use less than 0.2 of it (no flapping)


def wait_policy() -> str:
    """How idle OpenMP workers wait, as this process's environment set it for libgomp."""
    policy = os.environ.get("OMP_WAIT_POLICY", "").lower()
    spins = os.environ.get("GOMP_SPINCOUNT")
    if policy == "passive" or spins == "0":
        return "workers sleep when idle (OMP_WAIT_POLICY)"
    if spins:
        return f"workers spin {spins} times, then sleep (GOMP_SPINCOUNT)"
    return "workers spin briefly, then sleep (libgomp's default)"


@dataclass(frozen=True)
class CpuSample:
    """A moment's CPU accounting: wall clock, busy seconds of the whole machine, of this process."""

    wall: float
    machine_busy: float
    own: float

    @classmethod
    def now(cls) -> CpuSample:
        """Read the counters (a few microseconds: /proc/stat and this process's times).

        Busy is user, system, interrupts and steal (a hypervisor that takes the core is other work too).
        Niced work is left out, unless this process is niced itself: the scheduler gives a low-priority job
        so little of a core that our workers hardly ever wait for it.
        """
        total = psutil.cpu_times()
        busy = total.user + total.system + getattr(total, "irq", 0.0) + getattr(total, "softirq", 0.0)
        busy += getattr(total, "steal", 0.0)
        if os.nice(0) > 0:
            busy += getattr(total, "nice", 0.0)
        own = psutil.Process().cpu_times()
        return cls(time.monotonic(), busy, own.user + own.system)

    def others_since(self, earlier: CpuSample) -> float:
        """Cores other processes kept busy on average between EARLIER and this sample."""
        wall = self.wall - earlier.wall
        if wall <= 0.02:  # the counters tick at 100 Hz: too short to say anything
            return 0.0
        return max(0.0, (self.machine_busy - earlier.machine_busy) - (self.own - earlier.own)) / wall


class ThreadGovernor:
    """Chooses the thread count from what other processes use (module docstring); APPLY sets it in llama.cpp."""

    def __init__(
        self,
        most: int,
        apply: Callable[[int], None],
        clock: Callable[[], float] = time.perf_counter,
        sample: Callable[[], CpuSample] = CpuSample.now,
    ) -> None:
        self.most = self.current = max(1, most)
        self._apply = apply
        self._clock, self._read_cpu = clock, sample
        self._sample = sample()
        self._next_sample = 0.0
        self.changes = 0  # how many times the count changed (for -v and tests)
        self.others = 0.0  # cores other processes used at the last reading

    def begin(self) -> None:
        """A generation starts: read what others used since the last reading (model load, prompt, typing)."""
        if self.most > 1:
            self._reread()

    def tick(self) -> None:
        """One more token was generated (called after its decode): read the accounting every SAMPLE_EVERY."""
        if self.most > 1 and self._clock() >= self._next_sample:
            self._reread()

    def _reread(self) -> None:
        now = self._read_cpu()
        if now.wall - self._sample.wall < 0.05:  # too soon to tell: keep counting from the older reading
            self._next_sample = self._clock() + SAMPLE_EVERY
            return
        self.others = now.others_since(self._sample)
        self._sample = now
        self._next_sample = self._clock() + SAMPLE_EVERY
        self._set(self.wanted(self.others))

    def wanted(self, others: float) -> int:
        """The thread count for OTHERS cores of other work, from the current one (hysteresis)."""
        wanted = max(1, self.most - math.floor(others + TAKEN))
        if wanted > self.current:
            wanted = max(self.current, self.most - math.floor(others + TAKEN_TO_RETURN))
        return wanted

    def _set(self, n: int) -> None:
        if n != self.current:
            self._apply(n)
            self.current = n
            self.changes += 1
