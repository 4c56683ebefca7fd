"""`aimc-dse plot RESULTS --x COL --y COL -o fig.png`: a figure of a results file (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import pandas as pd
import typer

from ..report import query
from ..specs.base import SpecError
from .common import check_new_file
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
        force: Annotated[bool, typer.Option("--force", help="overwrite an existing figure file")] = False,
    ) -> None:
        """Plot one column of a results file against another, optionally coloured by a third."""
        from ..report.plot import _pyplot, plot as draw

        _pyplot()  # a clear error before reading anything when matplotlib is missing
        check_new_file(output, force)
        where = where or []
        hues = [h.strip() for h in (hue or "").split(",") if h.strip()]
        check_columns(results, [("--x", x), ("--y", y)] + [("--hue", h) for h in hues], where)
        needed = list(dict.fromkeys([x, y] + hues + [n for e in where for n in query.names(e)]))
        parts = list(filtered(results, where, needed))
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=needed)
        if log:
            for col in (x, y):
                v = pd.to_numeric(df[col], errors="coerce")
                bad = int((v <= 0).sum())
                if bad:
                    raise SpecError(
                        "--log", None,
                        f"{col} has {bad:,} value(s) ≤ 0, which a log axis cannot show; "
                        f"leave them out with --where '{col} > 0' or drop --log",
                    )
        draw(df, x, y, output, hue=hues, log=log, kind=kind, title=title or results.name, pareto=pareto)
        err_console.print(f"wrote {output} ({len(df):,} points)", markup=False)
