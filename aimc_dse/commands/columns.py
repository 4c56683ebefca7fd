"""`aimc-dse columns`: the result-column registry — name, unit, type, systems, meaning."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..cost import registry
from ..report.output import emit
from ..specs.base import SpecError
from .common import FormatOpt


def register(app: typer.Typer) -> None:
    from .errors import cli_errors

    @app.command("columns")
    @cli_errors
    def columns(
        system: Annotated[Optional[str], typer.Option("--system", help="only columns of aimc or gpu")] = None,
        fmt: FormatOpt = "table",
    ) -> None:
        """List the result columns: unit, type, which systems write them, and what they mean."""
        if system not in (None, "aimc", "gpu"):
            raise SpecError("--system", None, f"must be aimc or gpu, got {system!r}")
        rows = [
            {"column": c.name, "unit": c.unit, "type": c.dtype, "systems": ",".join(c.systems),
             "perf": c.performance, "better": c.better, "meaning": c.meaning}
            for c in registry.COLUMNS if system is None or system in c.systems
        ]
        emit(rows, fmt, title=f"result columns (schema {registry.SCHEMA_VERSION})")
