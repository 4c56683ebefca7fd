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
placement block by block with the reference's mapper (cost/tile_mapper.py, the event
simulator's too: same order, same float increments, lowest tile index on ties), and reports,
averaged over the MoE layers:

* ``up``, ``down``, ``both``: the most blocks one tile holds of one expert's up-projection(s),
  its down-projection, and both together (the k chosen experts are stacked copies, so a
  stage serialises k times on that tile);
* ``phase``: the busiest tile's MVMs per token in the pipelined phase from the layer's
  attention output to the next layer's Q/K/V (out, router, k experts, shared experts, next
  Q/K/V) — the τ of prefill and cache-less decode (phases.py);
* ``qkv``, ``out``, ``lm``: the most blocks one tile holds of a layer's Q/K/V and out
  projection (means over the layers) and of the LM head: the weighted fill piles them on the
  light-looking expert tiles too, so their stages serialise more than ⌈blocks/N⌉.

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
from ..numeric import Array
from ..tile_mapper import DoesNotFit, TileMapper
from .inputs import Inputs


def _counts(used: list[int], N: int) -> np.ndarray:
    return np.bincount(np.asarray(used, dtype=np.int64), minlength=N)


def _place_moe_layer(tl: TileMapper, s: dict, l: int, out: dict) -> None:
    d, E = s["d"], s["E"]
    out[("router", l)] = tl.place(d, E, 1.0)[1]
    counts = []
    for rows, cols in [(d, s["dffe"])] * s["up_mats"] + [(s["dffe"], d)]:
        used = tl.place(rows, cols, 1.0 / E, is_repeated=E)[1]
        tl.stack_siblings(used, E - 1, 1.0 / E)
        counts.append(_counts(used, tl.N))
    out[("up", l)], out[("down", l)] = np.sum(counts[:-1], axis=0), counts[-1]
    shared = []
    for _ in range(s["shared"]):
        for rows, cols in [(d, s["dffs"])] * s["up_mats"] + [(s["dffs"], d)]:
            shared += tl.place(rows, cols, 1.0)[1]
    out[("shared", l)] = shared


def _place_rest(tl: TileMapper, s: dict, out: dict) -> None:
    """The non-MoE matrices in the reference's registration order (sim/mapper.module_list)."""
    R, d, q, L = s["R"], s["d"], s["q"], s["L"]
    qkv = s["proj"]  # Q, K, V (GQA) or q_a, q_b, kv_a, kv_b (MLA), as shapes.attn_mats
    for l in range(L):
        if l == 0:
            for rows in (s["vocab"], s["positions"]):  # the embedding, then learned positions
                if rows <= 0:
                    continue
                util = min(1.0, R / rows)
                tiles = tl.place(R, d, util, dry_run=True)[1] if s["stack_embedding"] else None
                tl.place(rows, d, util, tile_indices=tiles)
            out[("qkv", 0)] = [t for rows, cols in qkv for t in tl.place(rows, cols, 1.0)[1]]
        if l < L - 1:
            out[("qkv", l + 1)] = [t for rows, cols in qkv for t in tl.place(rows, cols, 1.0)[1]]
        out[("out", l)] = tl.place(q, d, 1.0)[1]
        if l not in s["moe"]:
            for rows, cols in [(d, s["dff"])] * s["up_mats"] + [(s["dff"], d)]:
                tl.place(rows, cols, 1.0)
    out["lm"] = tl.place(d, s["vocab"], 1.0)[1]


@lru_cache(maxsize=4096)
def separated_loads(N: int, Z: int, R: int, C: int, d: int, q: int, qa_r: int, qa_c: int, q_r: int, q_c: int,
                    k_r: int, k_c: int, v_r: int, v_c: int, d_ff: int, d_ff_expert: int, E: int,
                    k: int, layers: int, first_dense: int, moe_every: int, up_mats: int, shared: int,
                    d_ff_shared: int, vocab: int, positions: int, stack_embedding: bool
                    ) -> tuple[float, float, float, float, float, float, float] | None:
    """(up, down, both, phase, qkv, out, lm): the first four means over the MoE layers, then
    the most blocks one tile holds of a layer's Q,K,V and of its out projection (means over
    all layers) and of the LM head (module docstring).

    ``q`` is the out projection's input width; the four projection slots (rows, cols) are
    ``shapes.attn_mats``' first four — q_a (0×0 without one), Q or q_b, K or kv_a, V or kv_b.
    """
    moe = [l for l in range(layers) if l >= first_dense and (l - first_dense) % max(moe_every, 1) == 0]
    if N <= 0 or E <= 0 or not moe:
        return None
    proj = [(r, c) for r, c in ((qa_r, qa_c), (q_r, q_c), (k_r, k_c), (v_r, v_c)) if r > 0 and c > 0]
    s = dict(R=R, C=C, d=d, q=q, proj=proj, dff=d_ff, dffe=d_ff_expert, E=E, L=layers, moe=set(moe), up_mats=up_mats,
             shared=shared, dffs=d_ff_shared, vocab=vocab, positions=positions, stack_embedding=stack_embedding)
    tl = TileMapper(N, Z, R, C, weighted=True)
    out: dict = {}
    try:
        for l in moe:
            _place_moe_layer(tl, s, l, out)
        _place_rest(tl, s, out)
    except DoesNotFit:
        return None
    rows = []
    for l in moe:
        up, down = out[("up", l)], out[("down", l)]
        lin = sum(_counts(out[key], N) for key in (("out", l), ("router", l), ("shared", l), ("qkv", l + 1))
                  if key in out)
        rows.append((up.max(), down.max(), (up + down).max(), (lin + k * (up + down)).max()))
    a = np.asarray(rows, dtype=np.float64).mean(axis=0)
    qkv = np.mean([_counts(out[("qkv", l)], N).max() for l in range(layers)])
    out_pile = np.mean([_counts(out[("out", l)], N).max() for l in range(layers)])
    lm = _counts(out["lm"], N).max()
    return float(a[0]), float(a[1]), float(a[2]), float(a[3]), float(qkv), float(out_pile), float(lm)


def separated_tile_loads(inp: Inputs, N: Array, per_block: Array) -> Array:
    """(4, n): up, down, both, phase per point for MoE-separated MoE models (module
    docstring); NaN elsewhere and where the replay finds no room."""
    chip, sh = inp.chip, inp.shape
    sep = chip.moe_separated & (sh.experts > 0)
    if not sep.any():
        return np.full((7, len(sep)), np.nan)
    slots = chip.Z // np.maximum(per_block, 1)  # a block takes per_block tiers
    positions = np.where(sh.learned_pos, sh.max_positions, 0)
    *proj, (o_rows, _) = sh.attn_mats
    attn = [np.broadcast_to(x, sep.shape) for rc in proj for x in rc]
    return per_distinct(
        lambda *a: separated_loads(*(int(x) for x in a[:-1]), bool(a[-1])) or (np.nan,) * 7, sep,
        N, slots, chip.R, chip.C, sh.d, o_rows, *attn, sh.d_ff, sh.d_ff_expert, sh.experts, sh.top_k, sh.layers,
        inp.first_dense_layers, inp.moe_every, sh.n_ffn_mats - 1, sh.shared, sh.d_ff_shared, sh.vocab, positions,
        chip.stack_embedding, width=7, fill=np.nan)
