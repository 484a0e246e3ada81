"""When a cached calibration will do, and when it must be measured again (and why, in the notice)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from llamacli.services.recommend import why_measure
from llamacli.sizing.calibration import BUSY_CORES, Calibration, QuantMeasurement
from llamacli.sizing.estimate import QuantSpeed

MEASURED = {"Q4_1": QuantMeasurement("Q4_1", 5.8, 60.0, 900.0, QuantSpeed(6e9, 1e11, 1e12))}
IDLE = Calibration("this machine", 0.0, 64 * 2**20, MEASURED)
BUSY = replace(IDLE, other_cores=1.8)


def never_asked() -> bool:
    raise AssertionError("an idle calibration needs no look at the machine's load")


def test_busy_means_enough_other_work_for_the_governor_to_give_up_a_thread() -> None:
    assert not IDLE.busy and BUSY.busy
    assert replace(IDLE, other_cores=BUSY_CORES).busy and not replace(IDLE, other_cores=BUSY_CORES - 0.01).busy


def test_nothing_cached_recommend_calibrates_fully_and_run_quickly() -> None:
    assert "Calibrating this machine once (about 10 s" in str(why_measure(None, False, never_asked))
    assert "a few seconds, once" in str(why_measure(None, True, never_asked))


def test_an_idle_calibration_is_used_as_it_is() -> None:
    assert why_measure(IDLE, False, never_asked) is None
    assert why_measure(IDLE, True, never_asked) is None


def test_a_quick_calibration_does_for_run_and_not_for_recommend() -> None:
    quick = replace(IDLE, quick=True)
    assert why_measure(quick, True, never_asked) is None
    assert "fully" in str(why_measure(quick, False, never_asked))


@pytest.mark.parametrize("quick", [False, True])
def test_a_busy_calibration_is_measured_again_once_the_machine_is_idle(quick: bool) -> None:
    why = why_measure(BUSY, quick, lambda: True)
    assert why is not None and "measured while other processes used 1.8 of" in why and "measuring again" in why
    assert why_measure(BUSY, quick, lambda: False) is None  # still busy: used (and the report says so)
