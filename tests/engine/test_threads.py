"""The thread governor: every core on an idle machine, the free ones while other processes hold some."""

from __future__ import annotations

import pytest

from llamacli.engine.threads import SAMPLE_EVERY, CpuSample, ThreadGovernor


class Machine:
    """A simulated CPU: what other processes keep busy, and a clock that tokens advance."""

    def __init__(self, cores: int, others: float = 0.0) -> None:
        self.others = others  # cores other processes keep busy
        self.now = 0.0
        self.busy = 0.0
        self.threads_set: list[int] = []
        self.governor = ThreadGovernor(cores, self.threads_set.append, clock=self.clock, sample=self.sample)

    def clock(self) -> float:
        return self.now

    def sample(self) -> CpuSample:
        return CpuSample(self.now, self.busy, 0.0)

    def idle(self, seconds: float) -> None:
        self.now += seconds
        self.busy += self.others * seconds

    def generate(self, tokens: int, per_token: float = 0.01, others_from: dict[int, float] | None = None) -> list[int]:
        """Run the governor over TOKENS tokens (other work changes at the tokens OTHERS_FROM names)."""
        used = []
        self.governor.begin()
        for i in range(tokens):
            if others_from and i in others_from:
                self.others = others_from[i]
            used.append(self.governor.current)
            self.idle(per_token)
            self.governor.tick()
        return used


def test_an_idle_machine_keeps_every_core() -> None:
    machine = Machine(2)
    machine.idle(0.5)  # loading and reading the prompt: nobody else on the CPU
    assert machine.generate(300) == [2] * 300
    assert machine.threads_set == [] and machine.governor.changes == 0


@pytest.mark.parametrize(
    ("cores", "others", "threads"), [(2, 1.0, 1), (2, 2.0, 1), (2, 0.4, 1), (8, 1.0, 7), (8, 3.5, 4)]
)
def test_other_work_at_the_start_leaves_it_the_free_cores(cores: int, others: float, threads: int) -> None:
    machine = Machine(cores, others)
    machine.idle(0.5)
    assert machine.generate(50) == [threads] * 50


def test_a_little_other_work_changes_nothing() -> None:
    machine = Machine(2, others=0.25)  # a shell, an editor
    machine.idle(0.5)
    assert machine.generate(200) == [2] * 200


def test_other_work_starting_mid_answer_is_seen_within_a_reading() -> None:
    machine = Machine(2)
    machine.idle(0.5)
    used = machine.generate(200, others_from={50: 1.0})  # a compiler starts on the other core
    assert used[:50] == [2] * 50
    first_one = used.index(1)
    assert 50 < first_one <= 50 + 2 * SAMPLE_EVERY / 0.01
    assert set(used[first_one:]) == {1}


def test_when_the_other_work_ends_it_takes_the_cores_back_without_flapping() -> None:
    machine = Machine(2, others=1.0)
    machine.idle(0.5)
    used = machine.generate(300, others_from={100: 0.0})
    assert used[0] == 1 and used[-1] == 2
    assert machine.governor.changes == 2  # down once, up once


def test_hysteresis() -> None:
    governor = Machine(2).governor
    assert governor.wanted(0.3) == 2 and governor.wanted(0.4) == 1
    governor.current = 1
    assert governor.wanted(0.3) == 1  # not back up while others still use a fifth of a core or more
    assert governor.wanted(0.1) == 2


def test_one_core_never_changes() -> None:
    machine = Machine(1, others=1.0)
    machine.idle(0.5)
    assert machine.generate(100) == [1] * 100


@pytest.mark.parametrize("wall", [0.0, 0.01])
def test_too_short_a_window_says_nothing_about_other_work(wall: float) -> None:
    assert CpuSample(wall, 5.0, 0.0).others_since(CpuSample(0.0, 0.0, 0.0)) == 0.0


def test_other_work_is_what_the_machine_did_beyond_this_process() -> None:
    assert CpuSample(1.0, 1.8, 1.0).others_since(CpuSample(0.0, 0.0, 0.0)) == pytest.approx(0.8)


def test_real_counters_see_a_busy_process() -> None:
    """The real /proc accounting: a busy loop in another process shows up as about a core of other work."""
    import subprocess
    import sys
    import time

    before = CpuSample.now()
    loop = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"]
    )
    time.sleep(1.0)
    after = CpuSample.now()
    loop.wait()
    assert after.others_since(before) >= 0.5
