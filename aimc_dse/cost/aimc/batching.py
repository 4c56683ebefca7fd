"""B sequences on one chip (docs/reference-simulators.md §G.4; docs/cost-model.md §5; docs/batch-fidelity.md).

The references' list scheduler (replayed exactly by ``aimc_dse.sim``) serves ready work
per resource, lowest sequence first, without preemption. Sequence 0 therefore runs as if
alone, T(1), and each further sequence finishes one spacing later, the spacing being set
by the resource that sequences queue for:

* a single tile runs one MVM at a time, so sequences queue for the busiest tile: spacing
  max(δ, D_tile), δ the longest stage occupancy, D_tile one sequence's work on that tile;
* a pool of k units (P DPUs, M MHA units) only makes sequences wait once more than k of
  them want it: the last B − k sequences each add the pool's per-sequence demand D/k.

makespan(B) = max(T(1) + max((B − 1)·max(δ, D_tile), (B − P)⁺·D_dpu, (B − M)⁺·D_mha),
B·max(D_tile, D_dpu, D_mha), waves) — the second term the throughput bound by resource.

Waves: a sequence holds an MHA unit for a share u = (its attention jobs' time) / T(1) of its
life. The lowest sequences take the units first and, as a job is not preempted, a later one
only gets a unit while fewer than M are wanted: about k = ⌈M/u⌉ sequences share the M units
(each slowed to max(T(1), k·work/M)) and the rest starve until they finish. So B sequences
run in ⌈B/k⌉ waves, the last with B mod k of them. When u is near 1 (KV loads from a slow
DRAM) this doubles the makespan once B passes M where the spacing term adds only D_mha per
sequence. ``batch_bound``
is "throughput" when a resource's queue (not the stage spacing δ) sets the makespan. On planar
chips (no tile holds two stages) the references match the classic lower bound
max(T(1) + (B − 1)·δ, B·Σ_steps max(resource demand)), which is kept.
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


def stacked_makespan(tot: StepTotals, B: Array) -> tuple[Array, Array]:
    """(makespan, whether a resource's queue rather than the stage spacing δ sets it) of B
    sequences under the list scheduler on a stacked chip."""
    Bf = B.astype(np.float64)
    queue = np.maximum(np.maximum((Bf - 1) * tot.dem_tile, np.maximum(Bf - tot.units_dpu, 0.0) * tot.dem_dpu),
                       np.maximum(Bf - tot.units_io, 0.0) * tot.dem_io)
    pipe = (Bf - 1) * tot.delta
    thr = Bf * np.maximum(np.maximum(tot.dem_tile, tot.dem_dpu), tot.dem_io)
    waves = pool_waves(tot.t1, tot.dem_io * tot.units_io, tot.units_io, Bf)
    t = np.maximum(np.maximum(tot.t1 + np.maximum(pipe, queue), thr), waves)
    return t, (queue > pipe) | (thr >= t) | (waves >= t)


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
    t_stk, queued = stacked_makespan(tot, B)
    lower = np.maximum(t_lat, tot.tthr)
    makespan = np.where(B == 1, tot.t1, np.where(stacked, t_stk, lower))
    by_thr = np.where(stacked, queued, tot.tthr >= t_lat)
    pre = np.where(prefill, np.maximum(tot.t_pre + (B - 1) * tot.delta_pre, tot.tthr_pre), np.nan)
    # reported: the bound by resource, B·max_r Σ_steps D_r, which no schedule beats (the planar
    # makespan uses the larger B·Σ_steps max_r D_r, which the references match there)
    thr = B * np.maximum(np.maximum(tot.dem_tile, tot.dem_dpu), tot.dem_io)
    return Batching(
        makespan=makespan, single=tot.t1, latency_bound=t_lat, throughput_bound=thr,
        batch_bound=np.where((B > 1) & by_thr, "throughput", "latency"),
        prefill=np.where(prefill, np.minimum(pre, makespan), np.nan),
    )
