"""Hardware specs: the 3D AIMC chip (docs/cost-model.md §1) and the GPU baseline (§7).

An AIMC chip is ``tiles`` tiles, each a stack of ``stack_height`` tiers; a tier is one
``tier_rows × tier_cols`` crossbar. One tier per tile computes at a time (OTT). Digital
work runs on ``dpus`` DPUs and ``mha_units`` attention units whose per-op costs are closed
forms of the vector size (docs/reference-simulators.md §A.5). Every number carries its unit in
its name; presets cite their sources in ``sources``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, Self, Union

import numpy as np
from pydantic import Field, model_validator

from .base import MAX_STACK, MAX_TIER_DIM, MAX_TILES, MAX_UNITS, Spec
from .digital import DigitalCompute
from .physical import (
    Converters,
    Encoding,
    KvSram,
    ReferenceTier,
    Stack,
    StaticPower,
    converter_energy_nj,
    converter_latency_ns,
    crossbar_share_at,
    tier_scaling,
    tile_area_factor,
)

# The MVM figures the converters give, by the inputs they follow from as given (a sweep over
# tile counts validates thousands of variants with the same converters: derived once).
_DERIVED: dict[tuple, tuple[float, float]] = {}


def _derivation_key(data: dict[str, Any]) -> tuple | None:
    """What ``_derive_from_converters`` reads, as a hashable key (None when a part is not plain
    values, e.g. nested lists: then it is derived afresh)."""
    try:
        key = tuple(tuple(sorted(g.items())) if isinstance(g, dict) else g
                    for g in (data["converters"], data.get("encoding"), data.get("stack"),
                              data.get("tier_cols"), data.get("stack_height"), data.get("tier_rows"),
                              data.get("reference_tier")))
        hash(key)
    except (KeyError, TypeError):
        return None
    # bool and int (and 1 and 1.0) hash alike; the types keep True and 1 apart
    return key + (tuple(type(v).__name__ for g in key if isinstance(g, tuple) for _, v in g),
                  type(data.get("tier_cols")).__name__, type(data.get("stack_height")).__name__,
                  type(data.get("tier_rows")).__name__)


class OpCost(Spec):
    """Cost of one digital vector op of size s, as the references fit it (§A.5.2).

    latency_ns = ceil(latency_ns_per_256 · s/256 + latency_ns_fixed);
    energy_pj = energy_pj_per_256 · s/256 + energy_pj_fixed.
    A constant-cost op (the 3D-SiM defaults) has only the ``_fixed`` terms.
    """

    latency_ns_per_256: float = Field(0.0, ge=0, description="latency slope, ns per 256 elements")
    latency_ns_fixed: float = Field(0.0, ge=0, description="latency intercept, ns")
    energy_pj_per_256: float = Field(0.0, ge=0, description="energy slope, pJ per 256 elements")
    energy_pj_fixed: float = Field(0.0, ge=0, description="energy intercept, pJ")


class DigitalOps(Spec):
    """Per-op costs of the DPU pool and the interconnect (docs/reference-simulators.md §A.5)."""

    layer_norm: OpCost = Field(description="layer norm of a d-vector (DPU)")
    relu: OpCost = Field(description="ReLU of a vector (DPU)")
    gelu: OpCost = Field(description="GeLU / SiLU-type activation of a vector (DPU)")
    add: OpCost = Field(description="vector add: residuals, partial-sum reductions, expert combine (DPU)")
    communication: OpCost = Field(
        description="one on-chip transfer; evaluated at vector size tier_cols, as both references do (§C.2)"
    )
    sampling: OpCost = Field(description="final token sampling (DPU), once per decode step")


class AttentionCost(Spec):
    """One attention job (all heads, one layer, one sequence, one step) on an MHA unit (§A.6).

    latency_ns = causal · ceil(n² (alpha·d + beta·d²)) + latency_ns_fixed;
    energy_nj = causal · n² · gamma · d / 1000 + energy_nj_fixed.
    A KV-cached decode step costs 1/n of the full job plus the DRAM KV load.
    """

    alpha_ns: float = Field(0.0, ge=0, description="latency coefficient of n²·d, ns")
    beta_ns: float = Field(0.0, ge=0, description="latency coefficient of n²·d², ns")
    gamma_pj: float = Field(0.0, ge=0, description="energy coefficient of n²·d, pJ")
    latency_ns_fixed: float = Field(0.0, ge=0, description="constant latency per job, ns (3D-SiM stub: 2)")
    energy_nj_fixed: float = Field(0.0, ge=0, description="constant energy per job, nJ (3D-SiM stub: 2)")
    causal_factor: float = Field(0.5, gt=0, le=1, description="fraction of the n² work a causal mask keeps")


class Dram(Spec):
    """Off-chip DRAM holding the KV cache and the GO cache (§A.6; docs/cost-model.md §1.3).

    ``channels`` identical channels: bandwidth, capacity and background power scale with
    them. Transfer energy is ``pj_per_byte`` per byte when given, else the references' form,
    active power × transfer time.
    """

    bandwidth_gbps: float = Field(gt=0, description="bandwidth of one channel, GB/s (= bytes/ns)")
    active_power_w: float = Field(0.0, ge=0, description="power of one channel while transferring, W (used when pj_per_byte is 0)")
    idle_power_w: float = Field(ge=0, description="background (idle) power of one channel, W, charged while a cache is in use")
    channels: int = Field(1, ge=1, description="channels (bandwidth, capacity and background power scale with them)")
    channel_capacity_gb: float | None = Field(None, gt=0, description="capacity of one channel, GB (10⁹ bytes); None = unlimited")
    pj_per_byte: float = Field(0.0, ge=0, description="transfer energy per byte, pJ (0 = active power × transfer time)")


class AimcArea(Spec):
    """Chip area figures (docs/cost-model.md §1.5; docs/reference-simulators.md §G.7)."""

    tile_mm2: float = Field(gt=0, description="footprint of one tile (periphery + crossbar), mm²")
    tier_overhead_mm2: float = Field(0.0, ge=0, description="extra area per stacked tier beyond the first, mm²")
    dpu_mm2: float = Field(0.0, ge=0, description="area of one DPU, mm²")
    mha_unit_mm2: float = Field(0.0, ge=0, description="area of one attention (MHA) unit, mm²")
    other_mm2: float = Field(0.0, ge=0, description="any other fixed area (I/O, SRAM), mm²")


def sharing_area_factor(group_size: Any, crossbar_area_share: Any) -> Any:
    """f_g = share + (1 − share)/g: per-crossbar area (and, as MoEwithPIM codes it, MVM energy)
    relative to no sharing (docs/reference-simulators.md §E.3). share 0.2 → 1.0 / 0.6 / 0.4
    for g = 1 / 2 / 4. Scalars or numpy arrays; the one definition every caller uses."""
    return crossbar_area_share + (1.0 - crossbar_area_share) / group_size


class ChipLink(Spec):
    """The chip-to-chip link of a multi-chip system (``chips`` > 1), per direction.

    Defaults: one UCIe standard-package (2D) x16 module at 32 GT/s — 16 lanes × 32 Gb/s =
    64 GB/s; 0.6 pJ/bit above 16 GT/s and about 2 ns latency (Das Sharma et al., UCIe, IEEE
    Hot Interconnects 2025; UCIe 1.0: up to 32 GT/s on 16–64 lanes).
    """

    bandwidth_gbps: float = Field(64.0, gt=0, le=1e6, description="link bandwidth per direction, GB/s")
    latency_ns: float = Field(2.0, ge=0, le=1e9, description="latency of one crossing, ns")
    energy_pj_per_bit: float = Field(0.6, ge=0, le=1e3, description="energy per bit moved, pJ")
    activation_bytes: int = Field(1, ge=1, le=8, description="bytes per activation element crossing a link (8-bit AIMC I/O)")


class Sharing(Spec):
    """Peripheral sharing (Gao & Yang 2026): g crossbars share one periphery (§E.3)."""

    group_size: int = Field(1, ge=1, le=MAX_UNITS, description="crossbars per shared periphery, g (1 = no sharing)")
    crossbar_area_share: float = Field(
        0.2, gt=0, le=1, description="fraction of a core's area that is the crossbar array (HERMES: 0.2)"
    )


class MappingOptions(Spec):
    """How weight blocks are placed on tiers (docs/reference-simulators.md §B)."""

    strategy: Literal["greedy_in_order", "greedy_random", "moe_separated"] = Field(
        "greedy_in_order", description="placement strategy"
    )
    split_ffn: bool = Field(True, description="place an expert's ffn2 by the greedy rule, not on ffn1's tiles")
    stack_embedding: bool = Field(False, description="stack all embedding row-chunks on the same ⌈d/C⌉ tiles")


class CoreFigures(Spec):
    """Published core figures; when given, they define MVM latency, energy and tile area.

    One MVM of a full R×C tier is 2·R·C operations.
    """

    tops: float = Field(gt=0, description="throughput of one core, TOPS")
    tops_per_w: float = Field(gt=0, description="energy efficiency, TOPS/W")
    tops_per_mm2: float = Field(gt=0, description="area efficiency, TOPS/mm²")


Accounting = Literal["physical", "ibm3dsim", "moewithpim"]


class AimcHardware(Spec):
    """A 3D analog in-memory-computing chip."""

    # Groups no model validator reads as raw data (``_derive_from_core`` and
    # ``_derive_from_converters`` read core, encoding, converters, stack and area): a variant
    # that leaves one untouched may be given the base spec's validated instance of it
    # (``loader.validate_hardware(reuse=...)``), which validation takes as it is.
    REUSABLE_GROUPS: ClassVar[tuple[str, ...]] = ("ops", "attention", "dram", "static_power", "kv_sram", "sharing",
                                                  "link", "mapping", "digital")
    # Top-level numbers none of the model validators below reads (Spec.FREE_NUMBERS): a sweep
    # over them needs no re-validation of the rest (tier sizes, converters and MVM figures, which
    # _derive_from_core/_derive_from_converters read, are not among them).
    FREE_NUMBERS: ClassVar[tuple[str, ...]] = ("tiles", "dpus", "mha_units", "passive_power_w", "kv_bits", "chips")

    kind: Literal["aimc"] = Field("aimc", description="hardware kind")
    name: str = Field("custom-aimc", description="preset name")
    description: str = Field("", description="one line shown by `aimc-dse presets`")
    sources: list[str] = Field(default_factory=list, description="where the numbers come from")

    tier_rows: int = Field(gt=0, le=MAX_TIER_DIM, description="crossbar input rows R per tier")
    tier_cols: int = Field(gt=0, le=MAX_TIER_DIM, description="crossbar output columns C per tier")
    stack_height: int = Field(gt=0, le=MAX_STACK, description="tiers per tile Z (1 = planar)")
    tiles: int = Field(gt=0, le=MAX_TILES, description="number of tiles N")
    mvm_latency_ns: float | None = Field(None, gt=0, description="latency of one tier MVM, ns")
    mvm_energy_nj: float | None = Field(None, gt=0, description="energy of one tier MVM, nJ")
    core: CoreFigures | None = Field(None, description="core figures defining MVM latency/energy and tile area")
    dpus: int = Field(gt=0, le=MAX_UNITS, description="digital processing units P")
    mha_units: int = Field(gt=0, le=MAX_UNITS, description="attention units M")
    ops: DigitalOps = Field(description="digital op cost model")
    attention: AttentionCost = Field(description="attention-job cost model")
    dram: Dram = Field(description="DRAM for KV and GO caches")
    passive_power_w: float = Field(
        0.0, ge=0, description="flat passive power while running, W (the reference simulators' placeholder)")
    encoding: Encoding = Field(default_factory=Encoding, description="weight encoding: devices per weight, bit slices")
    converters: Converters | None = Field(
        None, description="input DACs and column ADCs; when given they set the MVM latency and energy")
    stack: Stack = Field(default_factory=Stack, description="stack-height limit and per-tier MVM costs")
    static_power: StaticPower = Field(default_factory=StaticPower, description="static power per component")
    kv_sram: KvSram = Field(default_factory=KvSram, description="on-chip KV/scratchpad SRAM in front of the DRAM")
    kv_bits: int = Field(8, ge=1, le=32, description="bits per KV-cache element (8: the references' one byte)")
    area: AimcArea | None = Field(None, description="area figures (tile area may come from `core`)")
    reference_tier: ReferenceTier | None = Field(
        None, description="the tier the tile area, tile static power and converters' array energy were given for; "
        "another tier_rows × tier_cols scales them (docs/cost-model.md §1.12). None: they hold at any tier size")
    sharing: Sharing = Field(default_factory=Sharing, description="peripheral sharing")
    chips: int = Field(
        1, ge=1, le=MAX_UNITS,
        description="identical chips joined by chip-to-chip links, the model split across them as "
        "`parallelism` says. 1 = one chip",
    )
    link: ChipLink = Field(default_factory=ChipLink, description="the chip-to-chip link (used when chips > 1)")
    parallelism: Literal["pipeline", "expert", "best"] = Field(
        "pipeline",
        description="how the model is split across the chips: pipeline (consecutive layers per chip); expert "
        "(each MoE layer's routed experts spread over all chips, tokens dispatched and combined over the links; "
        "attention, dense FFNs, routers and shared experts stay on their layer's pipeline chip; a dense model "
        "runs as pipeline); best (both evaluated, the one with more tokens/s reported, pipeline on a tie)",
    )
    mapping: MappingOptions = Field(default_factory=MappingOptions, description="weight placement")
    digital: DigitalCompute | None = Field(
        None, description="digital units for experts/modules run digitally: inline, or a hw_specs/digital/ preset name"
    )
    size_to_model: bool = Field(
        False, description="use only the tiles the model needs, ⌈tier blocks / stack_height⌉ (the chip shrinks to the model; "
        "with several chips, each chip's share of them)"
    )
    accounting: Accounting = Field(
        "physical",
        description="physical (default), or a reference simulator's accounting: ibm3dsim, moewithpim",
    )

    @model_validator(mode="before")
    @classmethod
    def _derive_from_core(cls, data: Any) -> Any:
        """Fill MVM latency/energy and tile area from core figures when not given."""
        if not isinstance(data, dict) or not isinstance(data.get("core"), dict):
            return data
        core = data["core"]
        try:
            # one MVM of a full tier: 2 operations per stored weight (tier_cols counts devices)
            d = int((data.get("encoding") or {}).get("devices_per_weight", 1))
            ops = 2.0 * float(data["tier_rows"]) * float(int(data["tier_cols"]) // max(d, 1))
            tops, tpw, tpmm = float(core["tops"]), float(core["tops_per_w"]), float(core["tops_per_mm2"])
        except (KeyError, TypeError, ValueError):
            return data  # field validation reports what is missing
        if tops <= 0 or tpw <= 0 or tpmm <= 0:
            return data
        data = dict(data)
        # ops / (TOPS·1e12 op/s) in ns = ops / (TOPS·1e3); ops / (TOPS/W · 1e12 op/J) in nJ likewise
        if not isinstance(data.get("converters"), dict):  # converters, when given, set the MVM figures
            data.setdefault("mvm_latency_ns", ops / (tops * 1e3))
            data.setdefault("mvm_energy_nj", ops / (tpw * 1e3))
        area = dict(data.get("area") or {})
        area.setdefault("tile_mm2", tops / tpmm)
        data["area"] = area
        return data

    @model_validator(mode="before")
    @classmethod
    def _derive_from_converters(cls, data: Any) -> Any:
        """With converters, the MVM latency and energy follow from them (shown by ``show``)."""
        if not isinstance(data, dict) or not isinstance(data.get("converters"), dict):
            return data
        inputs = _derivation_key(data)
        derived_te = _DERIVED.get(inputs) if inputs is not None else None
        if derived_te is None:
            try:
                conv = Converters.model_validate(data["converters"])
                enc = Encoding.model_validate(data.get("encoding") or {})
                stack = Stack.model_validate(data.get("stack") or {})
                cols, z, rows = int(data["tier_cols"]), int(data["stack_height"]), int(data["tier_rows"])
                ref = data.get("reference_tier")
                ref = ReferenceTier.model_validate(ref) if ref is not None else None
            except (KeyError, TypeError, ValueError, OverflowError):
                return data  # field validation reports what is wrong
            if not (0 < cols <= MAX_TIER_DIM and 0 < z <= MAX_STACK and 0 < rows <= MAX_TIER_DIM):
                return data  # out of bounds: field validation names it (before any arithmetic overflows)
            # the array's energy per input step follows its cells (physical.tier_scaling)
            cells = float(tier_scaling(rows, cols, *((ref.tier_rows, ref.tier_cols) if ref else (np.nan, np.nan)))[0])
            serial = conv.input_mode == "bit_serial"
            t = converter_latency_ns(conv.input_bits, serial, conv.input_ns_per_step, conv.adc_bits, conv.adc_ns_per_lsb,
                                     conv.adc_overlaps_input, conv.overhead_ns) + stack.mvm_latency_ns_per_tier * z
            e = converter_energy_nj(conv.input_bits, serial, cols // enc.devices_per_weight, conv.adc_bits,
                                    conv.adc_fj_per_step, conv.array_pj_per_step * cells, conv.overhead_nj) \
                + stack.mvm_energy_nj_per_tier * z
            derived_te = (float(t), float(e))
            if inputs is not None:
                if len(_DERIVED) >= 1024:
                    _DERIVED.clear()
                _DERIVED[inputs] = derived_te
        t, e = derived_te
        for key, derived in (("mvm_latency_ns", float(t)), ("mvm_energy_nj", float(e))):
            given = data.get(key)
            if given is not None and (isinstance(given, bool) or not isinstance(given, (int, float))
                                      or not math.isfinite(given)):
                return data  # not a finite number: field validation names the problem
            if given is not None and not math.isclose(float(given), derived, rel_tol=1e-9):
                raise ValueError(f"{key} is given ({given}) but the converters set it ({derived:.6g}); drop one, "
                                 "e.g. --set hw.converters=null to use fixed MVM figures")
        return {**data, "mvm_latency_ns": float(t), "mvm_energy_nj": float(e)}

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.mvm_latency_ns is None or self.mvm_energy_nj is None:
            raise ValueError("give mvm_latency_ns and mvm_energy_nj, converters, or core figures "
                             "(tops, tops_per_w, tops_per_mm2)")
        if self.area is None:
            raise ValueError("give area.tile_mm2, or core figures from which it follows")
        return self

    # ---- derived figures -------------------------------------------------------------
    @property
    def total_tiers(self) -> int:
        """Tiers on the chip, N·Z."""
        return self.tiles * self.stack_height

    @property
    def weight_cols(self) -> int:
        """Weight columns of a tier: device columns / (devices per weight × column bit slices)."""
        col_slices = self.encoding.slices if self.encoding.slicing == "columns" else 1
        return max(self.tier_cols // (self.encoding.devices_per_weight * col_slices), 1)

    @property
    def tiers_per_block(self) -> int:
        """Tiers one block takes: the bit slices when they go on separate tiers, else 1."""
        return self.encoding.slices if self.encoding.slicing == "tiers" else 1

    @property
    def ops_per_mvm(self) -> int:
        """Operations of one full tier MVM as the references count them: 2RC − R."""
        return 2 * self.tier_rows * self.weight_cols - self.tier_rows

    @property
    def peak_tops(self) -> float:
        """All tiles busy with full MVMs (OTT: one tier per tile), TOPS."""
        assert self.mvm_latency_ns is not None  # _complete: given or derived from core figures
        return self.tiles * 2 * self.tier_rows * self.weight_cols / self.tiers_per_block / self.mvm_latency_ns / 1e3

    @property
    def sharing_area_factor(self) -> float:
        """f_g of this chip's peripheral sharing (:func:`sharing_area_factor`), with the crossbar's
        share of a tile at this tier size (``reference_tier``; physical.crossbar_share_at)."""
        share = crossbar_share_at(*self.tier_scaling(), self.sharing.crossbar_area_share)
        return float(sharing_area_factor(self.sharing.group_size, share))

    def tier_scaling(self) -> tuple[float, float]:
        """(cells, periphery) of this tier relative to ``reference_tier`` (1, 1 without one)."""
        ref = self.reference_tier
        cells, periphery = tier_scaling(self.tier_rows, self.tier_cols, *((ref.tier_rows, ref.tier_cols) if ref
                                                                         else (np.nan, np.nan)))
        return float(cells), float(periphery)

    @property
    def tile_mm2(self) -> float:
        """Area of one tile at this tier size: ``area.tile_mm2`` scaled from ``reference_tier``."""
        assert self.area is not None  # _complete: given or derived from core figures
        cells, periphery = self.tier_scaling()
        return self.area.tile_mm2 * float(tile_area_factor(cells, periphery, self.sharing.crossbar_area_share))

    def chip_area_mm2(self, tiles_used: int | None = None) -> float:
        """Area of the chip: tiles (+ tier overhead) + DPUs + MHA units + other + KV SRAM, mm²."""
        n = self.tiles if tiles_used is None else tiles_used
        a = self.area
        assert a is not None  # _complete: given or derived from core figures
        return (
            n * (self.tile_mm2 + a.tier_overhead_mm2 * (self.stack_height - 1))
            + self.dpus * a.dpu_mm2
            + self.mha_units * a.mha_unit_mm2
            + a.other_mm2
            + self.kv_sram.mb * self.kv_sram.mm2_per_mb
        )


Precision = Literal["fp32", "fp16", "bf16", "fp8", "int8", "int4", "5bit"]

BYTES_PER_ELEMENT: dict[str, float] = {
    "fp32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
    "5bit": 0.625,
}


WEIGHT_ONLY_FORMATS = ("int8", "int4", "5bit")


class GpuEfficiency(Spec):
    """Achievable fractions of peak (calibrated accounting, docs/cost-model.md §7).

    Ignored by the ``paper`` accounting (100 % everywhere, no overheads). The presets' values
    are fitted to published measurements; the fit is documented in ``cost/gpu.py``.
    """

    compute: float = Field(1.0, gt=0, le=1, description="fraction of peak FLOP/s reached by dense GEMMs and attention")
    moe_compute: float = Field(
        1.0, gt=0, le=1, description="routed-expert GEMMs' FLOP/s relative to dense GEMMs' (multiplies `compute`)"
    )
    memory: float = Field(1.0, gt=0, le=1, description="fraction of HBM bandwidth reached by weight and KV streaming")
    per_layer_overhead_us: float = Field(
        0.0, ge=0, description="kernel-launch, norm and sync time per layer per step outside the roofline, µs"
    )
    tp_comm: float = Field(1.0, gt=0, le=1, description="fraction of NVLink bandwidth reached by all-reduces")
    attention_memory: float = Field(
        1.0, gt=0, le=1, description="KV-cache reads' bandwidth relative to weight streaming's (multiplies `memory`)"
    )
    collective_latency_us: float = Field(
        0.0, ge=0, description="fixed time of one all-reduce or all-to-all (launch + synchronisation), µs"
    )


class GpuHardware(Spec):
    """A GPU (one or more devices with tensor parallelism)."""

    kind: Literal["gpu"] = Field("gpu", description="hardware kind")
    name: str = Field("custom-gpu", description="preset name")
    description: str = Field("", description="one line shown by `aimc-dse presets`")
    sources: list[str] = Field(default_factory=list, description="where the numbers come from")

    peak_tflops: dict[Precision, Annotated[float, Field(gt=0)]] = Field(description="dense tensor-core peak per precision, TFLOP/s")
    hbm_bandwidth_gbps: float = Field(gt=0, description="HBM bandwidth, GB/s")
    memory_gb: float = Field(gt=0, description="HBM capacity, GB")
    usable_memory_fraction: float = Field(0.9, gt=0, le=1, description="share of HBM usable for weights and KV")
    tdp_w: float = Field(gt=0, description="thermal design power, W")
    idle_power_w: float = Field(ge=0, description="idle power, W")
    memory_bound_power_fraction: float = Field(
        1.0, ge=0, le=1, description="share of the dynamic power (TDP − idle) drawn while a kernel is memory-bound "
        "(compute-bound kernels draw the TDP; ignored by the paper accounting, which draws the TDP throughout)"
    )
    die_area_mm2: float = Field(gt=0, description="die area, mm²")
    nvlink_bandwidth_gbps: float = Field(300.0, gt=0, description="NVLink bandwidth per device per direction, GB/s")
    peer_link_gbps: float | None = Field(
        None, gt=0, description="GPUs joined by a full mesh without a switch (MI300X's xGMI): bandwidth of the direct "
        "link to each peer per direction, GB/s; a device then reaches (devices − 1) × this, at most "
        "nvlink_bandwidth_gbps. None: a switch (NVSwitch) gives every device its full bandwidth at any count"
    )
    node_devices: int | None = Field(
        None, ge=1, le=MAX_UNITS, description="devices one NVLink/xGMI domain joins (an 8-GPU HGX/OAM board); more "
        "devices span nodes joined by scale_out_gbps. None: one domain of any size")
    scale_out_gbps: float | None = Field(
        None, gt=0, description="network bandwidth of one device to other nodes, per direction, GB/s (a 400 Gb/s NIC "
        "per GPU: 50); used with node_devices")
    weight_precision: Precision = Field("fp16", description="precision weights are stored and streamed in")
    kv_precision: Precision = Field("fp16", description="precision of the KV cache")
    compute_precision: Precision = Field("fp16", description="precision whose peak FLOP/s applies")
    devices: int | None = Field(None, ge=1, le=MAX_UNITS, description="devices; None = as many as memory needs")
    parallelism: Literal["tp", "ep", "tp+ep"] = Field(
        "tp",
        description="tp: every matrix split over the devices; ep: experts spread over the devices, the rest "
        "replicated with the batch split (all-to-all dispatch/combine); tp+ep: experts spread, the rest tensor-parallel",
    )
    efficiency: GpuEfficiency = Field(default_factory=GpuEfficiency, description="achievable efficiencies")
    accounting: Literal["calibrated", "paper"] = Field(
        "calibrated", description="calibrated roofline, or Büchel et al.'s upper bound (paper)"
    )

    @model_validator(mode="after")
    def _nodes_complete(self) -> Self:
        if (self.node_devices is None) != (self.scale_out_gbps is None):
            raise ValueError("give node_devices and scale_out_gbps together (devices per NVLink domain and the "
                             "network bandwidth between nodes), or neither")
        return self

    @model_validator(mode="after")
    def _precision_known(self) -> Self:
        if self.compute_precision not in self.peak_tflops:
            raise ValueError(f"peak_tflops has no entry for compute_precision {self.compute_precision!r}")
        # A weight format is usable when the GPU computes in it (a peak is listed) or as a
        # weight-only integer format dequantized inside the GEMM (AWQ/GPTQ-style int4/int8, the
        # paper's 5-bit); fp8 weights need fp8 tensor cores (Hopper and later).
        if self.weight_precision not in self.peak_tflops and self.weight_precision not in WEIGHT_ONLY_FORMATS:
            raise ValueError(
                f"weight_precision {self.weight_precision!r} is not supported by this GPU (peak_tflops lists "
                f"{', '.join(self.peak_tflops)}; weight-only formats: {', '.join(WEIGHT_ONLY_FORMATS)})"
            )
        return self

    @property
    def usable_memory_bytes(self) -> float:
        return self.memory_gb * 1e9 * self.usable_memory_fraction


Hardware = Annotated[Union[AimcHardware, GpuHardware], Field(discriminator="kind")]
