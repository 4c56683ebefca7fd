"""The reference mapper replayed block by block (docs/reference-simulators.md §B.3, §B.4).

Tests only: it loops over every block, so it checks the closed forms of
``aimc_dse.cost.mapping`` on small chips rather than serving a sweep.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass


@dataclass(frozen=True)
class BlockPlacement:
    matrix: str
    row_chunk: int
    col_chunk: int
    tile: int
    tier: int


def exact_greedy_map(matrices, R: int, C: int, N: int, Z: int, stack_embedding: bool = False) -> list[BlockPlacement] | None:
    """Replay GREEDY_IN_ORDER block by block (§B.3, §B.4); None when the model does not fit.

    ``matrices``: list of (name, rows, cols) in mapping order. Least-used tile first,
    lowest index on ties. With ``stack_embedding`` the embedding's row chunks are stacked on
    the ⌈d/C⌉ tiles its first row chunk picks.
    """
    fill = [0] * N
    heap = [(0, t) for t in range(N)]
    out: list[BlockPlacement] = []

    def take() -> int | None:
        while heap:
            f, t = heapq.heappop(heap)
            if f == fill[t]:
                return t
        return None

    def put(name: str, i: int, j: int, t: int) -> None:
        out.append(BlockPlacement(name, i, j, t, fill[t]))
        fill[t] += 1
        heapq.heappush(heap, (fill[t], t))

    for name, rows, cols in matrices:
        v, h = -(-rows // R), -(-cols // C)
        if stack_embedding and name == "embedding":
            tiles = []
            for j in range(h):
                t = take()
                if t is None or fill[t] >= Z:
                    return None
                tiles.append(t)
                out.append(BlockPlacement(name, 0, j, t, fill[t]))
                fill[t] += 1
            for t in tiles:
                heapq.heappush(heap, (fill[t], t))
            for i in range(1, v):
                for j, t in enumerate(tiles):
                    if fill[t] >= Z:  # fall back to the least-used tile
                        t = take()
                        if t is None or fill[t] >= Z:
                            return None
                    put(name, i, j, t)
            continue
        for i in range(v):
            for j in range(h):
                t = take()
                if t is None or fill[t] >= Z:
                    return None
                put(name, i, j, t)
    return out
