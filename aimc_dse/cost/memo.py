"""Per-distinct-input evaluation: the one memoisation scheme of the cost model.

Whatever cannot be vectorised (Monte-Carlo routing, schedules on a routing, exact popularity
sums) is a scalar function of a few knobs. A sweep has millions of points but few distinct
knob combinations, so :func:`per_distinct` calls the scalar function once per distinct key
of a column set and broadcasts the answers back. Functions that are also reused across
calls (chunks of one sweep) carry ``functools.lru_cache`` themselves.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any, Callable

import numpy as np


def distinct_rows(*cols: np.ndarray) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Index of each row's distinct key, and the distinct keys (first-occurrence order)."""
    arrays = [np.asarray(c) for c in cols]
    inv, first = distinct_index(*arrays)
    keys = list(zip(*(a[first].tolist() for a in arrays))) if len(first) else []
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


def distinct_index(*cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of each row's distinct key in first-occurrence order, the first row of each key):
    rows that agree on every column share a key; NaN equals NaN.

    Each column is factorised and the codes folded into one integer key (re-factorised
    before it could overflow); constant columns cost one pass and are skipped."""
    n = max((np.size(c) for c in cols), default=0)
    key, size = np.zeros(n, dtype=np.int64), 1
    if n <= 1:  # one point is one key (and a one-point evaluate never loads pandas)
        return key, np.zeros(n, dtype=np.intp)
    import pandas as pd

    for c in cols:
        a = np.asarray(c)
        if a.ndim == 0 or np.all(a[:1] == a):  # constant (NaN columns fall through)
            continue
        codes, uniq = pd.factorize(a, use_na_sentinel=False)
        if size * len(uniq) >= 2**62:
            key = pd.factorize(key)[0]
            size = int(key.max()) + 1
        key, size = key * len(uniq) + codes, size * len(uniq)
    inv = pd.factorize(key)[0]
    first = np.unique(inv, return_index=True)[1]
    return inv, first


def take(obj: Any, idx: np.ndarray, n: int) -> Any:
    """``obj`` restricted to the points ``idx`` of n: every array whose last axis has length n
    is indexed on it, inside (frozen) dataclasses, tuples and lists; anything else is kept.
    All n points in order give ``obj`` itself."""
    idx = np.asarray(idx)
    if len(idx) == n and np.array_equal(idx, np.arange(n)):
        return obj
    return _take(obj, idx, n)


def gather(obj: Any, idx: np.ndarray, u: int) -> Any:
    """``obj``, computed once per distinct design (u of them), for every point: point j gets
    design ``idx[j]``. Arrays whose last axis has length u are indexed on it when first read
    (a field of a dataclass is gathered on access, so what the points never read is never
    copied), inside dataclasses, tuples and lists; anything else is kept. ``take`` on the
    result composes the indices without gathering."""
    idx = np.asarray(idx)
    if isinstance(obj, np.ndarray):
        return obj[..., idx] if obj.ndim and obj.shape[-1] == u else obj
    if isinstance(obj, _Gathered):
        return gather(obj._src, obj._idx[idx], obj._u)
    if isinstance(obj, (tuple, list)):
        return type(obj)(gather(x, idx, u) for x in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: Any = object.__new__(_gathered_class(type(obj)))
        object.__setattr__(out, "_src", obj)
        object.__setattr__(out, "_idx", idx)
        object.__setattr__(out, "_u", u)
        object.__setattr__(out, "_got", {})
        return out
    return obj


class _Gathered:
    """Marker base of the lazily gathered dataclasses ``gather`` makes."""

    _src: Any
    _idx: np.ndarray
    _u: int
    _got: dict[str, Any]


@functools.lru_cache(maxsize=None)
def _gathered_class(cls: type) -> type:
    """A subclass of dataclass ``cls`` whose fields are read through (and gathered from) the
    per-design instance; its methods work unchanged."""

    def field(name: str) -> property:
        def get(self: Any) -> Any:
            got = self._got
            if name not in got:
                got[name] = gather(getattr(self._src, name), self._idx, self._u)
            return got[name]

        return property(get)

    ns: dict[str, Any] = {f.name: field(f.name) for f in dataclasses.fields(cls)}
    return type(f"Gathered{cls.__name__}", (_Gathered, cls), ns)


def _take(obj: Any, idx: np.ndarray, n: int) -> Any:
    if isinstance(obj, _Gathered):
        return gather(obj._src, obj._idx[idx], obj._u) if len(obj._idx) == n else obj
    if isinstance(obj, np.ndarray):
        return obj[..., idx] if obj.ndim and obj.shape[-1] == n else obj
    if isinstance(obj, (tuple, list)):
        return type(obj)(_take(x, idx, n) for x in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = copy.copy(obj)
        for f in dataclasses.fields(obj):
            object.__setattr__(out, f.name, _take(getattr(obj, f.name), idx, n))
        return out
    return obj
