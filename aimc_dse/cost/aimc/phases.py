"""Pipelined phases of n tokens in flight: prefill and cache-less decode
(docs/reference-simulators.md §G.3; docs/cost-model.md §4).

n tokens pass L + 1 phases separated by attention barriers (the embedding and first Q/K/V;
then, per layer, everything from the attention output to the next layer's Q/K/V). A phase
takes S + (n − 1)·τ: the first token's latency, then one token per τ, where τ is the
slowest shared resource per token — the DPU pool's adds, norms and activations / P, the
busiest tile's MVMs (T_mvm · its blocks in the phase), or the digital engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ...moe.routing import zipf_weights
from ..mapping import max_per_tile, max_weighted_two_ranges
from ..memo import per_distinct
from ..numeric import Array
from ..shapes import ModelShape
from .accounting import Accounting
from .blocks import DigitalMacs, StageBlocks
from .digital import DigitalEngine, DigitalModules
from .grouping import GroupingFactors
from .inputs import Inputs
from .stages import OpTimes


@lru_cache(maxsize=1024)
def _zipf_top(E: int, s: float) -> float:
    return float(zipf_weights(E, s)[0])


def hottest_expert_probability(sh: ModelShape, zipf: Array) -> Array:
    """Selection probability of the most-selected expert: k/E uniform; ≈ k·p₁ under zipf (≤ 1)."""
    E, kf = sh.experts, sh.top_k.astype(np.float64)
    p1 = per_distinct(lambda e, s: _zipf_top(int(e), float(s)), (E > 0) & (zipf > 0), E, zipf)
    return np.where(zipf > 0, np.minimum(1.0, kf * p1), np.where(E > 0, kf / np.maximum(E, 1), 0.0))


def last_layer_moe(inp: Inputs) -> Array:
    """Whether layer L − 1 is an MoE layer."""
    last = inp.shape.layers - 1
    fd, every = inp.first_dense_layers, np.maximum(inp.moe_every, 1)
    return (inp.shape.experts > 0) & (last >= fd) & ((last - fd) % every == 0)


@dataclass(frozen=True)
class Phases:
    tau_total: Array  # Σ τ over the L + 1 phases of one pipelined pass
    tau_total_prefill: Array  # the same for the prefill (grouped prefill under physical accounting)
    tau_max: Array  # the slowest phase's τ
    p_hot: Array  # selection probability of the most-selected expert


def phases(inp: Inputs, acc: Accounting, N: Array, nb: StageBlocks, t: OpTimes, gf: GroupingFactors,
           dm: DigitalModules, dmac: DigitalMacs, eng: DigitalEngine, w_both: Array,
           experts_here: Array | None = None, sep_phase: Array | None = None,
           greedy_phase: tuple[Array, Array] | None = None) -> Phases:
    """``w_both``: the chosen experts' blocks on their busiest tile (stages.TileLoads.e_both);
    ``sep_phase``: the replayed MoE-separated placement's busiest tile per token in the MoE
    phase (separated.py; NaN where it does not apply); ``greedy_phase``: the replayed greedy
    placement's busiest tile in a dense layer's phase and in the last layer's (separated.
    greedy_loads, a stacked embedding; NaN where it does not apply);
    ``experts_here``: a MoE layer's routed experts on one chip (expert parallelism, placement.py); all E by default."""
    chip, sh = inp.chip, inp.shape
    here = sh.experts if experts_here is None else experts_here
    Tm, P, k, ns, L = chip.mvm_latency_ns, chip.P, sh.top_k, sh.shared, sh.layers
    # DPU work per token in each phase
    dpu0 = t.add_d + nb.na_qkv * t.add_c
    dpu_dense = nb.na_out * t.add_c + t.add_d + t.layer_norm + (nb.na_f1 + nb.na_f2) * t.add_c + t.act_dense + t.add_d
    dpu_moe = (nb.na_out * t.add_c + t.add_d + t.layer_norm
               + (nb.na_router + k * (nb.na_e1 + nb.na_e2) + nb.na_s1 + nb.na_s2) * t.add_c
               + (k + ns) * t.act_expert + t.combines * t.combine + t.add_d)
    dpu_next = t.layer_norm + nb.na_qkv * t.add_c  # LN + next layer's Q,K,V reductions
    u0 = max_per_tile(nb.emb_tok + nb.qkv, N)
    # A layer's phase runs the next layer's Q,K,V too, except the last layer's (``nxt`` = 0):
    # its busiest tile holds only the layer's own blocks, as its DPU work has no dpu_next.
    p_hot = hottest_expert_probability(sh, inp.work.zipf)
    sep = chip.moe_separated & (sh.experts > 0)

    def u_dense_of(nxt: int) -> Array:  # (a stacked embedding's placement replayed where it is given)
        u = max_per_tile(nxt * nb.qkv + nb.out + nb.f1 + nb.f2, N)
        g = np.full(np.shape(u), np.nan) if greedy_phase is None else greedy_phase[1 - nxt]
        return np.where(np.isfinite(g), g, u)

    def moe_dense_part(nxt: Array | int) -> Array:
        """An MoE layer's non-expert blocks one token uses in its phase."""
        return nxt * nb.qkv + nb.out + nb.router + nb.s1 + nb.s2

    def u_moe_of(nxt: Array | int) -> Array:
        # non-expert blocks at weight 1 beside the expert region at the expected selection
        # probability of its hottest expert
        u = max_weighted_two_ranges(moe_dense_part(nxt), 1.0, here * nb.expert_stride, p_hot, N)
        # MoE-separated: a token's k experts all sit on the same tiles, so the busiest of them
        # runs all k experts' blocks it holds (w_both: k per expert block on it) …
        u = np.where(sep, np.maximum(max_per_tile(nxt * nb.qkv + nb.out + nb.router, N), w_both), u)
        if sep_phase is not None:  # … or, replayed, what the busiest tile of the phase holds
            u = np.where(sep & np.isfinite(sep_phase), sep_phase, u)
        return u

    u_dense, u_moe = u_dense_of(1), u_moe_of(1)
    u_dense_last, u_moe_last = u_dense_of(0), u_moe_of(0)
    # Grouped prefill (physical): the expert groups' periphery serves f_m MVMs per token (§G.6).
    u_moe_grouped, u_moe_grouped_last = (np.maximum(max_per_tile(moe_dense_part(nxt), N), gf.f_m) for nxt in (1, 0))
    rate = eng.macs_per_ns
    # the digital engine's time per token in a layer's phase; the last layer's runs no next
    # Q,K,V there either
    dig_dense, dig_dense_last = ((L > 0) * (nxt * dmac.qkv + dmac.out + dmac.dense_ffn) / rate for nxt in (1, 0))
    dig_moe, dig_moe_last = ((nxt * dmac.qkv + dmac.out + dmac.moe_dense + dm.picks * dmac.expert) / rate
                             for nxt in (1, 0))
    tau0 = np.maximum.reduce([dpu0 / P, Tm * u0, dmac.qkv / rate])
    tau_dense = np.maximum.reduce([(dpu_dense + dpu_next) / P, Tm * u_dense, dig_dense])
    tau_last_dense = np.maximum.reduce([dpu_dense / P, Tm * u_dense_last, dig_dense_last])
    last_moe = last_layer_moe(inp)

    def tau_sum(u: Array, u_last: Array) -> Array:
        """τ of every post-attention phase summed over layers (the last has no next QKV)."""
        tau_moe = np.maximum.reduce([(dpu_moe + dpu_next) / P, Tm * u, dig_moe])
        tau_last_moe = np.maximum.reduce([dpu_moe / P, Tm * u_last, dig_moe_last])
        ld = sh.dense_layers - np.where(last_moe, 0, 1)
        lm = sh.moe_layers - np.where(last_moe, 1, 0)
        return tau0 + ld * tau_dense + lm * tau_moe + np.where(last_moe, tau_last_moe, tau_last_dense)

    tau_total = tau_sum(u_moe, u_moe_last)
    tau_moe = np.maximum.reduce([(dpu_moe + dpu_next) / P, Tm * u_moe, dig_moe])
    grouped = acc.grouping_on_expert_phase & gf.grouped
    return Phases(
        tau_total=tau_total,
        tau_total_prefill=np.where(grouped, tau_sum(u_moe_grouped, u_moe_grouped_last), tau_total),
        tau_max=np.maximum.reduce([tau0, np.where(sh.dense_layers > 0, tau_dense, 0),
                                   np.where(sh.moe_layers > 0, tau_moe, 0)]),
        p_hot=p_hot,
    )
