"""Heterogeneous analog–digital MoE: what runs digitally and the digital engine's time
(docs/cost-model.md §8; Chowdhury et al., arXiv 2603.02633).

A fraction φ of each MoE layer's routed experts (⌈φ·E⌉, or a listed set) and optionally the
dense modules (attention, router, shared experts, LM head, dense FFNs) run on a digital unit
(``hw.digital``) instead of the crossbars. Digital modules keep no tier blocks; their MACs
run on the digital engine, a roofline of its MAC rate and the bandwidth of wherever its
weights live (SRAM, then DRAM for what does not fit).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ...moe.routing import load_trace, selection_probabilities
from ...specs.base import SpecError
from ...specs.placement import listed_count
from ..memo import per_distinct
from ..numeric import Array
from ..shapes import ModelShape
from .inputs import DigitalKnobs

# φ·E within this of an integer counts as that integer (φ = 0.125 of E = 64 is exactly 8).
FRACTION_EPS = 1e-9


@dataclass(frozen=True)
class DigitalModules:
    """Which modules run digitally, and digital routed experts per MoE layer."""

    attention: Array
    router: Array
    shared: Array
    lm_head: Array
    dense_ffn: Array
    n_experts: Array  # digital routed experts per MoE layer
    picks: Array  # expected digital experts among a token's k picks


@dataclass(frozen=True)
class DigitalEngine:
    """The digital unit's figures (neutral — infinite rate, no area — without one)."""

    macs_per_ns: Array
    weight_bytes: Array
    sram_bytes: Array
    sram_gbps: Array
    dram_gbps: Array
    pj_per_mac: Array
    sram_pj: Array
    dram_pj: Array
    area_mm2: Array
    static_w: Array


def _listed(spec: str, E: int, L: int, first_dense: int, every: int) -> float:
    ids = [layer for layer in range(int(L)) if layer >= first_dense and (layer - first_dense) % max(every, 1) == 0]
    try:
        return listed_count(str(spec), int(E), ids)
    except (ValueError, SpecError) as e:
        raise SpecError("workload.digital", "workload.digital.experts", str(e)) from None


def digital_modules(k: DigitalKnobs, sh: ModelShape, zipf: Array, first_dense: Array,
                    every: Array, trace: Array | str = "") -> DigitalModules:
    """The placement per point; asking for digital work without a digital unit is bad input."""
    is_moe = sh.experts > 0
    n_exp = np.minimum(sh.experts, np.maximum(0, np.ceil(k.fraction * sh.experts - FRACTION_EPS))).astype(np.int64)
    listed = (k.score == "list") & is_moe & (k.listed_experts != "")
    if listed.any():
        n_list = per_distinct(_listed, listed, k.listed_experts, sh.experts, sh.layers, first_dense, every)
        n_exp = np.where(listed, n_list, n_exp)
    n_exp = np.where(is_moe, n_exp, 0)
    shared = k.shared_experts & (sh.shared > 0)
    any_digital = (n_exp > 0) | k.attention | k.router | shared | k.lm_head | k.dense_ffn
    if (any_digital & ~k.has_unit).any():
        raise SpecError("workload.digital", "hw.digital",
                        "digital experts or modules are asked for but the hardware has no digital unit "
                        "(set hw.digital, e.g. --set hw.digital=hermes-14nm-digital)")
    picks = np.where(is_moe, digital_picks(sh.top_k, sh.experts, n_exp, k.score == "load", zipf,
                                           trace, sh.expert_choice), 0.0)
    return DigitalModules(attention=k.attention, router=k.router, shared=shared, lm_head=k.lm_head,
                          dense_ffn=k.dense_ffn, n_experts=n_exp, picks=picks)


def digital_engine(k: DigitalKnobs, used: Array) -> DigitalEngine:
    """Rates, energies and (when ``used``) area and static power of the digital unit.

    The unit is provisioned only when the placement uses it, so φ = 0 is the all-analog chip.
    """
    has = k.has_unit
    return DigitalEngine(
        macs_per_ns=np.where(has, k.units * k.peak_tops * 1e3 / 2.0 * k.compute_efficiency, np.inf),
        weight_bytes=k.weight_bytes,
        sram_bytes=k.units * k.sram_mb * 1e6,
        sram_gbps=np.where(np.isfinite(k.sram_gbps), k.units * k.sram_gbps, np.inf),
        dram_gbps=np.where(np.isfinite(k.dram_gbps), k.dram_gbps, np.inf),
        pj_per_mac=k.pj_per_mac, sram_pj=k.sram_pj_per_byte, dram_pj=k.dram_pj_per_byte,
        area_mm2=np.where(used, k.units * (k.logic_mm2 + k.sram_mb * k.sram_mm2_per_mb), 0.0),
        static_w=np.where(used, k.units * k.static_w, 0.0),
    )


def dram_fraction(eng: DigitalEngine, weights: Array) -> Array:
    """Share of the digital weights that spill from the SRAM to DRAM."""
    by = weights * eng.weight_bytes
    return np.where(weights > 0, np.clip((by - eng.sram_bytes) / np.maximum(by, 1), 0, 1), 0.0)


def digital_time(eng: DigitalEngine, f_dram: Array, macs: Array, weights: Array) -> Array:
    """Digital engine time (ns) for ``macs`` MACs reading ``weights`` weights once (roofline)."""
    by = weights * eng.weight_bytes
    t = macs / eng.macs_per_ns
    t = np.maximum(t, (1 - f_dram) * by / eng.sram_gbps)
    return np.maximum(t, f_dram * by / eng.dram_gbps)


@lru_cache(maxsize=4096)
def _top_load_picks(E: int, k: int, zipf: float, n_dig: int) -> float:
    return float(np.sort(selection_probabilities(E, k, "zipf", zipf))[::-1][:n_dig].sum())


@lru_cache(maxsize=256)
def _top_trace_picks(trace: str, E: int, k: int, n_dig: int, expert_choice: bool) -> float:
    choices = load_trace(trace, top_k=None if expert_choice else k, exact_k=not expert_choice,
                         k_from="the model's moe.top_k")
    if choices.shape[2] != E:
        raise SpecError(trace, "workload.expert_load.trace", f"trace has {choices.shape[2]} experts, the model {E}")
    freq = choices.mean(axis=1)  # layers × experts: how often a token selects each expert
    return float((-np.sort(-freq, axis=1))[:, :n_dig].sum(axis=1).mean())


def digital_picks(k: Array, E: Array, n_dig: Array, score_load: Array, zipf: Array,
                  trace: Array | str = "", expert_choice: Array | bool = False) -> Array:
    """Expected digital experts among a token's k picks.

    Chosen by a score independent of routing (maxnn, random, list): k·n/E. Chosen by load
    under zipf popularity: the n most popular experts' selection probabilities (their
    inclusion probabilities sum to k over all experts); under a gate trace (``trace``, the
    path; '' for none): the n most-selected experts' selection frequencies in each of the
    trace's layers, averaged over its layers.
    """
    out = k * n_dig / np.maximum(E, 1).astype(np.float64)
    live = score_load & (zipf > 0) & (n_dig > 0)
    if live.any():
        top = per_distinct(lambda e, kk, z, nd: _top_load_picks(int(e), int(kk), float(z), int(nd)),
                           live, E, k, zipf, n_dig)
        out = np.where(live, top, out)
    traced = score_load & (np.asarray(trace) != "") & (n_dig > 0)
    if traced.any():
        top = per_distinct(lambda t, e, kk, nd, ec: _top_trace_picks(str(t), int(e), int(kk), int(nd), bool(ec)),
                           traced, np.broadcast_to(trace, np.shape(traced)), E, k, n_dig,
                           np.broadcast_to(expert_choice, np.shape(traced)))
        out = np.where(traced, top, out)
    return out
