"""List scheduling of the dependency graph on tiles, DPUs and MHA units (reference-simulators.md §C.4).

The policy is the references' ``schedule_execution``, reproduced event by event:

* a global clock jumps from one op completion to the next; at each instant the completed
  ops release their successors, then free resources take ready ops;
* transfers start as soon as they are ready (no capacity limit);
* a tile runs one MVM at a time, whichever tier (one-tier-at-a-time); a free tile takes its
  ready MVM with the smallest (sequence, token);
* free DPUs take ready DPU ops by smallest (sequence, token); free MHA units take ready
  attention jobs by smallest sequence; an op runs to completion (no preemption);
* ties in (sequence, token) go to the op that became ready first. The reference keeps its
  ready ops in one list, appending successors as their producers complete; producers that
  complete at the same instant are visited in the order it built its list of running ops
  that step (transfers first, then MVMs by the first list position of any MVM of their
  tile, then DPU and MHA ops that were already running, then those started that step).
  This is replayed exactly, so the simulator reproduces the reference's ready order.

Time runs in integer picoseconds, so ops that complete together in exact arithmetic
complete at the same event (the reference's float clock can split such events by an ulp).
"""

from __future__ import annotations

import heapq

import numpy as np

from .graph import COMM, DPU, MHA, MVM

PS_PER_NS = 1000


def schedule(kind, tile, lat_ps, seq, tok, indptr, idx, N: int, P: int, M: int, record: bool = False):
    """Run the list scheduler. Returns (makespan_ps, finish_ps list, start_ps list, unit list or None)."""
    n = len(kind)
    kind = list(kind)
    tile = list(tile)
    lat = list(lat_ps)
    seq = list(seq)
    tok = list(tok)
    ptr = indptr.tolist()
    succ = idx.tolist()
    indeg = np.bincount(idx, minlength=n).tolist() if n else []
    ins = [0] * n
    start = [-1] * n
    finish = [0] * n
    unit = [-1] * n if record else None
    newkey = [0] * n

    tile_heaps: list[list] = [[] for _ in range(N)]
    tile_run = [-1] * N
    dirty: set[int] = set()
    dpu_heap: list = []
    mha_heap: list = []
    dpu_free, mha_free = P, M
    dpu_units = list(range(P))  # free unit ids (timeline only)
    mha_units = list(range(M))
    ev: list = []
    counter = 0
    T = 0

    def ready(v: int) -> None:
        nonlocal counter
        ins[v] = counter
        counter += 1
        k = kind[v]
        if k == COMM:
            start[v] = T
            f = T + lat[v]
            finish[v] = f
            heapq.heappush(ev, (f, v))
        elif k == MVM:
            t = tile[v]
            heapq.heappush(tile_heaps[t], (seq[v], tok[v], counter, v))
            dirty.add(t)
        elif k == DPU:
            heapq.heappush(dpu_heap, (seq[v], tok[v], counter, v))
        else:
            heapq.heappush(mha_heap, (seq[v], counter, v))

    for v in range(n):
        if indeg[v] == 0:
            ready(v)

    t_prev = -1
    while True:
        # ---- pick: free resources take ready ops ----------------------------------------
        if dirty:
            for t in dirty:
                if tile_run[t] < 0 and tile_heaps[t]:
                    v = heapq.heappop(tile_heaps[t])[3]
                    tile_run[t] = v
                    start[v] = T
                    f = T + lat[v]
                    finish[v] = f
                    heapq.heappush(ev, (f, v))
            dirty.clear()
        order = 0
        while dpu_free and dpu_heap:
            v = heapq.heappop(dpu_heap)[3]
            dpu_free -= 1
            start[v] = T
            f = T + lat[v]
            finish[v] = f
            newkey[v] = order
            order += 1
            if record:
                unit[v] = dpu_units.pop(0)
            heapq.heappush(ev, (f, v))
        while mha_free and mha_heap:
            v = heapq.heappop(mha_heap)[2]
            mha_free -= 1
            start[v] = T
            f = T + lat[v]
            finish[v] = f
            newkey[v] = order
            order += 1
            if record:
                unit[v] = mha_units.pop(0)
            heapq.heappush(ev, (f, v))
        if not ev:
            break
        # ---- advance to the next completion ---------------------------------------------
        t_prev = T
        T = ev[0][0]
        done = []
        while ev and ev[0][0] == T:
            done.append(heapq.heappop(ev)[1])
        if len(done) > 1:
            keyed = []
            for v in done:
                k = kind[v]
                if k == COMM:
                    key = (0, ins[v])
                elif k == MVM:
                    h = tile_heaps[tile[v]]
                    m = ins[v]
                    for e in h:
                        if e[2] - 1 < m:
                            m = e[2] - 1
                    key = (1, m)
                elif k == DPU:
                    key = (4, newkey[v]) if start[v] == t_prev else (2, ins[v])
                else:
                    key = (5, newkey[v]) if start[v] == t_prev else (3, ins[v])
                keyed.append((key, v))
            keyed.sort()
            done = [v for _, v in keyed]
        for v in done:
            k = kind[v]
            if k == MVM:
                t = tile[v]
                tile_run[t] = -1
                dirty.add(t)
            elif k == DPU:
                dpu_free += 1
                if record:
                    dpu_units.append(unit[v])
                    dpu_units.sort()
            elif k == MHA:
                mha_free += 1
                if record:
                    mha_units.append(unit[v])
                    mha_units.sort()
            for c in succ[ptr[v]:ptr[v + 1]]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    ready(c)
    if record and unit is not None:
        for v in range(n):
            if kind[v] == MVM:
                unit[v] = tile[v]
    return T, finish, start, unit
