"""The dependency graph of one traced step, at the references' granularity (docs/reference-simulators.md §C.1–C.3).

Nodes (one per operation the references schedule):

* ``MVM`` — one tier MVM of one token (one block of one matrix), on its tile;
* ``DPU`` — partial-sum add (size C, a sequential chain per column, §B.2), embedding and
  residual adds, layer norms, activations, the expert-combining adds and sampling;
* ``MHA`` — one attention job per layer per step per sequence, the KV (and, physically, GO)
  DRAM load included in the job (§A.6);
* ``COMM`` — the one transfer before sampling (it has several producers).

The other transfers are not nodes (§C.2; they have no resource limit, §A.1): the output
transfer after an MVM is a flag on the MVM (``ocomm``; lm_head blocks feeding sampling
directly have none), the input transfer into an MVM fed by a digital op a flag on the edge.
The scheduler starts them as events when their producer completes.

Per token and layer the structure is that of the traced reference model (§C.1): Q/K/V of
layer l+1 hang off layer l's norm3, attention is a barrier over the step's tokens, the
router runs beside the experts and joins at the combining adds (§D.3); ``assemble`` links
step s+1's embedding MVMs to step s's sampling (§C.3). Successor lists keep the
reference's order (digital consumers first, then the transfers into analog consumers in
trace order, §C.2), because the scheduler breaks priority ties by the order in which ops
become ready.
"""

from __future__ import annotations

import numpy as np

from .mapper import Placed, expert_mats, shared_mats
from .params import SimParams, mha_cost
from .routing import Router

MVM, COMM, DPU, MHA = 0, 1, 2, 3
# op classes (breakdowns, timeline names)
CLS = ["mvm", "comm_in", "comm_out", "comm_norm", "add", "layer_norm", "activation", "sampling", "attention"]
C_MVM, C_CIN, C_COUT, C_CNORM, C_ADD, C_LN, C_ACT, C_SAMP, C_MHA = range(9)


class SeqGraph:
    """Nodes and edges of one step template, appended cheaply and turned into arrays once."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []  # (kind, tile, lat_ns, tok, cls, energy_nj, flops, dram_ns)
        self.ocomm: list[int] = []  # MVMs whose consumers are behind their output transfer
        self.eu: list[int] = []  # edge sources …
        self.ev: list[int] = []  # … and 2·target + via-input-transfer
        self.tags: dict[int, tuple[int, int, int, int]] = {}  # routed-expert MVM → (MoE layer, token, slot, block)
        self.xp: dict[int, int] = {}  # position-embedding MVM → its column chunk
        self.entry: list[int] = []  # embedding MVMs, in the order the previous sampler feeds them

    def new(self, kind: int, lat: float, tok: int, cls: int, e: float = 0.0, fl: float = 0.0, tile: int = -1,
            dram: float = 0.0) -> int:
        self.rows.append((kind, tile, lat, tok, cls, e, fl, dram))
        return len(self.rows) - 1

    def edge(self, u: int, v: int, via_comm: bool = False) -> None:
        """u → v; ``via_comm``: through an input transfer (a digital op feeding an MVM).

        Transfers are not nodes here: an MVM's output transfer is implied by ``ocomm``, an
        input transfer by the edge flag.
        """
        self.eu.append(u)
        self.ev.append(2 * v + 1 if via_comm else 2 * v)

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """Successor lists in the reference's order: add_comm_nodes (§C.2) keeps a digital op's
        digital consumers first (in trace order) and appends the transfers into its analog
        consumers after them (in trace order)."""
        n = len(self.rows)
        src = np.asarray(self.eu, dtype=np.int64)
        code = np.asarray(self.ev, dtype=np.int64)
        order = np.lexsort((np.arange(len(src)), code & 1, src))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
        return indptr, code[order]


class Builder:
    """Builds step graphs from the mapping and the routing (``assemble`` uses one per step length)."""

    def __init__(self, p: SimParams, mapping: dict[tuple, Placed], router: Router, seq: int):
        self.p, self.m, self.router, self.seq = p, mapping, router, seq
        self.g = SeqGraph()
        ops = p.ops
        C = p.C
        self.t_add_c, self.e_add_c = ops["add"].lat(C), ops["add"].energy_nj(C)
        self.t_co = ops["communication"].lat(C)
        self.e_co = ops["communication"].energy_nj(C)
        # MoEwithPIM scales every input transfer by f_c, not re-rounded (§A.5.3)
        self.t_ci = self.t_co * p.f_c if p.pim else self.t_co
        self.e_ci = self.e_co * p.f_c if p.pim else self.e_co
        # MoEwithPIM scales every MVM's energy by f_g (§H.25); elsewhere a shared periphery still
        # converts every column, so sharing leaves an MVM's energy alone (cost/aimc/tokens.py)
        self.em_other = p.e_mvm * p.f_g if p.pim else p.e_mvm
        self.em_expert = p.e_mvm * p.f_g if p.pim else p.e_mvm
        self.per_w = 2.0 - 1.0 / C
        gelu_like = p.activation in ("gelu", "silu")
        self.act_op = ops["gelu"] if gelu_like else ops["relu"]
        self.act_fl = 6.0 if gelu_like else 1.0
        self.s_comb = p.d if p.physical else p.d_ff_e
        self.tag: list | None = None  # [moe layer, token, slot, next block] while building a routed expert
        self._blk: dict = {}
        self.replay = False  # token bodies identical (template routing): record token 0, replay the rest

    # ---- primitives -----------------------------------------------------------------------
    def dpu(self, op: str, size: int, tok: int, cls: int, fl_per: float = 1.0) -> int:
        o = self.p.ops[op]
        return self.g.new(DPU, o.lat(size), tok, cls, o.energy_nj(size), fl_per * size)

    def _blocks(self, key: tuple, rows: tuple[int, ...] | None) -> tuple[list[int], list[float], int, int]:
        """Tiles and operation counts of a matrix's blocks (row-major), cached per (matrix, rows)."""
        ck = (key, rows)
        hit = self._blk.get(ck)
        if hit is None:
            P = self.m[key]
            rws = list(range(P.v)) if rows is None else list(rows)
            tiles = [int(P.tiles[i, j]) for i in rws for j in range(P.h)]
            fl = [float(P.rows[i] * P.cols[j]) * self.per_w for i in rws for j in range(P.h)]
            hit = self._blk[ck] = (tiles, fl, len(rws), P.h)
        return hit

    def linear(self, key: tuple, tok: int, producers: list[int], expert: bool = False,
               rows: tuple[int, ...] | None = None, to_sampling: bool = False) -> list[int]:
        """Blocks of one matrix for one token → the output node of each column chunk."""
        g = self.g
        tiles, fls, v, h = self._blocks(key, rows)
        nb = v * h
        em = self.em_expert if expert else self.em_other
        base = len(g.rows)
        tm = self.p.t_mvm
        g.rows.extend([(MVM, t, tm, tok, C_MVM, em, f, 0.0) for t, f in zip(tiles, fls)])
        ids = range(base, base + nb)
        for prod in producers:  # one input transfer per block and producer (§C.2), blocks row-major
            g.eu.extend([prod] * nb)
            g.ev.extend(range(2 * base + 1, 2 * (base + nb), 2))
        if self.tag is not None:
            b0 = self.tag[3]
            ml, t, slot = self.tag[0], self.tag[1], self.tag[2]
            g.tags.update(zip(ids, [(ml, t, slot, b0 + q) for q in range(nb)]))
            self.tag[3] += nb
        if key[0] in ("emb", "pos"):
            g.entry.extend(ids)
            if key[0] == "pos":
                g.xp.update(zip(ids, [q % h for q in range(nb)]))
        # lm_head blocks feeding sampling directly get no output transfer (§C.2)
        if not (to_sampling and v == 1):
            g.ocomm.extend(ids)
        if v == 1:
            return list(ids)
        cols = []
        for j in range(h):  # sequential reduction chain per column: ((o0 + o1) + o2) + …
            a = g.new(DPU, self.t_add_c, tok, C_ADD, self.e_add_c, float(self.p.C))
            g.edge(base + j, a)
            g.edge(base + h + j, a)
            for i in range(2, v):
                a2 = g.new(DPU, self.t_add_c, tok, C_ADD, self.e_add_c, float(self.p.C))
                g.edge(a, a2)
                g.edge(base + i * h + j, a2)
                a = a2
            cols.append(a)
        return cols

    def join(self, outs: list[int], node: int) -> None:
        for o in outs:
            self.g.edge(o, node)

    def ffn_branch(self, names: list[tuple], src: int, tok: int, d_ff: int, expert: bool) -> list[int]:
        """ffn1 [, up] → activation [→ gate product] → ffn2; returns ffn2's column outputs."""
        p = self.p
        c1 = self.linear(names[0], tok, [src], expert)
        cu = self.linear(names[1], tok, [src], expert) if p.gated else None
        act = self.g.new(DPU, self.act_op.lat(d_ff), tok, C_ACT, self.act_op.energy_nj(d_ff), self.act_fl * d_ff)
        self.join(c1, act)
        x = act
        if p.gated:  # the gate product, charged as an add of size d_ff (as the closed form does)
            x = self.dpu("add", d_ff, tok, C_ADD)
            self.g.edge(act, x)
            self.join(cu, x)
        return self.linear(names[-1], tok, [x], expert)

    # ---- one traced step --------------------------------------------------------------------
    def step_graph(self, step: int, n_tok: int, positions: list[int], ctx: int, prefill_step: bool,
                   cached: bool, prev_sampler: int | None) -> int:
        """Graph of one traced step (n_tok tokens at context length ctx); returns its sampling node."""
        p, g = self.p, self.g
        L, d = p.L, p.d
        tid_last = n_tok - 1
        res = [0] * n_tok
        qkv: list[list[int]] = [[] for _ in range(n_tok)]
        prod = [prev_sampler] if prev_sampler is not None else []
        for t in range(n_tok):
            cols = self.linear(("emb",), t, prod, rows=(0,))  # the token embedding always hits row chunk 0 (§H.7)
            if p.physical and p.learned_pos:  # physically the position embedding is read too (§H.6)
                r = min(positions[t] // p.R, self.m[("pos",)].v - 1)
                cols = cols + self.linear(("pos",), t, prod, rows=(r,))
            ea = self.dpu("add", d, t, C_ADD)
            self.join(cols, ea)
            res[t] = ea
            for key in (("q", 0), ("k", 0), ("v", 0)):
                qkv[t] += self.linear(key, t, [ea])
        ml = 0
        sampler = -1
        for l in range(L):
            lat, e, fl, dram = mha_cost(p, ctx, prefill_step, cached, p.moe_layer[l],
                                        bool(p.local_layer) and p.local_layer[l])
            att = g.new(MHA, lat, 0, C_MHA, e, fl, dram=dram)
            for t in range(n_tok):
                self.join(qkv[t], att)
            last = l == L - 1
            body0 = None
            for t in range(n_tok):
                final = last and t == tid_last
                if self.replay and t > 0 and not final and body0 is not None:
                    res[t], qkv[t] = self._replay(body0, t, res[t])
                    continue
                mark = (len(g.rows), len(g.eu), len(g.ocomm))
                res_in = res[t]
                sampler = max(sampler, self._body(l, ml, step, t, positions, att, res, qkv, last, final))
                if self.replay and t == 0 and not final:
                    body0 = self._capture(mark, att, res_in, res[t], qkv[t])
            if p.moe_layer[l]:
                ml += 1
        return sampler

    def _body(self, l, ml, step, t, positions, att, res, qkv, last, final) -> int:
        """Token t's part of layer l after attention; returns the sampling node if it closes the step."""
        p, g, d = self.p, self.g, self.p.d
        outc = self.linear(("out", l), t, [att])
        r1 = self.dpu("add", d, t, C_ADD)
        self.join(outc, r1)
        g.edge(res[t], r1)
        ln2 = self.dpu("layer_norm", d, t, C_LN, 10.0)
        g.edge(r1, ln2)
        if p.moe_layer[l]:
            f_out = self.moe(l, ml, step, t, positions[t], ln2)
        else:
            f_out = self.ffn_branch([("f1", l), ("fu", l), ("f2", l)], ln2, t, p.d_ff, False)
        r2 = self.dpu("add", d, t, C_ADD)
        self.join(f_out, r2)
        g.edge(r1, r2)
        res[t] = r2
        if not last:
            ln3 = self.dpu("layer_norm", d, t, C_LN, 10.0)
            g.edge(r2, ln3)
            qkv[t] = []
            for key in (("q", l + 1), ("k", l + 1), ("v", l + 1)):
                qkv[t] += self.linear(key, t, [ln3])
        elif final:
            fln = self.dpu("layer_norm", d, t, C_LN, 10.0)
            g.edge(r2, fln)
            lm = self.linear(("lm",), t, [fln], to_sampling=True)
            cn = g.new(COMM, self.t_co, t, C_CNORM, self.e_co)
            self.join(lm, cn)
            so = p.ops["sampling"]
            sampler = g.new(DPU, so.lat(512), t, C_SAMP, so.energy_nj(512), 512.0)
            g.edge(cn, sampler)
            return sampler
        return -1

    # A step's tokens go through identical per-layer bodies (templates route every token to
    # the same expert slots), so token 0's body is recorded once and replayed for the others
    # with node ids shifted: the same nodes and edges, in the same creation order, as building
    # each token anew — only much faster for long prompts.
    def _capture(self, mark, att, res_in, res_out, qkv_out) -> dict:
        g = self.g
        r0, e0, o0 = mark
        rows = g.rows[r0:]
        for u in g.eu[e0:]:
            assert u >= r0 or u in (att, res_in), "a token body reads only attention and its residual"
        assert all(c >= 2 * r0 for c in g.ev[e0:]), "a token body's edges end inside it"
        return dict(base=r0, n=len(rows), rows=rows, eu=g.eu[e0:], ev=g.ev[e0:], ocomm=g.ocomm[o0:],
                    tags=[(v, x) for v, x in g.tags.items() if v >= r0], res_in=res_in, res_out=res_out,
                    qkv=list(qkv_out), att=att)

    def _replay(self, b: dict, t: int, res_in: int) -> tuple[int, list[int]]:
        g = self.g
        base = len(g.rows)
        dlt = base - b["base"]
        g.rows.extend([(k, ti, la, t, c, e, f, dr) for (k, ti, la, _, c, e, f, dr) in b["rows"]])
        r0, ri = b["base"], b["res_in"]
        g.eu.extend([u + dlt if u >= r0 else (res_in if u == ri else u) for u in b["eu"]])
        g.ev.extend([c + 2 * dlt for c in b["ev"]])
        g.ocomm.extend([v + dlt for v in b["ocomm"]])
        if b["tags"]:
            g.tags.update((v + dlt, (x[0], t, x[2], x[3])) for v, x in b["tags"])
        return b["res_out"] + dlt, [x + dlt for x in b["qkv"]]

    def moe(self, l: int, ml: int, step: int, t: int, pos: int, ln2: int) -> list[int]:
        p, g = self.p, self.g
        rc = self.linear(("router", l), t, [ln2])
        branches = []
        for slot, e in enumerate(self.router.experts(step, ml, self.seq, t, pos)):
            names = [(n, l, e) for n, _, _ in expert_mats(p)]
            if not p.gated:
                names = [names[0], None, names[-1]]
            self.tag = [ml, t, slot, 0]
            branches.append(self.ffn_branch(names, ln2, t, p.d_ff_e, True))
            self.tag = None
        for j in range(p.shared):
            names = [(n, l, j) for n, _, _ in shared_mats(p)]
            if not p.gated:
                names = [names[0], None, names[-1]]
            branches.append(self.ffn_branch(names, ln2, t, p.d_ff_s, False))
        if len(branches) == 1:
            return branches[0] + rc
        # (k − 1) chained combining adds; the router's scores join every one of them (§D.3)
        comb = self.dpu("add", self.s_comb, t, C_ADD)
        self.join(branches[0], comb)
        self.join(rc, comb)
        self.join(branches[1], comb)
        for b in branches[2:]:
            c2 = self.dpu("add", self.s_comb, t, C_ADD)
            g.edge(comb, c2)
            self.join(rc, c2)
            self.join(b, c2)
            comb = c2
        return [comb]


def steps_of(p: SimParams) -> list[dict]:
    """The traced steps: (index, tokens, positions, context, prefill?, cached?) in order.

    Index 0 is the prompt graph, which the references always trace (its expert draws are
    consumed) and keep only with prefill (§C.3).
    """
    out = []
    n0 = p.pre_tokens
    out.append(dict(index=0, n=n0, pos=list(range(n0)), ctx=n0, prefill=True, cached=False, keep=p.prefill))
    for j in range(1, p.G):
        nctx = p.prompt + j
        if p.single_decode:
            out.append(dict(index=j, n=1, pos=[nctx - 1], ctx=nctx, prefill=False, cached=p.kv_cache, keep=True))
        else:
            out.append(dict(index=j, n=nctx, pos=list(range(nctx)), ctx=nctx, prefill=False, cached=p.kv_cache, keep=True))
    return out
