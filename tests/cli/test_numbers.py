"""Every name, number and unit agrees across commands, and a calibration is trusted only as far as it deserves.

Subprocesses of the installed `llamacli`, a real calibration (the `calibrated` fixture) or a real quick
one, the loopback Hub for a second model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_cli
from tests.support.hubserver import HubServer

pytestmark = pytest.mark.slow

GREEDY_SHORT = ("-n", "2", "--temperature", "0")
DECIMAL_UNIT = re.compile(r"\d (kB|MB|GB)\b")


def data(*args: str, env: dict[str, str] | None = None) -> Any:
    result = run_cli(*args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def text(*args: str, env: dict[str, str] | None = None) -> str:
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def mark_busy(calibration: Path, cores: float = 1.8) -> None:
    """Make the cached calibration one taken while other processes kept CORES busy."""
    cached = json.loads(calibration.read_text())
    cached["other_cores"] = cores
    calibration.write_text(json.dumps(cached))


# --- 4: a calibration taken under load, and what a one-shot run pays ---------------------------------


def test_a_one_shot_run_measures_quickly_and_leaves_the_full_calibration_to_recommend(
    hub: HubServer, isolated: Path
) -> None:
    assert run_cli("pull", "llama3.2:1b-q2_k").returncode == 0  # a second model: there is a choice to make
    result = run_cli("run", "--json", "Hello", *GREEDY_SHORT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert b"Measuring this machine's speed on the bundled model" in result.stderr
    cached = json.loads((isolated / "cache" / "calibration.json").read_text())
    assert cached["quick"] is True and list(cached["quants"]) == ["Q4_1"]  # one file, not four
    report = run_cli("recommend", "--json", timeout=600)  # recommend wants every quantization measured
    assert report.returncode == 0, report.stderr
    assert b"Calibrating this machine fully" in report.stderr
    full = json.loads(report.stdout)["calibration"]
    assert full["quick"] is False and set(full["quants"]) == {"Q4_1", "Q8_0", "Q4_K_M", "Q2_K"}


def test_recommend_never_trusts_a_busy_calibration_silently(calibrated: Path) -> None:
    """Idle now: measured again, saying why. Still busy: used, and said in the report. Never silent."""
    mark_busy(calibrated)
    before = json.loads(calibrated.read_text())
    result = run_cli("recommend", "--json", "--memory", "16G", timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    if b"measuring again" in result.stderr:
        assert b"measured while other processes used 1.8 of" in result.stderr
        assert report["calibration"]["created"] > before["created"]
        if report["calibration"]["busy"]:  # ... and busy again meanwhile: said again
            assert b"the machine was busy while measuring" in result.stderr
    else:
        assert report["calibration"]["busy"] is True and report["calibration"]["other_cores"] == 1.8
        assert "Speeds were measured while other processes used 1.8 of" in report["explanation"]
        again = run_cli("recommend", "--memory", "16G", timeout=600)
        if b"measuring again" not in again.stderr:  # (the machine may have become idle meanwhile)
            assert "measured while other processes used 1.8 of" in again.stdout.decode()


def test_run_auto_says_when_its_speeds_come_from_a_busy_machine(calibrated: Path) -> None:
    mark_busy(calibrated)
    result = run_cli("run", "auto", "Say hello.", *GREEDY_SHORT, timeout=300)
    assert result.returncode == 0, result.stderr
    notice = result.stderr.decode()
    if "measuring again" not in notice:  # still busy: the choice says its speeds are suspect
        assert "speeds measured while other processes used 1.8 of" in notice
    assert "auto: smollm2:135m (" in notice


# --- 5: one name per model, one meaning per header and marker, one unit family -------------------------


def test_every_command_names_a_model_the_same_way(hub: HubServer, calibrated: Path) -> None:
    assert run_cli("pull", "llama3.2:1b").returncode == 0  # the default quantization (Q4_K_M)
    listed = {entry["name"] for entry in data("list")}
    assert listed == {"smollm2:135m", "llama3.2:1b"}
    catalog = {row["name"] for row in data("models") if row["local"]}
    recommended = {row["name"] for row in data("recommend")["models"] if row["local"]}
    assert catalog == recommended == listed
    env = {"LLAMACLI_MEMORY": "16G", "LLAMACLI_MIN_SPEED": "0"}
    picked = data("recommend", env=env)["local_pick"]
    run = run_cli("run", "auto", "--json", "Hello", *GREEDY_SHORT, env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["model"] == picked and picked in listed
    assert run.stderr.decode().startswith(f"auto: {picked} (")


def test_tables_share_headers_markers_and_binary_units(hub: HubServer, calibrated: Path) -> None:
    assert run_cli("pull", "llama3.2:1b-q2_k").returncode == 0
    env = {"LLAMACLI_MEMORY": "16G"}
    tables = {command: text(command, env=env) for command in ("list", "models", "recommend")}
    for command, output in tables.items():
        assert not DECIMAL_UNIT.search(output), (command, DECIMAL_UNIT.search(output))
    models = [line.split() for line in tables["models"].splitlines()]
    rec_lines = tables["recommend"].splitlines()
    start = next(i for i, line in enumerate(rec_lines) if line.startswith("NAME "))
    recommend = [line.split() for line in rec_lines[start:] if line.strip()]
    assert models[0][:4] == recommend[0][:4] == ["NAME", "QUANT", "SIZE", "PARAMS"]
    assert "LOCAL" in models[0] and "LOCAL" in recommend[0] and "MEMORY" in models[0] and "MEMORY" in recommend[0]

    def row(table: list[list[str]], name: str) -> list[str]:
        return next(cells for cells in table if cells[0] == name)

    # `*` is the default quantization in both; SIZE the file (here: in MiB), PARAMS the parameters
    for name, default in (("smollm2:135m", True), ("llama3.2:1b", True), ("llama3.2:1b-q2_k", False)):
        in_models, in_recommend = row(models, name), row(recommend, name)
        assert (in_models[1] == "*") == (in_recommend[1] == "*") == default
        cells = 2 if default else 1
        assert in_models[cells : cells + 4] == in_recommend[cells : cells + 4]  # QUANT SIZE(2 cells) PARAMS
    smollm2 = row(models, "smollm2:135m")
    assert smollm2[3:5] == ["94", "MiB"] and smollm2[5] == "135M"
    assert row(recommend, "llama3.2:1b-q2_k")[5] == "yes"  # LOCAL, not a marker on the name


# --- 6: `models` and `recommend` give one answer to "does it fit", in numbers -----------------------------


@pytest.mark.parametrize("memory", ["3G", "900M"])
def test_models_and_recommend_agree_on_memory_and_fit(calibrated: Path, memory: str) -> None:
    env = {"LLAMACLI_MEMORY": memory}
    catalog = {row["name"]: row for row in data("models", env=env)}
    recommended = {row["name"]: row for row in data("recommend", env=env)["models"]}
    guards = {name for name in catalog if name.startswith("llama-guard")}  # never the picker's choice
    assert guards and set(catalog) - guards == set(recommended)
    catalog = {name: row for name, row in catalog.items() if name not in guards}
    for name, row in catalog.items():
        assert all(
            not isinstance(value, str) or key in ("name", "title", "quant", "license") for key, value in row.items()
        )
        assert isinstance(row["fits_in_memory"], bool) and isinstance(row["memory"]["total"], int)
        assert row["memory"] == recommended[name]["memory"], name
        assert row["fits_in_memory"] == recommended[name]["fits_in_memory"], name
        assert row["n_ctx"] == recommended[name]["n_ctx"], name  # the same context, shrunk or not
    assert catalog["smollm2:135m"]["fits_in_memory"] and not catalog["llama3.1:8b-q8_0"]["fits_in_memory"]


# --- 8: a memory budget is never read as bytes by accident, and too small a one is said plainly ----------


def test_a_bare_memory_number_is_gib_for_the_flag_and_the_environment(calibrated: Path) -> None:
    assert data("recommend", "--memory", "8")["budget"]["memory"] == 8 * 2**30
    assert data("recommend", env={"LLAMACLI_MEMORY": "8"})["budget"]["memory"] == 8 * 2**30
    assert data("recommend", "--memory", "100B")["budget"]["memory"] == 100  # bytes, when asked for


def test_a_budget_below_every_model_is_said_plainly(calibrated: Path) -> None:
    output = text("recommend", "--memory", "100M")
    pick = next(line for line in output.splitlines() if line.startswith("Pick: "))
    assert "a budget of 100 MiB is all headroom" in pick and "no model can run in it" in pick
    least = re.search(r"takes a budget of at least (\d+) MiB", pick)
    assert least is not None
    at_least = data("recommend", "--memory", f"{least.group(1)}M", "--min-speed", "0")
    assert at_least["pick"] == "smollm2:135m"  # the way out it names works
