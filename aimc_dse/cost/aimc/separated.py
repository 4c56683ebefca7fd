"""MoE-separated placement, replayed for its expert tile loads (docs/cost-model.md §3.2).

Under ``moe_separated`` the references place every MoE layer first, with a *weighted* fill:
a linear block (the router, shared experts) weighs 1, a routed-expert block 1/E, and a tile
needs room for E more tiers to take a block of expert 0, whose E − 1 siblings then stack on
exactly the same tiles (docs/reference-simulators.md §B.4). A matrix with no more blocks
than tiles avoids the tiles it already uses; a bigger one does not, and because each of its
blocks raises the chosen tile's weight by only 1/E, the least-weighted tile keeps winning —
a matrix of 16 blocks on 8 tiles can land 8 deep on two tiles. The expert stage latencies
follow from those piles, not from an even spread, so this module replays the placement of
the MoE layers (pure integer arithmetic: weights in units of 1/E, so ties break as in the
reference whenever 1/E is exact) and reports, averaged over the MoE layers, the most blocks
one tile holds of one expert's up-projection(s), its down-projection, and both together.

It is a scalar function of a few knobs, evaluated once per distinct combination
(``memo.per_distinct``) and cached across chunks; ``None`` when the replay finds no room.
The fit itself stays the mapping's (blocks.mapping).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..numeric import ceil_div


class _NoRoom(Exception):
    pass


class _Tiles:
    def __init__(self, N: int, Z: int, E: int):
        self.fill = np.zeros(N, dtype=np.int64)  # tiers in use
        self.weight = np.zeros(N, dtype=np.int64)  # weighted fill in units of 1/E
        self.N, self.Z, self.E = N, Z, E

    def place(self, rows: int, cols: int, R: int, C: int, unit: int, repeat: int) -> list[int]:
        """One matrix block by block: the least-weighted tile with room for ``repeat`` more
        tiers, avoiding the matrix's own tiles when it has no more blocks than tiles."""
        n = int(ceil_div(rows, R) * ceil_div(cols, C))
        used: list[int] = []
        for _ in range(n):
            room = self.fill + repeat < self.Z
            mask = room.copy()
            if n <= self.N and used:
                mask[used] = False
            if not mask.any():
                mask = room
            if not mask.any():
                raise _NoRoom
            idx = np.flatnonzero(mask)
            t = int(idx[np.argmin(self.weight[idx])])
            used.append(t)
            self.fill[t] += 1
            self.weight[t] += unit
        return used


@lru_cache(maxsize=4096)
def separated_expert_loads(N: int, Z: int, R: int, C: int, d: int, d_ff_expert: int, E: int, moe_layers: int,
                           up_mats: int, shared: int, d_ff_shared: int) -> tuple[float, float, float] | None:
    """(up, down, both): one expert's most blocks on a tile, mean over the MoE layers."""
    if N <= 0 or E <= 0 or moe_layers <= 0:
        return None
    tiles = _Tiles(N, Z, E)
    loads = []
    try:
        for _ in range(moe_layers):
            tiles.place(d, E, R, C, E, 0)  # the router: a linear block weighs E/E
            counts = []
            for rows, cols in [(d, d_ff_expert)] * up_mats + [(d_ff_expert, d)]:
                used = tiles.place(rows, cols, R, C, 1, E)
                np.add.at(tiles.fill, used, E - 1)  # experts 1 … E − 1 on the same tiles
                np.add.at(tiles.weight, used, E - 1)
                counts.append(np.bincount(used, minlength=N))
            up, down = np.sum(counts[:-1], axis=0), counts[-1]
            loads.append((up.max(), down.max(), (up + down).max()))
            for _ in range(shared):
                for rows, cols in [(d, d_ff_shared)] * up_mats + [(d_ff_shared, d)]:
                    tiles.place(rows, cols, R, C, E, 0)
    except _NoRoom:
        return None
    a = np.asarray(loads, dtype=np.float64).mean(axis=0)
    return float(a[0]), float(a[1]), float(a[2])
