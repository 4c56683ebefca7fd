"""MoE-separated placement and a stacked embedding's greedy placement, replayed for their
tile loads (docs/cost-model.md §3.2).

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

``greedy_loads`` replays ``greedy_in_order`` for a dense model whose embedding is stacked
(``mapping.stack_embedding``): the least-filled rule then piles the first layers on the tiles
the embedding leaves, which ⌈m/N⌉ misses on few tiles (docs/batch-fidelity.md item 14).
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


def _place_lookups(tl: TileMapper, s: dict, out: dict) -> None:
    """The embedding, then learned positions (sim/mapper.module_list's first modules)."""
    R, d = s["R"], s["d"]
    for table, rows in (("emb", s["vocab"]), ("pos", s["positions"])):
        if rows <= 0:
            continue
        util = min(1.0, R / rows)
        tiles = tl.place(R, d, util, dry_run=True)[1] if s["stack_embedding"] else None
        placed = tl.place(rows, d, util, tile_indices=tiles)[0]
        out[("lookup", table)] = [int(t) for t in placed.tiles[0]]  # a token reads one row chunk


def _place_rest(tl: TileMapper, s: dict, out: dict) -> None:
    """The non-MoE matrices in the reference's registration order (sim/mapper.module_list)."""
    d, q, L = s["d"], s["q"], s["L"]
    qkv = s["proj"]  # Q, K, V (GQA) or q_a, q_b, kv_a, kv_b (MLA), as shapes.attn_mats
    for l in range(L):
        if l == 0:
            _place_lookups(tl, s, out)
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


@lru_cache(maxsize=4096)
def greedy_loads(N: int, Z: int, R: int, C: int, d: int, q: int, qa_r: int, qa_c: int, q_r: int, q_c: int,
                 k_r: int, k_c: int, v_r: int, v_c: int, d_ff: int, layers: int, up_mats: int, vocab: int,
                 positions: int, position_mvms: bool) -> tuple[float, ...] | None:
    """A dense model under ``greedy_in_order`` with ``stack_embedding``: (qkv, out, f1, f2,
    lm, phase, phase_last, then three (slope, intercept) lines of the busiest tile's demand).

    Stacking puts the embedding's ⌈vocab/R⌉ row chunks on the ⌈d/C⌉ tiles of one row chunk;
    the least-filled rule then sends every following block to the other tiles until they are
    as full, so on few tiles the first layers sit on N − ⌈d/C⌉ of them and ⌈m/N⌉ undercounts
    their piles (docs/batch-fidelity.md, "Out of sample"). The stage piles are means over the
    layers, as ``separated_loads``'; ``phase`` is the busiest tile's blocks in a layer's phase
    (out, FFN, next Q,K,V) averaged over all layers but the last, ``phase_last`` the last
    layer's (no next Q,K,V). A tile's demand in a step of t tokens is a_i·t + b_i (a_i: the
    per-token blocks on it, the lookup's row chunk included; b_i: its LM-head blocks); the
    lines kept are the tiles with the largest a (then b), a + b and b (then a)."""
    if N <= 0 or layers <= 0:
        return None
    proj = [(r, c) for r, c in ((qa_r, qa_c), (q_r, q_c), (k_r, k_c), (v_r, v_c)) if r > 0 and c > 0]
    tl = TileMapper(N, Z, R, C, weighted=False)
    out: dict = {}
    try:
        _place_lookups(tl, dict(R=R, d=d, vocab=vocab, positions=positions, stack_embedding=True), out)
    except DoesNotFit:
        return None
    # The linear matrices in registration order (sim/mapper.module_list), each a run of blocks:
    # Q,K,V of layer 0, then per layer the next layer's Q,K,V, out, FFN up (gate), down; the LM head.
    nb = lambda rows, cols: -(-rows // R) * -(-cols // C)  # noqa: E731
    n = {"qkv": sum(nb(r, c) for r, c in proj), "out": nb(q, d), "f1": up_mats * nb(d, d_ff), "f2": nb(d_ff, d)}
    order = [("qkv", 0)] + [x for l in range(layers) for x in ([("qkv", l + 1)] if l < layers - 1 else [])
                            + [("out", l), ("f1", l), ("f2", l)]] + [("lm", 0)]
    lengths = np.array([n[kind] if kind != "lm" else nb(d, vocab) for kind, _ in order], dtype=np.int64)
    seq = _least_filled(tl.fill, Z, int(lengths.sum()))
    if seq is None:
        return None
    G = len(order)
    per = np.bincount(np.repeat(np.arange(G), lengths) * N + seq, minlength=G * N).reshape(G, N)
    row = {key: i for i, key in enumerate(order)}
    cnt = {kind: per[[row[(kind, l)] for l in range(layers)]] for kind in n}  # (layers, N) each
    phase = cnt["out"] + cnt["f1"] + cnt["f2"]
    phase[:-1] += cnt["qkv"][1:]
    a = sum(cnt[kind].sum(axis=0) for kind in n) + _counts(out.get(("lookup", "emb"), []), N)
    if position_mvms:
        a = a + _counts(out.get(("lookup", "pos"), []), N)
    b = per[row[("lm", 0)]]
    picks = (np.lexsort((b, a))[-1], int(np.argmax(a + b)), np.lexsort((a, b))[-1])
    lines = [float(x) for i in picks for x in (a[i], b[i])]
    mean_max = {kind: float(cnt[kind].max(axis=1).mean()) for kind in n}
    return (mean_max["qkv"], mean_max["out"], mean_max["f1"], mean_max["f2"], float(b.max()),
            float(phase[:-1].max(axis=1).mean()) if layers > 1 else float(phase[0].max()),
            float(phase[-1].max()), *lines)


def _least_filled(fill: np.ndarray, Z: int, m: int) -> np.ndarray | None:
    """The tiles of m blocks placed one after another on the least-filled tile, lowest index
    on ties (TileMapper's greedy rule), from the tiers ``fill`` already holds; None when a
    block finds every tile full. The rule fills in rounds: at level h every tile holding at
    most h tiers takes one block, in index order, until h reaches the next tile's level."""
    levels = [int(x) for x in np.unique(fill) if x < Z] + [Z]
    parts, left = [], m
    for lo, hi in zip(levels, levels[1:]):
        tiles = np.flatnonzero(fill <= lo)
        take = min(left, (hi - lo) * len(tiles))
        parts.append(np.resize(tiles, take))
        left -= take
        if not left:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return None


GREEDY_WIDTH = 13


def greedy_tile_loads(inp: Inputs, N: Array, applies: Array, position_mvms: Array) -> Array:
    """(13, n): ``greedy_loads`` per point where ``applies`` (a dense model on one chip under
    greedy placement with a stacked embedding, one tier a block, nothing digital); NaN
    elsewhere and where the replay finds no room."""
    chip, sh = inp.chip, inp.shape
    if not applies.any():
        return np.full((GREEDY_WIDTH, len(applies)), np.nan)
    positions = np.where(sh.learned_pos, sh.max_positions, 0)
    *proj, (o_rows, _) = sh.attn_mats
    attn = [np.broadcast_to(x, applies.shape) for rc in proj for x in rc]
    return per_distinct(
        lambda *a: greedy_loads(*(int(x) for x in a[:-1]), bool(a[-1])) or (np.nan,) * GREEDY_WIDTH, applies,
        N, chip.Z, chip.R, chip.C, sh.d, o_rows, *attn, sh.d_ff, sh.layers,
        sh.n_ffn_mats - 1, sh.vocab, positions, np.broadcast_to(position_mvms, applies.shape), width=GREEDY_WIDTH,
        fill=np.nan)


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
