"""Typed numpy views of design-point columns: how the cost functions read a grid.

Columns come from ``specs.columns.spec_columns`` (re-exported here for callers of the cost
model); ``Cols`` gives typed arrays of them, one entry per design point.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..specs.columns import hardware_columns, model_columns, spec_columns, workload_columns

__all__ = ["Cols", "hardware_columns", "model_columns", "spec_columns", "workload_columns"]


def _distinct_strings(values: Any) -> np.ndarray | None:
    """A string column as a fixed-width unicode array built from its distinct values (a sweep
    holds few), much faster than converting every Python string; None if not all strings."""
    codes, uniq = pd.factorize(values, use_na_sentinel=False)
    if not all(isinstance(x, str) or pd.isna(x) for x in uniq):
        return None
    return np.asarray([str(x) for x in uniq], dtype=str)[codes]


def _column(s: pd.Series) -> np.ndarray:
    """A column as numpy; pandas string, categorical and object columns of strings as unicode."""
    if s.dtype.kind in "biuf":
        return s.to_numpy()
    text = _distinct_strings(s)
    return s.to_numpy() if text is None else text


class Cols:
    """Typed numpy views of design-point columns (a DataFrame, or a dict of scalars/arrays)."""

    def __init__(self, data: Mapping[str, Any] | pd.DataFrame):
        if isinstance(data, pd.DataFrame):
            self._d = {c: _column(data[c]) for c in data.columns}
            self.n = len(data)
        else:
            self._d = dict(data)
            lens = [len(v) for v in self._d.values() if isinstance(v, (np.ndarray, list, pd.Series))]
            self.n = max(lens) if lens else 1

    def has(self, key: str) -> bool:
        return key in self._d

    def raw(self, key: str, default: Any = None) -> np.ndarray:
        if key not in self._d:
            if default is None:
                raise KeyError(f"design column {key!r} missing")
            v = default
        else:
            v = self._d[key]
        a = np.asarray(v)
        return np.broadcast_to(a, (self.n,)) if a.ndim == 0 else a

    def f(self, key: str, default: Any = None) -> np.ndarray:
        return self.raw(key, default).astype(np.float64)

    def i(self, key: str, default: Any = None) -> np.ndarray:
        return self.raw(key, default).astype(np.int64)

    def b(self, key: str, default: Any = None) -> np.ndarray:
        return self.raw(key, default).astype(bool)

    def s(self, key: str, default: Any = None) -> np.ndarray:
        a = self.raw(key, default)
        if a.dtype.kind == "U":
            return a
        text = _distinct_strings(a) if a.dtype == object else None
        return a.astype(str) if text is None else text

    def eq(self, key: str, value: str) -> np.ndarray:
        return self.s(key) == value
