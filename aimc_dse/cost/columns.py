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


class Cols:
    """Typed numpy views of design-point columns (a DataFrame, or a dict of scalars/arrays)."""

    def __init__(self, data: Mapping[str, Any] | pd.DataFrame):
        if isinstance(data, pd.DataFrame):
            self._d = {c: data[c].to_numpy() for c in data.columns}
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
        return self.raw(key, default).astype(str)

    def eq(self, key: str, value: str) -> np.ndarray:
        return self.s(key) == value
