"""The steps of a request: prefill and decode, accumulated (docs/reference-simulators.md §G.1–§G.4,
§A.6; docs/cost-model.md §4, §5).

Prefill runs the prompt's tokens (MoEwithPIM rescales them by f_m, §E.2); decode step j
(1…G−1) at context n = prompt + j runs one token when the caches allow it, else the whole
context again. Everything but attention, DRAM traffic and the per-step maxima is linear in
a step's token count with per-point coefficients, so it is accumulated from Σ active and
Σ active·tokens; only the n-dependent terms are evaluated per (step, point). Decode steps
are evaluated a block at a time as (steps, points) arrays, bounded in memory.

Attention per job at context n (§A.6): the full job takes cf·⌈n²·(αd + βd²)⌉ ns; a cached
job 1/n of it plus loading its layer's KV cache (memory.py: 2·n·d_kv bytes from one DRAM in
the references; SRAM and DRAM channels in the physical profile); a GO-cache read adds
(n·E + E·d) bytes per MoE layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from ..memo import take
from ..numeric import Array, ceil_div, ceil_ns
from ..shapes import ModelShape, local_window_share
from .accounting import Accounting
from .blocks import DigitalMacs, Mapping, StageBlocks
from .digital import DigitalEngine, DigitalModules, digital_time
from .inputs import Chip, Work
from .memory import KvMemory, go_load, kv_load
from .phases import Phases
from .placement import LinkCoeffs
from .stages import OpTimes, Stages, TileDemand, TileLoads
from .tokens import TokenWork

# Decode steps are evaluated about this many (step, point) cells at a time, in blocks of at most
# DECODE_BLOCK_STEPS steps that start at fixed steps (1, 1 + DECODE_BLOCK_STEPS, …) whatever other
# points the call holds: a point's sums are then added in the same order alone or in any chunk.
DECODE_BLOCK_CELLS = 1_000_000
DECODE_BLOCK_STEPS = 4096


def step_sum(x: Array) -> Array:
    """Σ over the steps (axis 0) of a (steps, points) block, added step after step.

    ``x.sum(axis=0)`` is not: with one point numpy sums the contiguous column pairwise, with
    several it adds row after row, so a point's total differed in the last bit between
    evaluating it alone and beside other points (tests/test_laws.py). Accumulating is
    sequential for any shape, and equals the row-after-row sum.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.add.accumulate(x, axis=0)[-1] if x.shape[0] else np.zeros(x.shape[1:])


@dataclass
class StepTotals:
    """Sums over the steps of one sequence (per point): time, energy, counts, busy time."""

    n: int
    t1: Array = field(init=False)  # single-sequence latency
    tthr: Array = field(init=False)  # B sequences' throughput bound
    dem_tile: Array = field(init=False)  # one sequence's demand on the busiest tile, summed over steps
    dem_dpu: Array = field(init=False)  # … on the DPU pool (work / P)
    dem_io: Array = field(init=False)  # … on the MHA units (jobs / M) or the digital engine
    dem_link: Array = field(init=False)  # … on one chip's link port (several chips)
    units_dpu: Array = field(init=False)  # P: DPUs in the pool
    units_io: Array = field(init=False)  # M: MHA units
    e_link: Array = field(init=False)  # chip-to-chip link energy
    busy_link: Array = field(init=False)
    link_bytes: Array = field(init=False)
    delta: Array = field(init=False)  # longest stage occupancy (latency bound's spacing)
    t_pre: Array = field(init=False)  # the prefill part of t1
    tthr_pre: Array = field(init=False)
    delta_pre: Array = field(init=False)
    e_mvm: Array = field(init=False)
    e_comm: Array = field(init=False)
    e_dpu: Array = field(init=False)
    e_att: Array = field(init=False)
    e_dram: Array = field(init=False)
    e_dig: Array = field(init=False)
    ops: Array = field(init=False)
    mvms: Array = field(init=False)
    busy_mvm: Array = field(init=False)
    busy_comm: Array = field(init=False)
    busy_att: Array = field(init=False)
    busy_dram: Array = field(init=False)
    busy_dpu: Array = field(init=False)
    busy_dig: Array = field(init=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "n":
                setattr(self, f.name, np.zeros(self.n))

    def merge(self, idx: Array, part: StepTotals) -> None:
        """Add ``part`` (totals of the points ``idx``) in: sums add, the spacings δ take the maximum."""
        # all points in order: a slice, no fancy indexing
        sel = slice(None) if len(idx) == self.n and np.array_equal(idx, np.arange(self.n)) else idx
        for f in fields(self):
            if f.name in ("n", "units_dpu", "units_io"):
                continue
            mine, theirs = getattr(self, f.name), getattr(part, f.name)
            if f.name in ("delta", "delta_pre"):
                mine[sel] = np.maximum(mine[sel], theirs)
            else:
                mine[sel] += theirs

    @property
    def active_energy(self) -> Array:
        return self.e_mvm + self.e_comm + self.e_dpu + self.e_att + self.e_dram + self.e_dig + self.e_link


@dataclass(frozen=True)
class Design:
    """What the model derives from a design alone, before any step of a request
    (cost/aimc/__init__.py ``design``; shared by the points of one design)."""

    nb: StageBlocks
    dm: DigitalModules
    dmac: DigitalMacs
    eng: DigitalEngine
    mp: Mapping
    t: OpTimes
    w: TileLoads
    st: Stages
    ph: Phases
    tw: TokenWork
    tile: TileDemand  # the busiest tile's MVM time per step (throughput bound)
    link: LinkCoeffs  # chip-to-chip traffic per step (placement.py)


@dataclass(frozen=True)
class StepModel:
    """Everything a step needs, per point: the point's chip, model and request, and its design."""

    chip: Chip
    sh: ModelShape
    acc: Accounting
    work: Work
    d: Design
    mem: KvMemory
    prefill_transfer_delta: Array  # extra input transfers per expert MVM in a grouped prefill


@dataclass(frozen=True)
class Block:
    """A block of steps as (steps, points) arrays."""

    active: Array  # bool: the step exists for this point
    tokens: Array  # tokens the step runs
    ctx: Array  # context n
    first: Array  # bool: the first simulated step (no entry transfer)
    cached: Array  # bool per point: KV-cached attention
    prefill: bool


@dataclass(frozen=True)
class AttentionJobs:
    """Per job (one layer, one step): compute latency, energy and ops; KV and GO loads (memory.py)."""

    lat: Array
    e: Array
    ops: Array
    t_kv: Array
    t_go: Array
    e_kv: Array
    e_go: Array


def window_share(m: StepModel, nn: Array, cached: Array) -> Array:
    """The share of the full-context attention work a layer does, averaged over the layers:
    under physical accounting a sliding-window layer's query attends min(i, window) keys, not
    i (shapes.attended_keys) — a decode step's one query min(n, W) of n, a whole-context step
    Σ min(i, W) of n(n + 1)/2 — and the fitted job (its n² work) shrinks by that ratio. 1 for
    models without windows and under the references' accounting, which attend everything."""
    sh = m.sh
    windowed = (sh.window > 0) & m.acc.physical
    if not np.any(windowed):
        return np.ones(1)
    local = local_window_share(nn, np.where(sh.window > 0, sh.window, 1), cached)
    loc = sh.local_layers.astype(np.float64)
    share = ((sh.layers - loc) + loc * local) / np.maximum(sh.layers, 1)
    return np.where(windowed, share, 1.0)


def attention_jobs(m: StepModel, b: Block) -> AttentionJobs:
    """The attention jobs of a block of steps at their contexts (module docstring)."""
    chip, d = m.chip, m.sh.d
    nn = b.ctx.astype(np.float64)
    c_lat = chip.att_alpha_ns * d + chip.att_beta_ns * d * d
    c_en = chip.causal_factor * chip.att_gamma_pj * d / 1000.0
    full = chip.causal_factor * ceil_ns(nn * nn * c_lat)
    keys = window_share(m, nn, b.cached)
    if b.cached.all():  # the common decode case: only the cached branch is needed
        lat = full / nn * keys + chip.att_latency_ns_fixed
        e = c_en * nn * keys + chip.att_energy_nj_fixed
        ops = (nn * (4.0 * d + 3.0) + 1.0) * keys  # D = n dot products: 2Dd + (1 + D) + 2D + (D − n) + 2nd
    else:
        lat = np.where(b.cached, full / nn, full) * keys + chip.att_latency_ns_fixed
        e = np.where(b.cached, c_en * nn, c_en * nn * nn) * keys + chip.att_energy_nj_fixed
        dq = np.where(b.cached, nn, (nn * nn + nn) / 2.0)
        ops = (2 * dq * d + (1 + dq) + 2 * dq + (dq - nn) + np.where(b.cached, 2 * nn * d, 2 * nn * nn * d)) * keys
    load = b.cached & m.acc.kv_load_charged
    t_kv, e_kv = kv_load(m.mem, chip, m.sh, m.work.B, nn)
    t_kv, e_kv = (t_kv, e_kv) if load.all() else (np.where(load, t_kv, 0.0), np.where(load, e_kv, 0.0))
    go = m.acc.go_traffic_charged & m.work.go_cache & (not b.prefill)  # decode steps read the GO cache
    t_go, e_go = go_load(m.mem, chip, m.sh, nn) if go.any() else (np.zeros(1), np.zeros(1))
    t_go, e_go = np.where(go, t_go, 0.0), np.where(go, e_go, 0.0)
    return AttentionJobs(lat=lat, e=e, ops=ops, t_kv=t_kv, t_go=t_go, e_kv=e_kv, e_go=e_go)


def digital_step(m: StepModel, tokens: Array, batch: Array | int | None = None) -> tuple[Array, Array]:
    """Digital engine energy and time per step and sequence: its MACs and its share of the
    weights the batch's tokens touch (``batch`` sequences; default the workload's B, 1 for a
    sequence alone)."""
    dm, dmac, eng = m.d.dm, m.d.dmac, m.d.eng
    B = m.work.B if batch is None else batch
    hit = np.where(dm.n_experts > 0, 1.0 - (1.0 - dm.picks / np.maximum(dm.n_experts, 1)) ** (tokens * B), 0.0)
    touched = (dmac.dense_weights + m.sh.moe_layers * dm.n_experts * hit * dmac.expert) / B
    macs = tokens * m.d.tw.dig_macs + dmac.lm
    f = dmac.f_dram
    e = (macs * eng.pj_per_mac + touched * eng.weight_bytes * ((1 - f) * eng.sram_pj + f * eng.dram_pj)) / 1000.0
    return e, digital_time(eng, f, macs, touched)


@dataclass(frozen=True)
class LinkStep:
    """Chip-to-chip traffic of one step (docs/cost-model.md §1.11; coefficients from
    placement.link_coeffs): C pipeline crossings of the step's t·d activations, and under
    expert parallelism a dispatch and a combine per MoE layer."""

    bytes: Array  # all crossings
    busy: Array  # link busy time summed over the crossings
    occupancy: Array  # one chip's link port busy for the step (throughput demand)
    time: Array  # on the critical path: every crossing's latency + transfer (store and forward)
    energy_nj: Array


def link_step(chip: Chip, lc: LinkCoeffs, tokens: Array) -> LinkStep:
    by = tokens * lc.bytes_per_token
    busy = by / chip.link_gbps
    return LinkStep(bytes=by, busy=busy, occupancy=tokens * lc.port_bytes_per_token / chip.link_gbps,
                    time=lc.crossings * chip.link_ns + busy, energy_nj=by * 8.0 * chip.link_pj_per_bit / 1000.0)


def add_block(tot: StepTotals, m: StepModel, b: Block) -> None:
    """Accumulate a block of steps into ``tot`` (one sequence)."""
    sh, chip, t, tw = m.sh, m.chip, m.d.t, m.d.tw
    L, Lm, B, Tm = sh.layers, sh.moe_layers, m.work.B, chip.mvm_latency_ns
    a = b.active.astype(np.float64)
    tok = b.tokens.astype(np.float64)
    cnt, snp = step_sum(a), step_sum(a * tok)
    fa = a * b.first
    s_first, s_first_np = step_sum(fa), step_sum(fa * tok)
    aj = attention_jobs(m, b)
    lat_c, e_c, ops_att, t_kv, t_go = aj.lat, aj.e, aj.ops, aj.t_kv, aj.t_go
    go_layers = np.where(Lm > 0, t_go, 0.0)
    t_job = lat_c + t_kv + go_layers
    s_kv, s_go = step_sum(a * t_kv), step_sum(a * t_go) if np.ndim(t_go) == 2 else 0.0
    se_kv, se_go = step_sum(a * aj.e_kv), step_sum(a * aj.e_go) if np.ndim(aj.e_go) == 2 else 0.0
    digital = bool(np.any(tw.dig_macs > 0) or np.any(m.d.dmac.lm > 0))
    if digital:
        e_dig, t_dig = digital_step(m, tok)
        tot.e_dig += step_sum(a * e_dig)
        tot.busy_dig += step_sum(a * t_dig)
        # A step of a sequence alone cannot end before the digital engine has streamed the
        # weights its tokens touch: the pipelined phases' τ carries only the engine's MACs, so
        # a many-token step (prefill, cache-less decode) is floored at the engine's own time.
        # (A one-token step's stages already add up at least that much.)
        t_alone = digital_step(m, tok, 1)[1]
    else:
        t_dig = np.zeros(1)
    # per-step throughput demand of each resource, and the latency-bound stage occupancy (§G.4)
    d_tile = m.d.tile.at(tok)
    # each of the chips has its own DPU pool and MHA units, serving its share of the layers
    d_dpu = (tok * tw.dpu_lat + tw.step_dpu_lat) / (chip.P * chip.chips)
    # an attention job holds its MHA unit while it computes and loads its KV (and GO) cache; the
    # loads run at the full DRAM bandwidth per unit (a channel per unit, as in the event simulator)
    d_io = L * t_job / (chip.M * chip.chips)
    lk = link_step(chip, m.d.link, tok)
    d_max = np.maximum(np.maximum(np.maximum(d_tile, d_dpu), np.maximum(d_io, t_dig)), lk.occupancy)
    delta = np.maximum(np.maximum(Tm * m.d.w.busiest, np.where(b.tokens > 1, tok * m.d.ph.tau_max, 0.0)),
                       np.where(B > chip.M, t_job, 0.0))
    tau = m.d.ph.tau_total_prefill if b.prefill else m.d.ph.tau_total
    if digital:
        lat = m.d.st.token + (1.0 - b.first) * t.transfer_in + L * t_job + (tok - 1.0) * tau + lk.time
        t_steps = step_sum(a * np.maximum(lat, t_alone))
    else:
        t_steps = (cnt * m.d.st.token + (cnt - s_first) * t.transfer_in + L * step_sum(a * t_job)
                   + (snp - cnt) * tau + step_sum(a * lk.time))
    tot.e_link += step_sum(a * lk.energy_nj)
    tot.busy_link += step_sum(a * lk.busy)
    tot.link_bytes += step_sum(a * lk.bytes)
    thr, occ = B * step_sum(a * d_max), (a * delta).max(axis=0)
    tot.tthr += thr
    tot.dem_tile += step_sum(a * d_tile)
    tot.dem_dpu += step_sum(a * d_dpu)
    tot.dem_io += step_sum(a * np.maximum(d_io, t_dig))
    tot.dem_link += step_sum(a * lk.occupancy)
    tot.delta = np.maximum(tot.delta, occ)
    tot.t1 += t_steps
    if b.prefill:
        tot.t_pre += t_steps
        tot.tthr_pre += thr
        tot.delta_pre = np.maximum(tot.delta_pre, occ)
    _add_counts(tot, m, b.prefill, cnt, snp, s_first_np)
    tot.e_att += L * step_sum(a * e_c)
    tot.e_dram += L * se_kv + Lm * se_go
    tot.ops += L * step_sum(a * ops_att)
    tot.busy_att += L * step_sum(a * lat_c)
    tot.busy_dram += L * s_kv + Lm * s_go


def _add_counts(tot: StepTotals, m: StepModel, prefill: bool, cnt: Array, snp: Array, s_first_np: Array) -> None:
    """MVMs, transfers, DPU work and operations: linear in the tokens of the steps."""
    tw, t, nb = m.d.tw, m.d.t, m.d.nb
    n_mvm = snp * tw.mvm + cnt * nb.lm
    # the LM head's output transfer is counted once per step unless it needs reductions
    n_out = n_mvm - cnt * np.where(ceil_div(m.sh.d, m.chip.R) == 1, nb.lm, 0)
    n_in = n_mvm - s_first_np * nb.emb_tok
    if prefill:  # grouped prefill (physical): f_c token transfers per token replace the k per-expert ones
        n_in = n_in + m.prefill_transfer_delta * snp * tw.mvm_expert
    tot.mvms += n_mvm
    tot.e_mvm += (snp * (tw.mvm - tw.mvm_expert) + cnt * nb.lm) * tw.e_mvm_other + snp * tw.mvm_expert * tw.e_mvm_expert
    tot.e_comm += n_out * t.e_out + n_in * t.e_in + cnt * t.e_out
    tot.e_dpu += snp * tw.dpu_e + cnt * tw.step_dpu_e
    tot.ops += snp * (tw.mvm_ops + tw.dpu_ops) + cnt * (tw.step_mvm_ops + tw.step_dpu_ops)
    tot.busy_mvm += m.chip.mvm_latency_ns * n_mvm
    tot.busy_comm += n_out * t.transfer_out + n_in * t.transfer_in + cnt * t.transfer_out
    tot.busy_dpu += snp * tw.dpu_lat + cnt * tw.step_dpu_lat


def decode_loop(m: StepModel, single_decode: Array) -> StepTotals:
    """The G − 1 decode steps of every point of ``m``, step by step in blocks of at most
    DECODE_BLOCK_STEPS steps and about DECODE_BLOCK_CELLS (step, point) cells. The step blocks
    start at fixed steps whatever the other points are, so a point's totals are added in the
    same order alone or in any chunk. Points are taken longest first, so a block only carries
    the points that still have steps: no point is evaluated past its own G."""
    work = m.work
    n = len(work.G)
    order = np.argsort(-work.G, kind="stable")
    ms, sd = take(m, order, n), single_decode[order]
    tot = StepTotals(n)
    g_desc = ms.work.G
    j0 = 1
    while n and j0 < g_desc[0]:
        alive = int(np.count_nonzero(g_desc > j0))  # points with a step j0 (G − 1 ≥ j0)
        j = np.arange(j0, min(int(g_desc[0]), j0 + DECODE_BLOCK_STEPS))[:, None]
        per = max(1, DECODE_BLOCK_CELLS // len(j))  # points per block
        for p0 in range(0, alive, per):
            cols = np.arange(p0, min(alive, p0 + per))
            sub = ms if len(cols) == n else take(ms, cols, n)
            w = sub.work
            part = StepTotals(len(cols))
            ctx = w.prompt + j
            add_block(part, sub, Block(active=j <= w.G - 1, tokens=np.where(sd[cols], 1, ctx), ctx=ctx,
                                       first=~w.prefill & (j == 1), cached=w.kv_cache, prefill=False))
            tot.merge(cols, part)
        j0 += DECODE_BLOCK_STEPS
    out = StepTotals(n)
    out.merge(order, tot)
    return out
