"""The whole batch's graph from a few step templates, with numpy (no per-node Python work).

A step's graph depends on the routing only through *which tiles* its expert MVMs use (all
experts of a layer have the same shape), on the position only through the position-
embedding tile, and on the context length only through the attention jobs' cost. So the
graph of a step with n tokens is built once (``graph.Builder``, tagging each expert MVM with
its MoE layer, token, expert slot and block, and each position MVM with its column), and
every (sequence, step) is an instance of it: node ids offset, sequence id set, expert and
position tiles looked up from the routing and the position, attention jobs re-costed at
the step's context. Step s+1's embedding MVMs hang off step s's sampling node through input
transfers, in the order the reference's tracer connects them (§C.3). Instances are laid
out sequence by sequence, steps in order, so node ids (and hence the initial ready order)
follow the reference's graph.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..specs.base import SpecError
from .graph import COMM, DPU, MHA, MVM, Builder, steps_of
from .mapper import Placed, expert_mats
from .params import SimParams, mha_cost
from .routing import Router
from .scheduler import PS_PER_NS

# Largest batch graph simulated by default: ~160 bytes per node in all, so about 10 GB.
MAX_NODES = 6e7


class _SlotRouter:
    """Routing placeholder for templates: slot i uses expert i (tiles are substituted later)."""

    def __init__(self, k: int):
        self.k = k

    def experts(self, step, ml, seq, tid, pos):
        return list(range(self.k))


@dataclass
class Template:
    kind: np.ndarray
    tile: np.ndarray
    lat_ps: np.ndarray
    tok: np.ndarray
    cls: np.ndarray
    ocomm: np.ndarray
    indptr: np.ndarray
    idx: np.ndarray
    xl: np.ndarray
    xt: np.ndarray
    xs: np.ndarray
    xb: np.ndarray
    xp: np.ndarray
    entry: np.ndarray
    mha: np.ndarray  # node ids of the attention jobs, layer order
    sampler: int
    sums: dict  # schedule-independent totals of the non-attention nodes (energy, flops, busy ns, counts)

    @property
    def n(self) -> int:
        return len(self.kind)


def build_template(p: SimParams, mapping: dict[tuple, Placed], n_tok: int, replay: bool = True) -> tuple[Template, Builder]:
    b = Builder(p, mapping, _SlotRouter(max(p.k, 0)), 0)
    b.replay = replay
    pos = list(range(n_tok))
    sampler = b.step_graph(0, n_tok, pos, max(n_tok, 1), True, False, None)
    g = b.g
    assert sampler == len(g.rows) - 1, "the sampling node closes its step"
    n = len(g.rows)
    kind, tile, lat, tok, cls, e, fl, dram = (np.asarray(c) for c in zip(*g.rows))
    kind = kind.astype(np.int8)
    ip, ix = g.csr()
    ocomm = np.zeros(n, np.int8)
    ocomm[np.asarray(g.ocomm, np.int64)] = 1
    tags = np.full((n, 4), -1, np.int64)
    if g.tags:
        ids = np.fromiter(g.tags.keys(), np.int64, len(g.tags))
        tags[ids] = np.array(list(g.tags.values()), np.int64)
    xp = np.full(n, -1, np.int64)
    if g.xp:
        xp[np.fromiter(g.xp.keys(), np.int64, len(g.xp))] = np.fromiter(g.xp.values(), np.int64, len(g.xp))
    mha = np.flatnonzero(kind == MHA)
    rest = kind != MHA
    sums = {
        "e_mvm": float(e[kind == MVM].sum()), "e_dpu": float(e[kind == DPU].sum()),
        "e_cnode": float(e[kind == COMM].sum()), "flops": float(fl[rest].sum()),
        "b_dpu": float(lat[kind == DPU].sum()), "n_mvm": int((kind == MVM).sum()),
        "n_cin": int((ix & 1).sum()), "n_cout": int(ocomm.sum()), "n_cnode": int((kind == COMM).sum()),
    }
    T = Template(
        kind=kind, tile=tile.astype(np.int64), lat_ps=np.rint(lat.astype(np.float64) * PS_PER_NS).astype(np.int64),
        tok=tok.astype(np.int64), cls=cls.astype(np.int8), ocomm=ocomm, indptr=ip, idx=ix,
        xl=tags[:, 0], xt=tags[:, 1], xs=tags[:, 2], xb=tags[:, 3], xp=xp, entry=np.asarray(g.entry, np.int64),
        mha=mha, sampler=sampler, sums=sums,
    )
    return T, b


def expert_tile_table(p: SimParams, mapping: dict[tuple, Placed]) -> np.ndarray:
    """tiles[ml, e, b]: tile of block b (the builder's order: ffn1 row-major, [up], ffn2) of expert e."""
    layers = [l for l in range(p.L) if p.moe_layer[l]]
    if not layers or p.k == 0:
        return np.zeros((0, 0, 0), np.int64)
    rows = []
    for l in layers:
        rows.append([np.concatenate([mapping[(n, l, e)].tiles.ravel() for n, _, _ in expert_mats(p)])
                     for e in range(p.E)])
    return np.asarray(rows, dtype=np.int64)


@dataclass
class Assembled:
    kind: np.ndarray
    tile: np.ndarray
    lat_ps: np.ndarray
    tok: np.ndarray
    seq: np.ndarray
    step: np.ndarray
    cls: np.ndarray
    ocomm: np.ndarray
    indptr: np.ndarray
    idx: np.ndarray
    prefill_samplers: list[int]  # per sequence (empty without prefill)
    last_samplers: list[int]  # per sequence: the sampling node of its last step
    t_ci: float
    t_co: float
    e_ci: float
    e_co: float
    sums: dict  # whole-batch totals: energy by class, flops, busy ns by class, op counts


def assemble(p: SimParams, mapping: dict[tuple, Placed], router: Router) -> Assembled:
    steps = [st for st in steps_of(p) if st["keep"]]
    templates: dict[int, Template] = {}
    b = None
    for st in steps:
        if st["n"] not in templates:
            templates[st["n"]], b = build_template(p, mapping, st["n"])
    xt_tab = expert_tile_table(p, mapping)
    pos_pl = mapping.get(("pos",))
    # attention cost per step and layer: (lat ns, energy nJ, flops, dram ns)
    mha_by_step = {st["index"]: np.array([mha_cost(p, st["ctx"], st["prefill"], st["cached"], p.moe_layer[l],
                                                   bool(p.local_layer) and p.local_layer[l])
                                          for l in range(p.L)]) for st in steps}
    inst = [(s, si, st, templates[st["n"]]) for s in range(p.B) for si, st in enumerate(steps)]
    n_tot = sum(T.n for _, _, _, T in inst)
    limit = int(float(os.environ.get("AIMC_DSE_SIM_MAX_NODES", MAX_NODES)))
    if n_tot > limit:
        raise SpecError("--fidelity event", None,
                        f"this design point has {n_tot:.3g} operations to schedule, more than the event simulator's "
                        f"limit of {limit:.3g} (about 160 bytes each; set AIMC_DSE_SIM_MAX_NODES to raise it), "
                        "use the closed form")
    e_tot = sum(len(T.idx) + (len(T.entry) if si > 0 else 0) for _, si, _, T in inst)
    kind = np.empty(n_tot, np.int8)
    tile_a = np.empty(n_tot, np.int64)
    lat_a = np.empty(n_tot, np.int64)
    tok = np.empty(n_tot, np.int64)
    seq = np.empty(n_tot, np.int64)
    step = np.empty(n_tot, np.int32)
    cls = np.empty(n_tot, np.int8)
    ocomm = np.empty(n_tot, np.int8)
    indptr = np.empty(n_tot + 1, np.int64)
    idx = np.empty(e_tot, np.int64)
    tot = {k: 0.0 for k in ("e_mvm", "e_dpu", "e_cnode", "flops", "b_dpu", "n_mvm", "n_cin", "n_cout", "n_cnode",
                            "e_att", "b_att", "b_dram", "fl_att")}
    prefill_samplers: list[int] = []
    last_samplers: list[int] = []
    off = 0
    eoff = 0
    for s, si, st, T in inst:
        n = T.n
        sl = slice(off, off + n)
        tile_a[sl] = T.tile
        ex = np.flatnonzero(T.xl >= 0)
        if len(ex):
            slots = _chosen(p, router, st, s, T.xl[ex], T.xt[ex], T.xs[ex])
            tile_a[off + ex] = xt_tab[T.xl[ex], slots, T.xb[ex]]
        if pos_pl is not None:
            ps = np.flatnonzero(T.xp >= 0)
            if len(ps):
                posv = np.asarray(st["pos"], np.int64)[T.tok[ps]]
                r = np.minimum(posv // p.R, pos_pl.v - 1)
                tile_a[off + ps] = pos_pl.tiles[r, T.xp[ps]]
        m = mha_by_step[st["index"]]
        lat_a[sl] = T.lat_ps
        lat_a[off + T.mha] = np.rint(m[:, 0] * PS_PER_NS).astype(np.int64)
        for k in ("e_mvm", "e_dpu", "e_cnode", "flops", "b_dpu", "n_mvm", "n_cin", "n_cout", "n_cnode"):
            tot[k] += T.sums[k]
        tot["e_att"] += float(m[:, 1].sum())
        tot["fl_att"] += float(m[:, 2].sum())
        tot["b_att"] += float(m[:, 0].sum())
        tot["b_dram"] += float(m[:, 3].sum())
        kind[sl] = T.kind
        tok[sl] = T.tok
        seq[sl] = s
        step[sl] = st["index"]
        cls[sl] = T.cls
        ocomm[sl] = T.ocomm
        if si > 0:
            # the previous step's sampler (its last node, off − 1) feeds this step's embedding MVMs
            ne = len(T.entry)
            idx[eoff:eoff + ne] = 2 * (T.entry + off) + 1
            eoff += ne
            tot["n_cin"] += ne
        indptr[sl] = T.indptr[:-1] + eoff
        ne = len(T.idx)
        idx[eoff:eoff + ne] = T.idx + 2 * off
        eoff += ne
        if st["prefill"] and si == 0:
            prefill_samplers.append(off + T.sampler)
        if si == len(steps) - 1:
            last_samplers.append(off + T.sampler)
        off += n
    indptr[n_tot] = eoff
    return Assembled(
        kind=kind, tile=tile_a, lat_ps=lat_a, tok=tok, seq=seq, step=step,
        cls=cls, ocomm=ocomm, indptr=indptr, idx=idx, prefill_samplers=prefill_samplers, last_samplers=last_samplers,
        t_ci=b.t_ci, t_co=b.t_co, e_ci=b.e_ci, e_co=b.e_co, sums=tot,
    )


def _chosen(p: SimParams, router: Router, st: dict, s: int, ml, tid, slot) -> np.ndarray:
    """Expert ids for (MoE layer, token, slot) triples of one (sequence, step)."""
    if router.mode in ("torch", "numpy-shared"):
        return router.by_step[st["index"]][ml, tid, slot]
    posv = np.asarray(st["pos"], np.int64)[tid]
    return router.by_pos[s, ml, posv, slot]
