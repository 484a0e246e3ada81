"""`llamacli recommend` / `hw` and `run auto`, end to end: subprocesses with a real calibration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llamacli.models import registry
from tests.support.cli import run_cli
from tests.support.hubserver import HubServer

pytestmark = pytest.mark.slow


def report(*args: str) -> dict[str, Any]:
    result = run_cli("recommend", "--json", *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""  # calibrated already: nothing to say
    return json.loads(result.stdout)


def test_table_lists_every_registry_quant_with_the_pick(calibrated: Path) -> None:
    result = run_cli("recommend", "--memory", "16G", "--min-speed", "0")
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "\x1b[" not in text
    for name in ("smollm2:135m *", "llama3.2:1b-q8_0", "llama3.2:3b *", "llama3.1:8b-q2_k"):
        assert name in text
    assert "CPU " in text and "Memory " in text and "Budget  14.4 GiB usable of 16.0 GiB" in text
    # With 16 GiB and no speed floor the largest model at its best quant fits
    assert "Pick: llama3.1:8b-q8_0 is the largest model that fits" in text
    # The alias prints the same table (the machine lines above it show live free memory, which moves)
    alias = run_cli("hw", "--memory", "16G", "--min-speed", "0").stdout.decode()
    assert alias[alias.index("Budget") :] == text[text.index("Budget") :]


def test_json_rows_agree_with_the_formulas(calibrated: Path) -> None:
    data = report("--memory", "16G", "--min-speed", "0", "--ctx", "8192")
    rows = {row["name"]: row for row in data["models"]}
    assert len(rows) == sum(
        len(entry.quants) for entry in registry.load({}).entries if not entry.guard
    )  # all but guards
    big = rows["llama3.1:8b"]
    assert big["memory"]["kv_cache"] == 2**30  # 8B at 8K context: 1 GiB of KV cache
    assert big["memory"]["weights"] == big["file_size"] == 4_920_739_232
    assert sum(v for k, v in big["memory"].items() if k != "total") == big["memory"]["total"]
    assert data["hardware"]["physical_cores"] >= 1 and data["hardware"]["cpu_features"]
    assert set(data["calibration"]["quants"]) == {"Q4_1", "Q8_0", "Q4_K_M", "Q2_K"}
    assert data["pick"] == "llama3.1:8b-q8_0" and data["local_pick"] == "smollm2:135m"
    # Smaller models are predicted faster, at every quant
    assert rows["llama3.2:1b"]["generation_tokens_per_second"] > big["generation_tokens_per_second"]


def test_memory_budget_drives_the_pick(calibrated: Path) -> None:
    """A budget just above one model's need picks that model's size (needs depend on this machine's calibration)."""
    rows = {row["name"]: row for row in report("--memory", "64G", "--min-speed", "0")["models"]}

    def just_enough_for(name: str) -> str:
        need = rows[name]["memory"]["total"]
        return f"{int(max(need / 0.9, need + 512 * 2**20) * 1.01)}B"  # usable = budget - max(10 %, 512 MiB)

    for name in ("llama3.1:8b-q2_k", "llama3.2:3b-q2_k", "llama3.2:1b-q2_k"):
        family = name.split("-")[0]
        picked = report("--memory", just_enough_for(name), "--min-speed", "0")["pick"]
        assert picked is not None and picked.split("-")[0] == family, (name, picked)
    assert report("--memory", "20G", "--min-speed", "0")["pick"] == "llama3.1:8b-q8_0"
    assert report("--memory", "64G", "--min-speed", "0")["pick"] == "llama3.3:70b"  # 70B at Q4_K_M: 41 GiB


def test_speed_floor_drives_the_pick(calibrated: Path) -> None:
    data = report("--memory", "64G", "--min-speed", "0")
    rows = {row["name"]: row for row in data["models"]}
    # A floor just above the fastest 8B's predicted speed rules out every 8B
    fastest_8b = max(r["generation_tokens_per_second"] for n, r in rows.items() if n.startswith("llama3.1:8b"))
    floor = f"{fastest_8b * 1.01:.6g}"
    picked = report("--memory", "64G", "--min-speed", floor)["pick"]
    assert picked is None or not picked.startswith("llama3.1:8b")


def test_nothing_fits(calibrated: Path) -> None:
    data = report("--memory", "600M")  # 88 MiB usable
    assert data["pick"] is None and data["local_pick"] is None
    assert data["explanation"].startswith("Nothing fits: the smallest, smollm2:135m, needs")
    assert not any(row["fits"] for row in data["models"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--memory", "lots"), "--memory must be a size such as 8G"),
        (("--memory", "0"), "--memory must be more than zero"),
        (("--min-speed", "-1"), "--min-speed must be zero or more"),
        (("--ctx", "3"), "--ctx must be between 16 and 1048576"),
    ],
)
def test_bad_values_are_one_line_errors(args: tuple[str, ...], message: str) -> None:
    result = run_cli("recommend", *args)
    assert result.returncode == 1
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llamacli: error: " + message), lines


def test_first_run_calibrates_and_caches(isolated: Path) -> None:
    first = run_cli("recommend", "--json", "--memory", "4G", timeout=600)
    assert first.returncode == 0, first.stderr
    assert b"Calibrating this machine once" in first.stderr
    assert (isolated / "cache" / "calibration.json").is_file()
    measured = json.loads(first.stdout)["calibration"]
    if measured["busy"]:  # a shared machine: said, and measured again once it is idle (tests below)
        assert b"the machine was busy while measuring" in first.stderr
        return
    second = run_cli("recommend", "--json", "--memory", "4G")
    assert second.stderr == b""  # cached: no second measurement
    assert json.loads(second.stdout)["calibration"] == measured


def test_run_auto_uses_the_best_local_model(calibrated: Path) -> None:
    pick = report()["pick"]  # with this machine's available memory and the default 8 tok/s floor
    result = run_cli("run", "auto", "Say hello.", "-n", "4", "--temperature", "0", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "smollm2:135m"  # the only downloaded model
    notice = result.stderr.decode()
    assert notice.startswith("auto: smollm2:135m (needs ")
    if pick not in (None, "smollm2:135m"):  # a bigger model would suit this machine: say which to pull
        assert f"llamacli pull {pick}" in notice
    if pick is None:  # nothing meets the speed floor: the fastest downloaded model still answers
        assert "below the 8 tok/s floor, but the fastest downloaded model that fits" in notice
    by_option = run_cli("run", "-m", "auto", "Say hello.", "-n", "4", "--temperature", "0", "--json")
    assert json.loads(by_option.stdout)["text"] == json.loads(result.stdout)["text"]


def test_auto_alone_is_still_a_prompt_word_without_piped_input(calibrated: Path) -> None:
    # `run auto PROMPT` picks; a prompt that is just "auto" and nothing else stays a prompt... with stdin
    # piped, "auto" is the model and stdin the prompt.
    result = run_cli("run", "auto", "-n", "3", "--temperature", "0", input="Say hi.")
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode().startswith("auto: smollm2:135m")


GREEDY_SHORT = ("-n", "2", "--temperature", "0")


def test_no_model_named_runs_the_only_downloaded_one_without_calibrating(isolated: Path) -> None:
    result = run_cli("run", "--json", "Say hello.", *GREEDY_SHORT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "smollm2:135m"
    assert result.stderr == b""
    assert not (isolated / "cache" / "calibration.json").exists()  # nothing to rank, nothing measured


def test_no_model_named_runs_the_best_downloaded_one(hub: HubServer, calibrated: Path) -> None:
    assert run_cli("pull", "llama3.2:1b-q2_k").returncode == 0

    def chosen(**env: str) -> str:
        result = run_cli("run", "--json", "Say hello.", *GREEDY_SHORT, env=env)
        assert result.returncode == 0, result.stderr
        model = str(json.loads(result.stdout)["model"])
        if "LLAMACLI_MODEL" not in env:  # a new budget: chosen again, and said once (stderr is not a terminal)
            assert result.stderr.decode().startswith(f"auto: {model} ("), result.stderr
        return model

    assert chosen(LLAMACLI_MEMORY="16G", LLAMACLI_MIN_SPEED="0") == "llama3.2:1b-q2_k"  # the larger model
    assert chosen(LLAMACLI_MEMORY="1G", LLAMACLI_MIN_SPEED="0") == "smollm2:135m"  # the 1B does not fit
    assert chosen(LLAMACLI_MEMORY="16G", LLAMACLI_MIN_SPEED="100000") == "smollm2:135m"  # fastest of the slow
    pinned = {"LLAMACLI_MEMORY": "16G", "LLAMACLI_MIN_SPEED": "0", "LLAMACLI_MODEL": "smollm2:135m"}
    assert chosen(**pinned) == "smollm2:135m"  # a configured default is not second-guessed
    # chat chooses the same way (piped: one message, then end of input)
    talk = run_cli("chat", *GREEDY_SHORT, input="Hi\n", env={"LLAMACLI_MEMORY": "16G", "LLAMACLI_MIN_SPEED": "0"})
    assert talk.returncode == 0, talk.stderr
    listed = json.loads(run_cli("history", "--json").stdout)
    assert [c["model"] for c in listed] == ["llama3.2:1b-q2_k"]


def test_pull_flag_downloads_the_pick_first(hub: HubServer, calibrated: Path) -> None:
    rows = {row["name"]: row for row in report("--memory", "64G", "--min-speed", "0")["models"]}
    need = rows["llama3.2:1b-q8_0"]["memory"]["total"]  # a budget where a 1B is the largest that fits
    env = {"LLAMACLI_MEMORY": f"{int(max(need / 0.9, need + 512 * 2**20) * 1.01)}B", "LLAMACLI_MIN_SPEED": "0"}
    pick = json.loads(run_cli("recommend", "--json", env=env).stdout)["pick"]
    assert pick.startswith("llama3.2:1b")  # the only repository the loopback Hub serves
    result = run_cli("run", "--pull", "--json", "Say hello.", *GREEDY_SHORT, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == pick
    assert f"auto: pulling {pick}, the pick for this machine" in result.stderr.decode()
    assert hub.body_bytes() > 0
    hub.reset()
    again = run_cli("run", "--pull", "--json", "Say hello.", *GREEDY_SHORT, env=env)
    assert json.loads(again.stdout)["model"] == pick
    assert hub.body_bytes() == 0 and b"pulling" not in again.stderr  # already here


def test_a_bad_speed_floor_in_the_environment_is_a_one_line_error(calibrated: Path) -> None:
    result = run_cli("recommend", env={"LLAMACLI_MIN_SPEED": "fast"})
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        "llamacli: error: LLAMACLI_MIN_SPEED must be a speed in tokens/s (zero or more), got 'fast'"
    ]


SCRIPT_ENV = {"LLAMACLI_MEMORY": "16G", "LLAMACLI_MIN_SPEED": "0"}  # the picker would take the larger model


def script_run() -> tuple[str, str]:
    """`llamacli run "hi"` as a script runs it (no model named, stderr a pipe): (model, stderr)."""
    result = run_cli("run", "--json", "Say hello.", *GREEDY_SHORT, env=SCRIPT_ENV)
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["model"]), result.stderr.decode()


def test_a_script_keeps_its_model_when_another_is_pulled(hub: HubServer, calibrated: Path) -> None:
    """Issue 12, item 14: a script's `run "hi"` switched from the bundled model after a pull, silently."""
    assert script_run() == ("smollm2:135m", "")  # a fresh install: the only model, nothing to say
    assert run_cli("pull", "llama3.2:1b-q2_k").returncode == 0
    assert script_run() == ("smollm2:135m", "")  # still the same model, still silent
    explicit = run_cli("run", "auto", "Say hello.", *GREEDY_SHORT, "--json", env=SCRIPT_ENV)
    assert json.loads(explicit.stdout)["model"] == "llama3.2:1b-q2_k"  # asking for the picker still works...
    assert script_run() == ("smollm2:135m", "")  # ...and does not move the script


def test_a_scripts_choice_is_announced_once_and_made_again_when_its_model_goes(
    hub: HubServer, calibrated: Path
) -> None:
    assert run_cli("pull", "llama3.2:1b-q2_k").returncode == 0
    model, said = script_run()
    assert model == "llama3.2:1b-q2_k"
    assert said.startswith("auto: llama3.2:1b-q2_k (") and said.count("\n") == 1
    assert "kept for every run that names no model; set default_model in config.toml to choose" in said
    assert script_run() == ("llama3.2:1b-q2_k", "")  # once
    assert run_cli("rm", "llama3.2:1b-q2_k").returncode == 0
    model, said = script_run()
    assert model == "smollm2:135m"
    assert said == (
        "auto: smollm2:135m (instead of llama3.2:1b-q2_k, chosen before and no longer here; "
        "kept for every run that names no model; set default_model in config.toml to choose)\n"
    )
    assert script_run() == ("smollm2:135m", "")


def test_a_bigger_model_at_a_smaller_context_beats_the_tiny_one(calibrated: Path) -> None:
    """Issue 13, item 2: a budget too small for any llama3.2:1b at its default context, but enough at 1024
    tokens, picks the 1B at a smaller context rather than smollm2:135m; `models` gives the same verdicts."""
    at_floor = report("--memory", "64G", "--min-speed", "0", "--ctx", "1024")["models"]
    least = min(row["memory"]["total"] for row in at_floor if row["name"].startswith("llama3.2:1b"))
    memory = f"{int(max(least / 0.9, least + 512 * 2**20) * 1.01)}B"  # usable = budget - max(10 %, 512 MiB)
    data = report("--memory", memory, "--min-speed", "0")
    assert data["pick"].startswith("llama3.2:1b") and 1024 <= data["pick_ctx"] < 4096, data["explanation"]
    rows = {row["name"]: row for row in data["models"]}
    picked = rows[data["pick"]]
    assert picked["context_shrunk"] and (picked["n_ctx"], picked["default_ctx"]) == (data["pick_ctx"], 4096)
    assert f"at a {data['pick_ctx']}-token context (its default 4096 does not fit)" in data["explanation"]
    text = run_cli("recommend", "--memory", memory, "--min-speed", "0").stdout.decode()
    assert f"Pick: {data['pick']} is the largest model that fits at a {data['pick_ctx']}-token context" in text
    by_env = run_cli("recommend", "--json", "--min-speed", "0", env={"LLAMACLI_MEMORY": memory})
    assert (json.loads(by_env.stdout)["pick"], json.loads(by_env.stdout)["pick_ctx"]) == (
        data["pick"],
        data["pick_ctx"],
    )
    catalog = json.loads(run_cli("models", "--json", env={"LLAMACLI_MEMORY": memory}).stdout)
    for row in catalog:
        if row["name"].startswith("llama-guard"):  # the catalog lists the guards; the picker never picks them
            continue
        same = rows[row["name"]]
        assert (row["n_ctx"], row["fits_in_memory"], row["memory"]) == (
            same["n_ctx"],
            same["fits_in_memory"],
            same["memory"],
        ), row["name"]
