"""Tier blocks per stage, the digital MACs that replace them, and the chip's fit
(docs/reference-simulators.md §B.2, §G.1; docs/cost-model.md §3).

Every weight matrix I×O is cut into nb = s_t·⌈I/R⌉·⌈O/C⌉ tier blocks (C the effective
weight columns of a tier, s_t = S tiers per block when the S bit slices of a weight go on
separate tiers, else 1; encoding.py); the ⌈I/R⌉·S partial sums of each column chunk are
reduced by na = (⌈I/R⌉·S − 1)·⌈O/C⌉ digital adds (docs/cost-model.md §1.7, §3.1). A stage groups the
matrices one token passes through together (Q/K/V, out, FFN up/gate, FFN down, router +
experts' first matrices, experts' second matrices, LM head). Modules placed on the digital
unit keep no blocks (digital.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mapping import blocks as nb_fn
from ..mapping import reduction_adds as na_fn
from ..numeric import Array, ceil_div
from ..shapes import ModelShape
from .accounting import Accounting
from .digital import DigitalEngine, DigitalModules, dram_fraction
from .inputs import Chip


@dataclass(frozen=True)
class TierCut:
    """How a matrix is cut into tiers: R × C weights per tier, tiers per block, bit slices."""

    R: Array
    C: Array
    per_block: Array
    slices: Array

    def nb(self, rows: Array, cols: Array) -> Array:
        return self.per_block * nb_fn(rows, cols, self.R, self.C)

    def na(self, rows: Array, cols: Array) -> Array:
        """Reduction adds: the row chunks' partial sums, and the bit slices' shift-and-adds."""
        return na_fn(rows, cols, self.R, self.C) + (self.slices - 1) * nb_fn(rows, cols, self.R, self.C)


def tier_cut(chip: Chip, per_block: Array, slices: Array) -> TierCut:
    return TierCut(R=chip.R, C=chip.C, per_block=per_block, slices=slices)


@dataclass(frozen=True)
class StageBlocks:
    """Blocks (nb_*) and reduction adds (na_*) per use of each stage, per token."""

    emb_tok: Array  # embedding (+ executed position) blocks one token uses
    qkv: Array
    na_qkv: Array
    out: Array
    na_out: Array
    f1: Array  # dense FFN up (+ gate)
    na_f1: Array
    f2: Array  # dense FFN down
    na_f2: Array
    router: Array
    na_router: Array
    e1: Array  # one routed expert's up (+ gate)
    na_e1: Array
    e2: Array  # one routed expert's down
    na_e2: Array
    s1: Array  # shared experts' up (+ gate), all of them
    na_s1: Array
    s2: Array
    na_s2: Array
    lm: Array
    na_lm: Array

    @property
    def expert_stride(self) -> Array:
        """One expert's blocks, contiguous in mapping order."""
        return self.e1 + self.e2


def stage_blocks(cut: TierCut, sh: ModelShape, acc: Accounting, dm: DigitalModules) -> StageBlocks:
    nb, na = cut.nb, cut.na
    d, m = sh.d, sh.n_ffn_mats
    is_moe = sh.experts > 0
    moe = lambda x: np.where(is_moe, x, 0)  # noqa: E731
    shared = lambda x: np.where(is_moe & (sh.shared > 0) & ~dm.shared, x, 0)  # noqa: E731
    unless = lambda flag, x: np.where(flag, 0, x)  # noqa: E731
    emb_tok = cut.per_block * ceil_div(d, cut.C) * (1 + (sh.learned_pos & acc.position_mvms))
    # the attention's matrices as the model has them (shapes.attn_mats): Q, K, V for GQA; MLA's
    # query down/up (q_a, q_b) and joint KV down/up (kv_a, kv_b) projections; then the output
    *proj, (o_rows, o_cols) = sh.attn_mats
    return StageBlocks(
        emb_tok=unless(dm.lm_head, emb_tok),  # the embedding lookup follows the lm_head
        qkv=unless(dm.attention, sum(nb(r, c) for r, c in proj)),
        na_qkv=unless(dm.attention, sum(na(r, c) for r, c in proj)),
        out=unless(dm.attention, nb(o_rows, o_cols)), na_out=unless(dm.attention, na(o_rows, o_cols)),
        f1=unless(dm.dense_ffn, (m - 1) * nb(d, sh.d_ff)),
        na_f1=unless(dm.dense_ffn, (m - 1) * na(d, sh.d_ff)),
        f2=unless(dm.dense_ffn, nb(sh.d_ff, d)), na_f2=unless(dm.dense_ffn, na(sh.d_ff, d)),
        router=unless(dm.router, moe(nb(d, sh.experts))),
        na_router=unless(dm.router, moe(na(d, sh.experts))),
        e1=moe((m - 1) * nb(d, sh.d_ff_expert)), na_e1=moe((m - 1) * na(d, sh.d_ff_expert)),
        e2=moe(nb(sh.d_ff_expert, d)), na_e2=moe(na(sh.d_ff_expert, d)),
        s1=shared(sh.shared * (m - 1) * nb(d, sh.d_ff_shared)),
        na_s1=shared(sh.shared * (m - 1) * na(d, sh.d_ff_shared)),
        s2=shared(sh.shared * nb(sh.d_ff_shared, d)),
        na_s2=shared(sh.shared * na(sh.d_ff_shared, d)),
        lm=unless(dm.lm_head, nb(d, sh.vocab)), na_lm=unless(dm.lm_head, na(d, sh.vocab)),
    )


@dataclass(frozen=True)
class DigitalMacs:
    """MACs per token of the modules on the digital unit, and the weights it holds."""

    qkv: Array
    out: Array
    dense_ffn: Array
    moe_dense: Array  # router + shared experts
    lm: Array
    expert: Array  # MACs (= weights) of one routed expert
    weights: Array  # all digital weights held
    dense_weights: Array  # digital weights every step touches (all but routed experts)
    f_dram: Array  # share of the digital weights beyond the SRAM

    def per_token(self, sh: ModelShape, picks: Array) -> Array:
        """Digital MACs of one token through all layers (excluding the LM head)."""
        return (sh.layers * (self.qkv + self.out) + sh.dense_layers * self.dense_ffn
                + sh.moe_layers * (self.moe_dense + picks * self.expert))


def digital_macs(sh: ModelShape, dm: DigitalModules, eng: DigitalEngine) -> DigitalMacs:
    d, m = sh.d, sh.n_ffn_mats
    L, Ld, Lm = sh.layers, sh.dense_layers, sh.moe_layers
    *proj, (o_rows, o_cols) = sh.attn_mats
    qkv = sum(r * c for r, c in proj) * dm.attention
    out = o_rows * o_cols * dm.attention
    dense_ffn = m * d * sh.d_ff * dm.dense_ffn
    moe_dense = d * sh.experts * dm.router + sh.shared * m * d * sh.d_ff_shared * dm.shared
    lm = d * sh.vocab * dm.lm_head
    expert = m * d * sh.d_ff_expert
    n_dig = np.where(sh.experts > 0, dm.n_experts, 0)
    # with the LM head go the embedding table (the LM head's own matrix when they are tied)
    # and a learned position table: the crossbars keep neither (mapping below)
    tables = (np.where(sh.tie, 0, sh.vocab * d) + sh.position_params) * dm.lm_head
    weights = (L * (qkv + out) + Ld * dense_ffn + Lm * (moe_dense + n_dig * expert) + lm + tables).astype(np.float64)
    dense_weights = (L * (qkv + out) + Ld * dense_ffn + Lm * moe_dense + lm).astype(np.float64)
    return DigitalMacs(qkv=qkv, out=out, dense_ffn=dense_ffn, moe_dense=moe_dense, lm=lm, expert=expert,
                       weights=weights, dense_weights=dense_weights, f_dram=dram_fraction(eng, weights))


def digital_fits(dmac: DigitalMacs, eng: DigitalEngine) -> Array:
    """The digital weights fit the digital unit's SRAM, or spill to a DRAM it has."""
    return (dmac.weights * eng.weight_bytes <= eng.sram_bytes) | np.isfinite(eng.dram_gbps) | (dmac.weights == 0)


@dataclass(frozen=True)
class Mapping:
    """Where the blocks go: totals, the tiles in use, whether the model fits."""

    total: Array  # tier blocks of the whole model
    expert: Array  # routed experts' blocks, all layers
    embedding_all: Array  # the whole embedding table
    position_all: Array  # the whole learned position table
    tiles_needed: Array
    N: Array  # tiles in use (the spec's, or just enough when sized to the model)
    fits: Array  # the tier blocks fit the tiers and the digital weights the digital unit
    tier_fits: Array  # the tier blocks alone fit (fit_reason tells the two apart)
    tiers_used: Array  # tiers on the busiest tile
    stacked: Array  # some tile holds blocks of several stages
    n_all: Array  # tiles of all chips
    chips_needed: Array  # ⌈tiles_needed / tiles per chip⌉


def mapping(chip: Chip, cut: TierCut, sh: ModelShape, nb: StageBlocks, dm: DigitalModules, eng: DigitalEngine,
            dmac: DigitalMacs) -> Mapping:
    Z = chip.Z
    is_moe = sh.experts > 0
    emb_all = np.where(dm.lm_head, 0, cut.nb(sh.vocab, sh.d))
    pos_all = np.where(dm.lm_head, 0, np.where(sh.learned_pos, cut.nb(sh.max_positions, sh.d), 0))
    # (a listed placement may give a fractional mean per layer; the total is whole)
    expert = np.rint(sh.moe_layers * (sh.experts - dm.n_experts) * nb.expert_stride).astype(np.int64)
    total = (emb_all + pos_all + sh.layers * (nb.qkv + nb.out) + sh.dense_layers * (nb.f1 + nb.f2)
             + sh.moe_layers * (nb.router + nb.s1 + nb.s2) + expert + nb.lm)
    tiles_needed = ceil_div(total, Z)
    # C chips hold consecutive layers each: C·N tiles in all; a stage stays on one chip
    # (expert parallelism refines the fit per chip: placement.ep_mapping). Sized to the
    # model, each chip gets its share of the tiles, ⌈blocks / (C·Z)⌉ — the fit below is the
    # same aggregate count — not the whole model's (which made C chips C times the area).
    C = np.maximum(chip.chips, 1).astype(np.int64)
    N = np.where(chip.size_to_model, np.maximum(ceil_div(total, Z * C), 1), chip.tiles)  # tiles per chip
    n_all = (N * chip.chips).astype(np.int64)
    sep = chip.moe_separated & is_moe
    tier_fits = (total <= n_all * Z) & ~(sep & (Z < sh.experts))
    fits = tier_fits & digital_fits(dmac, eng)
    tiers_used = np.where(sep, np.maximum(ceil_div(total, n_all), sh.experts), ceil_div(total, n_all))
    return Mapping(total=total, expert=expert, embedding_all=emb_all, position_all=pos_all,
                   tiles_needed=tiles_needed, N=N, fits=fits, tier_fits=tier_fits, tiers_used=tiers_used, stacked=total > n_all,
                   n_all=n_all, chips_needed=ceil_div(tiles_needed, N))
