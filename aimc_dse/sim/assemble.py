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

from dataclasses import dataclass

import numpy as np

from .graph import MHA, Builder, steps_of
from .mapper import Placed, expert_mats
from .params import SimParams, mha_cost
from .routing import Router


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
    lat: np.ndarray
    tok: np.ndarray
    cls: np.ndarray
    e: np.ndarray
    fl: np.ndarray
    dram: np.ndarray
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
    t_ci: float
    t_co: float
    e_ci: float
    e_co: float

    @property
    def n(self) -> int:
        return len(self.kind)


def build_template(p: SimParams, mapping: dict[tuple, Placed], n_tok: int) -> Template:
    b = Builder(p, mapping, _SlotRouter(max(p.k, 0)), 0)
    pos = list(range(n_tok))
    sampler = b.step_graph(0, n_tok, pos, max(n_tok, 1), True, False, None)
    g = b.g
    assert sampler == len(g.kind) - 1, "the sampling node closes its step"
    ip, ix = g.csr()
    a = lambda x, dt: np.asarray(x, dtype=dt)  # noqa: E731
    kind = a(g.kind, np.int8)
    return Template(
        kind=kind, tile=a(g.tile, np.int64), lat=a(g.lat, np.float64), tok=a(g.tok, np.int64),
        cls=a(g.cls, np.int8), e=a(g.e, np.float64), fl=a(g.fl, np.float64), dram=a(g.dram, np.float64),
        ocomm=a(g.ocomm, np.int8), indptr=ip, idx=ix, xl=a(g.xl, np.int64), xt=a(g.xt, np.int64),
        xs=a(g.xs, np.int64), xb=a(g.xb, np.int64), xp=a(g.xp, np.int64), entry=a(g.entry, np.int64),
        mha=np.flatnonzero(kind == MHA), sampler=sampler, t_ci=b.t_ci, t_co=b.t_co, e_ci=b.e_ci, e_co=b.e_co,
    )


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
    lat: np.ndarray  # ns
    tok: np.ndarray
    seq: np.ndarray
    step: np.ndarray
    cls: np.ndarray
    e: np.ndarray
    fl: np.ndarray
    dram: np.ndarray
    ocomm: np.ndarray
    indptr: np.ndarray
    idx: np.ndarray
    prefill_samplers: list[int]  # per sequence (empty without prefill)
    t_ci: float
    t_co: float
    e_ci: float
    e_co: float


def assemble(p: SimParams, mapping: dict[tuple, Placed], router: Router) -> Assembled:
    steps = [st for st in steps_of(p) if st["keep"]]
    templates: dict[int, Template] = {}
    for st in steps:
        if st["n"] not in templates:
            templates[st["n"]] = build_template(p, mapping, st["n"])
    xt_tab = expert_tile_table(p, mapping)
    pos_pl = mapping.get(("pos",))
    # attention cost per step: (lat, e, fl, dram) per layer
    mha_by_step = {}
    for st in steps:
        mha_by_step[st["index"]] = np.array([mha_cost(p, st["ctx"], st["prefill"], st["cached"], p.moe_layer[l])
                                             for l in range(p.L)])
    parts: dict[str, list] = {k: [] for k in ("kind", "tile", "lat", "tok", "seq", "step", "cls", "e", "fl",
                                              "dram", "ocomm", "lens", "idx")}
    prefill_samplers: list[int] = []
    off = 0
    for s in range(p.B):
        prev_sampler = -1
        for si, st in enumerate(steps):
            T = templates[st["n"]]
            n = T.n
            tile = T.tile.copy()
            ex = T.xl >= 0
            if ex.any():
                sel = np.flatnonzero(ex)
                slots = _chosen(p, router, st, s, T.xl[sel], T.xt[sel], T.xs[sel])
                tile[sel] = xt_tab[T.xl[sel], slots, T.xb[sel]]
            if pos_pl is not None:
                ps = np.flatnonzero(T.xp >= 0)
                if len(ps):
                    posv = np.asarray(st["pos"], np.int64)[T.tok[ps]]
                    r = np.minimum(posv // p.R, pos_pl.v - 1)
                    tile[ps] = pos_pl.tiles[r, T.xp[ps]]
            lat, e, fl, dram = T.lat.copy(), T.e.copy(), T.fl.copy(), T.dram.copy()
            m = mha_by_step[st["index"]]
            lat[T.mha], e[T.mha], fl[T.mha], dram[T.mha] = m[:, 0], m[:, 1], m[:, 2], m[:, 3]
            parts["kind"].append(T.kind)
            parts["tile"].append(tile)
            parts["lat"].append(lat)
            parts["tok"].append(T.tok)
            parts["seq"].append(np.full(n, s, np.int64))
            parts["step"].append(np.full(n, st["index"], np.int64))
            parts["cls"].append(T.cls)
            parts["e"].append(e)
            parts["fl"].append(fl)
            parts["dram"].append(dram)
            parts["ocomm"].append(T.ocomm)
            lens = np.diff(T.indptr)
            idx = T.idx + 2 * off
            if prev_sampler >= 0:
                # the previous step's sampler (its last node) feeds this step's embedding MVMs
                parts["lens"][-1] = parts["lens"][-1].copy()
                parts["lens"][-1][-1] = len(T.entry)
                parts["idx"][-1] = np.concatenate([parts["idx"][-1], 2 * (T.entry + off) + 1])
            parts["lens"].append(lens)
            parts["idx"].append(idx)
            if st["prefill"] and p.prefill and si == 0:
                prefill_samplers.append(off + T.sampler)
            prev_sampler = off + T.sampler
            off += n
    cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    indptr = np.zeros(len(cat["kind"]) + 1, np.int64)
    np.cumsum(cat["lens"], out=indptr[1:])
    T0 = next(iter(templates.values()))
    return Assembled(
        kind=cat["kind"].astype(np.int8), tile=cat["tile"].astype(np.int64), lat=cat["lat"],
        tok=cat["tok"].astype(np.int64), seq=cat["seq"].astype(np.int64), step=cat["step"].astype(np.int64),
        cls=cat["cls"].astype(np.int8), e=cat["e"], fl=cat["fl"], dram=cat["dram"],
        ocomm=cat["ocomm"].astype(np.int8), indptr=indptr, idx=cat["idx"].astype(np.int64),
        prefill_samplers=prefill_samplers, t_ci=T0.t_ci, t_co=T0.t_co, e_ci=T0.e_ci, e_co=T0.e_co,
    )


def _chosen(p: SimParams, router: Router, st: dict, s: int, ml, tid, slot) -> np.ndarray:
    """Expert ids for (MoE layer, token, slot) triples of one (sequence, step)."""
    if router.mode in ("torch", "numpy-shared"):
        return router.by_step[st["index"]][ml, tid, slot]
    posv = np.asarray(st["pos"], np.int64)[tid]
    return router.by_pos[s, ml, posv, slot]
