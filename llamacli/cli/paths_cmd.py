"""`llamacli paths`: where llamacli keeps its files, so people (and scripts) need not guess."""

from __future__ import annotations

from typing import Annotated

import typer

from llamacli.cli import exit_codes
from llamacli.cli.output import Output
from llamacli.errors import ExitCode

PATHS_EPILOG = exit_codes.epilog(ExitCode.OK, (ExitCode.USAGE, "usage error (unknown option)"))


def paths(json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """Show where llamacli keeps its files: config, models, history and cache.

    LLAMACLI_HOME puts them all under one directory; without it, each is where the OS expects it.
    """
    from llamacli.services import locations

    out = Output()
    found = locations.all_paths()
    if json_output:
        out.data({place.key: str(place.path) for place in found})
        return
    width = max(len(place.label) for place in found)
    out.answer("".join(f"{place.label:<{width}}  {place.path}\n" for place in found))
