"""What calibration measured on this machine, and its cache: read by every command, measured by `calibrate`.

Reading it never loads llama.cpp (the machine key is the library files' identity), so `models` and
`pull` size models with it as cheaply as with the plain formula. The cache is per machine (CPU, cores,
llama.cpp build) in `paths.cache_dir()`; a stale, foreign or unreadable one is as good as none.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llamacli.base import hardware, paths
from llamacli.engine import runtime
from llamacli.engine.threads import TAKEN
from llamacli.sizing.estimate import ModelShape, QuantSpeed

CACHE_VERSION = 4  # 2: attention measured at two depths; 3: repacked memory per quant; 4: load, quick, build key
BUSY_CORES = 1 - TAKEN  # other work on a third of a core or more: the governor gives up a thread for it


@dataclass(frozen=True)
class QuantMeasurement:
    """One quant type measured on the calibration model."""

    quant: str
    bits_per_weight: float
    generation_tokens_per_second: float  # after SHORT_PROMPT tokens
    prompt_tokens_per_second: float
    speed: QuantSpeed
    deep_generation_tokens_per_second: float = 0.0  # after PROMPT_TOKENS tokens
    repacked_per_byte: float = 0.0  # resident beyond the memory formula, per byte of the file (R)


@dataclass(frozen=True)
class Calibration:
    """What calibration measured on this machine."""

    machine: str
    created: float
    runtime_overhead: int  # resident bytes of the process with llama.cpp loaded, before a model
    quants: dict[str, QuantMeasurement] = field(default_factory=dict)
    reference_shape: ModelShape | None = None  # the calibration model's own shape (the bundled default)
    load_average: float = 0.0  # 1-minute load per core when measuring began: near 1 or above, other work
    other_cores: float = 0.0  # cores other processes kept busy while a file was measured (the busiest file)
    quick: bool = False  # only the bundled file, one run (what `run` measures); `recommend` measures fully

    @property
    def busy(self) -> bool:
        """Whether other work slowed the measurement (its speeds are likely low)."""
        return self.other_cores >= BUSY_CORES

    def busy_note(self) -> str:
        """How busy the machine was while measuring, for people."""
        cores = hardware.physical_cores()
        return f"other processes used {self.other_cores:.1f} of {cores} core{'s' if cores > 1 else ''}"

    def measured(self, quant: str, bits: float) -> QuantMeasurement:
        """QUANT's measurement; for a type not measured, the one closest in bits per weight."""
        for name, measured in self.quants.items():
            if name.lower() == quant.lower():
                return measured
        return min(self.quants.values(), key=lambda m: abs(m.bits_per_weight - bits))

    def speed(self, quant: str, bits: float) -> QuantSpeed:
        """The calibrated speed of QUANT (see `measured`)."""
        return self.measured(quant, bits).speed

    def repacked_per_byte(self, quant: str, bits: float) -> float:
        """The calibrated extra resident memory per file byte of QUANT (see `measured`)."""
        return self.measured(quant, bits).repacked_per_byte

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (the cache file's content)."""
        return {
            "version": CACHE_VERSION,
            "machine": self.machine,
            "created": self.created,
            "runtime_overhead": self.runtime_overhead,
            "quants": {
                name: {
                    "bits_per_weight": m.bits_per_weight,
                    "generation_tokens_per_second": m.generation_tokens_per_second,
                    "deep_generation_tokens_per_second": m.deep_generation_tokens_per_second,
                    "prompt_tokens_per_second": m.prompt_tokens_per_second,
                    "generation_bytes_per_second": m.speed.generation_bytes_per_second,
                    "prompt_parameter_tokens_per_second": m.speed.prompt_parameter_tokens_per_second,
                    "attention_per_second": m.speed.attention_per_second,
                    "repacked_per_byte": m.repacked_per_byte,
                }
                for name, m in self.quants.items()
            },
            "reference_shape": asdict(self.reference_shape) if self.reference_shape else None,
            "load_average": self.load_average,
            "other_cores": self.other_cores,
            "busy": self.busy,
            "quick": self.quick,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Calibration:
        """Inverse of to_dict; KeyError/TypeError/ValueError on a malformed cache."""
        quants_data = data["quants"]
        assert isinstance(quants_data, dict)
        quants = {
            str(name): QuantMeasurement(
                quant=str(name),
                bits_per_weight=float(q["bits_per_weight"]),
                generation_tokens_per_second=float(q["generation_tokens_per_second"]),
                prompt_tokens_per_second=float(q["prompt_tokens_per_second"]),
                speed=QuantSpeed(
                    float(q["generation_bytes_per_second"]),
                    float(q["prompt_parameter_tokens_per_second"]),
                    float(q["attention_per_second"]),
                ),
                deep_generation_tokens_per_second=float(q["deep_generation_tokens_per_second"]),
                repacked_per_byte=float(q["repacked_per_byte"]),
            )
            for name, q in quants_data.items()
        }
        if not quants:
            raise ValueError("no quant measured")
        shape = data.get("reference_shape")
        return cls(
            str(data["machine"]),
            float(str(data["created"])),
            int(str(data["runtime_overhead"])),
            quants,
            ModelShape(**shape) if isinstance(shape, dict) else None,
            float(str(data.get("load_average", 0.0))),
            float(str(data["other_cores"])),
            data["quick"] is True,
        )


def machine_key() -> str:
    """What makes a calibration valid: CPU (and its flags), core count, OS and the llama.cpp build.

    Known without loading llama.cpp (the build is its library files' identity), so `models` and `pull`
    can use the calibration's memory figures and still never load the native library.
    """
    version = runtime.package_version()
    cores = hardware.physical_cores()
    build = runtime.machine_key()
    return f"{hardware.cpu_name()}|{cores} cores|{platform.system()}|llama-cpp-python {version}|{build}"


def cache_file(env: Mapping[str, str] = os.environ) -> Path:
    """Where the calibration of this machine is kept."""
    return paths.cache_dir(env) / "calibration.json"


def load_cached(env: Mapping[str, str] = os.environ, key: str | None = None) -> Calibration | None:
    """The cached calibration of this machine (or of machine KEY), or None (absent, stale or unreadable)."""
    try:
        data = json.loads(cache_file(env).read_text(encoding="utf-8"))
        if data.get("version") != CACHE_VERSION or data.get("machine") != (key or machine_key()):
            return None
        return Calibration.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        return None


def save(calibration: Calibration, env: Mapping[str, str] = os.environ) -> None:
    """Write the cache atomically (a reader never sees half a file)."""
    target = cache_file(env)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(calibration.to_dict(), indent=2), encoding="utf-8")
    temporary.replace(target)
