"""The result columns: one name, one unit, one type and one meaning each (schema 2).

Every column a cost model writes is defined here once; ``aimc-dse columns`` prints this
table and ``docs/columns.md`` is generated from it (``python -m aimc_dse.cost.registry``).
Conventions: units in names (``_ns``, ``_nj``, ``_mm2``, ``_w``); ``latency_ns.<part>`` are
parts that add up to ``latency_ns`` and ``energy_nj.<part>`` parts that add up to
``energy_nj`` (each system has its own partition); ``busy_ns.<part>`` are summed busy times
of a resource class, which overlap in time and do not add up to the latency.

``performance`` columns exist only for a design that fits: a design that does not fit
carries NaN (or null) there, so it can never look better than one that runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .numeric import Array

SCHEMA_VERSION = 2

Dtype = Literal["float", "int", "bool", "str"]
Better = Literal["higher", "lower", ""]
AIMC, GPU, BOTH = ("aimc",), ("gpu",), ("aimc", "gpu")


@dataclass(frozen=True)
class Column:
    name: str
    unit: str
    dtype: Dtype
    systems: tuple[str, ...]
    meaning: str
    performance: bool = True  # meaningful only when the design fits
    better: Better = ""  # direction for Pareto fronts and rankings


def _c(name: str, unit: str, dtype: Dtype, systems: tuple[str, ...], meaning: str, *, perf: bool = True,
       better: Better = "") -> Column:
    return Column(name, unit, dtype, systems, meaning, perf, better)


COLUMNS: tuple[Column, ...] = (
    # ---- headline (both systems) ---------------------------------------------------------
    _c("system", "", "str", BOTH, "aimc or gpu", perf=False),
    _c("fits", "", "bool", BOTH, "the design can be built and holds its workload (AIMC: stack height ≤ the "
       "technology's, tier blocks ≤ tiers, the digital unit's weights ≤ its SRAM unless it has DRAM, the batch's KV "
       "cache (and GO cache, in DRAM) ≤ SRAM + DRAM; GPU: weights and the batch's KV "
       "cache ≤ the devices' usable memory)", perf=False),
    _c("latency_ns", "ns", "float", BOTH, "makespan of the request: prefill + every decode step, all sequences",
       better="lower"),
    _c("ttft_ns", "ns", "float", BOTH, "time to the first token of every sequence (the prefill); empty without a prefill (--no-prefill)", better="lower"),
    _c("tpot_ns", "ns", "float", BOTH, "mean time per further token: (latency − prefill) / (G − 1); empty when there is no decode step (G = 1)", better="lower"),
    _c("tokens_per_s", "1/s", "float", BOTH, "generated tokens of all sequences / latency", better="higher"),
    _c("energy_nj", "nJ", "float", BOTH, "total energy: active + static/passive", better="lower"),
    _c("power_w", "W", "float", BOTH, "energy / latency", better="lower"),
    _c("area_mm2", "mm²", "float", BOTH, "area of the system compared (AIMC chip; GPU dies × devices)",
       perf=False, better="lower"),
    _c("tokens_per_s_per_w", "1/J", "float", BOTH, "generated tokens per joule", better="higher"),
    _c("tokens_per_s_per_mm2", "1/(s·mm²)", "float", BOTH, "tokens/s per mm² of area", better="higher"),
    _c("flops", "op", "float", BOTH, "operations performed, counted as the references count them "
       "(2 per multiply-accumulate; a full tier MVM 2RC − R)", better="higher"),
    _c("gops_per_w_per_mm2", "op/nJ/mm²", "float", BOTH, "(flops / energy_nj) / area_mm2 = GOPS/W/mm²",
       better="higher"),
    # ---- AIMC: latency parts (add up to latency_ns) ----------------------------------------
    _c("latency_ns.prefill", "ns", "float", AIMC, "the prefill's share of the makespan (= ttft_ns; 0 without "
       "prefill)", better="lower"),
    _c("latency_ns.decode", "ns", "float", AIMC, "the decode steps' share of the makespan", better="lower"),
    # ---- AIMC: energy parts (add up to energy_nj) --------------------------------------------
    _c("energy_nj.mvm", "nJ", "float", AIMC, "tier MVMs", better="lower"),
    _c("energy_nj.communication", "nJ", "float", AIMC, "transfers between tiles and digital units", better="lower"),
    _c("energy_nj.digital", "nJ", "float", AIMC, "DPU work: partial-sum adds, norms, activations, sampling",
       better="lower"),
    _c("energy_nj.attention", "nJ", "float", AIMC, "attention jobs on the MHA units", better="lower"),
    _c("energy_nj.dram", "nJ", "float", AIMC, "KV- and GO-cache reads: KV SRAM and DRAM traffic (pJ/byte, or the "
       "references' DRAM active power × busy time)", better="lower"),
    _c("energy_nj.digital_mac", "nJ", "float", AIMC, "the digital unit's MACs and weight reads (heterogeneous "
       "MoE)", better="lower"),
    _c("energy_nj.link", "nJ", "float", AIMC, "chip-to-chip links of a multi-chip system (bytes × 8 × pJ/bit)",
       better="lower"),
    _c("energy_nj.passive", "nJ", "float", AIMC, "the references' flat passive power (hw.passive_power_w; "
       "in their profiles also the DRAM idle power while a cache lives there) × latency", better="lower"),
    _c("energy_nj.static", "nJ", "float", AIMC, "static power per component (tiles, tiers, DPUs, MHA units, KV "
       "SRAM, other, digital unit; physical profile: DRAM background per channel while a cache lives there) "
       "× latency", better="lower"),
    _c("analog_energy_nj", "nJ", "float", AIMC, "energy of the analog part: energy_nj.mvm + "
       "energy_nj.communication", better="lower"),
    _c("power_w.static", "W", "float", AIMC, "static + passive power: (energy_nj.static + energy_nj.passive) / "
       "latency", better="lower"),
    _c("power_w.dynamic", "W", "float", AIMC, "active power: the active energy parts / latency (power_w = static + "
       "dynamic)", better="lower"),
    # ---- AIMC: busy time per resource class (overlap; do not add up to the latency) -------
    _c("busy_ns.mvm", "ns", "float", AIMC, "tier MVM time summed over all MVMs (T_mvm × MVMs)", better="lower"),
    _c("busy_ns.communication", "ns", "float", AIMC, "transfer time summed over all transfers", better="lower"),
    _c("busy_ns.digital", "ns", "float", AIMC, "DPU op time summed over all DPU ops", better="lower"),
    _c("busy_ns.attention", "ns", "float", AIMC, "attention compute time summed over all jobs", better="lower"),
    _c("busy_ns.dram", "ns", "float", AIMC, "load time of the KV and GO caches (KV SRAM and DRAM in parallel), "
       "summed", better="lower"),
    _c("busy_ns.link", "ns", "float", AIMC, "chip-to-chip link transfer time, summed over crossings", better="lower"),
    _c("link_bytes", "B", "float", AIMC, "bytes moved over chip-to-chip links, all sequences"),
    _c("busy_ns.digital_mac", "ns", "float", AIMC, "the digital unit's busy time, summed over steps", better="lower"),
    # ---- AIMC: batching ----------------------------------------------------------------------
    _c("single_sequence_latency_ns", "ns", "float", AIMC, "T(1): the request of one sequence alone",
       better="lower"),
    _c("latency_bound_ns", "ns", "float", AIMC, "T(1) + (B − 1)·δ: sequences spaced by the longest stage "
       "occupancy", better="lower"),
    _c("throughput_bound_ns", "ns", "float", AIMC, "B · the largest per-resource demand (tiles, DPUs, MHA units, digital engine, one chip's link port) summed over "
       "the steps: no schedule beats it",
       better="lower"),
    _c("batch_bound", "", "str", AIMC, "which bound sets the makespan of B sequences: latency or throughput"),
    _c("mvms", "", "float", AIMC, "tier MVMs executed, all sequences"),
    # ---- AIMC: mapping and design figures ---------------------------------------------------
    _c("fit_reason", "", "str", BOTH, "why the design does not fit, the first of stack_height (stack_height > "
       "hw.stack.max_tiers), group_size (AIMC: hw.sharing.group_size does not divide the routed experts a schedule "
       "groups), weights (AIMC: tier blocks > tiers; GPU: the weights alone exceed the devices' usable "
       "memory), digital_weights (AIMC: the digital unit's weights > its SRAM and it has no DRAM), kv_cache (the "
       "batch's KV cache, with its GO cache in DRAM, > SRAM + DRAM capacity; GPU: > the memory the weights leave); '' "
       "when it fits", perf=False),
    _c("max_batch", "", "float", AIMC, "largest batch whose KV (and GO) caches fit the memory at the longest context; 0 "
       "when the stack, the expert groups, the weights or the digital weights do not fit; NaN when memory does not limit it (no KV cache or unlimited "
       "capacity)", perf=False, better="higher"),
    _c("tier_blocks", "", "int", AIMC, "tier blocks of the model's analog weights (s_t·⌈I/R⌉·⌈O/C⌉ per matrix, C "
       "the weight columns of a tier after the weight encoding)",
       perf=False),
    _c("tiles_needed", "", "int", AIMC, "⌈tier_blocks / stack_height⌉", perf=False, better="lower"),
    _c("chips_needed", "", "int", AIMC, "chips the weights need: ⌈tiles_needed / tiles per chip⌉ (placement expert: the "
       "fewest chips each holding ⌈E/C⌉ experts of every MoE layer and 1/C of the rest; 0 when none suffices)", perf=False,
       better="lower"),
    _c("placement", "", "str", AIMC, "how the model is split across the chips (hw.parallelism): pipeline "
       "(consecutive layers per chip) or expert (each MoE layer's routed experts spread over all chips); with "
       "hw.parallelism = best, the faster of the two", perf=False),
    _c("tiers_used", "", "int", AIMC, "tiers occupied on the busiest tile", perf=False),
    _c("stacked", "", "bool", AIMC, "some tile holds blocks of several stages (tiers_used > 1)", perf=False),
    _c("area_mm2.moe", "mm²", "float", AIMC, "the MoE part's area: expert tiles scaled by peripheral sharing f_g",
       perf=False, better="lower"),
    _c("area_mm2.digital", "mm²", "float", AIMC, "area of the digital unit (heterogeneous MoE)", perf=False,
       better="lower"),
    _c("area_mm2.per_chip", "mm²", "float", AIMC, "area of one of the hw.chips identical chips: area_mm2 / chips",
       perf=False, better="lower"),
    _c("power_w.per_chip", "W", "float", AIMC, "mean power of one of the hw.chips identical chips: power_w / chips "
       "(links included)", better="lower"),
    _c("gops_per_mm2.moe", "op/ns/mm²", "float", AIMC, "flops / latency / area_mm2.moe (empty where area_mm2.moe "
       "is 0: no expert on the tiles)", better="higher"),
    _c("gops_per_w_per_mm2.moe", "op/nJ/mm²", "float", AIMC, "flops / energy / area_mm2.moe (Gao & Yang's "
       "metric; empty where area_mm2.moe is 0)", better="higher"),
    _c("grouping.f_m", "", "float", AIMC, "expert-phase steps per token of the grouped schedule (1 = no grouping)",
       perf=False),
    _c("grouping.f_c", "", "float", AIMC, "token transfers per token into expert groups", perf=False),
    _c("grouping.f_g", "", "float", AIMC, "per-crossbar area factor of peripheral sharing", perf=False),
    _c("digital_param_fraction", "", "float", AIMC, "share of the parameters held by the digital unit",
       perf=False),
    _c("digital_experts_per_layer", "", "float", AIMC, "routed experts per MoE layer on the digital unit (mean "
       "over MoE layers)", perf=False),
    # ---- AIMC, event-driven simulation only (--fidelity event) --------------------------------
    _c("busiest_resource", "", "str", AIMC, "event mode: the most utilised resource class over the run (tile, dpu "
       "or mha)"),
    _c("sim.nodes", "", "float", AIMC, "event mode: operations scheduled (graph nodes)", perf=False),
    _c("ttft_ns.mean", "ns", "float", AIMC, "event mode: mean over sequences of each one's time to first token",
       better="lower"),
    _c("tpot_ns.mean", "ns", "float", AIMC, "event mode: mean over sequences of each one's time per further token",
       better="lower"),
    # ---- GPU ---------------------------------------------------------------------------------
    _c("latency_ns.compute", "ns", "float", GPU, "roofline time of the kernels bound by FLOPs", better="lower"),
    _c("latency_ns.memory", "ns", "float", GPU, "roofline time of the kernels bound by bytes", better="lower"),
    _c("latency_ns.overhead", "ns", "float", GPU, "per-layer overheads (launches, norms, activations)",
       better="lower"),
    _c("latency_ns.communication", "ns", "float", GPU, "collectives: tensor-parallel all-reduces, expert-parallel "
       "all-to-alls (NVLink/xGMI; past hw.node_devices also the nodes' network)", better="lower"),
    _c("energy_nj.active", "nJ", "float", GPU, "(TDP − idle) × (compute-bound roofline time + hw.memory_bound_power_fraction "
       "× memory-bound roofline time), all devices", better="lower"),
    _c("energy_nj.idle", "nJ", "float", GPU, "idle power × latency, all devices", better="lower"),
    _c("memory_bound_share", "", "float", GPU, "share of the costed steps that are memory-bound"),
    _c("bytes_moved", "B", "float", GPU, "HBM traffic of all steps, all devices"),
    _c("n_devices", "", "int", GPU, "GPUs used (given, or as many as memory needs)", perf=False),
    _c("weight_bytes", "B", "float", GPU, "all weights stored", perf=False),
    _c("kv_cache_bytes", "B", "float", BOTH, "the batch's KV cache at its longest context (AIMC: kv_bits per "
       "element; 0 without a KV cache)", perf=False),
    _c("kv_bytes_per_token", "B", "float", GPU, "KV-cache bytes one token adds over all layers (MLA latent, "
       "GQA, sliding windows bounded)", perf=False),
    _c("devices_needed", "", "int", GPU, "GPUs the weights and the batch's KV cache need", perf=False,
       better="lower"),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
EVENT_ONLY = ("busiest_resource", "sim.nodes", "ttft_ns.mean", "tpot_ns.mean")  # written by --fidelity event


def column(name: str) -> Column | None:
    """The registered result column ``name`` (None for a knob or an unknown name)."""
    return BY_NAME.get(name)


def unfit_value(col: Column) -> object:
    return None if col.dtype == "str" else np.nan


def mask_unfit(out: dict[str, Array]) -> dict[str, Array]:
    """Blank every performance column of the points that do not fit (NaN, or None for strings)."""
    fits = np.asarray(out["fits"], dtype=bool)
    if fits.all():
        return out
    for name, values in out.items():
        col = BY_NAME.get(name)
        if col is not None and col.performance:
            if col.dtype == "str":
                blank = np.full(len(fits), None, dtype=object)
                out[name] = np.where(fits, np.asarray(values, dtype=object), blank)
            else:
                out[name] = np.where(fits, values, np.nan)
    return out


def markdown() -> str:
    """docs/columns.md: the registry as a table."""
    lines = [
        "# Result columns (schema %d)" % SCHEMA_VERSION,
        "",
        "Generated by `python -m aimc_dse.cost.registry` from `aimc_dse/cost/registry.py`; "
        "`aimc-dse columns` prints the same table. Every output row also carries the knobs "
        "(spec fields by dotted path) that produced it.",
        "",
        "`latency_ns.<part>` add up to `latency_ns` and `energy_nj.<part>` to `energy_nj` (each "
        "system has its own parts); `busy_ns.<part>` are summed busy times, which overlap. "
        "Columns marked *perf* are empty (NaN/null) for a design that does not fit. *better* "
        "is the direction Pareto fronts use by default; a blank one is maximised (`--minimize` to turn it).",
        "",
        "| column | unit | type | systems | perf | better | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in COLUMNS:
        lines.append(f"| `{c.name}` | {c.unit} | {c.dtype} | {', '.join(c.systems)} | "
                     f"{'yes' if c.performance else ''} | {c.better} | {c.meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
