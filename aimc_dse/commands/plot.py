"""`aimc-dse plot RESULTS --x COL --y COL -o fig.png`: a figure of a results file (matplotlib).

Colour by ``--hue``, marker by ``--style``, panels by ``--col``/``--row``; ``--kind line``
joins only the rows of one design along x (every other varying knob separates lines).
The command prints how many rows were drawn and why the others were not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from .pareto import ResultsArg, WhereOpt

KNOB_PREFIXES = ("hw.", "model.", "workload.")


def register(app: typer.Typer) -> None:
    from .errors import cli_errors, err_console

    @app.command("plot")
    @cli_errors
    def plot(
        results: ResultsArg,
        x: Annotated[str, typer.Option("--x", help="column on the x axis")],
        y: Annotated[str, typer.Option("--y", help="column on the y axis")],
        output: Annotated[Path, typer.Option("--output", "-o", help="figure file: .png, .svg or .pdf")],
        hue: Annotated[
            Optional[str], typer.Option("--hue", help="column(s) that colour the points, as a,b (default: none)")
        ] = None,
        style: Annotated[
            Optional[str], typer.Option("--style", help="column(s) that choose the marker, as a,b (default: none)")
        ] = None,
        col: Annotated[Optional[str], typer.Option("--col", help="one panel per value of this column, side by side (default: none)")] = None,
        row: Annotated[Optional[str], typer.Option("--row", help="one panel per value of this column, stacked (default: none)")] = None,
        log: Annotated[bool, typer.Option("--log", help="logarithmic x and y axes (symlog where values ≤ 0)")] = False,
        log_x: Annotated[bool, typer.Option("--log-x", help="logarithmic x axis only")] = False,
        log_y: Annotated[bool, typer.Option("--log-y", help="logarithmic y axis only")] = False,
        kind: Annotated[
            Literal["scatter", "line"], typer.Option("--kind", help="scatter, or lines along x within each design")
        ] = "scatter",
        along: Annotated[
            Optional[str],
            typer.Option("--along", help="--kind line: the swept knob a line follows when x is a result column (default: x)"),
        ] = None,
        annotate: Annotated[
            Optional[str], typer.Option("--annotate", help="label a line where this column changes, e.g. n_devices (default: none)")
        ] = None,
        where: WhereOpt = None,
        pareto: Annotated[bool, typer.Option("--pareto", help="draw the Pareto front of x and y on top")] = False,
        title: Annotated[Optional[str], typer.Option("--title", help="figure title (default: the results file name)")] = None,
        force: Annotated[bool, typer.Option("--force", help="overwrite an existing figure file")] = False,
    ) -> None:
        """Plot one column of a results file against another, coloured, marked and faceted by others."""
        import pandas as pd

        from ..report import query
        from ..report.plot import _pyplot
        from ..report.plot import plot as draw
        from .common import check_new_file, split_list
        from .pareto import check_columns, check_numbers, filtered

        _pyplot()  # a clear error before reading anything when matplotlib is missing
        check_new_file(output, force)
        where = where or []
        hues, styles = split_list([hue] if hue else []), split_list([style] if style else [])
        facets = [c for c in (col, row) if c]
        named = [("--x", x), ("--y", y)] + [("--hue", h) for h in hues] + [("--style", s) for s in styles]
        named += [(f"--{'col' if c == col else 'row'}", c) for c in facets] + ([("--annotate", annotate)] if annotate else []) + ([("--along", along)] if along else [])
        cols = check_columns(results, named, where)
        knobs = [c for c in cols if c.startswith(KNOB_PREFIXES)]
        extra = ["fits"] if "fits" in cols else []
        needed = list(dict.fromkeys([x, y] + hues + styles + facets + ([annotate] if annotate else []) + extra + knobs
                                    + [n for e in where for n in query.names(e)]))
        parts = list(filtered(results, where, needed))
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=needed)
        check_numbers(results, df, [("--x", x), ("--y", y)])
        # the knobs that vary separate designs: lines never join two of them
        by = [c for c in knobs if c != x and df[c].nunique(dropna=False) > 1]
        stats = draw(
            df,
            x,
            y,
            output,
            hue=hues,
            style=styles,
            by=by,
            along=along,
            logx=log or log_x,
            logy=log or log_y,
            kind=kind,
            title=title or results.name,
            pareto=pareto,
            col=col,
            row=row,
            annotate=annotate,
        )
        err_console.print(f"wrote {output} ({stats.summary()})", markup=False)
