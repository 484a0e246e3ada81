"""`llamacli doctor`: a real check of this install, each line ✓ or ✗ with what to do; exit 0 only when all pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamacli.engine.probe import CRASH_SWITCH
from tests.support.cli import run_cli
from tests.support.hubserver import HubServer
from tests.system.test_offline import run_guarded

pytestmark = pytest.mark.slow

CHECKS = ["llama.cpp build", "self-test", "model store", "config", "paths", "model answers", "offline"]


def report(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, dict[str, object]]]:
    result = run_cli("doctor", "--json", *args, env=env)
    assert result.returncode in (0, 1) and b"Traceback" not in result.stderr, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] == (result.returncode == 0)
    return result.returncode, {check["name"]: check for check in data["checks"]}


def test_a_healthy_install_passes_every_check(isolated: Path) -> None:
    result = run_cli("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.decode().splitlines()
    assert [line[2:].split("  ")[0].strip() for line in lines] == CHECKS
    assert all(line.startswith("✓ ") for line in lines) and b"\x1b" not in result.stdout
    assert b"stopping at its end-of-turn token" in result.stdout
    assert (isolated / "cache" / "runtime.json").is_file()  # the self-test's verdict is what runs use
    code, checks = report()
    assert code == 0 and list(checks) == CHECKS


def test_a_truncated_blob_fails_the_store_check_with_what_to_do(hub: HubServer, isolated: Path) -> None:
    assert run_cli("pull", "llama3.2:1b-q8_0").returncode == 0
    code, checks = report()
    assert code == 0 and "1 model in" in str(checks["model store"]["detail"])
    blob = next((isolated / "models" / "blobs").iterdir())
    with blob.open("r+b") as f:
        f.truncate(blob.stat().st_size // 2)
    result = run_cli("doctor")
    assert result.returncode == 1
    line = next(x for x in result.stdout.decode().splitlines() if "model store" in x)
    assert line.startswith("✗") and "not its recorded size" in line
    assert "llamacli pull NAME" in result.stdout.decode()


def test_deep_finds_a_changed_byte_that_sizes_miss(hub: HubServer, isolated: Path) -> None:
    assert run_cli("pull", "llama3.2:1b-q8_0").returncode == 0
    blob = next((isolated / "models" / "blobs").iterdir())
    with blob.open("r+b") as f:  # flip one byte deep in the weights: same size, another sha256
        f.seek(blob.stat().st_size - 100)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert report()[1]["model store"]["ok"] is True
    code, checks = report("--deep")
    assert code == 1 and "sha256 changed" in str(checks["model store"]["detail"])


def test_offline_doctor_opens_no_socket(tmp_path: Path) -> None:
    result, attempts = run_guarded(tmp_path, "doctor", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert attempts == ""


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("default_model = [unclosed\n", "config.toml"),
        ("\ntemperature = 20\n", "config.toml, line 2: temperature must be between 0 and 10, got 20"),
        ('default_modle = "x"\n', "config.toml, line 1: unknown key 'default_modle' is ignored (did you mean"),
    ],
)
def test_a_broken_config_is_one_failed_line_naming_the_file(isolated: Path, text: str, detail: str) -> None:
    isolated.mkdir(parents=True, exist_ok=True)
    (isolated / "config.toml").write_text(text)
    code, checks = report()
    assert code == 1
    assert checks["config"]["ok"] is False and detail in str(checks["config"]["detail"])
    assert checks["config"]["fix"]
    assert all(check["ok"] for name, check in checks.items() if name != "config")


def test_a_fallback_in_force_is_named(isolated: Path) -> None:
    code, checks = report(env={CRASH_SWITCH: "extra-buffers"})
    assert code == 0
    assert "default crashed (SIGILL while running)" in str(checks["self-test"]["detail"])
    assert checks["model answers"]["ok"] is True  # and the bundled model runs with it


def test_an_engine_that_crashes_everywhere_fails_with_what_to_do(isolated: Path) -> None:
    code, checks = report(env={CRASH_SWITCH: "always"})
    assert code == 1
    assert checks["self-test"]["ok"] is False and "crashes running" in str(checks["self-test"]["detail"])
    assert checks["self-test"]["fix"]
