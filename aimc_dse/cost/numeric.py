"""Small numeric helpers shared by the cost models (integer ceilings, latency rounding), and
how a column of plain Python values is typed (``column_array``, also used by report.output)."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
ArrayLike = Any  # a scalar or an array: what numpy broadcasts

# Latencies are rounded up to whole ns before any later multiplication, as the references
# keep integer op latencies (docs/reference-simulators.md §A.5.2). The epsilon keeps exact
# integers (50·4096/256 = 800) from being pushed up by float noise.
CEIL_EPS = 1e-9


def ceil_ns(x: Any) -> Array:
    """⌈x⌉ for latencies in ns, robust to float noise just above an integer."""
    return np.ceil(np.asarray(x) - CEIL_EPS)


# Below this magnitude ⌈a/b⌉ is exact through float division: a non-integer quotient lies at
# least 1/b from the nearest integer, far more than half an ulp of a/b.
_FLOAT_EXACT = 2**50


def ceil_div(a: Any, b: Any) -> Array:
    """⌈a/b⌉ for non-negative integer arrays (b > 0).

    Integer division has no vector instructions; for the usual magnitudes the float path is
    exact and about twice as fast, so it is taken when every operand is below 2⁵⁰."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.size and b.size and max(a.max(), -a.min(), b.max()) < _FLOAT_EXACT and b.min() > 0:
        return np.ceil(a / b).astype(np.int64)
    return -(-a // b)


def is_gap(v: Any) -> bool:
    """A missing value: None, a float NaN, or pandas's NA (which only a loaded pandas makes,
    so pandas is not imported to ask)."""
    if v is None or (isinstance(v, (float, np.floating)) and math.isnan(v)):
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and v is pandas.NA


def is_number(v: Any) -> bool:
    """An int or float, numpy's included, but not a bool."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def column_array(values: list[Any]) -> Array:
    """A column of Python values (NaN where a row lacks it) as the array a DataFrame built
    from those records holds, as ``cost.columns.Cols`` reads it, without pandas.

    A one-point evaluate skips pandas to start fast, so the types follow pandas's inference
    for records (tests/test_evaluate_records.py checks them against pandas): bools alone stay
    bool, integers alone int64, numbers with gaps (None or NaN) float64 with NaN; strings,
    with or without gaps, text (a gap written ``nan``: pandas makes every gap NaN and
    ``Cols`` writes it out); anything else stays object.
    """
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return np.asarray(values, dtype=bool)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values):
        for dtype in (np.int64, np.uint64):  # as pandas: uint64 beyond int64, else objects
            try:
                return np.asarray(values, dtype=dtype)
            except OverflowError:
                pass
    elif all(is_number(v) or v is None for v in values) and any(is_number(v) for v in values):
        return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    elif all(isinstance(v, str) or is_gap(v) for v in values):
        return np.asarray(["nan" if v is None else str(v) for v in values], dtype=str)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
