"""Models published as several GGUF files: llama.cpp's naming of the parts, and their headers taken as one.

The Hub stores files above ~50 GB as parts, `PREFIX-00001-of-00003.gguf` ... (llama.cpp's `llama_split_path`
format, `%s-%05d-of-%05d.gguf`, numbered from 1). The first part holds the metadata and some tensors, each
other part more tensors and the `split.*` keys. llama.cpp loads them in order: by name next to the first
part (`llama_model_load_from_file`), or from any list of paths (`llama_model_load_from_splits`), which is
how the store's content-addressed blobs are loaded.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

from llamacli.errors import MissingPart
from llamacli.models.gguf_info import GGUFInfo

SPLIT_NAME = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf\Z")
MAX_PARTS = 999  # gguf-split's own limit is 99,999; no published model comes near a thousand parts


def split_name(prefix: str, no: int, count: int) -> str:
    """The name of part NO (from 1) of COUNT, as llama.cpp's `llama_split_path` writes it."""
    return f"{prefix}-{no:05d}-of-{count:05d}.gguf"


def parse(name: str) -> tuple[str, int, int] | None:
    """(prefix, part number, part count) when NAME (a file name or a repository path) names a part."""
    found = SPLIT_NAME.match(name)
    if found is None:
        return None
    no, count = int(found["no"]), int(found["count"])
    if not 1 <= no <= count <= MAX_PARTS:
        return None
    return found["prefix"], no, count


def is_split(name: str) -> bool:
    """Whether NAME names a part of a split model."""
    return parse(name) is not None


def is_first(name: str) -> bool:
    """Whether NAME is the first part of a split model (the name to pull, import or load it by)."""
    found = parse(name)
    return found is not None and found[1] == 1 and found[2] > 1


def part_names(first: str) -> list[str]:
    """Every part's name, in order, from the first's (a repository path keeps its folder); [FIRST] when
    FIRST does not name a first part (a single file)."""
    found = parse(first)
    if found is None or found[1] != 1:
        return [first]
    prefix, _, count = found
    return [split_name(prefix, no, count) for no in range(1, count + 1)]


def local_parts(first: Path) -> tuple[Path, ...]:
    """The parts of the model whose first part is FIRST, found next to it by name; () for a single file.

    MissingPart for the first part that is not there (llama.cpp would fail on it, after loading the rest).
    """
    names = part_names(first.name)
    if len(names) == 1:
        return ()
    parts = tuple(first.with_name(name) for name in names)
    for no, part in enumerate(parts, start=1):
        if not part.is_file():
            raise MissingPart(part, no, len(parts))
    return parts


def combined(infos: Sequence[GGUFInfo]) -> GGUFInfo:
    """The whole model's header from its parts' headers: the first part's metadata, and the tensors,
    parameters and bytes of every part added up (what sizing and `show` need)."""
    first = infos[0]
    if len(infos) == 1:
        return first
    return dataclasses.replace(
        first,
        parameters=sum(info.parameters for info in infos),
        tensors=sum(info.tensors for info in infos),
        file_size=sum(info.file_size for info in infos),
        parts=len(infos),
    )
