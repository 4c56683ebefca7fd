"""The tier as the mapping sees it: weight encoding and converters (docs/cost-model.md §1.7–§1.9).

A tier of R × C_dev devices holds R × C weights, C = ⌊C_dev / (D · S_col)⌋, with D devices per
signed weight and S_col the bit slices stored side by side in the columns (1 when slices go
on separate tiers, which then multiply each block by S). Its MVM latency and energy come
from the converters when the chip gives them (specs/physical.py), else from the fixed
figures, plus the per-tier costs of the stack height. Everything downstream — blocks,
reduction adds, transfers of C values, operation counts — sees this effective tier, so a
chip without the physical sections (D = S = 1, fixed figures) is unchanged exactly.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...specs.physical import converter_energy_nj, converter_latency_ns
from ..numeric import Array
from .inputs import Chip, Physical


def adcs_per_tier(chip: Chip, ph: Physical) -> Array:
    """Column ADCs of one tier: one per weight column and slice column (C_dev / D)."""
    return chip.C // np.maximum(ph.devices_per_weight, 1)


def effective_chip(chip: Chip, ph: Physical) -> Chip:
    """The chip with the effective tier width C, T_mvm and E_mvm (module docstring)."""
    col_slices = np.where(ph.slice_tiers, 1, ph.slices)
    cols = np.maximum(chip.C // (np.maximum(ph.devices_per_weight, 1) * col_slices), 1)
    t_conv = converter_latency_ns(ph.in_bits, ph.bit_serial, ph.t_in, ph.adc_bits, ph.t_adc, ph.overlap, ph.ovh_ns)
    e_conv = converter_energy_nj(ph.in_bits, ph.bit_serial, adcs_per_tier(chip, ph), ph.adc_bits, ph.adc_fj,
                                 ph.step_pj, ph.ovh_nj)
    t = np.where(ph.has_conv, t_conv, chip.mvm_latency_ns)
    e = np.where(ph.has_conv, e_conv, chip.mvm_energy_nj)
    # stack height: per-tier latency and energy (the shared vertical lines grow with Z)
    t = np.where(ph.lat_per_tier > 0, t + ph.lat_per_tier * chip.Z, t)
    e = np.where(ph.e_per_tier > 0, e + ph.e_per_tier * chip.Z, e)
    unchanged = (cols == chip.C) & ~ph.has_conv & (ph.lat_per_tier == 0) & (ph.e_per_tier == 0)
    if unchanged.all():
        return chip
    return replace(chip, C=cols.astype(np.int64), mvm_latency_ns=t, mvm_energy_nj=e)


def tiers_per_block(ph: Physical) -> Array:
    """Tiers one block of a matrix takes: S when the bit slices go on separate tiers, else 1."""
    return np.where(ph.slice_tiers, ph.slices, 1).astype(np.int64)
