"""Row filters written the way users think of them: ``fits == true``, ``hw.tiles >= 200``.

A filter is a pandas query expression with two conveniences: dotted column names need no
backticks (``hw.tiles`` becomes ```hw.tiles```), and YAML-style ``true``/``false`` mean
``True``/``False``. Used by sweep files (``filters:``) and by ``pareto``/``plot --where``.
"""

from __future__ import annotations

import difflib
import re

import numpy as np
import pandas as pd

# Quoted strings and backticked names are left alone; bare (dotted) names are rewritten.
_TOKEN = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`)|(?<![\w.])([A-Za-z_]\w*(?:\.\w+)*)""")


def normalize(expr: str) -> str:
    """The pandas form of a filter expression."""

    def sub(m: re.Match) -> str:
        if m.group(1):
            return m.group(1)
        name = m.group(2)
        if name in ("true", "false"):
            return name.capitalize()
        return f"`{name}`" if "." in name else name

    return _TOKEN.sub(sub, expr)


class QueryError(ValueError):
    """A filter expression that cannot be applied (unknown column, bad syntax, not a condition)."""


_WORDS = {"and", "or", "not", "in", "is", "True", "False", "None", "true", "false", "inf", "nan"}


def names(expr: str) -> list[str]:
    """Column names an expression refers to (bare or backticked; not function names)."""
    out = []
    for m in _TOKEN.finditer(expr):
        if m.group(1) and m.group(1).startswith("`"):
            out.append(m.group(1)[1:-1])
        elif m.group(2) and m.group(2) not in _WORDS and not expr[m.end():].lstrip().startswith("("):
            out.append(m.group(2))
    return out


def check_names(expr: str, columns) -> None:
    """QueryError naming the first unknown column of ``expr``."""
    known = list(columns)
    for n in names(expr):
        if n not in known:
            close = difflib.get_close_matches(n, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise QueryError(f"unknown column {n}{hint}")


def mask(df: pd.DataFrame, expr: str) -> np.ndarray:
    """Boolean mask of the rows where ``expr`` holds; QueryError with a readable reason otherwise."""
    check_names(expr, df.columns)
    try:
        m = df.eval(normalize(expr))
    except Exception as e:  # pandas raises many types (UndefinedVariableError, SyntaxError, TypeError …)
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise QueryError(msg.replace("`", "")) from None
    if np.ndim(m) == 0:
        m = np.full(len(df), bool(m))
    m = pd.Series(m, index=df.index) if not isinstance(m, pd.Series) else m
    if not (pd.api.types.is_bool_dtype(m.dtype) or len(m) == 0):
        raise QueryError("is not a condition (it should be true or false for each row)")
    return m.fillna(False).to_numpy(dtype=bool)


def apply(df: pd.DataFrame, exprs: list[str]) -> pd.DataFrame:
    """Rows of ``df`` where every expression holds."""
    if not exprs or len(df) == 0:
        return df
    keep = np.ones(len(df), dtype=bool)
    for e in exprs:
        keep &= mask(df, e)
    return df[keep]
