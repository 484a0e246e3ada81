"""`FILE[:SCALE]`, as --lora and models.toml's `adapters` take it."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamacli.base import lora
from llamacli.base.lora import Lora
from llamacli.errors import InvalidValue


def test_file_alone_has_scale_one() -> None:
    assert lora.parse("pirate.gguf") == Lora(Path("pirate.gguf"), 1.0)


def test_a_number_after_the_last_colon_is_the_scale() -> None:
    assert lora.parse("pirate.gguf:0.5") == Lora(Path("pirate.gguf"), 0.5)
    assert lora.parse("pirate.gguf:-1") == Lora(Path("pirate.gguf"), -1.0)
    assert lora.parse("pirate.gguf:0").scale == 0.0


def test_a_colon_not_followed_by_a_number_belongs_to_the_path() -> None:
    assert lora.parse("/data/run:3/pirate.gguf") == Lora(Path("/data/run:3/pirate.gguf"))
    assert lora.parse("/data/run:3/pirate.gguf:2") == Lora(Path("/data/run:3/pirate.gguf"), 2.0)


def test_relative_files_are_taken_from_the_directory_given(tmp_path: Path) -> None:
    assert lora.parse("a/pirate.gguf:0.5", relative_to=tmp_path).path == tmp_path / "a" / "pirate.gguf"
    assert lora.parse("/abs/pirate.gguf", relative_to=tmp_path).path == Path("/abs/pirate.gguf")
    assert lora.parse("~/pirate.gguf").path == Path.home() / "pirate.gguf"


@pytest.mark.parametrize("text", ["", " ", "pirate.gguf:nan", "pirate.gguf:inf", "pirate.gguf:1e9"])
def test_bad_forms_are_refused_naming_the_flag(text: str) -> None:
    with pytest.raises(InvalidValue, match=r"^--lora "):
        lora.parse(text)


def test_labels_and_json() -> None:
    assert Lora(Path("/a/pirate.gguf")).label() == "pirate.gguf"
    assert Lora(Path("/a/pirate.gguf"), 0.25).label() == "pirate.gguf:0.25"
    assert Lora(Path("/a/pirate.gguf"), 0.25).to_dict() == {
        "name": "pirate.gguf",
        "path": "/a/pirate.gguf",
        "scale": 0.25,
    }
