"""Typed numpy views of design-point columns: how the cost functions read a grid.

Columns come from ``specs.columns.spec_columns`` (re-exported here for callers of the cost
model); ``Cols`` gives typed arrays of them, one entry per design point.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Mapping, cast

import numpy as np

from ..specs.columns import hardware_columns, model_columns, spec_columns, workload_columns

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Cols", "hardware_columns", "model_columns", "spec_columns", "workload_columns"]


def _distinct_strings(values: Any) -> np.ndarray | None:
    """A string column as a fixed-width unicode array built from its distinct values (a sweep
    holds few), much faster than converting every Python string; None if not all strings."""
    import pandas as pd

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
        self._typed_cache: dict[tuple, np.ndarray] = {}
        pandas = sys.modules.get("pandas")  # a DataFrame means pandas is loaded; a dict needs none
        if pandas is not None and isinstance(data, pandas.DataFrame):
            self._d = {c: _column(data[c]) for c in data.columns}
            self.n = len(data)
        else:
            self._d = dict(cast("Mapping[str, Any]", data))
            lens = [len(v) for v in self._d.values()
                    if isinstance(v, (np.ndarray, list)) or (pandas is not None and isinstance(v, pandas.Series))]
            self.n = max(lens) if lens else 1

    def has(self, key: str) -> bool:
        return key in self._d

    def keys(self) -> list[str]:
        return list(self._d)

    def varying(self) -> list[str]:
        """The columns given per point; the others are one value for every point (a scalar,
        or a broadcast view of one, as the sweep runner passes its fixed knobs)."""
        return [k for k, v in self._d.items()
                if np.ndim(v) > 0 and not (isinstance(v, np.ndarray) and v.strides[0] == 0 and len(v) > 1)]

    def raw(self, key: str, default: Any = None) -> np.ndarray:
        if key not in self._d:
            if default is None:
                raise KeyError(f"design column {key!r} missing")
            v = default
        else:
            v = self._d[key]
        a = np.asarray(v)
        return np.broadcast_to(a, (self.n,)) if a.ndim == 0 else a

    def _typed(self, key: str, default: Any, dtype: Any) -> np.ndarray:
        # converted once (the model reads some columns in several places) and handed out as a
        # read-only view, since every reader shares it
        k = (key, np.dtype(dtype).char, None if key in self._d else repr(default))
        got = self._typed_cache.get(k)
        if got is None:
            got = self.raw(key, default).astype(dtype, copy=False).view()
            got.flags.writeable = False
            self._typed_cache[k] = got
        return got

    def f(self, key: str, default: Any = None) -> np.ndarray:
        return self._typed(key, default, np.float64)

    def i(self, key: str, default: Any = None) -> np.ndarray:
        return self._typed(key, default, np.int64)

    def b(self, key: str, default: Any = None) -> np.ndarray:
        return self._typed(key, default, bool)

    def s(self, key: str, default: Any = None) -> np.ndarray:
        a = self.raw(key, default)
        if a.dtype.kind == "U":
            return a
        text = _distinct_strings(a) if a.dtype == object else None
        return a.astype(str) if text is None else text

    def eq(self, key: str, value: str) -> np.ndarray:
        return self.s(key) == value
