"""`aimc-dse pareto RESULTS --x METRIC --y METRIC`: the designs of a results file no other design beats."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..report import query
from ..report.output import emit
from ..report.pareto import ParetoFront, collapse_ties, senses
from ..report.summary import ID_COLUMNS, VaryingKnobs, fitting, readable
from ..report.writer import iter_results, missing_sidecar, result_columns
from ..specs.base import SpecError
from .common import FormatOpt, split_list

ResultsArg = Annotated[Path, typer.Argument(help="results file of a sweep (.csv or .parquet)", metavar="RESULTS")]
WhereOpt = Annotated[
    Optional[list[str]],
    typer.Option("--where", help="keep rows where this holds, e.g. \"model.name == 'mixtral-8x7b'\" (repeatable)"),
]


def check_columns(path: Path, wanted: list[tuple[str, str | None]], where: list[str]) -> list[str]:
    """Every named column exists in the results file (SpecError naming the option otherwise)."""
    cols = result_columns(path)
    for opt, col in wanted:
        if col is not None and col not in cols:
            close = difflib.get_close_matches(col, cols, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise SpecError(str(path), None, f"{opt} {col}: no such column{hint}{_sidecar_hint(path)}")
    for expr in where:
        try:
            query.check_names(expr, cols)
        except query.QueryError as e:
            raise SpecError(str(path), None, f"--where {expr!r}: {e}{_sidecar_hint(path)}") from None
    return cols


def check_numbers(path: Path, df, named: list[tuple[str, str | None]]) -> None:
    """SpecError when a column given as a metric holds text or true/false (a front or an axis
    of ``hw.name`` or ``fits`` would be empty or meaningless, not an answer)."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    for opt, col in named:
        if col is None or col not in df.columns:
            continue
        kind = df[col].dtype
        if is_bool_dtype(kind) or not is_numeric_dtype(kind):
            what = "true/false" if is_bool_dtype(kind) else "text"
            raise SpecError(str(path), None, f"{opt} {col}: not a number column (it holds {what}); name a metric or a numeric knob")


def _sidecar_hint(path: Path) -> str:
    side = missing_sidecar(path)
    return f" (the constant knobs of a sweep's CSV are in {side.name}, which is missing)" if side else ""


def filtered(path: Path, where: list[str], columns: list[str] | None = None):
    """Batches of the results file with the --where conditions applied."""
    for df in iter_results(path, columns):
        try:
            yield query.apply(df, where)
        except query.QueryError as e:
            raise SpecError(str(path), None, f"--where: {e}") from None


def register(app: typer.Typer) -> None:
    from .errors import cli_errors

    @app.command("pareto")
    @cli_errors
    def pareto(
        results: ResultsArg,
        x: Annotated[str, typer.Option("--x", help="first metric, e.g. tokens_per_s_per_w")],
        y: Annotated[str, typer.Option("--y", help="second metric, e.g. tokens_per_s_per_mm2")],
        z: Annotated[Optional[str], typer.Option("--z", help="optional third metric")] = None,
        minimize: Annotated[
            Optional[list[str]], typer.Option("--minimize", help="metrics to minimise (repeatable or comma-separated); times, energies, areas, powers are by default")
        ] = None,
        maximize: Annotated[Optional[list[str]], typer.Option("--maximize", help="metrics to maximise against their default (repeatable or comma-separated)")] = None,
        where: WhereOpt = None,
        all_rows: Annotated[bool, typer.Option("--all", help="include designs whose model does not fit the hardware")] = False,
        ties: Annotated[
            bool, typer.Option("--ties", help="list every design of a tie (default: each point once, with a ties count)")
        ] = False,
        fmt: FormatOpt = "table",
    ) -> None:
        """Print the Pareto front of two or three metrics of a results file (maximised unless a time, energy, area or power)."""
        metrics = [m for m in (x, y, z) if m is not None]
        if len(set(metrics)) < len(metrics):
            raise SpecError("pareto", None, "--x, --y and --z must be different metrics")
        where = where or []
        named = [("--x", x), ("--y", y), ("--z", z)]
        check_columns(results, named, where)
        for opt, given in (("--minimize", split_list(minimize)), ("--maximize", split_list(maximize))):
            for m in given:
                if m not in metrics:
                    raise SpecError("pareto", None, f"{opt} {m}: not one of the metrics (--x {x}, --y {y}"
                                    + (f", --z {z}" if z else "") + ")")
        both = [m for m in split_list(minimize) if m in set(split_list(maximize))]
        if both:
            raise SpecError("pareto", None, f"--minimize {both[0]} and --maximize {both[0]}: give one direction per metric")
        maxi = senses(metrics, split_list(minimize), split_list(maximize))
        front = ParetoFront(metrics, maxi)
        axes = VaryingKnobs()
        rows = 0
        for df in filtered(results, where):
            if len(df) == 0:
                continue
            check_numbers(results, df, named)
            rows += len(df)
            if fmt == "table":
                axes.add(df)
            front.add(df if all_rows else fitting(df))
        out = front.rows
        n_front = len(out)
        if not ties:
            out = collapse_ties(out, metrics)
        if fmt != "table":
            emit(out, fmt)
            return
        ids = [c for c in ID_COLUMNS if c in out.columns]
        sense = ", ".join(f"{m} {'max' if s else 'min'}" for m, s in zip(metrics, maxi))
        tied = "" if ties or len(out) == n_front else f" ({len(out)} distinct; ties: designs sharing the point, first shown)"
        emit(
            readable(out),
            "table",
            columns=list(dict.fromkeys(ids + axes.columns + metrics + ([] if ties else ["ties"]))),  # a knob may be a metric
            title=f"Pareto front ({sense}): {n_front} of {rows:,} rows{tied}",
            hoist=True,
        )
