"""The reference simulators' block-by-block tile mapper (docs/reference-simulators.md §B;
threedsim ``Mapper``): the event simulator's mapping (sim/mapper.py) and the closed form's
replay of MoE-separated placement (cost/aimc/separated.py) both use it.

Each I×O matrix is cut into ⌈I/R⌉×⌈O/C⌉ blocks, row-major, each taking one tier of a tile:
greedy — the tile with the fewest used tiers, lowest index on ties; weighted (MoE-separated)
— the tile with the least weighted fill among those with room, avoiding the matrix's own
tiles when it has no more blocks than tiles. The float arithmetic of the weighted fill
follows the reference (same increments in the same order), so its ties break the same way.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np


class DoesNotFit(Exception):
    pass


@dataclass
class Placed:
    """One matrix: tile of every block (v×h), used rows per row chunk, used columns per column chunk."""

    tiles: np.ndarray
    rows: np.ndarray
    cols: np.ndarray

    @property
    def v(self) -> int:
        return self.tiles.shape[0]

    @property
    def h(self) -> int:
        return self.tiles.shape[1]


class TileMapper:
    """N tiles of Z tiers filled block by block, greedy (least-filled tile, lowest index) or
    weighted (MoE-separated); ``place`` returns the matrix's blocks and their tiles in order."""

    def __init__(self, N: int, Z: int, R: int, C: int, weighted: bool):
        self.N, self.Z, self.R, self.C = N, Z, R, C
        self.fill = np.zeros(N, dtype=np.int64)
        self.wfill = np.zeros(N, dtype=np.float64)
        self.weighted = weighted
        self.heap = [(0, t) for t in range(N)]  # least-filled tile, lowest index (greedy)

    # -- greedy helpers ----------------------------------------------------------------
    def _least(self) -> int:
        """Lowest-index tile among the least-filled (np.where(fill == min)[0][0])."""
        if self.weighted:
            return int(np.argmin(self.fill))
        h = self.heap
        while True:
            f, t = h[0]
            if f == self.fill[t]:
                return t
            heapq.heappop(h)

    def _mark(self, t: int, util: float) -> None:
        self.fill[t] += 1
        self.wfill[t] += util
        if not self.weighted:
            heapq.heappush(self.heap, (int(self.fill[t]), t))

    def _weighted_pick(self, used: list[int], nblocks: int, is_repeated: int) -> int:
        room = self.fill + is_repeated < self.Z
        if nblocks > self.N:
            mask = room
        else:
            mask = room.copy()
            if used:
                mask[np.asarray(used, dtype=np.int64)] = False
        if not mask.any():
            mask = room
        if not mask.any():
            raise DoesNotFit("stacking MoE experts is not possible anymore")
        idx = np.flatnonzero(mask)
        return int(idx[np.argmin(self.wfill[idx])])

    # -- one matrix ----------------------------------------------------------------------
    def place(self, rows: int, cols: int, util: float, is_repeated: int = 0,
              tile_indices: list[int] | None = None, dry_run: bool = False) -> tuple[Placed, list[int]]:
        if not (self.fill < self.Z).any():
            raise DoesNotFit("network does not fit")
        R, C = self.R, self.C
        v, h = -(-rows // R), -(-cols // C)
        if dry_run:
            saved = (self.fill.copy(), self.wfill.copy(), list(self.heap))
        tiles = np.empty((v, h), dtype=np.int64)
        used: list[int] = []
        off = 0
        for i in range(v):
            for j in range(h):
                if tile_indices is None:
                    t = self._weighted_pick(used, v * h, is_repeated) if self.weighted else self._least()
                else:
                    t = tile_indices[off % len(tile_indices)]
                    if self.fill[t] >= self.Z:
                        t = int(np.argmin(self.fill))
                off += 1
                used.append(t)
                if self.fill[t] >= self.Z:
                    raise DoesNotFit("network does not fit")
                tiles[i, j] = t
                self._mark(t, util)
            if dry_run:  # the reference restores inside the row loop (§H.19); dry runs are one row
                self.fill, self.wfill, self.heap = saved[0].copy(), saved[1].copy(), list(saved[2])
        rows_used = np.minimum(R, rows - R * np.arange(v))
        cols_used = np.minimum(C, cols - C * np.arange(h))
        return Placed(tiles, rows_used, cols_used), used

    # -- MoE-separated siblings ----------------------------------------------------------------
    def stack_siblings(self, used: list[int], copies: int, util: float) -> None:
        """Experts 1 … E − 1 of a matrix on expert 0's tiles ``used``, expert after expert, block
        after block (a full tile sends the block to the least-filled tile), for the tile counts
        only — the event simulator places each sibling with ``place(tile_indices=used)``,
        which this equals. Without an overflow the copies go on at once (the float sums equal
        the reference's when 1/E is exact, E a power of two)."""
        cnt = np.bincount(np.asarray(used, dtype=np.int64), minlength=self.N)
        if np.all(self.fill + copies * cnt <= self.Z):
            self.fill += copies * cnt
            self.wfill += copies * util * cnt
            return
        for _ in range(copies):
            for t in used:
                if self.fill[t] >= self.Z:
                    t = int(np.argmin(self.fill))
                if self.fill[t] >= self.Z:
                    raise DoesNotFit("network does not fit")
                self.fill[t] += 1
                self.wfill[t] += util
