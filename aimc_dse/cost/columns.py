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


def _column(s: pd.Series) -> np.ndarray:
    """A column as numpy; strings (pandas string, categorical or object columns, which hold
    few distinct values per sweep) as a fixed-width unicode array built from their distinct
    values, much faster than converting every Python string."""
    if s.dtype.kind in "biuf":
        return s.to_numpy()
    codes, uniq = s.factorize(use_na_sentinel=False)
    names = [str(x) for x in uniq]
    if not all(isinstance(x, str) or pd.isna(x) for x in uniq):
        return s.to_numpy()  # not a string column
    return np.asarray(names, dtype=str)[codes] if len(names) else np.asarray(s.to_numpy(), dtype=str)


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
        if a.dtype == object and len(a) > 64:  # few distinct strings: convert those, then gather
            codes, uniq = pd.factorize(a, use_na_sentinel=False)
            return np.asarray(uniq, dtype=str)[codes]
        return a.astype(str)

    def eq(self, key: str, value: str) -> np.ndarray:
        return self.s(key) == value
