"""The `models` use case: every registry variant, whether it is on this machine, and whether it fits.

Whether it fits, and at which context, is `llamacli.sizing.fit`'s answer, the same `recommend` gives.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llamacli.errors import ModelNotLocal, PackageMissing
from llamacli.models import registry
from llamacli.models.locate import locate
from llamacli.sizing.estimate import MemoryEstimate


@dataclass(frozen=True)
class CatalogRow:
    """One row of `models`: a registry variant and whether it is here."""

    name: str
    title: str
    quant: str
    size: int
    parameters: int
    license: str
    local: bool
    default: bool  # the quantization the name without a tag selects
    memory: MemoryEstimate  # need at `n_ctx`
    n_ctx: int  # the default context window, or the smaller one it fits at (`context_shrunk`)
    fits_in_memory: bool  # the need fits the memory budget with headroom
    default_ctx: int = 0  # the default context window
    context_shrunk: bool = False  # only a context smaller than the default fits
    active_parameters: int | None = None  # a mixture of experts: parameters per token (None: dense)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: numbers and booleans, no display strings."""
        return {**self.__dict__, "memory": self.memory.to_dict()}


def catalog(env: Mapping[str, str] = os.environ) -> list[CatalogRow]:
    """Every registry variant, with whether it is already on this machine."""
    from llamacli.sizing.fit import Sizer

    reg = registry.load(env)
    sizer = Sizer.here(env)
    rows: list[CatalogRow] = []
    for entry in reg:
        for q in entry.quants:
            verdict = sizer.entry(entry, q)
            name = entry.short_name(q)
            try:
                local = locate(name, reg, env) is not None
            except (ModelNotLocal, PackageMissing):
                local = False
            rows.append(
                CatalogRow(
                    name=name,
                    title=entry.title,
                    quant=q.quant,
                    size=q.size,
                    parameters=entry.parameters,
                    license=entry.license,
                    local=local,
                    default=q.quant == entry.default_quant,
                    memory=verdict.estimate,
                    n_ctx=verdict.n_ctx,
                    fits_in_memory=verdict.fits,
                    default_ctx=verdict.default_ctx,
                    context_shrunk=verdict.shrunk,
                    active_parameters=entry.active_parameters if entry.moe else None,
                )
            )
    return rows
