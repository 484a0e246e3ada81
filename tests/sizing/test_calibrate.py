"""Calibration on the real bundled model, and its per-machine cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamacli.sizing import calibration

pytestmark = pytest.mark.slow


def test_calibration_measures_every_quant(calibration_file: Path) -> None:
    measured = calibration.load_cached({"LLAMACLI_HOME": str(calibration_file.parent.parent)})
    assert measured is not None
    assert set(measured.quants) == {"Q4_1", "Q8_0", "Q4_K_M", "Q2_K"}
    for m in measured.quants.values():
        assert m.generation_tokens_per_second > 0 and m.prompt_tokens_per_second > 0
        assert m.speed.generation_bytes_per_second > 50e6  # at least the file size × tok/s
    bits = {name: m.bits_per_weight for name, m in measured.quants.items()}
    assert bits["Q8_0"] > bits["Q4_1"] > bits["Q2_K"]  # requantized copies really differ
    assert measured.reference_shape is not None and measured.reference_shape.layers == 30
    assert 10 * 2**20 < measured.runtime_overhead < 1024 * 2**20
    # Generating after 512 tokens is slower than after 16: attention has a measured cost, shared by all types
    rates = {m.speed.attention_per_second for m in measured.quants.values()}
    assert len(rates) == 1 and rates.pop() > 0
    # Each file was measured in a fresh process: what it kept resident beyond the formula is its own
    assert all(0 <= m.repacked_per_byte < 2 for m in measured.quants.values())
    # An unmeasured type borrows the measured one closest in bits per weight
    assert measured.speed("Q6_K", bits["Q8_0"] - 0.1) == measured.quants["Q8_0"].speed


def test_cache_is_per_machine_and_survives_corruption(calibrated: Path, isolated: Path) -> None:
    env = {"LLAMACLI_HOME": str(isolated)}
    key = calibration.machine_key()
    assert calibration.load_cached(env) is not None
    assert calibration.load_cached(env, key + "|another CPU") is None  # another machine: measure again
    data = json.loads(calibrated.read_text())
    data["quants"] = {}
    calibrated.write_text(json.dumps(data))
    assert calibration.load_cached(env) is None
    calibrated.write_text("{not json")
    assert calibration.load_cached(env) is None


def test_a_calibration_next_to_busy_loops_is_marked_busy(smollm2_path: Path, tmp_path: Path) -> None:
    """Other work during the measurement is read with the governor's CpuSample and recorded, never hidden.

    The calibration runs in a fresh interpreter: it forks, and this process may have generated already.
    """
    import subprocess
    import sys

    from llamacli.base import hardware

    loop = "import time\nend = time.time() + 60\nwhile time.time() < end: pass"
    measure = (
        "import json, sys\nfrom pathlib import Path\nfrom llamacli.sizing import calibrate\n"
        "print(json.dumps(calibrate.run(Path(sys.argv[1]), probe_cache=Path(sys.argv[2]), quick=True).to_dict()))"
    )
    busy = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(hardware.physical_cores())]
    try:
        done = subprocess.run(
            [sys.executable, "-c", measure, str(smollm2_path), str(tmp_path)],
            capture_output=True,
            timeout=300,
            check=True,
        )
    finally:
        for process in busy:
            process.kill()
            process.wait()
    measured = calibration.Calibration.from_dict(json.loads(done.stdout))
    assert measured.quick and set(measured.quants) == {"Q4_1"}
    assert measured.busy and measured.other_cores >= 0.5, measured.other_cores
    assert json.loads(done.stdout)["busy"] is True  # in the cache file and in --json, as measured
