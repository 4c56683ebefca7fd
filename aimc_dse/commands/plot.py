"""`aimc-dse plot RESULTS --x COL --y COL -o fig.png`: a figure of a results file (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import pandas as pd
import typer

from ..report import query
from .pareto import ResultsArg, WhereOpt, check_columns, filtered


def register(app: typer.Typer) -> None:
    from ..cli import cli_errors, err_console

    @app.command("plot")
    @cli_errors
    def plot(
        results: ResultsArg,
        x: Annotated[str, typer.Option("--x", help="column on the x axis")],
        y: Annotated[str, typer.Option("--y", help="column on the y axis")],
        output: Annotated[Path, typer.Option("--output", "-o", help="figure file: .png, .svg or .pdf")],
        hue: Annotated[
            Optional[str], typer.Option("--hue", help="column(s) that colour the points; several as a,b (one legend entry per combination)")
        ] = None,
        log: Annotated[bool, typer.Option("--log", help="logarithmic x and y axes")] = False,
        kind: Annotated[Literal["scatter", "line"], typer.Option("--kind", help="scatter, or lines through each hue group")] = "scatter",
        where: WhereOpt = None,
        pareto: Annotated[bool, typer.Option("--pareto", help="draw the Pareto front of x and y over the points")] = False,
        title: Annotated[Optional[str], typer.Option("--title", help="figure title (default: the results file name)")] = None,
    ) -> None:
        """Plot one column of a results file against another, optionally coloured by a third."""
        from ..report.plot import _pyplot
        from ..report.plot import plot as draw

        _pyplot()  # a clear error before reading anything when matplotlib is missing
        where = where or []
        hues = [h.strip() for h in (hue or "").split(",") if h.strip()]
        check_columns(results, [("--x", x), ("--y", y)] + [("--hue", h) for h in hues], where)
        needed = list(dict.fromkeys([x, y] + hues + [n for e in where for n in query.names(e)]))
        parts = list(filtered(results, where, needed))
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=needed)
        draw(df, x, y, output, hue=hues, log=log, kind=kind, title=title or results.name, pareto=pareto)
        err_console.print(f"wrote {output} ({len(df):,} points)", markup=False)
