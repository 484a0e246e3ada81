"""The `models` use case: every registry variant, whether it is on this machine, and whether it fits."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llamacli import registry
from llamacli.errors import ModelNotLocal, PackageMissing
from llamacli.locate import locate


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
    default: bool
    fit: str | None = None  # filled by the memory estimate (issue #5); the CLI shows the column when set

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return dict(self.__dict__)


def catalog(env: Mapping[str, str] = os.environ) -> list[CatalogRow]:
    """Every registry variant, with whether it is already on this machine."""
    from llamacli.services import fit

    reg = registry.load(env)
    rows: list[CatalogRow] = []
    for entry in reg:
        for q in entry.quants:
            verdict = fit.check(fit.shape_of_entry(entry), q.size, entry.context_length, None, env)
            mark = "✓" if verdict.fits else "✗"
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
                    fit=f"{mark} {fit.gib(verdict.need)}",
                )
            )
    return rows
