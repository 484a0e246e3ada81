"""How llama.cpp must run on this machine: the configuration its self-test survived, remembered.

llama-cpp-python compiles llama.cpp for the CPU it was installed on (`-march=native`), and a native
kernel can crash where no exception reaches Python: on Intel CPUs with AMX, 0.3.36's AMX matmul dies
with SIGILL on the first batched decode (its tile configuration is optimised away; llama.cpp PR
#26954). So the engine tries each model in a child process first (probe.py), stepping down `LADDER`
until a configuration survives, and remembers the answer per llama.cpp build and CPU: for the machine
(tried on the bundled model) and for each file. A later run pays nothing; a rebuilt llama.cpp or
another CPU (a VM moved to another host) is tried again.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamacli.base import hardware


@dataclass(frozen=True)
class RuntimeConfig:
    """One way of running llama.cpp; the ladder goes from fastest to most conservative."""

    name: str
    extra_buffers: bool = True  # llama.cpp's extra buffer types: AMX tiles, weights repacked for SIMD
    max_threads: int | None = None  # a cap on threads, None for none

    def describe(self) -> str:
        """What this configuration changes, for people."""
        if self.extra_buffers and self.max_threads is None:
            return "llama.cpp's defaults"
        parts = [] if self.extra_buffers else ["extra buffer types off (AMX kernels, repacked weights)"]
        if self.max_threads is not None:
            parts.append(f"at most {self.max_threads} thread{'s' if self.max_threads > 1 else ''}")
        return ", ".join(parts)


LADDER = (
    RuntimeConfig("default"),
    # The AMX crash lives in an extra buffer type; so does weight repacking. Off, both go.
    RuntimeConfig("no-extra-buffers", extra_buffers=False),
    # A kernel that races between threads survives on one.
    RuntimeConfig("one-thread", extra_buffers=False, max_threads=1),
)
_BY_NAME = {config.name: config for config in LADDER}


def config_named(name: str) -> RuntimeConfig:
    """The ladder's configuration called NAME (KeyError if none)."""
    return _BY_NAME[name]


@dataclass(frozen=True)
class Verdict:
    """The configuration that ran, and what the ones before it died of (e.g. "default: SIGILL")."""

    config: RuntimeConfig
    crashes: tuple[str, ...] = ()
    fresh: bool = False  # found by a self-test in this process (not remembered from an earlier one)

    @property
    def fallback(self) -> bool:
        """Whether a configuration above this one crashed."""
        return bool(self.crashes)

    def describe(self) -> str:
        """One line: the configuration in use and why."""
        if not self.crashes:
            return f"{self.config.describe()} (self-test passed)"
        died = ", ".join(f"{name} crashed ({what})" for name, _, what in (c.partition(": ") for c in self.crashes))
        return f"{self.config.describe()}, since in the self-test {died}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (cache records, --json)."""
        return {"config": self.config.name, "crashes": list(self.crashes)}

    @classmethod
    def from_dict(cls, data: Any) -> Verdict | None:
        """Inverse of to_dict; None for anything malformed or from another version's ladder."""
        if not isinstance(data, dict) or data.get("config") not in _BY_NAME:
            return None
        crashes = data.get("crashes", [])
        if not isinstance(crashes, list) or not all(isinstance(c, str) for c in crashes):
            return None
        return cls(_BY_NAME[data["config"]], tuple(crashes))


def package_version() -> str:
    """llama-cpp-python's version, read from its `__init__.py` without importing it (or importlib.metadata,
    whose import alone costs a one-shot ~10 ms)."""
    spec = importlib.util.find_spec("llama_cpp")
    try:
        source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    except OSError:
        source = ""
    found = re.search(r'^__version__ = "([^"]+)"', source, re.M)
    return found.group(1) if found else "?"


def _library_dir() -> Path | None:
    """Where llama-cpp-python keeps the compiled llama.cpp, found without importing it."""
    override = os.environ.get("LLAMA_CPP_LIB_PATH")  # llama-cpp-python's own override
    if override:
        return Path(override)
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "lib"


def build_id() -> str:
    """The compiled llama.cpp's identity: a rebuild (other flags, other commit) changes it."""
    parts = [package_version()]
    directory = _library_dir()
    with contextlib.suppress(OSError):
        for entry in sorted(directory.iterdir()) if directory else ():
            if ".so" in entry.name or entry.suffix in (".dylib", ".dll"):
                st = entry.stat()
                parts.append(f"{entry.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def cpu_id() -> str:
    """The processor as far as compiled kernels care: its model name and instruction-set flags."""
    flags = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                flags = " ".join(sorted(line.split(":", 1)[1].split()))
                break
    return f"{hardware.cpu_name()}|{flags}"


def machine_key() -> str:
    """A short key for (llama.cpp build, CPU): verdicts are valid only under the same one."""
    return hashlib.sha256(f"{build_id()}\n{cpu_id()}".encode()).hexdigest()[:16]


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (Intel Sapphire Rapids and later)."""
    return "amx_tile" in cpu_id().split("|", 1)[1].split()


def _machine_file(cache_dir: Path) -> Path:
    return cache_dir / "runtime.json"


def recall_machine(cache_dir: Path) -> Verdict | None:
    """The machine's verdict for this build and CPU, or None (never tested, or stale)."""
    try:
        data = json.loads(_machine_file(cache_dir).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("machine") != machine_key():
        return None
    return Verdict.from_dict(data)


def remember_machine(cache_dir: Path, verdict: Verdict) -> None:
    """Keep VERDICT for this build and CPU; best effort, atomic (a failure only costs a new self-test)."""
    with contextlib.suppress(OSError):
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".runtime-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"machine": machine_key(), **verdict.to_dict()}, f)
            os.replace(tmp, _machine_file(cache_dir))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def forget_machine(cache_dir: Path) -> None:
    """Drop the machine's verdict (the next load runs the self-test again)."""
    with contextlib.suppress(OSError):
        _machine_file(cache_dir).unlink()
