"""Options and helpers shared by several commands (one override mechanism: ``--set``)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..report.output import Format

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table (people), json or csv (programs)")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="override a spec field by dotted path, e.g. hw.tiles=4096, model.layers=1 (repeatable)"),
]
