"""B sequences on one chip (docs/reference-simulators.md §G.4; docs/cost-model.md §4.5; docs/batch-fidelity.md).

The references' list scheduler (replayed exactly by ``aimc_dse.sim``) serves ready work
per resource, lowest sequence first, without preemption. Sequence 0 therefore runs as if
alone, T(1), and each further sequence finishes one spacing later, the spacing being set
by the resource that sequences queue for:

* a single tile runs one MVM at a time, so sequences queue for the busiest tile: spacing
  max(δ, D_tile), δ the longest stage occupancy, D_tile one sequence's work on that tile;
* a pool of k MHA units only makes sequences wait once more than k of them want it: a
  sequence's attention job holds one unit, so the last B − k sequences each add the pool's
  per-sequence demand D/k. That is the saturated case; while the other B − 1 sequences load
  the units below capacity (ρ = (B − 1)·u/k < 1, u = a sequence's job time on the pool /
  T(1)) the last one only waits for a job already running when it arrives, about
  ρ/(2(1 − ρ)) of its own job time (the M/D/1 wait, jobs of nearly fixed length), and the
  smaller of the two is charged (``pool_queue``);
* the P DPUs are the same queue with one server P times as fast (``dpu_queue``): a stage's
  partial sums arrive together and its adds are independent, so one sequence's reductions
  take every free DPU at once and a second sequence waits for the pool as a whole, not for
  a free unit — with B ≤ P too. Charged as P units (as until this round), B > 1 designs
  with several DPUs came out fast wherever the DPUs bind: one Llama-2-7B layer on 64 tiles
  of 31 tiers with 4 DPUs −19 %/−18 % at B = 2/4 (now −15 %/+5 %), and the 300 B > 1
  designs of the preset survey (validation/batch_survey.py) 79 % within 10 % of the event
  schedule (85 % with the one server; median |error| 2.8 → 1.4 %; docs/batch-fidelity.md
  item 13). One DPU is the same either way.

makespan(B) = max(T(1) + max((B − 1)·max(δ, D_tile), Q_dpu, Q_mha), B·max(D_tile, D_dpu,
D_mha), waves) — Q the pools' waits above, the second term the throughput bound by resource.

Waves: a sequence holds an MHA unit for a share u = (its attention jobs' time) / T(1) of its
life. The lowest sequences take the units first and, as a job is not preempted, a later one
only gets a unit while fewer than M are wanted: about k = ⌈M/u⌉ sequences share the M units
(each slowed to max(T(1), k·work/M)) and the rest starve until they finish. So B sequences
run in ⌈B/k⌉ waves, the last with B mod k of them. When u is near 1 (KV loads from a slow
DRAM) this doubles the makespan once B passes M where the spacing term adds only D_mha per
sequence. ``batch_bound`` is "throughput" when a resource's queue (not the stage spacing δ)
sets the makespan.

The same form serves planar chips (no tile holds two stages), with two changes: a tile
serves one stage, so the tile term is the stage spacing δ, and the throughput term is
B·Σ_steps max(resource demand) — with them the classic bounds max(T(1) + (B − 1)·δ, B·Σ_steps
max) that the references match on planar chips, plus the MHA pool's queue and waves, which
planar chips with few MHA units need too (docs/batch-fidelity.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..numeric import Array
from .steps import StepTotals


@dataclass(frozen=True)
class Batching:
    makespan: Array
    single: Array  # T(1), one sequence alone
    latency_bound: Array
    throughput_bound: Array
    batch_bound: Array  # str: which bound sets the makespan (latency | throughput)
    prefill: Array  # time to the first token of all B sequences (NaN without prefill)


def spacing_makespan(tot: StepTotals, B: Array, stacked: Array | bool = True) -> tuple[Array, Array]:
    """(makespan, whether a resource's queue rather than the stage spacing δ sets it) of B
    sequences under the list scheduler. On a planar chip (``stacked`` false) a tile serves
    one stage, so sequences behind one another wait a stage occupancy δ, not a whole
    sequence's work on the tile, and the throughput term is B·Σ_steps max_r D_r."""
    Bf = B.astype(np.float64)
    tile = np.where(stacked, (Bf - 1) * tot.dem_tile, 0.0)
    queue = np.maximum(np.maximum(tile, dpu_queue(tot, Bf)), mha_queue(tot, Bf))
    pipe = (Bf - 1) * tot.delta
    thr = np.where(stacked, Bf * resource_bound(tot), tot.tthr)
    waves = pool_waves(tot.t1, tot.dem_io * tot.units_io, tot.units_io, Bf)
    t = np.maximum(np.maximum(tot.t1 + np.maximum(pipe, queue), thr), waves)
    return t, (queue > pipe) | (thr >= t) | (waves >= t)


def resource_bound(tot: StepTotals) -> Array:
    """One sequence's demand on the busiest resource, max_r Σ_steps D_r: the busiest tile, the
    DPU pool, the MHA units / digital engine, and one chip's link port (several chips)."""
    return np.maximum(np.maximum(np.maximum(tot.dem_tile, tot.dem_dpu), tot.dem_io), tot.dem_link)


def dpu_queue(tot: StepTotals, B: Array) -> Array:
    """The last sequence's wait for the DPU pool, one server P DPUs wide (module docstring):
    a sequence's adds take every free DPU, so its demand on that server is D_DPU = work / P."""
    return pool_queue(tot.dem_dpu, np.ones_like(tot.dem_dpu), tot.t1, B)


def mha_queue(tot: StepTotals, B: Array) -> Array:
    """The last sequence's wait for the MHA units (module docstring)."""
    return pool_queue(tot.dem_io * tot.units_io, tot.units_io, tot.t1, B)


def pool_queue(work: Array, units: Array, t1: Array, B: Array) -> Array:
    """The last sequence's wait for a pool of ``units`` (DPUs, MHA units), each sequence
    holding ``work`` of unit time over its T(1): one work/units per sequence beyond the units
    once the others keep the pool busy, less while they leave gaps (module docstring)."""
    rho = (B - 1) * work / np.maximum(t1, 1e-300) / units  # the others' load per unit
    spacing = np.maximum(B - units, 0.0) * work / units
    with np.errstate(divide="ignore", invalid="ignore"):
        gaps = work * rho / (2.0 * (1.0 - rho))
    return np.where(rho < 1.0, np.minimum(gaps, spacing), spacing)


def pool_waves(t1: Array, work: Array, units: Array, B: Array) -> Array:
    """Makespan of B sequences in waves on a pool of ``units`` (module docstring): each needs
    ``work`` of unit time over its T(1) alone; k = ⌈units/u⌉ of them share the pool at once."""
    u = work / np.maximum(t1, 1e-300)
    k = np.where(u > 0, np.maximum(1.0, np.ceil(units / np.maximum(u, 1e-300) - 1e-9)), np.inf)
    k = np.minimum(k, B)
    full = np.floor(B / k)
    rest = B - full * k
    return (full * np.maximum(t1, k * work / units)
            + np.where(rest > 0, np.maximum(t1, rest * work / units), 0.0))


def batching(tot: StepTotals, B: Array, stacked: Array, prefill: Array) -> Batching:
    t_lat = tot.t1 + (B - 1) * tot.delta
    t_b, queued = spacing_makespan(tot, B, stacked)
    makespan = np.where(B == 1, tot.t1, t_b)
    by_thr = queued
    pre = np.where(prefill, np.maximum(tot.t_pre + (B - 1) * tot.delta_pre, tot.tthr_pre), np.nan)
    # reported: the bound by resource, B·max_r Σ_steps D_r, which no schedule beats
    thr = B * resource_bound(tot)
    return Batching(
        makespan=makespan, single=tot.t1, latency_bound=t_lat, throughput_bound=thr,
        batch_bound=np.where((B > 1) & by_thr, "throughput", "latency"),
        prefill=np.where(prefill, np.minimum(pre, makespan), np.nan),
    )
