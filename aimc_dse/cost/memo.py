"""Per-distinct-input evaluation: the one memoisation scheme of the cost model.

Whatever cannot be vectorised (Monte-Carlo routing, schedules on a routing, exact popularity
sums) is a scalar function of a few knobs. A sweep has millions of points but few distinct
knob combinations, so :func:`per_distinct` calls the scalar function once per distinct key
of a column set and broadcasts the answers back. Functions that are also reused across
calls (chunks of one sweep) carry ``functools.lru_cache`` themselves.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd


def distinct_rows(*cols: np.ndarray) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Index of each row's distinct key, and the distinct keys (first-occurrence order)."""
    frame = pd.DataFrame({i: c for i, c in enumerate(cols)})
    inv = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    first = np.unique(inv, return_index=True)[1]
    keys = [tuple(row) for row in frame.iloc[first].itertuples(index=False, name=None)]
    return inv, keys


def per_distinct(fn: Callable[..., Any], mask: np.ndarray, *cols: np.ndarray, width: int = 0,
                 fill: float = 0.0) -> np.ndarray:
    """``fn(*key)`` for every row where ``mask`` holds, computed once per distinct key.

    ``width`` 0: ``fn`` returns a number and the result is a float column; ``width`` w > 0:
    ``fn`` returns w numbers and the result is a (w, n) array. Rows outside the mask get
    ``fill``.
    """
    n = len(mask)
    out = np.full((width, n) if width else n, fill, dtype=np.float64)
    idx = np.flatnonzero(mask)
    if len(idx):
        inv, keys = distinct_rows(*(np.asarray(c)[idx] for c in cols))
        vals = np.array([fn(*key) for key in keys], dtype=np.float64)
        if width:
            out[:, idx] = vals.T[:, inv]
        else:
            out[idx] = vals[inv]
    return out
