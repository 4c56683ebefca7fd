"""MoE-separated placement, replayed for its tile loads (docs/cost-model.md §3.2).

Under ``moe_separated`` the references place every MoE layer first, then the other matrices,
all with a *weighted* fill: a linear block weighs 1, a routed-expert block 1/E, an embedding
block R/rows; a tile needs room for E more tiers to take a block of expert 0, whose E − 1
siblings then stack on exactly the same tiles (docs/reference-simulators.md §B.4). A matrix
with no more blocks than tiles avoids the tiles it already uses; a bigger one does not, and
because each of its blocks raises the chosen tile's weight by only 1/E, the least-weighted
tile keeps winning — a matrix of 16 blocks on 8 tiles can land 8 deep on two tiles. And the
linear matrices placed afterwards favour the expert tiles, which look light. Stage and phase
latencies follow from those piles, not from an even spread, so this module replays the
placement block by block, as the reference does (same order, same float increments, lowest
tile index on ties), and reports, averaged over the MoE layers:

* ``up``, ``down``, ``both``: the most blocks one tile holds of one expert's up-projection(s),
  its down-projection, and both together (the k chosen experts are stacked copies, so a
  stage serialises k times on that tile);
* ``phase``: the busiest tile's MVMs per token in the pipelined phase from the layer's
  attention output to the next layer's Q/K/V (out, router, k experts, shared experts, next
  Q/K/V) — the τ of prefill and cache-less decode (phases.py).

A scalar function of the design's knobs, evaluated once per distinct combination
(``memo.per_distinct``) and cached across chunks; ``None`` when the replay finds no room
(the fit itself stays the mapping's, blocks.mapping). It ignores physical bit slicing beyond
counting a block's tiers, and it assumes every expert stacks on expert 0's tiles (the
reference moves a sibling elsewhere only when a tile overflows).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..memo import per_distinct
from ..numeric import Array, ceil_div
from .inputs import Inputs


class _NoRoom(Exception):
    pass


class _Tiles:
    """The reference mapper's weighted mode (aimc_dse/sim/mapper.py), reduced to tile counts."""

    def __init__(self, N: int, Z: int):
        self.fill = np.zeros(N, dtype=np.int64)  # tiers in use
        self.wfill = np.zeros(N, dtype=np.float64)  # weighted fill
        self.N, self.Z = N, Z

    def _pick(self, used: list[int], nblocks: int, repeat: int) -> int:
        room = self.fill + repeat < self.Z
        mask = room.copy()
        if nblocks <= self.N and used:
            mask[used] = False
        if not mask.any():
            mask = room
        if not mask.any():
            raise _NoRoom
        idx = np.flatnonzero(mask)
        return int(idx[np.argmin(self.wfill[idx])])

    def place(self, rows: int, cols: int, R: int, C: int, util: float, repeat: int = 0,
              tiles: list[int] | None = None, dry_run: bool = False) -> list[int]:
        """One matrix block by block; the tile of each block in order."""
        if not (self.fill < self.Z).any():
            raise _NoRoom
        v, h = int(ceil_div(rows, R)), int(ceil_div(cols, C))
        saved = (self.fill.copy(), self.wfill.copy()) if dry_run else None
        used: list[int] = []
        for _ in range(v):
            for _ in range(h):
                if tiles is None:
                    t = self._pick(used, v * h, repeat)
                else:
                    t = tiles[len(used) % len(tiles)]
                    if self.fill[t] >= self.Z:
                        t = int(np.argmin(self.fill))
                if self.fill[t] >= self.Z:
                    raise _NoRoom
                used.append(t)
                self.fill[t] += 1
                self.wfill[t] += util
            if saved is not None:  # the reference restores inside the row loop: a dry run is one row
                self.fill, self.wfill = saved[0].copy(), saved[1].copy()
        return used

    def siblings(self, used: list[int], copies: int, util: float) -> None:
        """Experts 1 … E − 1 of a matrix on expert 0's tiles, expert after expert, block after
        block; a full tile sends the block to the least-filled tile, as the reference does."""
        cnt = self.counts(used)
        if np.all(self.fill + copies * cnt <= self.Z):  # nothing overflows: add them at once
            self.fill += copies * cnt
            self.wfill += copies * util * cnt  # exact when 1/E is (E a power of two)
            return
        for _ in range(copies):
            for t in used:
                if self.fill[t] >= self.Z:
                    t = int(np.argmin(self.fill))
                if self.fill[t] >= self.Z:
                    raise _NoRoom
                self.fill[t] += 1
                self.wfill[t] += util

    def counts(self, used: list[int]) -> np.ndarray:
        return np.bincount(np.asarray(used, dtype=np.int64), minlength=self.N)


def _place_moe_layer(tl: _Tiles, s: dict, l: int, out: dict) -> None:
    R, C, d, E = s["R"], s["C"], s["d"], s["E"]
    out[("router", l)] = tl.place(d, E, R, C, 1.0)
    counts = []
    for rows, cols in [(d, s["dffe"])] * s["up_mats"] + [(s["dffe"], d)]:
        used = tl.place(rows, cols, R, C, 1.0 / E, repeat=E)
        tl.siblings(used, E - 1, 1.0 / E)
        counts.append(tl.counts(used))
    out[("up", l)], out[("down", l)] = np.sum(counts[:-1], axis=0), counts[-1]
    shared = []
    for _ in range(s["shared"]):
        for rows, cols in [(d, s["dffs"])] * s["up_mats"] + [(s["dffs"], d)]:
            shared += tl.place(rows, cols, R, C, 1.0)
    out[("shared", l)] = shared


def _place_rest(tl: _Tiles, s: dict, out: dict) -> None:
    """The non-MoE matrices in the reference's registration order (sim/mapper.module_list)."""
    R, C, d, q, kv, L = s["R"], s["C"], s["d"], s["q"], s["kv"], s["L"]
    for l in range(L):
        if l == 0:
            for rows in (s["vocab"], s["positions"]):  # the embedding, then learned positions
                if rows <= 0:
                    continue
                util = min(1.0, R / rows)
                tiles = tl.place(R, d, R, C, util, dry_run=True) if s["stack_embedding"] else None
                tl.place(rows, d, R, C, util, tiles=tiles)
            out[("qkv", 0)] = tl.place(d, q, R, C, 1.0) + tl.place(d, kv, R, C, 1.0) + tl.place(d, kv, R, C, 1.0)
        if l < L - 1:
            out[("qkv", l + 1)] = (tl.place(d, q, R, C, 1.0) + tl.place(d, kv, R, C, 1.0)
                                   + tl.place(d, kv, R, C, 1.0))
        out[("out", l)] = tl.place(q, d, R, C, 1.0)
        if l not in s["moe"]:
            for rows, cols in [(d, s["dff"])] * s["up_mats"] + [(s["dff"], d)]:
                tl.place(rows, cols, R, C, 1.0)
    tl.place(d, s["vocab"], R, C, 1.0)


@lru_cache(maxsize=4096)
def separated_loads(N: int, Z: int, R: int, C: int, d: int, q: int, kv: int, d_ff: int, d_ff_expert: int, E: int,
                    k: int, layers: int, first_dense: int, moe_every: int, up_mats: int, shared: int,
                    d_ff_shared: int, vocab: int, positions: int, stack_embedding: bool
                    ) -> tuple[float, float, float, float] | None:
    """(up, down, both, phase), means over the MoE layers (module docstring)."""
    moe = [l for l in range(layers) if l >= first_dense and (l - first_dense) % max(moe_every, 1) == 0]
    if N <= 0 or E <= 0 or not moe:
        return None
    s = dict(R=R, C=C, d=d, q=q, kv=kv, dff=d_ff, dffe=d_ff_expert, E=E, L=layers, moe=set(moe), up_mats=up_mats,
             shared=shared, dffs=d_ff_shared, vocab=vocab, positions=positions, stack_embedding=stack_embedding)
    tl = _Tiles(N, Z)
    out: dict = {}
    try:
        for l in moe:
            _place_moe_layer(tl, s, l, out)
        _place_rest(tl, s, out)
    except _NoRoom:
        return None
    rows = []
    for l in moe:
        up, down = out[("up", l)], out[("down", l)]
        lin = (tl.counts(out[("out", l)]) + tl.counts(out[("router", l)]) + tl.counts(out[("shared", l)])
               + (tl.counts(out[("qkv", l + 1)]) if ("qkv", l + 1) in out else 0))
        rows.append((up.max(), down.max(), (up + down).max(), (lin + k * (up + down)).max()))
    a = np.asarray(rows, dtype=np.float64).mean(axis=0)
    return float(a[0]), float(a[1]), float(a[2]), float(a[3])


def separated_tile_loads(inp: Inputs, N: Array, per_block: Array) -> Array:
    """(4, n): up, down, both, phase per point for MoE-separated MoE models (module
    docstring); NaN elsewhere and where the replay finds no room."""
    chip, sh = inp.chip, inp.shape
    sep = chip.moe_separated & (sh.experts > 0)
    if not sep.any():
        return np.full((4, len(sep)), np.nan)
    slots = chip.Z // np.maximum(per_block, 1)  # a block takes per_block tiers
    positions = np.where(sh.learned_pos, sh.max_positions, 0)
    return per_distinct(
        lambda *a: separated_loads(*(int(x) for x in a[:-1]), bool(a[-1])) or (np.nan,) * 4, sep,
        N, slots, chip.R, chip.C, sh.d, sh.q, sh.kv, sh.d_ff, sh.d_ff_expert, sh.experts, sh.top_k, sh.layers,
        inp.first_dense_layers, inp.moe_every, sh.n_ffn_mats - 1, sh.shared, sh.d_ff_shared, sh.vocab, positions,
        chip.stack_embedding, width=4, fill=np.nan)
