"""Power that flows whatever the chip computes: static power per component and the references'
flat passive power (docs/cost-model.md §1.10, §5; docs/accounting.md row 6).

Static power scales with what is built: every tile in use (its periphery: ADCs, DACs and
drivers, accumulators), every stacked tier (N·Z), every DPU and MHA unit, every MB of KV
SRAM, a fixed "other" term, the digital unit (when the placement uses it) and, in the
physical profile, the DRAM's background power per channel while a cache lives there.

Passive power is the references' form, kept for the presets that reproduce them: a flat
``passive_power_w`` (3D-SiM's (M + P) × 1 W placeholder) plus the DRAM's idle power whenever
the profile's cache flag says so (§A.4). Both are charged for the whole makespan;
energy_nj.static + energy_nj.passive + the active parts = energy_nj.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..numeric import Array
from .accounting import Accounting
from .digital import DigitalEngine
from .inputs import Inputs


@dataclass(frozen=True)
class Power:
    static_w: Array  # component static power, W
    passive_w: Array  # the references' flat passive power (+ DRAM idle in their profiles), W


def chip_power(inp: Inputs, acc: Accounting, N: Array, eng: DigitalEngine, expert_tiles: Array,
               f_g: Array) -> Power:
    """``expert_tiles`` (all chips) share their peripheries in groups: their tile static power
    scales by f_g, as their area does (outputs.areas)."""
    chip, ph, work = inp.chip, inp.physical, inp.work
    dram_on = acc.dram_powered(work.kv_cache, work.go_cache, work.go_flag)
    dram_w = ph.channels * chip.dram_idle_w
    per_chip = (N * (ph.tile_w + chip.Z * ph.tier_w) + chip.P * ph.dpu_w + chip.M * ph.mha_w
                + ph.sram_mb * ph.sram_w_per_mb + ph.other_w + np.where(acc.physical & dram_on, dram_w, 0.0))
    static = chip.chips * per_chip - expert_tiles * (1.0 - f_g) * ph.tile_w + eng.static_w
    passive = chip.passive_w + np.where(~acc.physical & dram_on, dram_w, 0.0)
    return Power(static_w=static, passive_w=passive)
