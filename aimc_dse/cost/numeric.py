"""Small numeric helpers shared by the cost models (integer ceilings, latency rounding)."""

from __future__ import annotations

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
