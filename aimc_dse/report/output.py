"""The one renderer for data printed by the CLI: rich tables for people, JSON/CSV for programs.

``--format table`` prints a rich table; ``json`` a JSON list of objects (one per row);
``csv`` a header line and one line per row. Numbers are printed in full in JSON/CSV and
with a readable number of significant digits in tables.
"""

from __future__ import annotations

import io
import json
import math
import sys
from typing import Any, Iterable, Literal

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

Format = Literal["table", "json", "csv"]


def _plain(v: Any) -> Any:
    """JSON-safe plain Python value."""
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        v = float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def fmt_value(v: Any) -> str:
    """Human-readable cell: integers with thousands separators, floats with 4 significant digits."""
    v = _plain(v)
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v == 0:
            return "0"
        a = abs(v)
        if a >= 1e6 or a < 1e-3:
            return f"{v:.4g}"
        if a >= 1000:
            return f"{v:,.0f}"
        return f"{v:.4g}"
    return str(v)


def to_frame(rows: pd.DataFrame | Iterable[dict]) -> pd.DataFrame:
    return rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))


def emit(
    rows: pd.DataFrame | Iterable[dict],
    fmt: Format = "table",
    title: str | None = None,
    columns: list[str] | None = None,
    file=None,
    transpose: bool = False,
) -> None:
    """Print rows in the chosen format. ``transpose`` shows a table as field/value pairs."""
    df = to_frame(rows)
    if columns is not None:
        df = df[[c for c in columns if c in df.columns]]
    out = file or sys.stdout
    if fmt == "json":
        recs = [{k: _plain(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
        out.write(json.dumps(recs, indent=2) + "\n")
    elif fmt == "csv":
        buf = io.StringIO()
        df.to_csv(buf, index=False, lineterminator="\n")
        out.write(buf.getvalue())
    else:
        # Pipes and files get wide, unwrapped tables; a terminal gets its own width.
        probe = Console(file=out)
        width = probe.width if probe.is_terminal else 240
        console = Console(file=out, width=width, soft_wrap=False)
        table = Table(title=title, show_lines=False, header_style="bold")
        if transpose:
            table.add_column("field")
            for i in range(len(df)):
                table.add_column(str(df.index[i]) if len(df) > 1 else "value", justify="right")
            for c in df.columns:
                table.add_row(str(c), *[fmt_value(v) for v in df[c].tolist()])
        else:
            for c in df.columns:
                numeric = pd.api.types.is_numeric_dtype(df[c])
                table.add_column(str(c), justify="right" if numeric else "left")
            for r in df.itertuples(index=False):
                table.add_row(*[fmt_value(v) for v in r])
        console.print(table)
