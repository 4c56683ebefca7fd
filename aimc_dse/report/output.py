"""The one renderer for data printed by the CLI: tables for people, JSON/CSV for programs.

``--format table`` prints tables that fit the terminal (``COLUMNS``, else the terminal's
width, else 100 columns for pipes and files) without ever cutting a number: headers wrap at
``.``/``_``/``-`` inside the column name, long text wraps, and a table still too wide is
split into several tables that each repeat the leading name columns (hardware, model …).
Numbers show 4 significant digits; ``json`` (a list of objects) and ``csv`` keep them in full.

One style for every command's JSON and CSV: booleans ``true``/``false``, missing values
``null`` / empty, integers without a decimal point — including integer-valued knob columns
(``hw.tiles``) that a mixed AIMC/GPU table holds as floats — and floats by their shortest
round-trip representation (an integral float is written without ``.0``, as the sweep
writer does).

Heavy libraries (numpy, pandas, rich) are imported inside the functions: ``--help`` and
the command modules load this file without paying for them.
"""

from __future__ import annotations

import math
import os
import re
import sys
from typing import Any, Literal

Format = Literal["table", "json", "csv"]

PIPE_WIDTH = 100  # tables written to pipes and files (no terminal to ask)
KNOB_PREFIXES = ("hw.", "model.", "workload.")
_BREAK = re.compile(r"(?<=[._\-/ ])")  # a header may wrap after these characters
_NUMBER = re.compile(r"^(?:[-+]?[\d,]*\.?\d+(?:e[-+]?\d+)?|–|yes|no)$")
MAX_KEY_COLUMNS = 3


def _plain(v: Any) -> Any:
    """JSON-safe plain Python value (numpy scalars, NaN/NA → None)."""
    import numpy as np

    if v is None:
        return None
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        v = float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if not isinstance(v, (str, bool, int, float, list, dict)):
        import pandas as pd

        try:
            if pd.isna(v):
                return None
        except (TypeError, ValueError):
            pass
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


def to_frame(rows):
    import pandas as pd

    return rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))


# ---- one style for programs ------------------------------------------------------------------


def integral_knobs(df):
    """``df`` with knob columns whose values are all whole numbers as nullable integers.

    A table mixing AIMC and GPU rows holds ``hw.tiles`` as floats (NaN for the GPU rows);
    people and programs expect ``256``, not ``256.0``.
    """
    import numpy as np
    import pandas as pd

    out = None
    for c in df.columns:
        col = df[c]
        if not str(c).startswith(KNOB_PREFIXES) or not pd.api.types.is_float_dtype(col.dtype):
            continue
        v = col.to_numpy(dtype=float, na_value=np.nan)
        finite = v[np.isfinite(v)]
        if finite.size == 0 or np.any(finite != np.round(finite)) or np.any(np.abs(finite) >= 2**53):
            continue
        if out is None:
            out = df.copy()
        out[c] = pd.array([None if not math.isfinite(x) else int(x) for x in v], dtype="Int64")
    return df if out is None else out


def _csv_cell(v: Any) -> str:
    v = _plain(v)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        s = repr(v)
        return s[:-2] if s.endswith(".0") else s
    if isinstance(v, (list, dict)):
        import json

        return json.dumps(v)
    return str(v)


def write_json(df, out) -> None:
    import json

    df = integral_knobs(df)
    recs = [{str(k): _plain(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
    out.write(json.dumps(recs, indent=2, ensure_ascii=False) + "\n")


def write_csv(df, out) -> None:
    import csv

    df = integral_knobs(df)
    w = csv.writer(out, lineterminator="\n")
    w.writerow([str(c) for c in df.columns])
    for r in df.itertuples(index=False, name=None):
        w.writerow([_csv_cell(v) for v in r])


# ---- tables for people -----------------------------------------------------------------------


def table_width(file=None) -> int:
    """Width for tables: ``COLUMNS``, else the terminal's, else ``PIPE_WIDTH``."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    f = file or sys.stdout
    try:
        if f.isatty():
            return os.get_terminal_size(f.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return PIPE_WIDTH


def _tokens(text: str) -> list[str]:
    return [t for t in _BREAK.split(text) if t]


def wrap_header(text: str, width: int) -> str:
    """``text`` on lines of at most ``width`` characters, broken after ``.``, ``_``, ``-``, ``/``."""
    lines: list[str] = []
    cur = ""
    for tok in _tokens(text):
        while len(tok) > width:  # only when a single part is wider than the column
            if cur:
                lines.append(cur)
                cur = ""
            lines.append(tok[:width])
            tok = tok[width:]
        if len(cur) + len(tok) > width and cur:
            lines.append(cur)
            cur = ""
        cur += tok
    if cur:
        lines.append(cur)
    return "\n".join(line.rstrip() for line in lines)


class _Col:
    """A column to print: header, cell strings, alignment and the widths it can take."""

    def __init__(self, header: str, cells: list[str], right: bool):
        self.header = header
        self.cells = cells
        self.right = right
        self.numeric = all(_NUMBER.match(c) for c in cells)
        full = max((len(c) for c in cells), default=0)
        head_min = max((len(t.rstrip()) for t in _tokens(header)), default=1)
        if self.numeric:
            cell_min = full  # a number is never cut or wrapped
        else:
            longest_word = max((len(w) for c in cells for w in c.split()), default=0)
            cell_min = min(full, max(longest_word, 12), 30)
        self.min = max(cell_min, head_min, 1)
        self.pref = max(full, len(header), self.min)
        self.width = self.min


OVERHEAD_PER_COLUMN = 3  # padding 1 + 1 and a divider per column
OVERHEAD_TABLE = -3  # no outer edge: one divider fewer than columns, no padding at the two ends


def _total(cols: list[_Col], attr: str = "width") -> int:
    return sum(getattr(c, attr) for c in cols) + OVERHEAD_PER_COLUMN * len(cols) + OVERHEAD_TABLE


def _fit(cols: list[_Col], width: int) -> None:
    """Start every column at its minimum; share the spare width towards each preference."""
    for c in cols:
        c.width = c.min
    spare = width - _total(cols)
    # First unwrap headers and text a little at a time, left to right, until no room is left.
    while spare > 0:
        grew = False
        for c in cols:
            if spare <= 0:
                break
            if c.width < c.pref:
                c.width += 1
                spare -= 1
                grew = True
        if not grew:
            break


def _groups(cols: list[_Col], width: int, keys: int) -> list[list[_Col]]:
    """Column groups that each fit ``width``, every group led by the first ``keys`` columns."""
    if _total(cols, "min") <= width:
        return [cols]
    key = cols[:keys]
    while key and _total(key, "min") > width // 2:
        key = key[:-1]
    rest = cols[len(key):]
    groups: list[list[_Col]] = []
    cur: list[_Col] = []
    for c in rest:
        if cur and _total(key + cur + [c], "min") > width:
            groups.append(key + cur)
            cur = []
        cur.append(c)
    if cur or not groups:
        groups.append(key + cur)
    return groups


def _key_count(df, transpose: bool) -> int:
    import pandas as pd

    if transpose:
        return 1
    n = 0
    for c in df.columns[:MAX_KEY_COLUMNS]:
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]):
            break
        n += 1
    return n


def _render(console, cols: list[_Col], title: str | None, n_rows: int) -> None:
    from rich import box
    from rich.table import Table

    if title:  # above the table, wrapped at the console's width rather than the table's
        console.print(title, markup=False, highlight=False, style="italic")
    table = Table(header_style="bold", box=box.HEAVY_HEAD, show_edge=False, pad_edge=False)
    for c in cols:
        table.add_column(
            wrap_header(c.header, c.width),
            justify="right" if c.right else "left",
            width=c.width,
            no_wrap=c.numeric,
            overflow="fold",
        )
    from rich.text import Text

    def cell(c: _Col, v: str):
        # numbers right-aligned; text in a numeric column (a transposed table) reads from the left
        return Text(v, justify="left") if c.right and not _NUMBER.match(v) else v

    for i in range(n_rows):
        table.add_row(*[cell(c, c.cells[i]) for c in cols])
    console.print(table)


def hoist_constants(df, title: str | None):
    """Text columns with one value in every row move into the title (``model.name: mixtral-8x7b``)."""
    import pandas as pd

    if len(df) < 2:
        return df, title
    same = []
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        vals = col.dropna().unique()
        if len(vals) == 1 and col.notna().all():
            same.append(c)
    if not same or len(same) == len(df.columns):
        return df, title
    note = ", ".join(f"{c}: {df[c].iloc[0]}" for c in same)
    return df.drop(columns=same), f"{title} — {note}" if title else note


def print_table(
    df, title: str | None = None, transpose: bool = False, file=None, width: int | None = None, hoist: bool = False
) -> None:
    """A table that fits ``width`` columns, split into several when it cannot (no number is cut).

    ``hoist`` moves text columns that hold one value in every row into the title.
    """
    import pandas as pd
    from rich.console import Console

    out = file or sys.stdout
    width = width or table_width(out)
    if hoist and not transpose:
        df, title = hoist_constants(df, title)
    if transpose:
        names = [str(df.index[i]) for i in range(len(df))] if len(df) > 1 else ["value"]
        cols = [_Col("field", [str(c) for c in df.columns], right=False)]
        for i, name in enumerate(names):
            cols.append(_Col(name, [fmt_value(v) for v in df.iloc[i].tolist()], right=True))
        n_rows = len(df.columns)
    else:
        cols = []
        for c in df.columns:
            col = df[c]
            numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
            cells = [fmt_value(v) for v in col.tolist()]
            right = numeric or pd.api.types.is_bool_dtype(col) or (bool(cells) and all(_NUMBER.match(x) for x in cells))
            cols.append(_Col(str(c), cells, right=right))
        n_rows = len(df)
    # Rich never wraps a line by itself here: every column has an explicit width.
    console = Console(file=out, width=max(width, 20), soft_wrap=False, highlight=False)
    groups = _groups(cols, width, _key_count(df, transpose))
    for k, g in enumerate(groups):
        _fit(g, width)
        t = title
        if len(groups) > 1:
            t = f"{title or 'table'} ({k + 1}/{len(groups)})" if k == 0 else f"(continued, {k + 1}/{len(groups)})"
        _render(console, g, t, n_rows)


def emit(
    rows,
    fmt: Format = "table",
    title: str | None = None,
    columns: list[str] | None = None,
    file=None,
    transpose: bool = False,
    hoist: bool = False,
) -> None:
    """Print rows in the chosen format. ``transpose`` shows a table as field/value pairs.

    ``hoist`` (tables only): text columns with one value in every row go into the title.
    """
    df = to_frame(rows)
    if columns is not None:
        df = df[[c for c in columns if c in df.columns]]
    out = file or sys.stdout
    if fmt == "json":
        write_json(df, out)
    elif fmt == "csv":
        write_csv(df, out)
    else:
        print_table(integral_knobs(df), title=title, transpose=transpose, file=out, hoist=hoist)
