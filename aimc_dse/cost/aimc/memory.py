"""KV cache and memory hierarchy: on-chip SRAM in front of a multi-channel DRAM
(docs/cost-model.md §1.3, §4.6).

One sequence's KV cache at context n is ``kv_elements(n)`` elements (shapes.py: 2·d_kv per
token and layer for GQA, the latent kv_lora_rank + rope for MLA, local layers holding at
most ``window`` tokens) of ``kv_bits`` bits each. The B sequences' caches fill the SRAM
first; the share that does not fit lives in the DRAM. A KV-cached attention job reads its
layer's cache from both in parallel:

    t_kv = ⌈max(f·b / BW_sram, (1 − f)·b / BW_dram)⌉,  f = min(1, SRAM / (B · cache bytes))
    E_kv = b·(f·e_sram + (1 − f)·e_dram)             (e_dram = pJ/B, or P_act·channels/BW_dram)

with BW_dram = channels × per-channel bandwidth. The references (profiles ``ibm3dsim``,
``moewithpim``) keep their form: 2·n·d_kv bytes from one DRAM, energy P_act·t_kv. Writes
of the new tokens' keys and values (1/n of a decode step's reads) are not charged.

The GO cache (Gao & Yang 2026; MoE models with ``go_cache``, charged in ``physical``) holds
what ``go_load`` reads, n·E gate scores and E·d expert outputs per MoE layer and sequence, in
the DRAM only (its reads never come from the SRAM).

Capacity is a result: the batch's caches — the KV cache filling the SRAM first, the GO cache
in DRAM — beyond SRAM + channels × channel capacity, or a GO cache beyond the DRAM alone, do
not fit (``fit_reason = kv_cache``), and ``max_batch`` is the largest batch whose caches fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..numeric import Array, ceil_ns
from ..shapes import ModelShape
from .accounting import Accounting
from .inputs import Chip, Physical


@dataclass(frozen=True)
class KvMemory:
    physical: Array  # bool: the hierarchy above (else the references' single-DRAM form)
    bytes_per_elem: Array
    sram_bytes: Array
    sram_gbps: Array
    sram_pj: Array
    dram_gbps: Array  # all channels
    dram_pj: Array  # per byte; 0 = active power × time
    dram_active_w: Array  # all channels while transferring
    capacity_bytes: Array  # SRAM + DRAM (inf = unlimited)

    def dram_nj_per_byte(self) -> Array:
        return np.where(self.dram_pj > 0, self.dram_pj / 1000.0, self.dram_active_w / self.dram_gbps)


def kv_memory(chip: Chip, ph: Physical, acc: Accounting) -> KvMemory:
    sram = ph.sram_mb * 1e6 * chip.chips  # each chip keeps its layers' caches
    return KvMemory(
        physical=acc.physical, bytes_per_elem=ph.kv_bits / 8.0, sram_bytes=sram, sram_gbps=ph.sram_gbps,
        sram_pj=ph.sram_pj, dram_gbps=ph.channels * chip.dram_gbps, dram_pj=ph.dram_pj,
        dram_active_w=ph.channels * chip.dram_active_w, capacity_bytes=sram + chip.chips * ph.channels * ph.channel_gb * 1e9,
    )


def cache_bytes(mem: KvMemory, sh: ModelShape, n: Array) -> Array:
    """KV-cache bytes of one sequence at context n, all layers."""
    return sh.kv_elements(n) * mem.bytes_per_elem


def kv_load(mem: KvMemory, chip: Chip, sh: ModelShape, B: Array, nn: Array) -> tuple[Array, Array]:
    """Time (ns) and energy (nJ) of one attention job's KV read at context nn (module docstring)."""
    ref_t = ceil_ns(2.0 * sh.kv / chip.dram_gbps * nn)
    ref_e = chip.dram_active_w * ref_t
    if not np.any(mem.physical):
        return ref_t, ref_e
    b = cache_bytes(mem, sh, nn) / np.maximum(sh.layers, 1)  # one layer's share
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.clip(np.nan_to_num(mem.sram_bytes / (B * b * sh.layers), nan=1.0, posinf=1.0), 0.0, 1.0)
    t_dram = ceil_ns((1.0 - f) * b / mem.dram_gbps)
    t = np.maximum(ceil_ns(f * b / mem.sram_gbps), t_dram)
    # DRAM energy: per byte when the preset gives it, else active power × the (whole-ns) busy
    # time, as the references charge it — so a chip without the physical sections matches them
    e_dram = np.where(mem.dram_pj > 0, (1.0 - f) * b * mem.dram_pj / 1000.0, mem.dram_active_w * t_dram)
    e = b * f * mem.sram_pj / 1000.0 + e_dram
    return np.where(mem.physical, t, ref_t), np.where(mem.physical, e, ref_e)


def go_layer_bytes(sh: ModelShape, n: Array) -> Array:
    """GO-cache bytes of one sequence in one MoE layer at context n: n·E gate scores + E·d outputs."""
    return n * sh.experts + sh.experts * sh.d


def go_load(mem: KvMemory, chip: Chip, sh: ModelShape, nn: Array) -> tuple[Array, Array]:
    """Time and energy of one MoE layer's GO-cache read (n·E gate scores + E·d outputs, bytes)."""
    by = go_layer_bytes(sh, nn)
    t = ceil_ns(by / mem.dram_gbps)
    return t, np.where(mem.dram_pj > 0, by * mem.dram_pj / 1000.0, mem.dram_active_w * t)


@dataclass(frozen=True)
class KvFit:
    fits: Array  # the batch's KV and GO caches fit the memory (always without a cache)
    max_batch: Array  # largest batch whose caches fit (NaN: not limited by memory)
    cache_bytes: Array  # one sequence's KV cache at its longest context


def kv_fit(mem: KvMemory, sh: ModelShape, kv_cache: Array, B: Array, n_max: Array,
           go_cache: Array | bool = False) -> KvFit:
    """Whether B sequences' caches at context n_max fit (module docstring). ``go_cache``: the
    points whose GO cache is kept (and charged) in DRAM, n_max·E + E·d bytes per MoE layer."""
    per_seq = cache_bytes(mem, sh, n_max)
    go_seq = np.where(go_cache, sh.moe_layers * go_layer_bytes(sh, n_max), 0.0)
    both = np.where(kv_cache, per_seq, 0.0) + go_seq
    limited = (kv_cache | (go_seq > 0)) & np.isfinite(mem.capacity_bytes)
    dram = mem.capacity_bytes - mem.sram_bytes  # the GO cache's share of the memory
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # no cache: x / 1e-300, not used
        mb = np.minimum(np.floor(mem.capacity_bytes / np.maximum(both, 1e-300)),
                        np.where(go_seq > 0, np.floor(dram / np.maximum(go_seq, 1e-300)), np.inf))
    fits = (B * both <= mem.capacity_bytes) & (B * go_seq <= dram)
    return KvFit(fits=~limited | fits, max_batch=np.where(limited, mb, np.nan), cache_bytes=per_seq)
