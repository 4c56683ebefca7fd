"""The 3D AIMC analytic cost model: dense and MoE inference (docs/cost-model.md §1–§9).

It follows the public 3D-SiM simulator (Büchel et al., Nat. Comput. Sci. 2025) and its
MoEwithPIM fork (Gao & Yang 2026) as closed forms (docs/reference-simulators.md §G): exact
op counts and energy, single-token stage latencies under one-tier-at-a-time, pipelined
n-token phases between attention barriers, B sequences between the latency and throughput
bounds, the expected serialisation of stacked experts over routing, and peripheral-sharing
factors. Every step is a small pure function of numpy columns in its own module, composed
here in the order of the paper's model:

inputs → accounting → effective tier (encoding, converters) → digital placement → blocks and
mapping (with the split across chips, placement.py) → grouping factors → op times → tile loads → stages → phases → per-token work → KV
memory → steps → batching → static power, fit → energy, area, columns.

Symbols follow the references: R×C tiers, N tiles, Z tiers per tile, P DPUs, M MHA units,
T_mvm/E_mvm per MVM; per matrix I×O: v = ⌈I/R⌉, h = ⌈O/C⌉, nb = v·h blocks,
na = (v − 1)·h reduction adds. The accounting profiles' quirks are named flags
(accounting.py, docs/accounting.md).
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

from ..columns import Cols
from ..memo import gather, take
from ..numeric import CEIL_EPS, Array
from .accounting import Accounting, accounting
from .batching import batching
from .blocks import digital_fits, digital_macs, mapping, stage_blocks, tier_cut
from .decode import run_steps
from .digital import digital_engine, digital_modules
from .encoding import effective_chip, tiers_per_block
from .grouping import GroupingFactors, grouping_factors
from .inputs import Inputs, read_inputs
from .memory import kv_fit, kv_memory
from .outputs import aimc_outputs, expert_tile_count
from .phases import phases
from .placement import PARALLELISM, ep_mapping, ep_tile_demand, ep_tile_loads, link_coeffs, placement
from .power import chip_power
from .separated import greedy_tile_loads, separated_tile_loads
from .stages import greedy_tile_demand, op_times, stages, tile_loads
from .steps import Design, StepModel
from .tokens import token_work

__all__ = ["aimc_cost"]


def aimc_cost(c: Cols) -> dict[str, Array]:
    """Result columns of the AIMC model for every design point of ``c``.

    ``hw.parallelism`` best evaluates the pipeline and the expert-parallel placement and keeps,
    per point, the one with more tokens/s (placement.py)."""
    mode = c.s("hw.parallelism", "pipeline")
    bad = ~np.isin(mode, PARALLELISM)
    if bad.any():
        raise ValueError(f"unknown hw.parallelism {mode[bad][0]!r} for an AIMC chip; known: {', '.join(PARALLELISM)}")
    best = mode == "best"
    out = _aimc_cost(c, mode == "expert")
    if best.any():
        ep = _aimc_cost(c, best)
        tps, tps_ep = out["tokens_per_s"], ep["tokens_per_s"]
        take = best & np.asarray(ep["fits"], bool) & (~np.asarray(out["fits"], bool) | (tps_ep > tps))
        out = {k: np.where(take, ep[k], v) for k, v in out.items()}
    return out


# Sweeps hold many points per design (hardware, model and the workload's knobs but the
# batch and the request's lengths): the design's structures — blocks, mapping, tile loads,
# stages, phases, per-token work — are computed once per run of consecutive points sharing
# a design (design_runs) and gathered to its points. Tests switch this off to check it
# changes nothing.
DEDUPE = True
PER_POINT = ("workload.batch", "workload.prompt_len", "workload.gen_len")


def design(inp: Inputs, acc: Accounting, gf: GroupingFactors, expert: Array) -> Design:
    """The design's structures (module docstring's order: effective tier → digital placement
    → blocks and mapping → op times → tile loads → stages → phases → per-token work)."""
    chip, sh, work, phy = inp.chip, inp.shape, inp.work, inp.physical
    cut = tier_cut(chip, tiers_per_block(phy), phy.slices)
    dm = digital_modules(inp.digital, sh, work.zipf, inp.first_dense_layers, inp.moe_every,
                         np.where(work.load_model == "trace", work.trace, ""))
    used = (dm.n_experts > 0) | dm.attention | dm.router | dm.shared | dm.lm_head | dm.dense_ffn
    eng = digital_engine(inp.digital, inp.digital.has_unit & used)
    nb = stage_blocks(cut, sh, acc, dm)
    dmac = digital_macs(sh, dm, eng)
    pl = placement(chip, sh, dm, expert)
    mp = ep_mapping(mapping(chip, cut, sh, nb, dm, eng, dmac), chip, sh, nb, dm, pl, digital_fits(dmac, eng))
    t = op_times(chip, sh, acc, gf)
    sep = separated_tile_loads(inp, mp.N, cut.per_block)
    # a stacked embedding pushes the first layers onto the other tiles: replayed for dense models
    stacked_emb = (chip.stack_embedding & ~chip.moe_separated & (sh.experts == 0) & (chip.chips <= 1) & ~used
                   & (cut.per_block == 1))
    gr = greedy_tile_loads(inp, mp.N, stacked_emb, acc.position_mvms)
    w = tile_loads(chip, mp.N, sh, nb, acc, gf, work.zipf, work.seed, sep, gr)
    w = ep_tile_loads(w, chip, mp.N, sh, nb, acc, gf, work.zipf, work.seed, pl)
    st = stages(chip, sh, nb, w, t, dm, dmac, eng, mp.N, cut.slices)
    ph = phases(inp, acc, mp.N, nb, t, gf, dm, dmac, eng, w.e_both, experts_here=pl.experts_here,
                sep_phase=sep[3], greedy_phase=(gr[5], gr[6]))
    tw = token_work(chip, sh, acc, nb, t, dm, dmac, gf)
    tile = greedy_tile_demand(ep_tile_demand(chip, mp, sh, nb, tw, ph.p_hot, pl), gr)
    return Design(nb=nb, dm=dm, dmac=dmac, eng=eng, mp=mp, t=t, w=w, st=st, ph=ph, tw=tw, tile=tile,
                  link=link_coeffs(chip, sh, pl))


def design_runs(keys: list[Array], n: int) -> tuple[Array, Array]:
    """(design index of each point, first point of each design), a design being a run of
    consecutive points equal in every key column. A sweep varies its workload axes fastest,
    so a design's points are adjacent; where they are not, a design recurs as several runs,
    each computed once (one comparison per column, no hashing)."""
    change = np.zeros(n, bool)
    change[:1] = True
    for a in keys:
        a = np.asarray(a)
        if a.ndim and len(a) == n and n > 1:
            diff = a[1:] != a[:-1]
            if a.dtype.kind in "fO":  # missing values (NaN, None) equal each other, as in distinct_index
                import pandas as pd

                na = pd.isna(a)
                diff &= ~(na[1:] & na[:-1])
            change[1:] |= diff
    first = np.flatnonzero(change)
    return np.cumsum(change) - 1, first


def _designs(c: Cols, inp: Inputs, acc: Accounting, gf: GroupingFactors, expert: Array) -> Design:
    """``design`` for every point, computed once per distinct design of ``c`` (DEDUPE)."""
    n = inp.n
    if not DEDUPE:
        return design(inp, acc, gf, expert)
    keys = [c.raw(k) for k in c.varying() if k not in PER_POINT]
    keys += [getattr(gf, f.name) for f in fields(gf)] + [expert]
    inv, first = design_runs(keys, n)
    if len(first) > n // 2:  # few points per design here: gathering would cost more than it saves
        return design(inp, acc, gf, expert)
    one = replace(take(inp, first, n), n=len(first))
    return gather(design(one, take(acc, first, n), take(gf, first, n), expert[first]), inv, len(first))


def _aimc_cost(c: Cols, expert: Array) -> dict[str, Array]:
    """The model's columns with the experts spread over the chips where ``expert`` holds."""
    inp = read_inputs(c)
    inp = replace(inp, chip=effective_chip(inp.chip, inp.physical))
    chip, sh, work, phy = inp.chip, inp.shape, inp.work, inp.physical
    acc = accounting(inp.profile)
    gf = grouping_factors(chip, sh, work, inp.grouping, acc.grouping_on_expert_phase)
    d = _designs(c, inp, acc, gf, expert)
    is_moe = sh.experts > 0
    mem = kv_memory(chip, phy, acc)
    grouped_prefill = acc.grouping_on_expert_phase & gf.grouped
    kf = np.maximum(sh.top_k, 1).astype(np.float64)
    model = StepModel(chip=chip, sh=sh, acc=acc, work=work, d=d, mem=mem,
                      prefill_transfer_delta=np.where(grouped_prefill, gf.f_c / kf - 1.0, 0.0))
    # MoEwithPIM rescales the prompt by f_m (§E.2); decode runs one token when the caches allow it.
    prompt_tokens = np.where(acc.prompt_scaled_by_f_m, np.ceil(work.prompt * gf.f_m - CEIL_EPS).astype(np.int64),
                             work.prompt)
    single_decode = np.where(acc.go_flag_traces_one_token, work.go_flag,
                             np.where(sh.expert_choice & is_moe, work.go_cache, work.kv_cache))
    tot = run_steps(model, inp.n, prompt_tokens, single_decode)
    bt = batching(tot, work.B, d.mp.stacked, work.prefill)
    kv = kv_fit(mem, sh, work.kv_cache, work.B, work.prompt + work.G - 1, work.go_cache & acc.go_traffic_charged)
    out = aimc_outputs(inp, acc, d.mp, tot, bt, gf, d.dm, d.dmac, d.eng, chip_power(inp, acc, d.mp.N, d.eng, expert_tile_count(inp, d.mp), gf.f_g), kv)
    out["placement"] = np.where(expert & is_moe, "expert", "pipeline").astype(object)
    return out
