"""The reference mapper, replayed block by block (docs/reference-simulators.md §B; threedsim ``Mapper``).

Weights are placed module by module in registration order — per layer the token and
position embeddings (layer 0), Q/K/V of layer 0, Q/K/V of the *next* layer (all but the last
layer), out_proj, then the FFN or MoE block (router, then each expert's ffn1 and ffn2) —
and finally lm_head. Each I×O matrix is cut into ⌈I/R⌉×⌈O/C⌉ blocks, row-major, and each
block takes one tier of a tile:

* ``greedy_in_order`` (and ``greedy_random``, which the closed form treats alike): the tile
  with the fewest used tiers, lowest index on ties;
* ``moe_separated``: MoE blocks first; tiles ranked by a *weighted* fill (1 per linear block,
  1/E per expert block, min(1, R/rows) per embedding block), avoiding tiles that already
  hold a block of the same matrix; expert 0 of each matrix reserves tiles with room for E
  tiers and experts 1…E−1 stack on exactly those tiles (§B.4);
* ``stack_embedding``: a dry run finds the ⌈d/C⌉ tiles of one row chunk; all row chunks of
  the embedding are stacked on them (falling back to the least-filled tile when full).

Does not fit → ``None`` (the caller reports fits = false). The float arithmetic of the
weighted fill follows the reference (same increments in the same order), so its ties break
the same way.
"""

from __future__ import annotations

from ..cost.tile_mapper import DoesNotFit, Placed, TileMapper
from .params import SimParams

__all__ = ["DoesNotFit", "Placed", "map_model", "module_list", "expert_mats", "shared_mats", "blocks_total"]


def module_list(p: SimParams) -> list[tuple]:
    """Modules in the reference's registration order: ('lin', key, I, O) | ('emb', key, rows) | ('moe', l)."""
    d, q, kv = p.d, p.q, p.kv
    mods: list[tuple] = []
    for l in range(p.L):
        if l == 0:
            mods.append(("emb", ("emb",), p.vocab))
            if p.learned_pos:
                mods.append(("emb", ("pos",), p.max_positions))
            mods += [("lin", ("q", 0), d, q), ("lin", ("k", 0), d, kv), ("lin", ("v", 0), d, kv)]
        if l < p.L - 1:
            mods += [("lin", ("q", l + 1), d, q), ("lin", ("k", l + 1), d, kv), ("lin", ("v", l + 1), d, kv)]
        mods.append(("lin", ("out", l), q, d))
        if p.moe_layer[l]:
            mods.append(("moe", l))
        else:
            mods.append(("lin", ("f1", l), d, p.d_ff))
            if p.gated:
                mods.append(("lin", ("fu", l), d, p.d_ff))
            mods.append(("lin", ("f2", l), p.d_ff, d))
    mods.append(("lin", ("lm",), d, p.vocab))
    return mods


def expert_mats(p: SimParams) -> list[tuple[str, int, int]]:
    """One routed expert's matrices in mapping order: ffn1 (gate), [up], ffn2."""
    mats = [("e1", p.d, p.d_ff_e)]
    if p.gated:
        mats.append(("eu", p.d, p.d_ff_e))
    mats.append(("e2", p.d_ff_e, p.d))
    return mats


def shared_mats(p: SimParams) -> list[tuple[str, int, int]]:
    mats = [("s1", p.d, p.d_ff_s)]
    if p.gated:
        mats.append(("su", p.d, p.d_ff_s))
    mats.append(("s2", p.d_ff_s, p.d))
    return mats


def map_model(p: SimParams, N: int) -> dict[tuple, Placed] | None:
    """Place every matrix; None when the model does not fit on N tiles of Z tiers."""
    sep = p.strategy == "moe_separated"
    m = TileMapper(N, p.Z, p.R, p.C, weighted=sep)
    mods = module_list(p)
    if sep:
        mods = [x for x in mods if x[0] == "moe"] + [x for x in mods if x[0] != "moe"]
    out: dict[tuple, Placed] = {}
    try:
        for mod in mods:
            if mod[0] == "lin":
                out[mod[1]], _ = m.place(mod[2], mod[3], 1.0)
            elif mod[0] == "emb":
                rows = mod[2]
                util = min(1.0, p.R / rows)
                tiles = None
                if p.stack_embedding:
                    _, tiles = m.place(p.R, p.d, util, dry_run=True)
                out[mod[1]], _ = m.place(rows, p.d, util, tile_indices=tiles)
            else:
                l = mod[1]
                out[("router", l)], _ = m.place(p.d, p.E, 1.0)
                E, u = p.E, 1.0 / p.E
                mats = expert_mats(p)
                if sep:
                    if p.split_ffn:
                        for name, I, O in mats:
                            out[(name, l, 0)], tiles = m.place(I, O, u, is_repeated=E)
                            for e in range(1, E):
                                out[(name, l, e)], _ = m.place(I, O, u, tile_indices=tiles)
                    else:  # the reference crashes here (§H.17); stack the whole expert instead
                        first = None
                        for name, I, O in mats:
                            rep = len(mats) * E if first is None else 0
                            out[(name, l, 0)], tiles = m.place(I, O, u, is_repeated=rep, tile_indices=first)
                            first = first or tiles
                            for e in range(1, E):
                                out[(name, l, e)], _ = m.place(I, O, u, tile_indices=tiles)
                else:
                    for e in range(E):
                        first = None
                        for name, I, O in mats:
                            ti = None if (p.split_ffn or first is None) else first
                            out[(name, l, e)], tiles = m.place(I, O, u, tile_indices=ti)
                            first = first or tiles
                for j in range(p.shared):
                    for name, I, O in shared_mats(p):
                        out[(name, l, j)], _ = m.place(I, O, 1.0)
    except DoesNotFit:
        return None
    return out


def blocks_total(p: SimParams) -> int:
    """Tier blocks of the whole model, as the closed form counts them (for size_to_model)."""
    nb = lambda I, O: (-(-I // p.R)) * (-(-O // p.C))  # noqa: E731
    tot = 0
    for mod in module_list(p):
        if mod[0] == "lin":
            tot += nb(mod[2], mod[3])
        elif mod[0] == "emb":
            tot += nb(mod[2], p.d)
        else:
            tot += nb(p.d, p.E) + p.E * sum(nb(I, O) for _, I, O in expert_mats(p))
            tot += p.shared * sum(nb(I, O) for _, I, O in shared_mats(p))
    return tot
