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

Rows come as a DataFrame or as a list of dicts; both are read into plain columns
(``_Table``), so printing a few records — a one-point ``evaluate`` — never loads pandas.
Records are typed as a DataFrame built from them would be (``_infer``): a column of numbers
with a gap is a float column, as in the frame. Heavy libraries (numpy, pandas, rich) are
imported inside the functions: ``--help`` and the command modules load this file without
paying for them.
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field
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
    pd = sys.modules.get("pandas")  # NA and NaT exist only once pandas is loaded
    if pd is not None and not isinstance(v, (str, bool, int, float, list, dict)):
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


Kind = Literal["bool", "number", "text"]


@dataclass
class _Table:
    """Rows as plain columns: names in order, each column's values and kind, the row labels."""

    names: list[str]
    cols: dict[str, list[Any]]
    kinds: dict[str, Kind]
    index: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.index)

    def select(self, names: list[str]) -> "_Table":
        return _Table(names, {c: self.cols[c] for c in names}, {c: self.kinds[c] for c in names}, self.index)

    def replace(self, name: str, values: list[Any], kind: Kind) -> "_Table":
        return _Table(self.names, {**self.cols, name: values}, {**self.kinds, name: kind}, self.index)

    def records(self) -> list[dict[str, Any]]:
        return [{c: self.cols[c][i] for c in self.names} for i in range(self.n)]


def _infer(values: list[Any]) -> tuple[Kind, list[Any]]:
    """A records column's kind and values as a DataFrame built from the records holds them
    (``cost.numeric.column_array``'s typing): bools alone are bool; integers alone are
    integers; numbers with a float or a gap (None read as NaN) are floats throughout; anything
    else, and Nones alone, is text (gaps as None)."""
    import numpy as np

    from ..cost.numeric import column_array, is_gap

    a = column_array(values) if values else np.empty(0, dtype=object)
    if a.dtype.kind in "biuf":
        return ("bool" if a.dtype.kind == "b" else "number"), a.tolist()
    return "text", [None if is_gap(v) else v for v in values]


def _table(rows, index: list[str] | None = None) -> _Table:
    """Rows (a DataFrame or dicts) as plain columns; ``index`` labels the rows (default: the
    frame's index, or 0, 1, …). A ``_Table`` is returned as it is."""
    if isinstance(rows, _Table):
        return rows
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(rows, pd.DataFrame):
        names = list(rows.columns)
        cols, kinds = {}, {}
        for c in names:
            col = rows[c]
            kinds[c] = "bool" if pd.api.types.is_bool_dtype(col) else "number" if pd.api.types.is_numeric_dtype(col) else "text"
            cols[c] = col.tolist()
        return _Table(names, cols, kinds, index or [str(x) for x in rows.index])
    recs = list(rows)
    names = list(dict.fromkeys(k for r in recs for k in r))
    cols, kinds = {}, {}
    for c in names:
        kinds[c], cols[c] = _infer([r.get(c, math.nan) for r in recs])  # a missing key is NaN, as in a frame
    return _Table(names, cols, kinds, index or [str(i) for i in range(len(recs))])


# ---- one style for programs ------------------------------------------------------------------


def integral_knobs(t: _Table) -> _Table:
    """``t`` with knob columns whose values are all whole numbers, and the registry's integer
    result columns, as integers (gaps None).

    A table mixing AIMC and GPU rows holds ``hw.tiles`` and ``tiles_needed`` as floats (NaN
    for the GPU rows); people and programs expect ``256``, not ``256.0``.
    """
    from ..cost import registry

    for c in t.names:
        if t.kinds[c] != "number":
            continue
        if not str(c).startswith(KNOB_PREFIXES):
            col = registry.column(str(c))
            if col is None or col.dtype != "int":
                continue
        vals = [_plain(x) for x in t.cols[c]]  # gaps (NaN, NA, ±inf) as None
        present = [x for x in vals if x is not None]
        if not any(isinstance(x, float) for x in present) or any(x != round(x) or abs(x) >= 2**53 for x in present):
            continue
        t = t.replace(c, [None if x is None else int(x) for x in vals], "number")
    return t


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


def write_json(rows, out) -> None:
    """Rows (a DataFrame or dicts) as a JSON list of objects."""
    import json

    t = integral_knobs(_table(rows))
    recs = [{str(k): _plain(v) for k, v in r.items()} for r in t.records()]
    out.write(json.dumps(recs, indent=2, ensure_ascii=False) + "\n")


def write_csv(rows, out) -> None:
    """Rows (a DataFrame or dicts) as CSV with a header line."""
    import csv

    t = integral_knobs(_table(rows))
    w = csv.writer(out, lineterminator="\n")
    w.writerow([str(c) for c in t.names])
    for i in range(t.n):
        w.writerow([_csv_cell(t.cols[c][i]) for c in t.names])


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


def _key_count(t: _Table, transpose: bool) -> int:
    if transpose:
        return 1
    n = 0
    for c in t.names[:MAX_KEY_COLUMNS]:
        if t.kinds[c] == "number":
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


def hoist_constants(t: _Table, title: str | None) -> tuple[_Table, str | None]:
    """Text columns with one value in every row move into the title (``model.name: mixtral-8x7b``)."""
    from ..cost.numeric import is_gap

    if t.n < 2:
        return t, title
    same = []
    for c in t.names:
        if t.kinds[c] != "text":
            continue
        col = t.cols[c]
        if all(not is_gap(v) for v in col) and all(v == col[0] for v in col):
            same.append(c)
    if not same or len(same) == len(t.names):
        return t, title
    note = ", ".join(f"{c}: {t.cols[c][0]}" for c in same)
    return t.select([c for c in t.names if c not in same]), f"{title} — {note}" if title else note


def print_table(
    rows, title: str | None = None, transpose: bool = False, file=None, width: int | None = None, hoist: bool = False,
    index: list[str] | None = None,
) -> None:
    """A table that fits ``width`` columns, split into several when it cannot (no number is cut).

    ``hoist`` moves text columns that hold one value in every row into the title;
    ``transpose`` shows one column per row, headed by ``index`` (default: the frame's index).
    """
    from rich.console import Console

    t = integral_knobs(_table(rows, index))
    out = file or sys.stdout
    width = width or table_width(out)
    if hoist and not transpose:
        t, title = hoist_constants(t, title)
    if transpose:
        names = t.index if t.n > 1 else ["value"]
        cols = [_Col("field", [str(c) for c in t.names], right=False)]
        for i, name in enumerate(names):
            cols.append(_Col(name, [fmt_value(t.cols[c][i]) for c in t.names], right=True))
        n_rows = len(t.names)
    else:
        cols = []
        for c in t.names:
            cells = [fmt_value(v) for v in t.cols[c]]
            right = t.kinds[c] != "text" or (bool(cells) and all(_NUMBER.match(x) for x in cells))
            cols.append(_Col(str(c), cells, right=right))
        n_rows = t.n
    # Rich never wraps a line by itself here: every column has an explicit width.
    console = Console(file=out, width=max(width, 20), soft_wrap=False, highlight=False)
    groups = _groups(cols, width, _key_count(t, transpose))
    for k, g in enumerate(groups):
        _fit(g, width)
        head = title
        if len(groups) > 1:
            head = f"{title or 'table'} ({k + 1}/{len(groups)})" if k == 0 else f"(continued, {k + 1}/{len(groups)})"
        _render(console, g, head, n_rows)


def emit(
    rows,
    fmt: Format = "table",
    title: str | None = None,
    columns: list[str] | None = None,
    file=None,
    transpose: bool = False,
    hoist: bool = False,
    index: list[str] | None = None,
) -> None:
    """Print rows (a DataFrame or dicts) in the chosen format. ``transpose`` shows a table as
    field/value pairs, one column per row headed by ``index`` (default: the frame's index).

    ``hoist`` (tables only): text columns with one value in every row go into the title.
    """
    t = _table(rows, index)
    if columns is not None:
        t = t.select([c for c in columns if c in t.names])
    out = file or sys.stdout
    if fmt == "json":
        write_json(t, out)
    elif fmt == "csv":
        write_csv(t, out)
    else:
        print_table(t, title=title, transpose=transpose, file=out, hoist=hoist)
