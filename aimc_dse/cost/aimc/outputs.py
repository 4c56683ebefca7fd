"""Energy, area, fit and the result columns of the AIMC model (docs/cost-model.md §5, §9;
docs/reference-simulators.md §C.5, §G.7).

Energy = B × the active energy of one sequence + (static + passive power) × makespan
(power.py). Area = the tiles (expert tiles scaled by the sharing factor f_g) + DPUs + MHA
units + KV SRAM + other + the digital unit. A design fits when its stack can be built, its
weights fit the tiers and its KV cache the memory (``fit_reason`` names the first that
fails); one that does not carries no performance figure (``registry.mask_unfit``).
"""

from __future__ import annotations

import numpy as np

from ..metrics import headline_metrics
from ..numeric import Array, ceil_div
from ..registry import mask_unfit
from .accounting import Accounting
from .batching import Batching
from .blocks import DigitalMacs, Mapping
from .digital import DigitalEngine, DigitalModules
from .grouping import GroupingFactors
from .inputs import Inputs
from .memory import KvFit
from .power import Power
from .steps import StepTotals


def fit_reason(stack_ok: Array, weights_ok: Array, kv_ok: Array, digital_ok: Array | bool = True,
               groups_ok: Array | bool = True) -> Array:
    """Why a design does not fit, the first failing of stack height, expert groups (g must
    divide the routed experts), weights (tier blocks), digital weights (beyond the digital
    unit's SRAM, and it has no DRAM), KV cache ('' = fits)."""
    return np.where(~stack_ok, "stack_height", np.where(~np.asarray(groups_ok), "group_size", np.where(
        ~weights_ok, "weights", np.where(~np.asarray(digital_ok), "digital_weights", np.where(~kv_ok, "kv_cache", "")))))


def expert_tile_count(inp: Inputs, mp: Mapping) -> Array:
    """Tiles (all chips) the routed experts' blocks fill: the ones whose periphery is shared."""
    return np.minimum(mp.n_all, ceil_div(mp.expert, inp.chip.Z)).astype(np.float64)


def areas(inp: Inputs, mp: Mapping, gf: GroupingFactors, eng: DigitalEngine) -> tuple[Array, Array]:
    """Chip area and the MoE part's area (expert crossbars, scaled by peripheral sharing), mm²."""
    chip = inp.chip
    tile = chip.tile_mm2 + chip.tier_overhead_mm2 * (chip.Z - 1)
    expert_tiles = expert_tile_count(inp, mp)
    moe = expert_tiles * tile * gf.f_g
    ph = inp.physical
    per_chip = chip.P * chip.dpu_mm2 + chip.M * chip.mha_unit_mm2 + chip.other_mm2 + ph.sram_mb * ph.sram_mm2_per_mb
    area = (mp.n_all - expert_tiles) * tile + moe + chip.chips * per_chip + eng.area_mm2
    return area, moe


def aimc_outputs(inp: Inputs, acc: Accounting, mp: Mapping, tot: StepTotals, bt: Batching, gf: GroupingFactors,
                 dm: DigitalModules, dmac: DigitalMacs, eng: DigitalEngine, pw: Power, kv: KvFit) -> dict[str, Array]:
    sh, work, B = inp.shape, inp.work, inp.work.B
    e_passive = pw.passive_w * bt.makespan
    e_static = pw.static_w * bt.makespan
    energy = B * tot.active_energy + e_passive + e_static
    stack_ok = inp.chip.Z <= inp.physical.max_tiers
    fits = stack_ok & mp.fits & kv.fits & gf.groups_ok
    flops = B * tot.ops
    area, area_moe = areas(inp, mp, gf, eng)
    decode_steps = work.G - 1
    tpot = np.where(decode_steps > 0, (bt.makespan - np.nan_to_num(bt.prefill)) / np.maximum(decode_steps, 1), np.nan)
    out = headline_metrics(
        system="aimc", n=inp.n, fits=fits, latency_ns=bt.makespan, ttft_ns=bt.prefill, tpot_ns=tpot,
        energy_nj=energy, area_mm2=area, flops=flops, tokens=B * np.where(work.prefill, work.G, work.G - 1),
    )
    is_moe = sh.experts > 0
    pre = np.nan_to_num(bt.prefill)
    with np.errstate(divide="ignore", invalid="ignore"):
        out.update({
            "latency_ns.prefill": pre,
            "latency_ns.decode": bt.makespan - pre,
            "energy_nj.mvm": B * tot.e_mvm,
            "energy_nj.communication": B * tot.e_comm,
            "energy_nj.digital": B * tot.e_dpu,
            "energy_nj.attention": B * tot.e_att,
            "energy_nj.dram": B * tot.e_dram,
            "energy_nj.digital_mac": B * tot.e_dig,
            "energy_nj.link": B * tot.e_link,
            "energy_nj.passive": e_passive,
            "energy_nj.static": e_static,
            "power_w.static": (e_passive + e_static) / bt.makespan,
            "power_w.dynamic": B * tot.active_energy / bt.makespan,
            "fit_reason": fit_reason(stack_ok, mp.tier_fits, kv.fits, mp.fits | ~mp.tier_fits,
                                     gf.groups_ok).astype(object),
            "max_batch": np.where(stack_ok & mp.fits & gf.groups_ok, kv.max_batch, 0.0),
            "kv_cache_bytes": np.where(work.kv_cache, kv.cache_bytes * B, 0.0),
            "analog_energy_nj": B * (tot.e_mvm + tot.e_comm),
            "busy_ns.mvm": B * tot.busy_mvm,
            "busy_ns.communication": B * tot.busy_comm,
            "busy_ns.digital": B * tot.busy_dpu,
            "busy_ns.attention": B * tot.busy_att,
            "busy_ns.dram": B * tot.busy_dram,
            "busy_ns.digital_mac": B * tot.busy_dig,
            "busy_ns.link": B * tot.busy_link,
            "link_bytes": B * tot.link_bytes,
            "single_sequence_latency_ns": bt.single,
            "latency_bound_ns": bt.latency_bound,
            "throughput_bound_ns": bt.throughput_bound,
            "batch_bound": bt.batch_bound.astype(object),
            "mvms": B * tot.mvms,
            "tier_blocks": mp.total,
            "tiles_needed": mp.tiles_needed,
            "chips_needed": mp.chips_needed,
            "tiers_used": mp.tiers_used,
            "stacked": mp.stacked,
            "area_mm2.moe": np.where(is_moe, area_moe, np.nan),
            "area_mm2.digital": eng.area_mm2,
            # identical chips (hw.chips): each one's share of the system
            "area_mm2.per_chip": area / inp.chip.chips,
            "power_w.per_chip": energy / bt.makespan / inp.chip.chips,
            # (none where no MoE part is on the tiles: an MoE model cut to its dense layers)
            "gops_per_mm2.moe": np.where(is_moe & (area_moe > 0), flops / bt.makespan / area_moe, np.nan),
            "gops_per_w_per_mm2.moe": np.where(is_moe & (area_moe > 0), flops / energy / area_moe, np.nan),
            "grouping.f_m": gf.f_m,
            "grouping.f_c": gf.f_c,
            "grouping.f_g": gf.f_g,
            "digital_param_fraction": dmac.weights / sh.params,
            "digital_experts_per_layer": dm.n_experts.astype(np.float64),
        })
    return mask_unfit(out)
