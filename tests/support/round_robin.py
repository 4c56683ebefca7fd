"""A direct reference for the busiest tile of ranges placed round-robin, against which
``cost.aimc.stages.tile_demand`` (which keeps the result as lines in the step's tokens) is
tested."""

from __future__ import annotations

import numpy as np

from aimc_dse.cost.numeric import Array, ArrayLike


def max_weighted_ranges(ms: list[ArrayLike], ws: list[ArrayLike], N: ArrayLike) -> Array:
    """Max over tiles of Σ_i w_i·(count of range i), for ranges placed one after another
    round-robin on N tiles (w_i ≥ 0).

    Range i (m_i blocks) puts ⌊m_i/N⌋ blocks on every tile and one more on an arc of
    m_i mod N consecutive tiles starting where the ranges before it ended. A sum of weighted
    arcs peaks at the start of one of them, so the maximum is the full rounds plus the best
    of the arcs' starting tiles.
    """
    N = np.asarray(N, dtype=np.int64)
    ms = [np.asarray(m, dtype=np.int64) for m in ms]
    ws = [np.asarray(w, dtype=np.float64) for w in ws]
    base = sum(w * (m // N) for m, w in zip(ms, ws))
    starts, arcs, off = [], [], np.zeros_like(N)
    for m in ms:
        starts.append(off % N)
        arcs.append(m % N)
        off = off + m
    best = np.zeros(np.broadcast(base, N).shape)
    for x, r_x in zip(starts, arcs):
        at = sum(np.where((r > 0) & ((x - o) % N < r), w, 0.0) for o, r, w in zip(starts, arcs, ws))
        best = np.maximum(best, np.where(r_x > 0, at, 0.0))
    return base + best
