"""What the AIMC model reads: every design-point column, in one place, with the spec's defaults.

A design point arrives as flat dotted columns (``cost.columns``). This module is the only
place in the AIMC model that reads them: the chip (tiers, tiles, digital units, op costs,
DRAM, area), the workload, the grouping and the heterogeneous placement knobs. Defaults
for columns a frame may lack are the spec's own (``specs/hardware.py``,
``specs/workload.py``), so a hand-built frame and a validated spec agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...specs.physical import crossbar_share_at, tier_scaling, tile_area_factor
from ..columns import Cols
from ..numeric import Array, ceil_ns
from ..shapes import ModelShape, model_shape

# Spec defaults for columns a frame may omit (kept equal to the pydantic defaults).
DEFAULT_ZIPF_EXPONENT = 1.0  # specs.workload.ExpertLoad.zipf_exponent
DEFAULT_CROSSBAR_AREA_SHARE = 0.2  # specs.hardware.Sharing.crossbar_area_share (HERMES)


@dataclass(frozen=True)
class OpCost:
    """A digital op's cost for a vector of s elements: per-256 slope plus a fixed part.

    Latency is rounded up to whole ns (the references keep integer op latencies,
    docs/reference-simulators.md §A.5.2); energy is in nJ (the tables give pJ).
    """

    lat_per256: Array
    lat_fixed: Array
    e_per256: Array
    e_fixed: Array

    def lat(self, s: Array | float) -> Array:
        return ceil_ns(self.lat_per256 * np.asarray(s) / 256.0 + self.lat_fixed)

    def energy_nj(self, s: Array | float) -> Array:
        return (self.e_per256 * np.asarray(s) / 256.0 + self.e_fixed) / 1000.0


def _op(c: Cols, name: str) -> OpCost:
    p = f"hw.ops.{name}."
    return OpCost(
        c.f(p + "latency_ns_per_256", 0.0),
        c.f(p + "latency_ns_fixed", 0.0),
        c.f(p + "energy_pj_per_256", 0.0),
        c.f(p + "energy_pj_fixed", 0.0),
    )


@dataclass(frozen=True)
class Chip:
    """The AIMC chip: R×C tiers, N tiles of Z tiers, P DPUs, M MHA units, op and DRAM costs."""

    R: Array  # tier rows
    C: Array  # tier columns
    tiles: Array  # N as specified (size_to_model may shrink it, see blocks.Mapping)
    Z: Array  # tiers per tile
    mvm_latency_ns: Array
    mvm_energy_nj: Array
    P: Array  # DPUs (float)
    M: Array  # MHA units (float)
    layer_norm: OpCost
    relu: OpCost
    gelu: OpCost
    add: OpCost
    comm: OpCost
    sampling: OpCost
    att_alpha_ns: Array
    att_beta_ns: Array
    att_gamma_pj: Array
    causal_factor: Array
    att_latency_ns_fixed: Array
    att_energy_nj_fixed: Array
    dram_gbps: Array
    dram_active_w: Array
    dram_idle_w: Array
    passive_w: Array
    moe_separated: Array  # bool: all experts of a layer stacked on the same tiles
    stack_embedding: Array  # bool: embedding row chunks stacked on one row's tiles
    group_size: Array  # g crossbars per shared periphery
    crossbar_share: Array  # the crossbar's share of a tile at this tier size (reference_tier)
    size_to_model: Array  # bool
    tile_mm2: Array
    tier_overhead_mm2: Array
    dpu_mm2: Array
    mha_unit_mm2: Array
    other_mm2: Array
    chips: Array  # identical chips, layers pipelined across them
    link_gbps: Array  # chip-to-chip link bandwidth per direction
    link_ns: Array  # latency of one crossing
    link_pj_per_bit: Array
    act_bytes: Array  # bytes per activation element crossing a link


def _tier_scaling(c: Cols) -> tuple[Array, Array]:
    """(cells, periphery) of each row's tier against its ``hw.reference_tier`` (specs/physical.py);
    1 where there is none."""
    return tier_scaling(c.f("hw.tier_rows"), c.f("hw.tier_cols"), c.f("hw.reference_tier.tier_rows", np.nan),
                        c.f("hw.reference_tier.tier_cols", np.nan))


def read_chip(c: Cols) -> Chip:
    share = c.f("hw.sharing.crossbar_area_share", DEFAULT_CROSSBAR_AREA_SHARE)  # at the reference tier
    cells, periphery = _tier_scaling(c)
    return Chip(
        R=c.i("hw.tier_rows"), C=c.i("hw.tier_cols"), tiles=c.i("hw.tiles"), Z=c.i("hw.stack_height"),
        mvm_latency_ns=c.f("hw.mvm_latency_ns"), mvm_energy_nj=c.f("hw.mvm_energy_nj"),
        P=c.f("hw.dpus"), M=c.f("hw.mha_units"),
        layer_norm=_op(c, "layer_norm"), relu=_op(c, "relu"), gelu=_op(c, "gelu"), add=_op(c, "add"),
        comm=_op(c, "communication"), sampling=_op(c, "sampling"),
        att_alpha_ns=c.f("hw.attention.alpha_ns"), att_beta_ns=c.f("hw.attention.beta_ns"),
        att_gamma_pj=c.f("hw.attention.gamma_pj"), causal_factor=c.f("hw.attention.causal_factor"),
        att_latency_ns_fixed=c.f("hw.attention.latency_ns_fixed"),
        att_energy_nj_fixed=c.f("hw.attention.energy_nj_fixed"),
        dram_gbps=c.f("hw.dram.bandwidth_gbps"), dram_active_w=c.f("hw.dram.active_power_w"),
        dram_idle_w=c.f("hw.dram.idle_power_w"), passive_w=c.f("hw.passive_power_w"),
        moe_separated=c.eq("hw.mapping.strategy", "moe_separated"),
        stack_embedding=c.b("hw.mapping.stack_embedding", False),
        group_size=c.i("hw.sharing.group_size", 1),
        crossbar_share=crossbar_share_at(cells, periphery, share),
        size_to_model=c.b("hw.size_to_model", False),
        tile_mm2=c.f("hw.area.tile_mm2") * tile_area_factor(cells, periphery, share),
        tier_overhead_mm2=c.f("hw.area.tier_overhead_mm2", 0.0),
        dpu_mm2=c.f("hw.area.dpu_mm2", 0.0), mha_unit_mm2=c.f("hw.area.mha_unit_mm2", 0.0),
        other_mm2=c.f("hw.area.other_mm2", 0.0),
        chips=c.f("hw.chips", 1.0), link_gbps=c.f("hw.link.bandwidth_gbps", 64.0),
        link_ns=c.f("hw.link.latency_ns", 2.0), link_pj_per_bit=c.f("hw.link.energy_pj_per_bit", 0.6),
        act_bytes=c.f("hw.link.activation_bytes", 1.0),
    )


@dataclass(frozen=True)
class Physical:
    """The physical sections of the chip (specs/physical.py), neutral when absent: weight
    encoding, converters (``has_conv`` False = the fixed T_mvm/E_mvm), stack limits,
    static power per component, the KV SRAM and the DRAM's channels and capacity."""

    devices_per_weight: Array
    slices: Array  # bit slices per weight
    slice_tiers: Array  # bool: slices on separate tiers (else side by side in the columns)
    has_conv: Array  # bool
    in_bits: Array
    bit_serial: Array  # bool
    t_in: Array
    adc_bits: Array
    t_adc: Array
    overlap: Array  # bool
    adc_fj: Array
    step_pj: Array
    ovh_ns: Array
    ovh_nj: Array
    max_tiers: Array  # inf = no limit
    lat_per_tier: Array
    e_per_tier: Array
    tile_w: Array
    tier_w: Array
    dpu_w: Array
    mha_w: Array
    sram_w_per_mb: Array
    other_w: Array
    sram_mb: Array
    sram_gbps: Array
    sram_pj: Array
    sram_mm2_per_mb: Array
    channels: Array
    channel_gb: Array  # inf = unlimited
    dram_pj: Array  # 0 = active power × time
    kv_bits: Array


def _opt(c: Cols, key: str, default: float) -> Array:
    """An optional figure: its column, NaN (a row without the section) replaced by ``default``."""
    return np.nan_to_num(c.f(key, default), nan=default, posinf=np.inf)


def read_physical(c: Cols) -> Physical:
    e, v, st, p, k = "hw.encoding.", "hw.converters.", "hw.stack.", "hw.static_power.", "hw.kv_sram."
    wb, bd = _opt(c, e + "weight_bits", 8).astype(np.int64), _opt(c, e + "bits_per_device", 8).astype(np.int64)
    cells, periphery = _tier_scaling(c)  # the array's energy per step follows its cells, a tile's periphery its edges
    return Physical(
        devices_per_weight=_opt(c, e + "devices_per_weight", 1).astype(np.int64), slices=-(-wb // bd),
        slice_tiers=c.s(e + "slicing", "columns") == "tiers",
        has_conv=np.isfinite(c.f(v + "input_ns_per_step", np.nan)),
        in_bits=_opt(c, v + "input_bits", 8), bit_serial=c.s(v + "input_mode", "pwm") == "bit_serial",
        t_in=_opt(c, v + "input_ns_per_step", 0), adc_bits=_opt(c, v + "adc_bits", 8),
        t_adc=_opt(c, v + "adc_ns_per_lsb", 0), overlap=c.s(v + "adc_overlaps_input", "True") != "False",
        adc_fj=_opt(c, v + "adc_fj_per_step", 0), step_pj=_opt(c, v + "array_pj_per_step", 0) * cells,
        ovh_ns=_opt(c, v + "overhead_ns", 0), ovh_nj=_opt(c, v + "overhead_nj", 0),
        max_tiers=_opt(c, st + "max_tiers", np.inf), lat_per_tier=_opt(c, st + "mvm_latency_ns_per_tier", 0),
        e_per_tier=_opt(c, st + "mvm_energy_nj_per_tier", 0),
        tile_w=_opt(c, p + "tile_w", 0) * periphery, tier_w=_opt(c, p + "tier_w", 0), dpu_w=_opt(c, p + "dpu_w", 0),
        mha_w=_opt(c, p + "mha_unit_w", 0), sram_w_per_mb=_opt(c, p + "sram_w_per_mb", 0),
        other_w=_opt(c, p + "other_w", 0),
        sram_mb=_opt(c, k + "mb", 0), sram_gbps=_opt(c, k + "bandwidth_gbps", 256), sram_pj=_opt(c, k + "pj_per_byte", 0),
        sram_mm2_per_mb=_opt(c, k + "mm2_per_mb", 0),
        channels=_opt(c, "hw.dram.channels", 1), channel_gb=_opt(c, "hw.dram.channel_capacity_gb", np.inf),
        dram_pj=_opt(c, "hw.dram.pj_per_byte", 0), kv_bits=_opt(c, "hw.kv_bits", 8),
    )


@dataclass(frozen=True)
class Work:
    """The request: B sequences of a prompt and G generated tokens, caches, routing model."""

    prompt: Array
    G: Array
    B: Array
    prefill: Array  # bool
    kv_cache: Array  # bool
    go_cache: Array  # bool, MoE models only (a dense model has no gate outputs to cache)
    go_flag: Array  # bool: workload.go_cache as given (MoEwithPIM's --go_flag acts on dense models too)
    zipf: Array  # zipf exponent of the expert popularity; 0 = uniform routing
    load_model: Array  # str: uniform | zipf | trace
    trace: Array  # str: gate-trace path ('' when none)
    seed: Array


def read_work(c: Cols, sh: ModelShape) -> Work:
    load = c.s("workload.expert_load.model", "uniform")
    zipf = np.where(load == "zipf", c.f("workload.expert_load.zipf_exponent", DEFAULT_ZIPF_EXPONENT), 0.0)
    return Work(
        prompt=c.i("workload.prompt_len"), G=c.i("workload.gen_len"), B=c.i("workload.batch"),
        prefill=c.b("workload.prefill"), kv_cache=c.b("workload.kv_cache"),
        go_cache=c.b("workload.go_cache") & (sh.experts > 0), go_flag=c.b("workload.go_cache"),
        zipf=zipf, load_model=load, trace=c.s("workload.expert_load.trace", ""), seed=c.i("workload.seed", 0),
    )


@dataclass(frozen=True)
class GroupingKnobs:
    """Expert grouping and schedule (Gao & Yang 2026), and explicit factors (NaN = derive)."""

    grouping: Array
    schedule: Array
    fit_tokens: Array
    f_m_set: Array
    f_c_set: Array
    f_g_set: Array


def read_grouping(c: Cols) -> GroupingKnobs:
    return GroupingKnobs(
        grouping=c.s("workload.grouping.grouping", "uniform"),
        schedule=c.s("workload.grouping.schedule", "none"),
        fit_tokens=c.f("workload.grouping.fit_tokens", 1.0),
        f_m_set=c.f("workload.grouping.factors.mvm", np.nan),
        f_c_set=c.f("workload.grouping.factors.comm", np.nan),
        f_g_set=c.f("workload.grouping.factors.area", np.nan),
    )


@dataclass(frozen=True)
class DigitalKnobs:
    """Heterogeneous placement (``workload.digital``) and the digital unit (``hw.digital``)."""

    attention: Array
    router: Array
    shared_experts: Array
    lm_head: Array
    dense_ffn: Array
    fraction: Array
    score: Array
    listed_experts: Array  # str: JSON of workload.digital.experts (score = list), '' when none
    has_unit: Array  # bool: the chip has a digital unit
    units: Array
    peak_tops: Array
    compute_efficiency: Array
    weight_bytes: Array
    sram_mb: Array
    sram_gbps: Array  # NaN = not limited
    dram_gbps: Array  # NaN = no DRAM fallback
    pj_per_mac: Array
    sram_pj_per_byte: Array
    dram_pj_per_byte: Array
    logic_mm2: Array
    sram_mm2_per_mb: Array
    static_w: Array


def read_digital(c: Cols) -> DigitalKnobs:
    n = c.n

    def flag(key: str) -> Array:
        return c.b(f"workload.digital.{key}", False) if c.has(f"workload.digital.{key}") else np.zeros(n, bool)

    def opt(key: str) -> Array:  # an optional hw.digital figure, NaN when absent
        return c.f(f"hw.digital.{key}", np.nan) if c.has(f"hw.digital.{key}") else np.full(n, np.nan)

    has = np.isfinite(opt("peak_tops"))

    def fig(key: str, default: float) -> Array:  # a digital-unit figure, neutral without a unit
        return np.where(has, np.nan_to_num(opt(key), nan=default), default)

    return DigitalKnobs(
        attention=flag("attention"), router=flag("router"), shared_experts=flag("shared_experts"),
        lm_head=flag("lm_head"), dense_ffn=flag("dense_ffn"),
        fraction=c.f("workload.digital.fraction", 0.0), score=c.s("workload.digital.score", "maxnn"),
        listed_experts=c.s("workload.digital.experts", ""),
        has_unit=has, units=fig("units", 1.0), peak_tops=fig("peak_tops", 1.0),
        compute_efficiency=fig("compute_efficiency", 1.0), weight_bytes=fig("weight_bytes", 2.0),
        sram_mb=fig("sram_mb", 0.0), sram_gbps=opt("sram_bandwidth_gbps"), dram_gbps=opt("dram_bandwidth_gbps"),
        pj_per_mac=fig("energy_pj_per_mac", 0.0), sram_pj_per_byte=fig("sram_pj_per_byte", 0.0),
        dram_pj_per_byte=fig("dram_pj_per_byte", 0.0), logic_mm2=fig("logic_mm2", 0.0),
        sram_mm2_per_mb=fig("sram_mm2_per_mb", 0.0), static_w=fig("static_power_w", 0.0),
    )


@dataclass(frozen=True)
class Inputs:
    """One column of AIMC design points, read and typed."""

    n: int
    chip: Chip
    shape: ModelShape
    work: Work
    grouping: GroupingKnobs
    digital: DigitalKnobs
    physical: Physical
    profile: Array  # hw.accounting: physical | ibm3dsim | moewithpim
    first_dense_layers: Array
    moe_every: Array


def read_inputs(c: Cols) -> Inputs:
    sh = model_shape(c)
    return Inputs(
        n=c.n, chip=read_chip(c), shape=sh, work=read_work(c, sh), grouping=read_grouping(c),
        digital=read_digital(c), physical=read_physical(c), profile=c.s("hw.accounting"),
        first_dense_layers=c.i("model.moe.first_dense_layers", 0), moe_every=c.i("model.moe.every", 1),
    )
