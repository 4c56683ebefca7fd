"""Physical figures of a 3D AIMC chip (docs/cost-model.md §1.3, §1.7–§1.10): weight encoding,
converters, stack-height limits and per-tier costs, static power per component, and the
on-chip KV/scratchpad SRAM in front of the off-chip DRAM.

Every section is optional and neutral by default, so the presets that reproduce the
reference simulators (fixed T_mvm/E_mvm, a flat passive power, one unlimited DRAM channel)
keep their exact behaviour; a physical preset sets them from cited figures.

The converter formulas live here, as pure functions of scalars or numpy arrays, so the spec
(``aimc-dse show``) and the cost model (``cost/aimc/encoding.py``) use one definition:

* latency, PWM input:  T = max(2^b_in·t_in, 2^b_adc·t_adc) + t_ovh  when an integrating
  (counting) ADC converts during the input window (HERMES: 8-bit PWM in 128 ns, CCO ADC
  300 ps/LSB), else the sum of the two;
* latency, bit-serial input: T = b_in·(t_bit + 2^b_adc·t_adc) + t_ovh (a conversion per bit);
* energy: conversions·FoM·2^b_adc + E_step·steps(b_in) + E_ovh, with conversions = ADCs per
  tier (× b_in bit-serial) and steps = 2^b_in (PWM, pulse length) or b_in (bit-serial).

Tier size (docs/cost-model.md §1.12): a preset's tile area, tile static power and array energy
per step hold for the tier it was measured on (``reference_tier``). A tier of R × C device
cells against the reference's R₀ × C₀ scales what grows with the cells — the crossbar's share
of the tile area and the array's energy per input step, whose conducting cells and word/bit
lines are R·C — by R·C / (R₀·C₀), and the periphery — row drivers, column ADCs, accumulators,
their area and static power — by (R + C) / (R₀ + C₀). The column ADCs' conversions already
follow C (one per weight column). Without a reference tier the figures hold at any size.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from .base import MAX_TIER_DIM, Spec


class Encoding(Spec):
    """How a signed weight is stored: devices per weight and bit slices (docs/cost-model.md §1.7).

    ``tier_cols`` counts device columns; a weight takes ``devices_per_weight`` of them
    (1: one device and a reference column, 2: a differential pair, 4: HERMES's 8T4R cell).
    Weights of more bits than a device holds are sliced into ⌈weight_bits / bits_per_device⌉
    slices, side by side in the columns or on separate tiers; the slices' partial outputs are
    combined by digital shift-and-add.
    """

    devices_per_weight: int = Field(1, ge=1, description="devices (columns) one signed weight occupies")
    bits_per_device: int = Field(8, ge=1, le=16, description="weight bits one device holds")
    weight_bits: int = Field(8, ge=1, le=16, description="bits of a stored weight")
    slicing: Literal["columns", "tiers"] = Field("columns", description="where the bit slices of a weight go")

    @property
    def slices(self) -> int:
        return -(-self.weight_bits // self.bits_per_device)


class Converters(Spec):
    """Input DACs/drivers and column ADCs; when given, T_mvm and E_mvm follow from them
    (docs/cost-model.md §1.8) instead of the fixed ``mvm_latency_ns``/``mvm_energy_nj``."""

    input_bits: int = Field(8, ge=1, le=16, description="input (activation) bits")
    input_mode: Literal["pwm", "bit_serial"] = Field("pwm", description="pulse-width or bit-serial inputs")
    input_ns_per_step: float = Field(gt=0, description="PWM: ns per input LSB; bit-serial: ns per bit (without the conversion)")
    adc_bits: int = Field(8, ge=1, le=16, description="output (ADC) bits")
    adc_ns_per_lsb: float = Field(gt=0, description="conversion time per LSB of a counting ADC (2^bits LSBs), ns")
    adc_overlaps_input: bool = Field(True, description="PWM: the integrating ADC converts during the input window")
    adc_fj_per_step: float = Field(ge=0, description="ADC energy per conversion step (Walden FoM), fJ; E_conv = FoM·2^bits")
    array_pj_per_step: float = Field(ge=0, description="array + row drivers of one tier per input step (LSB or bit), pJ")
    overhead_ns: float = Field(0.0, ge=0, description="fixed time per MVM (settling, readout), ns")
    overhead_nj: float = Field(0.0, ge=0, description="fixed energy per MVM (accumulators, control), nJ")


class Stack(Spec):
    """Stack-height limits and per-tier MVM costs (docs/cost-model.md §1.9)."""

    max_tiers: int | None = Field(None, ge=1, description="tallest stack the technology builds (None = no limit)")
    mvm_latency_ns_per_tier: float = Field(0.0, ge=0, description="extra MVM latency per stacked tier, ns")
    mvm_energy_nj_per_tier: float = Field(0.0, ge=0, description="extra MVM energy per stacked tier, nJ")


class StaticPower(Spec):
    """Static (leakage/bias) power per component while the chip runs, W (docs/cost-model.md §1.10)."""

    tile_w: float = Field(0.0, ge=0, description="per tile: its periphery (ADCs, DACs/drivers, accumulators)")
    tier_w: float = Field(0.0, ge=0, description="per stacked tier (N·Z of them)")
    dpu_w: float = Field(0.0, ge=0, description="per DPU")
    mha_unit_w: float = Field(0.0, ge=0, description="per attention (MHA) unit")
    sram_w_per_mb: float = Field(0.0, ge=0, description="per MB of KV/scratchpad SRAM")
    other_w: float = Field(0.0, ge=0, description="fixed: I/O, clocking, anything else")


class ReferenceTier(Spec):
    """The tier (device rows × columns) a chip's tile area, tile static power and array energy
    per input step were given for (module docstring)."""

    tier_rows: int = Field(gt=0, le=MAX_TIER_DIM, description="crossbar rows of the measured tier")
    tier_cols: int = Field(gt=0, le=MAX_TIER_DIM, description="crossbar device columns of the measured tier")


def tier_scaling(rows: Any, cols: Any, ref_rows: Any, ref_cols: Any) -> tuple[Any, Any]:
    """(cells, periphery) of an R × C tier relative to the reference R₀ × C₀: R·C / (R₀·C₀) and
    (R + C) / (R₀ + C₀); both 1 where the reference is missing (NaN) or the same size."""
    r, c = np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)
    r0, c0 = np.asarray(ref_rows, dtype=np.float64), np.asarray(ref_cols, dtype=np.float64)
    given = np.isfinite(r0) & np.isfinite(c0)
    r0, c0 = np.where(given, r0, r), np.where(given, c0, c)
    return r * c / (r0 * c0), (r + c) / (r0 + c0)


def tile_area_factor(cells: Any, periphery: Any, crossbar_share: Any) -> Any:
    """Tile area relative to the reference tier's: the crossbar share s scales with the cells,
    the rest (periphery) with the periphery — written as 1 + deviations so that the reference
    tier itself gives exactly 1 (0.3 + 0.7 is not 1.0 in binary)."""
    return 1.0 + crossbar_share * (cells - 1.0) + (1.0 - crossbar_share) * (periphery - 1.0)


def crossbar_share_at(cells: Any, periphery: Any, crossbar_share: Any) -> Any:
    """The crossbar's share of a tile at this tier, s·cells / tile_area_factor: the share s was
    given for the reference tier, and the crossbar grows with the cells, the periphery with the
    edges. Peripheral sharing (f_g = s + (1 − s)/g) divides this tier's periphery, not the
    reference's. The reference tier itself gives s exactly (tile_area_factor is exactly 1 there)."""
    return crossbar_share * cells / tile_area_factor(cells, periphery, crossbar_share)


class KvSram(Spec):
    """On-chip KV-cache/scratchpad SRAM in front of the DRAM (docs/cost-model.md §1.3)."""

    mb: float = Field(0.0, ge=0, description="capacity, MB (10⁶ bytes); 0 = none")
    bandwidth_gbps: float = Field(256.0, gt=0, description="read bandwidth, GB/s")
    pj_per_byte: float = Field(0.0, ge=0, description="read energy per byte, pJ")
    mm2_per_mb: float = Field(0.0, ge=0, description="area per MB including periphery, mm²")


def slices(weight_bits: Any, bits_per_device: Any) -> Any:
    """Bit slices per weight: ⌈weight_bits / bits_per_device⌉ (scalars or integer arrays)."""
    return -(-np.asarray(weight_bits) // np.asarray(bits_per_device))


def converter_latency_ns(input_bits: Any, bit_serial: Any, t_in: Any, adc_bits: Any, t_adc: Any, overlap: Any,
                         t_ovh: Any) -> Any:
    """T_mvm of one tier MVM from its converters (module docstring)."""
    t_conv = np.exp2(adc_bits) * t_adc
    t_pwm_in = np.exp2(input_bits) * t_in
    pwm = np.where(overlap, np.maximum(t_pwm_in, t_conv), t_pwm_in + t_conv)
    serial = input_bits * (t_in + t_conv)
    return np.where(bit_serial, serial, pwm) + t_ovh


def converter_energy_nj(input_bits: Any, bit_serial: Any, adcs: Any, adc_bits: Any, fj_per_step: Any,
                        pj_per_step: Any, e_ovh: Any) -> Any:
    """E_mvm of one tier MVM from its converters and array (module docstring)."""
    conversions = adcs * np.where(bit_serial, input_bits, 1)
    steps = np.where(bit_serial, input_bits, np.exp2(input_bits))
    return conversions * fj_per_step * np.exp2(adc_bits) * 1e-6 + pj_per_step * steps * 1e-3 + e_ovh
