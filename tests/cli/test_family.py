"""Issue 18, item 4 and issue 15, item 5: big models refused before any download, with the numbers and a
configured remote as the way out; `models` and `recommend` saying how a mixture of experts is sized; and
`recommend` offering a remote's models when nothing here meets the request.

Real subprocesses, a loopback Hub (nothing is served from it: the refusal must come before any request)
and a loopback OpenAI-compatible server (tests/support/faultserver.py) for the remote.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import LLAMACLI, run_cli
from tests.support.faultserver import FaultServer
from tests.support.hubserver import HubServer

SMALL = {"LLAMACLI_MEMORY": "16G"}


def refused(*args: str) -> subprocess.CompletedProcess[bytes]:
    """`llamacli ARGS` run directly: `run` of a model that is refused before any download loads nothing,
    which run_cli's quick guard (reading only the command line) cannot know."""
    return subprocess.run(
        [LLAMACLI, *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **SMALL},
        timeout=120,
        check=False,
    )


def configure(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    server = FaultServer(models=["llama3.3:70b", "llama4:scout"]).start()
    yield server
    server.stop()


def test_pull_of_a_70b_is_refused_with_the_numbers_before_any_request(bare_hub: HubServer, isolated: Path) -> None:
    result = refused("pull", "llama3.3:70b")
    assert result.returncode == 1 and result.stdout == b""
    line = result.stderr.decode()
    assert line.count("\n") == 1 and "Traceback" not in line
    assert line.startswith("llamacli: error: llama3.3:70b does not fit: needs 41.2 GiB at a 4096-token context")
    assert "14.4 GiB usable of 16.0 GiB" in line and "'llamacli recommend'" in line and "--force" in line
    assert bare_hub.requests() == []  # sized from the registry: not even a HEAD
    assert not (isolated / "models").exists() or not list((isolated / "models").rglob("*"))


def test_run_of_a_model_too_big_says_so_before_pulling_and_points_at_the_remote(
    bare_hub: HubServer, isolated: Path
) -> None:
    configure(isolated, '[remotes.box]\nurl = "http://127.0.0.1:9"\n')
    result = refused("run", "llama4:scout", "Hello")
    assert result.returncode == 1 and result.stdout == b""
    notice, error = result.stderr.decode().splitlines()
    assert notice == "llama4:scout is not downloaded yet: pulling it first"
    assert error.startswith("llamacli: error: llama4:scout does not fit: needs 37.9 GiB")
    assert "run it on the remote 'box' instead: llamacli run box/MODEL" in error
    assert "'llamacli list --remote box' names its models" in error
    assert bare_hub.requests() == []


def test_a_model_that_fits_is_not_refused_by_the_registry_check(bare_hub: HubServer) -> None:
    """codellama:7b-q2_k fits in 16 GiB: the pull goes on to ask the Hub (which does not have it here)."""
    result = run_cli("pull", "codellama:7b-q2_k", env=SMALL)
    assert result.returncode != 0 and b"does not fit" not in result.stderr
    assert bare_hub.requests()  # it asked


def test_models_says_how_a_mixture_of_experts_is_sized() -> None:
    table = run_cli("models", env=SMALL).stdout.decode().splitlines()
    scout = next(line for line in table if line.startswith("llama4:scout *"))
    assert "108.0B (17.0B active)" in scout and "✗ 37.9 GiB" in scout
    assert table[-1] == (
        "Mixture of experts: llama4:scout (17.0B active): MEMORY holds every expert (the whole file); "
        "speed follows the parameters active per token."
    )
    rows = {row["name"]: row for row in json.loads(run_cli("models", "--json", env=SMALL).stdout)}
    assert rows["llama4:scout"]["active_parameters"] == 17_000_000_000
    assert rows["llama3.3:70b"]["active_parameters"] is None and not rows["llama3.3:70b"]["fits_in_memory"]
    assert rows["codellama:7b-q2_k"]["fits_in_memory"] and rows["codellama:7b"]["license"] == "llama2"


# --- recommend: needs this machine's calibration (measured once per session) ---


@pytest.mark.slow
def test_recommend_offers_the_remotes_models_when_nothing_here_fits(
    calibrated: Path, faults: FaultServer, isolated: Path
) -> None:
    configure(isolated, f'[remotes.box]\nurl = "{faults.url}"\n\n[remotes.gone]\nurl = "http://127.0.0.1:9"\n')
    result = run_cli("recommend", "--json", "--memory", "600M")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["pick"] is None
    box, gone = data["remotes"]
    assert box == {
        "name": "box",
        "url": faults.url,
        "models": ["llama3.3:70b", "llama4:scout"],
        "run": ["box/llama3.3:70b", "box/llama4:scout"],
        "error": None,
    }
    assert gone["models"] == [] and "cannot reach" in gone["error"]
    assert [s.path for s in faults.seen] == ["/v1/models"]  # listed, nothing generated, no numbers of ours
    text = run_cli("recommend", "--memory", "600M").stdout.decode()
    assert "Nothing here meets the request; the configured remote engines run on their own machines:" in text
    assert f"  box  {faults.url}  serves llama3.3:70b, llama4:scout  (llamacli run box/llama3.3:70b)" in text
    assert "  gone  http://127.0.0.1:9  cannot be asked: " in text


@pytest.mark.slow
def test_recommend_offers_remotes_when_the_speed_floor_rules_out_every_model_here(
    calibrated: Path, faults: FaultServer, isolated: Path
) -> None:
    configure(isolated, f'[remotes.box]\nurl = "{faults.url}"\nmodels = ["llama4:scout"]\n')
    data = json.loads(run_cli("recommend", "--json", "--memory", "64G", "--min-speed", "100000").stdout)
    assert data["pick"] is None and any(row["fits_in_memory"] for row in data["models"])
    assert data["remotes"][0]["models"] == ["llama4:scout"]  # its allow-list, as served


@pytest.mark.slow
def test_recommend_asks_no_remote_when_a_model_here_fits(calibrated: Path, faults: FaultServer, isolated: Path) -> None:
    configure(isolated, f'[remotes.box]\nurl = "{faults.url}"\n')
    data = json.loads(run_cli("recommend", "--json", "--memory", "16G", "--min-speed", "0").stdout)
    assert data["pick"] is not None and data["remotes"] == []
    assert faults.seen == []
    offline = run_cli("recommend", "--json", "--memory", "600M", env={"HF_HUB_OFFLINE": "1"})
    said = json.loads(offline.stdout)["remotes"][0]["error"]
    assert said == "the remote box needs the network, but offline mode is on"
    assert faults.seen == []


@pytest.mark.slow
def test_recommend_names_the_mixture_of_experts_and_ranks_it_below_a_dense_70b(calibrated: Path) -> None:
    data = json.loads(run_cli("recommend", "--json", "--memory", "64G", "--min-speed", "0").stdout)
    rows = {row["name"]: row for row in data["models"]}
    scout, big = rows["llama4:scout"], rows["llama3.3:70b-q2_k"]
    assert scout["mixture_of_experts"] and scout["active_parameters"] == 17_000_000_000
    assert not big["mixture_of_experts"] and big["active_parameters"] == big["parameters"]
    assert scout["memory"]["weights"] == scout["file_size"]  # every expert in memory
    assert scout["generation_tokens_per_second"] > 2 * big["generation_tokens_per_second"]  # 17B active, not 108B
    assert data["pick"] == "llama3.3:70b"
    text = run_cli("recommend", "--memory", "64G", "--min-speed", "0").stdout.decode()
    assert "108.0B (17.0B active)" in text and "Mixture of experts: llama4:scout (17.0B active)" in text


@pytest.mark.slow
def test_run_of_a_local_model_that_will_not_fit_names_the_remote_in_its_warning(isolated: Path) -> None:
    configure(isolated, '[remotes.box]\nurl = "http://127.0.0.1:9"\n')
    tight = run_cli("run", "smollm2:135m", "Hi", "-n", "2", env={"LLAMACLI_MEMORY": "100M"})
    assert tight.returncode == 0, tight.stderr
    warning = tight.stderr.decode()
    assert warning.startswith("warning: smollm2:135m does not fit") and warning.count("\n") == 1
    assert warning.rstrip().endswith("; or run it on the remote 'box': llamacli run box/MODEL")
