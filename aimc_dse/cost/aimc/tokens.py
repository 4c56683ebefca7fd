"""Work per token and per step: MVMs, DPU busy time and energy, operations
(docs/reference-simulators.md §G.1, §C.5; docs/cost-model.md §3).

Counts are exact: a token passes every stage once, k of the E experts per MoE layer (k_an
of them analog when some experts run digitally); once per step the final LN, the LM head
and sampling run. Operations are counted as the references count them: a tier MVM is
utilisation · (2RC − R), i.e. (2 − 1/C) per stored weight used; LN 10·s, add s, ReLU s,
GeLU 6·s, sampling its vector size, digital MACs 2 each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..numeric import Array
from ..shapes import ModelShape
from .accounting import Accounting
from .blocks import DigitalMacs, StageBlocks
from .digital import DigitalModules
from .grouping import GroupingFactors
from .inputs import Chip
from .stages import SAMPLING_VECTOR, OpTimes, activation_energy

# Operations per element of the digital ops (docs/reference-simulators.md §C.5).
LAYER_NORM_OPS = 10
GELU_OPS = 6  # GeLU and SiLU
RELU_OPS = 1


@dataclass(frozen=True)
class TokenWork:
    mvm: Array  # tier MVMs per token (all layers, excluding the LM head)
    mvm_expert: Array  # of which routed-expert MVMs
    dpu_lat: Array  # DPU busy time per token (ns)
    dpu_e: Array  # DPU energy per token (nJ)
    dpu_ops: Array
    mvm_ops: Array  # operations of the MVMs and digital MACs per token
    dig_macs: Array  # digital MACs per token
    # once per step: final LN, LM-head reductions, sampling
    step_dpu_lat: Array
    step_dpu_e: Array
    step_dpu_ops: Array
    step_mvm_ops: Array
    e_mvm_expert: Array  # energy of one expert MVM (× f_g only in the moewithpim profile)
    e_mvm_other: Array  # energy of any other MVM


def token_work(chip: Chip, sh: ModelShape, acc: Accounting, nb: StageBlocks, t: OpTimes, dm: DigitalModules,
               dmac: DigitalMacs, gf: GroupingFactors) -> TokenWork:
    C, d, L, Ld, Lm = chip.C, sh.d, sh.layers, sh.dense_layers, sh.moe_layers
    k, ns, m = sh.top_k, sh.shared, sh.n_ffn_mats
    gated = (m == 3).astype(np.float64)
    k_an = k.astype(np.float64) - dm.picks  # expected analog picks per token
    mvm = nb.emb_tok + L * (nb.qkv + nb.out) + Ld * (nb.f1 + nb.f2) + Lm * (
        nb.router + k_an * nb.expert_stride + nb.s1 + nb.s2)
    adds = L * (nb.na_qkv + nb.na_out) + Ld * (nb.na_f1 + nb.na_f2) + Lm * (
        nb.na_router + k_an * (nb.na_e1 + nb.na_e2) + nb.na_s1 + nb.na_s2)
    n_ln = 2 * L - 1
    dpu_lat = (adds * t.add_c + (1 + 2 * L) * t.add_d + n_ln * t.layer_norm
               + Ld * t.act_dense + Lm * ((k + ns) * t.act_expert + t.combines * t.combine))
    add, s_comb, dff, dffe = chip.add, t.combine_width, sh.d_ff, sh.d_ff_expert
    dpu_e = (adds * add.energy_nj(C) + (1 + 2 * L) * add.energy_nj(d) + n_ln * chip.layer_norm.energy_nj(d)
             + Ld * (activation_energy(chip, sh, dff) + gated * add.energy_nj(dff))
             + Lm * ((k + ns) * (activation_energy(chip, sh, dffe) + gated * add.energy_nj(dffe))
                     + t.combines * add.energy_nj(s_comb)))
    act_ops = np.where(np.isin(sh.activation, ["gelu", "silu"]), float(GELU_OPS), float(RELU_OPS))
    dpu_ops = (adds * C + (1 + 2 * L) * d + n_ln * LAYER_NORM_OPS * d
               + Ld * (act_ops * dff + gated * dff) + Lm * ((k + ns) * (act_ops * dffe + gated * dffe) + t.combines * s_comb))
    per_w = 2.0 - 1.0 / C
    pos = sh.learned_pos & acc.position_mvms
    dig_macs = dmac.per_token(sh, dm.picks)
    mvm_ops = per_w * (
        np.minimum(chip.R, sh.vocab) * d * (1 + pos) * ~dm.lm_head
        + L * sum(r * c for r, c in sh.attn_mats) * ~dm.attention  # Q, K, V, out (MLA: its five)
        + Ld * m * d * dff * ~dm.dense_ffn
        + Lm * (d * sh.experts * ~dm.router + k_an * m * d * dffe + ns * m * d * sh.d_ff_shared * ~dm.shared)
    ) + 2.0 * dig_macs
    em = chip.mvm_energy_nj
    return TokenWork(
        mvm=mvm, mvm_expert=Lm * k_an * nb.expert_stride, dpu_lat=dpu_lat, dpu_e=dpu_e, dpu_ops=dpu_ops,
        mvm_ops=mvm_ops, dig_macs=dig_macs,
        step_dpu_lat=t.layer_norm + nb.na_lm * t.add_c + t.sampling,
        step_dpu_e=chip.layer_norm.energy_nj(d) + nb.na_lm * add.energy_nj(C) + chip.sampling.energy_nj(SAMPLING_VECTOR),
        step_dpu_ops=LAYER_NORM_OPS * d + nb.na_lm * C + SAMPLING_VECTOR,
        step_mvm_ops=per_w * d * sh.vocab * ~dm.lm_head + 2.0 * dmac.lm,
        # A shared periphery converts the same columns per MVM: sharing saves area and the
        # periphery's static power (areas, power.py), not an MVM's energy — only MoEwithPIM
        # scales every MVM's energy by f_g (§H.25).
        e_mvm_expert=np.where(acc.all_mvm_energy_scaled_by_f_g, em * gf.f_g, em),
        e_mvm_other=np.where(acc.all_mvm_energy_scaled_by_f_g, em * gf.f_g, em),
    )
