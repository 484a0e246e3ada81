"""Facts about this machine that the engine and the picker need: RAM, cores, CPU features, disk, GPU."""

from __future__ import annotations

import os
import platform
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from llamacli.base import paths


def physical_cores() -> int:
    """Physical cores: llama.cpp's generation speed scales with these, not with hyper-threads."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


@dataclass(frozen=True)
class Hardware:
    """What the probe found (bytes for sizes)."""

    total_ram: int
    available_ram: int
    physical_cores: int
    logical_cores: int
    cpu: str
    cpu_features: tuple[str, ...]
    os: str
    models_dir: str
    free_disk: int
    gpu: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        data = asdict(self)
        data["cpu_features"] = list(self.cpu_features)
        return data


def cpu_features(system_info: str) -> tuple[str, ...]:
    """The features llama.cpp reports as enabled (`AVX2 = 1 | ...`), in its order."""
    return tuple(name for name, on in re.findall(r"([A-Z0-9_]+) = (\d)", system_info) if on == "1")


def cpu_name() -> str:
    """The processor's model name (Linux /proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _free_disk(directory: Path) -> int:
    """Free bytes on the disk that holds DIRECTORY (or its nearest existing parent)."""
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return 0


def probe(
    system_info: Callable[[], str], gpu_offload: Callable[[], bool], env: Mapping[str, str] = os.environ
) -> Hardware:
    """Look at this machine; SYSTEM_INFO and GPU_OFFLOAD ask llama.cpp (the engine's native module)."""
    memory = psutil.virtual_memory()
    models = paths.data_dir(env)
    return Hardware(
        total_ram=int(memory.total),
        available_ram=int(memory.available),
        physical_cores=physical_cores(),
        logical_cores=psutil.cpu_count(logical=True) or os.cpu_count() or 1,
        cpu=cpu_name(),
        cpu_features=cpu_features(system_info()),
        os=f"{platform.system()} {platform.release()} ({platform.machine()})",
        models_dir=str(models),
        free_disk=_free_disk(models),
        gpu="llama.cpp GPU offload available" if gpu_offload() else None,
    )
