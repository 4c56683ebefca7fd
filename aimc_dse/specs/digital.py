"""Digital compute units for heterogeneous analog–digital inference (docs/cost-model.md §8).

Chowdhury et al. (arXiv 2603.02633, docs/paper-numbers.md §3) run a fraction of the routed
experts — the noise-sensitive ones — and optionally the densely activated modules on
digital hardware beside the crossbars. :class:`DigitalCompute` describes that digital
subsystem in the few numbers an analytic model needs:

* compute: peak throughput (``peak_tops``, 2 operations per multiply-accumulate, as the
  project counts operations) and energy per MAC;
* on-chip weight storage: SRAM capacity, its area per MB and (optionally) its read
  bandwidth;
* off-chip fallback: weights that do not fit the SRAM stream from DRAM at
  ``dram_bandwidth_gbps`` and ``dram_pj_per_byte``;
* area: logic plus SRAM; static power while the chip runs.

``units`` identical copies make the subsystem; every ``total_*`` figure scales with it.
Presets are YAML files in ``hw_specs/digital/`` (each number cites its source or says how
it was derived); ``specs.loader.load_digital`` reads one by name or path. An
``AimcHardware`` spec carries one in its optional ``digital`` field; a preset name or file
path there is resolved by the loader before validation (this module reads no files).

Units: MB = 10⁶ bytes, GB/s = 10⁹ bytes/s (= bytes/ns), TOPS = 10¹² operations/s.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from .base import MAX_UNITS, Spec

DIGITAL_DIR = "digital"  # sub-folder of hw_specs/ holding the presets


class DigitalCompute(Spec):
    """A digital MAC engine with SRAM-resident weights and a DRAM fallback."""

    name: str = Field("custom-digital", description="preset name")
    description: str = Field("", description="one line describing the unit")
    sources: list[str] = Field(default_factory=list, description="where the numbers come from")

    units: int = Field(1, ge=1, le=MAX_UNITS, description="identical digital units; throughput, SRAM, area and static power scale with it")
    peak_tops: float = Field(
        gt=0, description="peak throughput of one unit, TOPS (10¹² operations/s; one MAC = 2 operations)"
    )
    compute_efficiency: float = Field(
        1.0, gt=0, le=1, description="fraction of peak reached on expert GEMV/GEMM work"
    )
    energy_pj_per_mac: float = Field(
        ge=0, description="energy of one multiply-accumulate at the weight precision, pJ (operand delivery from SRAM included unless sram_pj_per_byte is set)"
    )
    weight_bytes: float = Field(
        gt=0, description="bytes per stored weight (2 = fp16/bf16, 1 = int8/fp8, 0.5 = int4)"
    )
    sram_mb: float = Field(ge=0, description="on-chip SRAM for weights in one unit, MB (10⁶ bytes)")
    sram_mm2_per_mb: float = Field(ge=0, description="SRAM area per MB including periphery, mm²/MB")
    sram_bandwidth_gbps: float | None = Field(
        None, gt=0, description="weight read bandwidth from SRAM of one unit, GB/s; None = never the bottleneck"
    )
    sram_pj_per_byte: float = Field(
        0.0, ge=0, description="extra energy per weight byte read from SRAM, pJ/B (0 = included in energy_pj_per_mac)"
    )
    logic_mm2: float = Field(ge=0, description="area of one unit's MAC arrays, control and interconnect, mm²")
    dram_bandwidth_gbps: float | None = Field(
        None, gt=0, description="bandwidth for weights that do not fit the SRAM, GB/s (all units together); None = no DRAM fallback"
    )
    dram_pj_per_byte: float = Field(0.0, ge=0, description="energy per byte streamed from DRAM, pJ/B")
    static_power_w: float = Field(0.0, ge=0, description="leakage/idle power of one unit while the chip runs, W")

    @model_validator(mode="after")
    def _dram_energy_needs_dram(self) -> Self:
        if self.dram_bandwidth_gbps is None and self.dram_pj_per_byte > 0:
            raise ValueError("dram_pj_per_byte is set but dram_bandwidth_gbps is not (no DRAM fallback)")
        return self

    # ---- derived figures (whole subsystem: all units) ------------------------------------
    @property
    def total_peak_tops(self) -> float:
        """Peak throughput of all units, TOPS."""
        return self.units * self.peak_tops

    @property
    def macs_per_ns(self) -> float:
        """Sustained MACs per ns of all units: TOPS·1e12 op/s ÷ 2 op/MAC ÷ 1e9 ns/s × efficiency."""
        return self.total_peak_tops * 1e3 / 2.0 * self.compute_efficiency

    @property
    def sram_bytes(self) -> float:
        """SRAM capacity of all units, bytes."""
        return self.units * self.sram_mb * 1e6

    @property
    def sram_weights(self) -> int:
        """Weights that fit the SRAM of all units."""
        return int(self.sram_bytes // self.weight_bytes)

    @property
    def area_mm2(self) -> float:
        """Area of all units: logic + SRAM, mm²."""
        return self.units * (self.logic_mm2 + self.sram_mb * self.sram_mm2_per_mb)

    @property
    def total_static_power_w(self) -> float:
        return self.units * self.static_power_w

    @property
    def tops_per_w(self) -> float:
        """Compute energy efficiency implied by energy_pj_per_mac: 2 op / (pJ/MAC) in TOPS/W."""
        return float("inf") if self.energy_pj_per_mac == 0 else 2.0 / self.energy_pj_per_mac

    def weight_split(self, weights: float) -> tuple[float, float]:
        """Bytes of ``weights`` weights held in SRAM and streamed from DRAM (SRAM filled first)."""
        need = weights * self.weight_bytes
        in_sram = min(need, self.sram_bytes)
        return in_sram, need - in_sram
