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
B·max(D_tile, D_dpu, D_mha)) — the second term the throughput bound by resource. ``batch_bound``
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
    t = np.maximum(tot.t1 + np.maximum(pipe, queue), thr)
    return t, (queue > pipe) | (thr >= t)


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
