"""B sequences on one chip (docs/reference-simulators.md §G.4; docs/cost-model.md §5).

The makespan lies between the latency bound T(1) + (B − 1)·δ (sequences enter one stage
occupancy δ apart) and the throughput bound B·Σ max(resource demand per step). Where
stacked tiers make stages of different sequences share tiles, mean-value analysis of the
closed network (B sequences; the bottleneck resource; the rest as delay) adds the queueing
the bounds ignore, clamped between the bounds and lock-step (B·T(1)). Without shared tiles
the references match the lower bound.
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


def mva_makespan(B: Array, t_single: Array, demand_per_seq: Array) -> Array:
    """Mean-value analysis of B sequences cycling through one run (single class, closed network).

    Stations: the bottleneck resource with demand D = the per-sequence throughput demand,
    the rest of the single-sequence latency as a delay Z = T(1) − D.
    R(b) = Z + D·(1 + Q(b−1)), X(b) = b/R(b), Q(b) = X(b)·D·(1 + Q(b−1)); makespan ≈ B/X(B).
    Vectorised over points, iterated to max(B).
    """
    D = np.minimum(demand_per_seq, t_single)
    Zd = np.maximum(t_single - D, 0.0)
    Q = np.zeros_like(t_single)
    X = np.zeros_like(t_single)
    for b in range(1, int(np.max(B)) + 1):
        live = b <= B
        rk = D * (1.0 + Q)
        Xb = b / (Zd + rk)
        Q = np.where(live, Xb * rk, Q)
        X = np.where(live, Xb, X)
    with np.errstate(divide="ignore", invalid="ignore"):
        return B / X


def batching(tot: StepTotals, B: Array, stacked: Array, prefill: Array) -> Batching:
    t_lat = tot.t1 + (B - 1) * tot.delta
    t_thr = tot.tthr
    lower = np.maximum(t_lat, t_thr)
    upper = B * tot.t1  # lock-step: every sequence serialises at every stage
    t_mva = mva_makespan(B, tot.t1, tot.tthr / np.maximum(B, 1))
    makespan = np.where(B == 1, tot.t1, np.where(stacked, np.clip(t_mva, lower, upper), lower))
    pre = np.where(prefill, np.maximum(tot.t_pre + (B - 1) * tot.delta_pre, tot.tthr_pre), np.nan)
    return Batching(
        makespan=makespan, single=tot.t1, latency_bound=t_lat, throughput_bound=t_thr,
        batch_bound=np.where(B == 1, "latency", np.where(t_thr >= t_lat, "throughput", "latency")),
        prefill=np.where(prefill, np.minimum(pre, makespan), np.nan),
    )
