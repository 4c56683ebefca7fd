"""List scheduling of the dependency graph on tiles, DPUs and MHA units (docs/reference-simulators.md §C.4).

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

Transfers are not nodes: an MVM's output transfer and each input transfer into an MVM are
queued as they start (each with its place in the ready order) and release their consumer
when they end; all transfers of one kind take equal time, so they end in the order they
began (FIFO), and so do MVMs. Only DPU and attention completions need a heap.

Time runs in integer picoseconds, so ops that complete together in exact arithmetic
complete at the same event (the reference's float clock can split such events by an ulp).
"""

from __future__ import annotations

import heapq
from collections import deque

import numpy as np

from .graph import DPU, MHA, MVM

PS_PER_NS = 1000


def schedule(kind, tile, lat_ps, seq, tok, ocomm, indptr, idx, N: int, P: int, M: int,
             t_ci_ps: int, t_co_ps: int, record: bool = False):
    """Run the list scheduler. Returns (makespan_ps, finish_ps, start_ps, unit or None).

    ``idx`` holds successors as 2·child + via_input_transfer; ``ocomm[v]`` marks MVMs whose
    consumers are behind an output transfer.
    """
    n = len(kind)
    kind = kind.tolist()
    tile = tile.tolist()
    lat = lat_ps.tolist()
    seq = seq.tolist()
    tok = tok.tolist()
    ocomm = ocomm.tolist()
    ptr = indptr.tolist()
    succ = idx.tolist()
    indeg = np.bincount(idx >> 1, minlength=n).tolist() if n else []
    ins = [0] * n
    start = [-1] * n
    finish = [0] * n
    unit = [-1] * n if record else None
    newkey = [0] * n

    tile_heaps: list[list] = [[] for _ in range(N)]
    tile_ins: list[list] = [[] for _ in range(N)]  # waiting MVMs' ready order (lazy min-heap)
    tile_run = [-1] * N
    dirty: list[int] = []
    dpu_heap: list = []
    mha_heap: list = []
    dpu_free, mha_free = P, M
    dpu_units = list(range(P))  # free unit ids (timeline only)
    mha_units = list(range(M))
    ev: list = []  # DPU and MHA completions: (finish, node)
    mvm_q: deque = deque()  # MVM completions, FIFO (equal latency)
    ci_q: deque = deque()  # input transfers: (finish, ins, consumer)
    co_q: deque = deque()  # output transfers / transfer nodes: (finish, ins, node, is_node)
    counter = 0
    T = 0
    INF = float("inf")

    def ready(v: int) -> None:
        nonlocal counter
        counter += 1
        ins[v] = counter
        k = kind[v]
        if k == MVM:
            t = tile[v]
            heapq.heappush(tile_heaps[t], (seq[v], tok[v], counter, v))
            heapq.heappush(tile_ins[t], (counter, v))
            dirty.append(t)
        elif k == DPU:
            heapq.heappush(dpu_heap, (seq[v], tok[v], counter, v))
        elif k == MHA:
            heapq.heappush(mha_heap, (seq[v], counter, v))
        else:  # a transfer node (before sampling): starts at once
            start[v] = T
            finish[v] = T + lat[v]
            co_q.append((T + lat[v], counter, v, True))

    def release(v: int) -> None:
        nonlocal counter
        for c in succ[ptr[v]:ptr[v + 1]]:
            if c & 1:  # through an input transfer, which starts now
                counter += 1
                ci_q.append((T + t_ci_ps, counter, c >> 1))
            else:
                c >>= 1
                indeg[c] -= 1
                if indeg[c] == 0:
                    ready(c)

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
                    finish[v] = T + lat[v]
                    mvm_q.append(v)
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
        # ---- advance to the next completion ---------------------------------------------
        nxt = min(ev[0][0] if ev else INF, finish[mvm_q[0]] if mvm_q else INF,
                  ci_q[0][0] if ci_q else INF, co_q[0][0] if co_q else INF)
        if nxt == INF:
            break
        t_prev = T
        T = nxt
        # 1. transfers, in ready order
        while (ci_q and ci_q[0][0] == T) or (co_q and co_q[0][0] == T):
            if ci_q and ci_q[0][0] == T and not (co_q and co_q[0][0] == T and co_q[0][1] < ci_q[0][1]):
                c = ci_q.popleft()[2]
                indeg[c] -= 1
                if indeg[c] == 0:
                    ready(c)
            else:
                _, _, v, is_node = co_q.popleft()
                if is_node:
                    release(v)
                else:
                    for c in succ[ptr[v]:ptr[v + 1]]:
                        c >>= 1
                        indeg[c] -= 1
                        if indeg[c] == 0:
                            ready(c)
        # 2. MVMs, by the first ready-list position of any MVM of their tile
        if mvm_q and finish[mvm_q[0]] == T:
            done = []
            while mvm_q and finish[mvm_q[0]] == T:
                done.append(mvm_q.popleft())
            if len(done) > 1:
                keyed = []
                for v in done:
                    m = ins[v]
                    h = tile_ins[tile[v]]
                    while h and start[h[0][1]] >= 0:  # drop MVMs that have started
                        heapq.heappop(h)
                    if h and h[0][0] < m:
                        m = h[0][0]
                    keyed.append((m, v))
                keyed.sort()
                done = [v for _, v in keyed]
            for v in done:
                t = tile[v]
                tile_run[t] = -1
                dirty.append(t)
                if ocomm[v]:
                    counter += 1
                    co_q.append((T + t_co_ps, counter, v, False))
                else:
                    release(v)
        # 3. DPU and MHA ops: running before the last step by ready order, then those started then
        if ev and ev[0][0] == T:
            done = []
            while ev and ev[0][0] == T:
                done.append(heapq.heappop(ev)[1])
            if len(done) > 1:
                keyed = []
                for v in done:
                    mha = kind[v] == MHA
                    if start[v] == t_prev:
                        key = (5 if mha else 4, newkey[v])
                    else:
                        key = (3 if mha else 2, ins[v])
                    keyed.append((key, v))
                keyed.sort()
                done = [v for _, v in keyed]
            for v in done:
                if kind[v] == DPU:
                    dpu_free += 1
                    if record:
                        dpu_units.append(unit[v])
                        dpu_units.sort()
                else:
                    mha_free += 1
                    if record:
                        mha_units.append(unit[v])
                        mha_units.sort()
                release(v)
    if record and unit is not None:
        for v in range(n):
            if kind[v] == MVM:
                unit[v] = tile[v]
    return T, finish, start, unit
