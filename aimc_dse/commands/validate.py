"""`aimc-dse validate`: the model against every reference number it ships, with the error of each.

Exit code 1 when any tolerance is broken (a design point could not be reproduced as asked).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..report.output import emit
from ..validation import GROUPS
from .common import FormatOpt

# module level: typer resolves the (postponed) annotations below in this module's namespace
GROUP_HELP = f"only these groups, repeatable or comma-separated: {', '.join(GROUPS)} (default: all)"


def register(app: typer.Typer) -> None:
    from .errors import cli_errors, err_console

    @app.command("validate")
    @cli_errors
    def validate(
        fmt: FormatOpt = "table",
        group: Annotated[Optional[list[str]], typer.Option("--group", help=GROUP_HELP)] = None,
        commands: Annotated[bool, typer.Option("--commands", help="table: show the command reproducing each check")] = False,
    ) -> None:
        """Run the model against the shipped reference targets; exit 1 when a tolerance is broken."""
        from ..specs.base import SpecError
        from ..validation import all_checks

        wanted = [g.strip() for it in group or [] for g in it.split(",") if g.strip()]
        if group is not None and not wanted:  # `--group ""` names nothing: not every group
            raise SpecError("--group", None, f"names no group; the groups are {', '.join(GROUPS)}")
        for g in wanted:
            if g not in GROUPS:
                raise SpecError(f"--group {g}", None, f"no such group; the groups are {', '.join(GROUPS)}")
        checks = [c for c in all_checks() if not wanted or c.group in wanted]
        rows = []
        for c in checks:
            row = {
                "group": c.group,
                "run": c.name,
                "quantity": c.quantity,
                "reference": c.reference,
                "model": c.model,
                "error_pct": 100.0 * c.error,
                "tolerance_pct": 100.0 * c.tolerance,
                "pass": c.passed,
            }
            if fmt != "table" or commands:
                row["command"] = c.command
            if fmt != "table":
                row["source"] = c.source
            rows.append(row)
        emit(rows, fmt, title="aimc-dse validate: model vs reference")
        failed = [c for c in checks if not c.passed]
        if fmt == "table":
            err_console.print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
        if failed:
            raise typer.Exit(1)
