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


def ceil_div(a: Any, b: Any) -> Array:
    """⌈a/b⌉ for non-negative integer arrays (b > 0)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    return -(-a // b)
