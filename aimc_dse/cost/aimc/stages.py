"""Single-token stage latencies under one-tier-at-a-time (docs/reference-simulators.md §G.2,
§G.5; docs/cost-model.md §4).

A stage takes: the input transfer, T_mvm·w (w = the most blocks of the stage one tile
holds, since a tile runs one tier at a time), the output transfer, and ρ rounds of
partial-sum adds, ρ = max(adder-tree depth, ⌈Σna / P⌉) on the P DPUs, which overlap the
MVMs of later waves (``mvms_and_adds``; docs/cost-model.md §4.1). Blocks are placed
round-robin in mapping order, so a stage of m contiguous blocks puts ⌈m/N⌉ on its busiest
tile. A token's k routed experts may share tiles once a layer's expert region wraps the
chip: their expected serialisation comes from ``mapping.expected_expert_stage_w``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mapping import expected_expert_stage_w, max_per_tile
from ..memo import per_distinct
from ..numeric import Array, ceil_div
from ..shapes import ModelShape
from .accounting import Accounting
from .blocks import DigitalMacs, StageBlocks
from .digital import DigitalEngine, DigitalModules, digital_time
from .grouping import GroupingFactors
from .inputs import Chip

# The sampling node's vector size is hard-coded to 512 in the references
# (docs/reference-simulators.md §C.5).
SAMPLING_VECTOR = 512


@dataclass(frozen=True)
class OpTimes:
    """Digital op latencies (ns) and transfer energies (nJ) one token's stages use."""

    add_c: Array  # a partial-sum add of C values
    add_d: Array  # a residual add of d values
    layer_norm: Array
    transfer_in: Array  # input transfer (MoEwithPIM scales it by f_c, §A.5.3)
    transfer_out: Array
    e_in: Array
    e_out: Array
    act_dense: Array  # activation (+ gating multiply) of a dense FFN
    act_expert: Array  # … of one expert
    combine_width: Array  # width of an expert-combining add: d, or d_ff as the references label it
    combines: Array  # combining adds per MoE layer: k − 1 + shared experts
    combine: Array  # latency of one combining add
    sampling: Array


def activation_lat(chip: Chip, sh: ModelShape, s: Array) -> Array:
    return np.where(np.isin(sh.activation, ["gelu", "silu"]), chip.gelu.lat(s), chip.relu.lat(s))


def activation_energy(chip: Chip, sh: ModelShape, s: Array) -> Array:
    return np.where(np.isin(sh.activation, ["gelu", "silu"]), chip.gelu.energy_nj(s), chip.relu.energy_nj(s))


def op_times(chip: Chip, sh: ModelShape, acc: Accounting, gf: GroupingFactors) -> OpTimes:
    gated = (sh.n_ffn_mats == 3).astype(np.float64)
    t_co, e_co = chip.comm.lat(chip.C), chip.comm.energy_nj(chip.C)
    width = np.where(acc.combine_adds_width_d, sh.d, sh.d_ff_expert)
    return OpTimes(
        add_c=chip.add.lat(chip.C), add_d=chip.add.lat(sh.d), layer_norm=chip.layer_norm.lat(sh.d),
        transfer_in=np.where(acc.transfers_scaled_by_f_c, t_co * gf.f_c, t_co), transfer_out=t_co,
        e_in=np.where(acc.transfers_scaled_by_f_c, e_co * gf.f_c, e_co), e_out=e_co,
        act_dense=activation_lat(chip, sh, sh.d_ff) + gated * chip.add.lat(sh.d_ff),
        act_expert=activation_lat(chip, sh, sh.d_ff_expert) + gated * chip.add.lat(sh.d_ff_expert),
        combine_width=width, combines=np.where(sh.experts > 0, sh.top_k - 1 + sh.shared, 0),
        combine=chip.add.lat(width), sampling=chip.sampling.lat(SAMPLING_VECTOR),
    )


def expert_stage_w(chip: Chip, N: Array, sh: ModelShape, stride: Array, span: Array, zipf: Array,
                   seed: Array) -> Array:
    """Expected OTT serialisation w of one expert stage over routing, per point (§G.5).

    A layer whose experts all sit on distinct tiles needs no Monte-Carlo (w = ⌈span/N⌉);
    MoE-separated placement stacks a layer's experts on the same tiles, so the k chosen
    always serialise.
    """
    E, k = sh.experts, sh.top_k
    sep = chip.moe_separated
    out = ceil_div(span, N).astype(np.float64)
    wrap = (E > 0) & (E * stride > N) & ~sep
    if wrap.any():
        mc = per_distinct(lambda *a: expected_expert_stage_w(*(int(x) for x in a[:5]), float(a[5]), int(a[6])),
                          wrap, N, E, k, stride, span, zipf, seed)
        out = np.where(wrap, mc, out)
    return np.where(sep & (E > 0), k * ceil_div(span, N).astype(np.float64), out)


@dataclass(frozen=True)
class TileLoads:
    """w per stage: the most blocks of the stage on one tile (expected, for expert stages)."""

    qkv: Array
    out: Array
    f1: Array
    f2: Array
    m1: Array  # router + expert up + shared up
    m2: Array  # expert down + shared down
    lm: Array
    emb: Array
    e1_one: Array  # one expert's up-projection blocks on its busiest tile
    e2_one: Array  # … down-projection
    e_both: Array  # all chosen experts' up- and down-projection blocks on the busiest tile (expected)
    expert_pools: Array  # DPU pools the chosen experts' reductions spread over (expert parallelism: chips)

    @property
    def busiest(self) -> Array:
        return np.maximum.reduce([self.qkv, self.out, self.f1, self.f2, self.m1, self.m2, self.lm, self.emb])


def tile_loads(chip: Chip, N: Array, sh: ModelShape, nb: StageBlocks, acc: Accounting, gf: GroupingFactors,
               zipf: Array, seed: Array, sep_loads: Array | None = None, greedy: Array | None = None) -> TileLoads:
    """``sep_loads``: the replayed MoE-separated placement's (up, down, both, phase) per point
    (separated.separated_tile_loads), NaN where it does not apply; ``greedy``: the replayed
    greedy placement's (qkv, out, f1, f2, lm, …) of a dense model with a stacked embedding
    (separated.greedy_tile_loads), NaN where it does not apply."""
    w_e1 = expert_stage_w(chip, N, sh, nb.expert_stride, nb.e1, zipf, seed)
    w_e2 = expert_stage_w(chip, N, sh, nb.expert_stride, nb.e2, zipf, seed)
    w_both = expert_stage_w(chip, N, sh, nb.expert_stride, nb.expert_stride, zipf, seed)
    one1, one2 = max_per_tile(nb.e1, N), max_per_tile(nb.e2, N)
    # MoE-separated: the replayed placement's piles (separated.py); the k chosen experts are
    # stacked copies, so each pile serialises k times
    if sep_loads is not None and np.isfinite(sep_loads[0]).any():
        kf = sh.top_k.astype(np.float64)
        ok = np.isfinite(sep_loads[0])
        w_e1, w_e2, w_both = (np.where(ok, kf * x, w) for x, w in zip(sep_loads, (w_e1, w_e2, w_both)))
        one1, one2 = np.where(ok, sep_loads[0], one1), np.where(ok, sep_loads[1], one2)
    # A shared periphery serves one crossbar at a time: a token whose experts share a group
    # serialises (expected max_g ℓ_g(t) = single-token schedule length per token).
    serial = acc.grouping_on_expert_phase & gf.grouped
    w_e1 = np.where(serial, np.maximum(w_e1, gf.f_single), w_e1)
    w_e2 = np.where(serial, np.maximum(w_e2, gf.f_single), w_e2)
    qkv, out, lm = max_per_tile(nb.qkv, N), max_per_tile(nb.out, N), max_per_tile(nb.lm, N)
    if sep_loads is not None and np.isfinite(sep_loads[4]).any():  # … and the linear piles it makes
        ok = np.isfinite(sep_loads[4])
        qkv, out, lm = (np.where(ok, x, w) for x, w in zip(sep_loads[4:7], (qkv, out, lm)))
    f1, f2 = max_per_tile(nb.f1, N), max_per_tile(nb.f2, N)
    if greedy is not None and np.isfinite(greedy[0]).any():  # a stacked embedding's placement, replayed
        ok = np.isfinite(greedy[0])
        qkv, out, f1, f2, lm = (np.where(ok, x, w) for x, w in zip(greedy[:5], (qkv, out, f1, f2, lm)))
    return TileLoads(
        qkv=qkv, out=out, f1=f1,
        f2=f2,
        m1=np.maximum(np.maximum(max_per_tile(nb.router, N), w_e1), max_per_tile(nb.s1, N)),
        m2=np.maximum(w_e2, max_per_tile(nb.s2, N)), lm=lm, emb=max_per_tile(nb.emb_tok, N),
        e1_one=one1, e2_one=one2, e_both=w_both, expert_pools=np.ones_like(N),
    )


@dataclass(frozen=True)
class TileDemand:
    """The busiest tile's MVM time in a step of t tokens: the per-token blocks (non-expert at
    weight 1, the routed experts at their hottest expert's selection probability) and the LM
    head, used once per step, as three ranges placed one after another round-robin on the
    chip's tiles (mapping order: layers, then the LM head). A sum of weighted arcs of tiles
    peaks where one of the arcs starts, so only those tiles are candidates.

    With weights (t, t·p_hot, 1) every candidate tile's load is a line in t, so the lines are
    kept: T_mvm·(base_s·t + base_i + max(0, max_x(s_x·t + i_x)))."""

    mvm_latency_ns: Array
    base_s: Array  # the full rounds: slope in t …
    base_i: Array  # … and intercept
    s: Array  # (3, n): each arc start's extra load, slope in t …
    i: Array  # (3, n): … and intercept

    def at(self, tokens: Array) -> Array:
        t = np.asarray(tokens, dtype=np.float64)
        best = np.maximum(np.maximum(self.s[0] * t + self.i[0], self.s[1] * t + self.i[1]),
                          np.maximum(self.s[2] * t + self.i[2], 0.0))
        return self.mvm_latency_ns * (self.base_s * t + self.base_i + best)

    def lines(self, tau0: float, tau1: float) -> tuple[Array, Array]:
        """The demand at t = τ0 + τ1·n tokens as the maximum of four lines in n: (slopes,
        intercepts), each (4, points) — the full rounds alone, and with each arc start."""
        T, bs, bi = self.mvm_latency_ns, self.base_s, self.base_i
        s = [bs, bs + self.s[0], bs + self.s[1], bs + self.s[2]]
        i = [bi * 1.0, bi + self.i[0], bi + self.i[1], bi + self.i[2]]
        return (np.array(np.broadcast_arrays(*(T * tau1 * x for x in s))),
                np.array(np.broadcast_arrays(*(T * (x * tau0 + y) for x, y in zip(s, i)))))


def tile_demand(mvm_latency_ns: Array, dense: Array, expert: Array, p_hot: Array, lm: Array,
                n_all: Array) -> TileDemand:
    """TileDemand of the three ranges: per-token blocks ``dense`` (weight t), ``expert`` (t·p_hot)
    and ``lm`` (1), round-robin on ``n_all`` tiles."""
    N = np.asarray(n_all, dtype=np.int64)
    ms = [np.asarray(m, dtype=np.int64) for m in (dense, expert, lm)]
    slope = [np.ones(np.shape(p_hot)), np.asarray(p_hot, dtype=np.float64), np.zeros(np.shape(p_hot))]
    icpt = [np.zeros(np.shape(p_hot)), np.zeros(np.shape(p_hot)), np.ones(np.shape(p_hot))]
    full = [m // N for m in ms]
    starts, arcs, off = [], [], np.zeros_like(N)
    for m in ms:
        starts.append(off % N)
        arcs.append(m % N)
        off = off + m
    s_x, i_x = [], []
    for x, r_x in zip(starts, arcs):
        on = [(r > 0) & ((x - o) % N < r) & (r_x > 0) for o, r in zip(starts, arcs)]
        s_x.append(sum(np.where(b, w, 0.0) for b, w in zip(on, slope)))
        i_x.append(sum(np.where(b, w, 0.0) for b, w in zip(on, icpt)))
    return TileDemand(mvm_latency_ns=mvm_latency_ns, base_s=full[0] + slope[1] * full[1], base_i=full[2] * 1.0,
                      s=np.array(s_x), i=np.array(i_x))


def greedy_tile_demand(tile: TileDemand, greedy: Array) -> TileDemand:
    """``tile`` with the replayed greedy placement's three lines (separated.greedy_loads: the
    tiles with the largest per-token load, per-token + LM-head load and LM-head load) where
    they apply (a dense model with a stacked embedding; ``greedy`` NaN elsewhere)."""
    ok = np.isfinite(greedy[7])
    if not ok.any():
        return tile
    s = np.where(ok, greedy[7:13:2], tile.s)
    i = np.where(ok, greedy[8:13:2], tile.i)
    return TileDemand(mvm_latency_ns=tile.mvm_latency_ns, base_s=np.where(ok, 0.0, tile.base_s),
                      base_i=np.where(ok, 0.0, tile.base_i), s=s, i=i)


@dataclass(frozen=True)
class Stages:
    """Single-token latencies (ns) of each stage, and of one token through the network."""

    qkv: Array
    out: Array
    ffn_dense: Array  # up + activation + down
    ffn_moe: Array  # router/experts/shared, activation, combine (the slower of analog and digital)
    tail: Array  # final LN, LM head, sampling
    entry: Array  # embedding + first QKV, without the entry transfer
    token: Array  # one token through everything but attention and the entry transfer


def reduction_rounds(chip: Chip, na_sum: Array, depth: Array, pools: Array | int = 1) -> Array:
    """ρ = max(adder-tree depth, ⌈Σna / P⌉) rounds of partial-sum adds on the DPU pool
    (on ``pools`` chips' pools when the adds are spread over several chips)."""
    return np.maximum(depth, ceil_div(na_sum, chip.P.astype(np.int64) * pools))


def last_wave_rounds(chip: Chip, N: Array, w: Array, blocks: Array, na_sum: Array, depth: Array,
                     pools: Array | int = 1) -> Array:
    """DPU rounds of the partial-sum adds that wait for a stage's last wave of MVMs.

    The tiles run a stage's blocks one tier at a time, so its partial sums arrive in waves,
    T_mvm apart; the DPUs add those of finished waves while the next waves run. What is left
    after the busiest tile's last MVM (time T_mvm·w) is the adds fed by the last wave: its
    L = blocks − (⌈w⌉ − 1)·N blocks (1 … N) carry their share L/blocks of the Σna adds, and a
    column's chain (one add per row chunk) holds at most ⌈L / h⌉ of them in sequence, h =
    blocks / (depth + 1) the stage's column chunks. One wave (w ≤ 1) leaves every add."""
    m = np.maximum(blocks, 1).astype(np.float64)
    last = np.clip(blocks - (np.ceil(w) - 1) * N * pools, 1, m)
    chain = np.minimum(depth, np.ceil(last * (depth + 1) / m - 1e-9))
    adds = np.ceil(na_sum * last / m - 1e-9)
    return np.maximum(chain, ceil_div(adds.astype(np.int64), chip.P.astype(np.int64) * pools))


def first_add_wave(lead: Array | int, N: Array) -> Array:
    """The wave in which a stage's first add can start: its ``lead`` blocks run first, N a
    wave (``mvms_and_adds``)."""
    return lead // np.maximum(N, 1) + 1


def mvms_and_adds(chip: Chip, t: OpTimes, N: Array, w: Array, blocks: Array, na_sum: Array, depth: Array,
                  pools: Array | int = 1, lead: Array | int = 0) -> Array:
    """The busiest tile's w MVMs of a stage and the stage's reduction adds, which overlap them:
    the later of the last MVM plus the adds it feeds (``last_wave_rounds``) and the first
    add-ready wave plus every add on the DPU pool. For one wave this is T_mvm + t_add·ρ, the
    references' sum; with w > 1 it is no more than T_mvm·w + t_add·ρ, which charged every
    add after the last MVM (docs/cost-model.md §4.1).

    ``lead``: the stage's blocks that run before its first add can start. A matrix's blocks
    run row-major, and a column's first add needs its row chunks 0 and 1, so the first
    matrix's h column chunks (plus any blocks mapped before it) lead: the first add waits for
    wave ⌊lead/N⌋ + 1 (an LM head of h = 393 columns on 8 tiles: wave 50). 0 when a block's
    own bit slices give adds from its first MVM on."""
    rho = reduction_rounds(chip, na_sum, depth, pools)
    rho_last = last_wave_rounds(chip, N, w, blocks, na_sum, depth, pools)
    Tm = chip.mvm_latency_ns
    return np.maximum(Tm * w + t.add_c * rho_last, Tm * np.minimum(w, first_add_wave(lead, N)) + t.add_c * rho)


def gate_mvms_and_adds(chip: Chip, t: OpTimes, N: Array, w_gate: Array, gate_blocks: Array, gate_na: Array,
                       up_na: Array, depth: Array, lead: Array | int = 0) -> Array:
    """When a gated FFN's gate is reduced, so that its activation can start (``up_na``: the
    adds of the up matrix, which shares the stage and the DPU pool with the gate).

    The gate's blocks run first on every tile. Where the pool keeps up with the gate's
    partial sums (its pool bound, the first add-ready wave plus every add, stays below its
    last wave plus the adds that wave feeds, ``mvms_and_adds``), the gate is reduced right after its last wave
    and the activation runs beside the up matrix's MVMs. Where the gate's adds alone outrun
    the pool, a backlog builds, and the DPUs take ready adds first come, first served: a
    chain's next add is ready only when its previous one ends, so it queues behind every add
    already waiting — by then the up matrix's too. The gate's chains advance in turn with
    the up matrix's and finish with them, on the pool's bound for the whole stage; the
    activation follows the whole reduction. With one wave (every planar chip) that is
    always the case: the references' up → adds → activation."""
    Tm = chip.mvm_latency_ns
    first = Tm * np.minimum(w_gate, first_add_wave(lead, N))
    tail = Tm * w_gate + t.add_c * last_wave_rounds(chip, N, w_gate, gate_blocks, gate_na, depth)
    pool = first + t.add_c * reduction_rounds(chip, gate_na, depth)
    return np.where(pool >= tail, first + t.add_c * reduction_rounds(chip, gate_na + up_na, depth), tail)


def moe_ffn_analog(chip: Chip, sh: ModelShape, nb: StageBlocks, w: TileLoads, t: OpTimes, N: Array,
                   lead: Array | int = 1) -> Array:
    """An MoE layer's analog router, experts and shared experts for one token, from the input
    transfer to the experts' outputs (without the combining adds).

    The k chosen experts form a two-machine flow shop: an expert's down-projection starts as
    soon as its own up-projection (and activation) is done, while the next expert's
    up-projection runs. The stage takes the longer of "every up-projection, then the last
    expert's down-projection" and "the first expert's up-projection, then every
    down-projection" (w: all chosen experts' blocks on the busiest tile; one: a single
    expert's). One expert (k = 1) gives the plain sequence up → activation → down — unless
    up- and down-projections share tiles (the busiest tile runs all its blocks), and the
    reductions of all experts share the DPU pool, which interleaves them so that no expert's
    down-projection starts before every up-projection is reduced: when the experts run side
    by side (and the adds dominate) the stage stays up → adds → down → adds."""
    Tm, R, k = chip.mvm_latency_ns, chip.R, sh.top_k
    dep_d = ceil_div(sh.d, R) - 1
    dep_m2 = np.maximum(ceil_div(sh.d_ff_expert, R), ceil_div(sh.d_ff_shared, R)) - 1

    def ma(w_: Array, blocks: Array, na_sum: Array, depth: Array, lead_: Array, pools: Array | int = 1) -> Array:
        return mvms_and_adds(chip, t, N, w_, blocks, na_sum, depth, pools, lead_)

    # the first adds wait for an expert's second row chunk (the router's blocks come first)
    h1, h2 = lead * ceil_div(sh.d_ff_expert, chip.C), lead * ceil_div(sh.d, chip.C)
    na1_all, na2_all = nb.na_router + k * nb.na_e1 + nb.na_s1, k * nb.na_e2 + nb.na_s2
    up_all = ma(w.m1, nb.router + k * nb.e1 + nb.s1, na1_all, dep_d, lead * nb.router + h1, w.expert_pools)
    down_all = ma(w.m2, k * nb.e2 + nb.s2, na2_all, dep_m2, h2, w.expert_pools)
    up_one, down_one = ma(w.e1_one, nb.e1, nb.na_e1, dep_d, h1), ma(w.e2_one, nb.e2, nb.na_e2, dep_m2, h2)
    # A gated expert's activation overlaps the rest of its up-projection (as a dense FFN's
    # does, ``dense_ffn_analog``): only the part the up matrix's blocks do not cover shows —
    # none where the gate's adds outrun the DPU pool (``gate_mvms_and_adds``).
    gate_one = gate_mvms_and_adds(chip, t, N, np.ceil(w.e1_one / 2), nb.e1 // 2, nb.na_e1 // 2,
                                  nb.na_e1 - nb.na_e1 // 2, dep_d, h1)
    hidden = np.where(sh.n_ffn_mats == 3, np.clip(up_one - gate_one, 0.0, activation_lat(chip, sh, sh.d_ff_expert)), 0.0)
    hops = 2 * (t.transfer_in + t.transfer_out) + t.act_expert - hidden
    # the tile holding up- and down-projection blocks runs them all; the reductions overlap
    # its later blocks (as in a stage), so what follows its last MVM is the last wave's adds
    shared_tile = Tm * w.e_both + t.add_c * last_wave_rounds(chip, N, w.e2_one, nb.e2, nb.na_e2, dep_m2)
    dpu_bound = (ma(w.e1_one, nb.e1, na1_all, dep_d, h1, w.expert_pools)
                 + ma(w.e2_one, nb.e2, na2_all, dep_m2, h2, w.expert_pools))
    return hops + np.maximum.reduce([up_all + down_one, up_one + down_all, shared_tile, dpu_bound])


def dense_ffn_analog(chip: Chip, sh: ModelShape, nb: StageBlocks, w: TileLoads, t: OpTimes, N: Array,
                     lead: Array | int = 1) -> Array:
    """A dense FFN on the tiles for one token: up (+ gate) stage, activation, down stage.

    A gated FFN's activation needs only the gate's outputs: the gate's blocks come first in
    mapping order (so on every tile), and the activation runs on a DPU while the tiles still
    run the up-projection's blocks; the gating product waits for both. The gate's adds share
    the DPU pool with the up matrix's: where they outrun it, the activation still follows the
    whole reduction (``gate_mvms_and_adds``; one wave gives the references' sum)."""
    R = chip.R
    dep_d = ceil_div(sh.d, R) - 1

    def stage(w_: Array, blocks: Array, na_sum: Array, depth: Array, lead_: Array) -> Array:
        return mvms_and_adds(chip, t, N, w_, blocks, na_sum, depth, 1, lead_) + t.transfer_out

    h_ff, h_d = lead * ceil_div(sh.d_ff, chip.C), lead * ceil_div(sh.d, chip.C)
    up = stage(w.f1, nb.f1, nb.na_f1, dep_d, h_ff)
    act = activation_lat(chip, sh, sh.d_ff)
    gate_blocks = nb.f1 // 2
    gate = gate_mvms_and_adds(chip, t, N, max_per_tile(gate_blocks, N), gate_blocks, nb.na_f1 // 2,
                              nb.na_f1 - nb.na_f1 // 2, dep_d, h_ff) + t.transfer_out + act
    up_act = np.where(sh.n_ffn_mats == 3, np.maximum(up, gate) + (t.act_dense - act), up + t.act_dense)
    return t.transfer_in + up_act + t.transfer_in + stage(w.f2, nb.f2, nb.na_f2, ceil_div(sh.d_ff, R) - 1, h_d)


def stages(chip: Chip, sh: ModelShape, nb: StageBlocks, w: TileLoads, t: OpTimes, dm: DigitalModules,
           dmac: DigitalMacs, eng: DigitalEngine, N: Array, slices: Array | int = 1) -> Stages:
    """``slices``: bit slices per weight (TierCut.slices): with more than one, a block's slices
    are added up from its first MVM on, so the adds need not wait for a second row chunk."""
    Tm, R, C, m = chip.mvm_latency_ns, chip.R, chip.C, sh.n_ffn_mats
    lead = (np.asarray(slices) <= 1).astype(np.int64)  # 1: the first adds wait for row chunk 1

    def stage(w_: Array, blocks: Array, na_sum: Array, depth: Array, lead_: Array) -> Array:
        return t.transfer_in + mvms_and_adds(chip, t, N, w_, blocks, na_sum, depth, 1, lead_) + t.transfer_out

    def dig(macs: Array) -> Array:
        return digital_time(eng, dmac.f_dram, macs, macs)

    dep_d, dep_q = ceil_div(sh.d, R) - 1, ceil_div(sh.q, R) - 1
    # the first matrix of the Q,K,V stage: q_a (MLA with a query down-projection), else Q
    (_, qa_cols), (_, q_cols), *_ = sh.attn_mats
    h_q = lead * ceil_div(np.where(qa_cols > 0, qa_cols, q_cols), C)
    st_qkv = np.where(dm.attention, dig(dmac.qkv), stage(w.qkv, nb.qkv, nb.na_qkv, dep_d, h_q))
    st_out = np.where(dm.attention, dig(dmac.out), stage(w.out, nb.out, nb.na_out, dep_q, lead * ceil_div(sh.d, C)))
    # Tokens routed to analog and digital experts proceed in parallel; the stage waits for
    # the slower. One digital engine serves the digital router, shared and routed experts.
    analog = moe_ffn_analog(chip, sh, nb, w, t, N, lead)
    mac_moe_dig = dm.picks * dmac.expert + dmac.moe_dense
    ffn_moe = np.where(mac_moe_dig > 0, np.maximum(analog, dig(mac_moe_dig) + t.act_expert), analog)
    ffn_moe = ffn_moe + t.combines * t.combine
    ffn_dense = np.where(dm.dense_ffn, dig(dmac.dense_ffn * (m - 1) / m) + t.act_dense + dig(dmac.dense_ffn / m),
                         dense_ffn_analog(chip, sh, nb, w, t, N, lead))
    post = st_out + t.add_d + t.layer_norm + t.add_d
    layers = (sh.dense_layers * (post + ffn_dense) + sh.moe_layers * (post + ffn_moe)
              + (sh.layers - 1) * (t.layer_norm + st_qkv))
    v_d = ceil_div(sh.d, R)
    lm = mvms_and_adds(chip, t, N, w.lm, nb.lm, nb.na_lm, dep_d, 1, lead * ceil_div(sh.vocab, C))
    tail_analog = (t.layer_norm + t.transfer_in + lm
                   + (v_d > 1) * t.transfer_out + t.transfer_out + t.sampling)
    tail = np.where(dm.lm_head, t.layer_norm + dig(dmac.lm) + t.sampling, tail_analog)
    entry = Tm * w.emb + t.transfer_out + t.add_d + st_qkv
    return Stages(qkv=st_qkv, out=st_out, ffn_dense=ffn_dense, ffn_moe=ffn_moe, tail=tail, entry=entry,
                  token=entry + layers + tail)
