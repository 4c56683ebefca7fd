"""The list scheduler of ``scheduler.py``, compiled with numba (same policy, same results).

``scheduler.schedule`` is the readable reference implementation; this is the same
algorithm over flat arrays — binary heaps on packed integer keys, FIFO rings for transfers
and MVM completions — so a 10⁷-node batch schedules in seconds. Keys pack (sequence,
token, ready order) into one int64 (12 + 15 + 36 bits); ``fits`` checks the bounds and the
caller falls back to the Python scheduler beyond them. The tests check both schedulers
give identical start and finish times.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SEQ_BITS, TOK_BITS, INS_BITS = 12, 15, 36
MVM, COMM, DPU, MHA = 0, 1, 2, 3
# state slots
CNT, DPU_N, MHA_N, EV_N, DIRTY_N, MQ_H, MQ_T, CI_H, CI_T, CO_H, CO_T, NOW = range(12)


def fits(seq_max: int, tok_max: int, events: int) -> bool:
    return seq_max < (1 << SEQ_BITS) and tok_max < (1 << TOK_BITS) and events < (1 << INS_BITS)


@njit(cache=True, inline="always")
def _push(K, V, base, size, key, val):
    i = size
    K[base + i] = key
    V[base + i] = val
    while i > 0:
        par = (i - 1) >> 1
        if K[base + par] <= K[base + i]:
            break
        tk = K[base + par]
        tv = V[base + par]
        K[base + par] = K[base + i]
        V[base + par] = V[base + i]
        K[base + i] = tk
        V[base + i] = tv
        i = par
    return size + 1


@njit(cache=True, inline="always")
def _pop(K, V, base, size):
    key = K[base]
    val = V[base]
    size -= 1
    if size > 0:
        K[base] = K[base + size]
        V[base] = V[base + size]
        i = 0
        while True:
            lft = 2 * i + 1
            if lft >= size:
                break
            c = lft
            if lft + 1 < size and K[base + lft + 1] < K[base + lft]:
                c = lft + 1
            if K[base + i] <= K[base + c]:
                break
            tk = K[base + c]
            tv = V[base + c]
            K[base + c] = K[base + i]
            V[base + c] = V[base + i]
            K[base + i] = tk
            V[base + i] = tv
            i = c
    return key, val


@njit(cache=True, inline="always")
def _isort(K, V, nd):
    """Sort the first nd entries of K (and V alongside) in place; nd is small (ops ending together)."""
    for i in range(1, nd):
        k = K[i]
        v = V[i]
        j = i - 1
        while j >= 0 and K[j] > k:
            K[j + 1] = K[j]
            V[j + 1] = V[j]
            j -= 1
        K[j + 1] = k
        V[j + 1] = v


@njit(cache=True, inline="always")
def _ready(v, S, kind, tile, lat, seq, tok, ins, start, finish,
           tK, tV, tS, tbase, iK, iV, iS, dirty, in_dirty,
           dK, dV, mK, mV, coF, coI, coN, coB):
    S[CNT] += 1
    c = S[CNT]
    ins[v] = c
    k = kind[v]
    if k == MVM:
        t = tile[v]
        key = (seq[v] << (TOK_BITS + INS_BITS)) | (tok[v] << INS_BITS) | c
        tS[t] = _push(tK, tV, tbase[t], tS[t], key, v)
        iS[t] = _push(iK, iV, tbase[t], iS[t], c, v)
        if in_dirty[t] == 0:
            in_dirty[t] = 1
            dirty[S[DIRTY_N]] = t
            S[DIRTY_N] += 1
    elif k == DPU:
        key = (seq[v] << (TOK_BITS + INS_BITS)) | (tok[v] << INS_BITS) | c
        S[DPU_N] = _push(dK, dV, 0, S[DPU_N], key, v)
    elif k == MHA:
        key = (seq[v] << INS_BITS) | c
        S[MHA_N] = _push(mK, mV, 0, S[MHA_N], key, v)
    else:  # a transfer node: starts at once
        T = S[NOW]
        start[v] = T
        finish[v] = T + lat[v]
        j = S[CO_T]
        coF[j] = T + lat[v]
        coI[j] = c
        coN[j] = v
        coB[j] = 1
        S[CO_T] = j + 1


@njit(cache=True)
def _run(kind, tile, lat, seq, tok, ocomm, indptr, idx, N, P, M, t_ci, t_co, record):
    n = len(kind)
    indeg = np.zeros(n, np.int64)
    for e in range(len(idx)):
        indeg[idx[e] >> 1] += 1
    ins = np.zeros(n, np.int64)
    start = np.full(n, -1, np.int64)
    finish = np.zeros(n, np.int64)
    newkey = np.zeros(n, np.int64)
    unit = np.full(n, -1, np.int64)
    # per-tile heaps laid out in one array: tile t owns [tbase[t], tbase[t] + #MVMs on t)
    cnt = np.zeros(N + 1, np.int64)
    n_mvm = 0
    n_dpu = 0
    n_mha = 0
    n_comm = 0
    n_oc = 0
    for v in range(n):
        k = kind[v]
        if k == MVM:
            cnt[tile[v] + 1] += 1
            n_mvm += 1
            if ocomm[v]:
                n_oc += 1
        elif k == DPU:
            n_dpu += 1
        elif k == MHA:
            n_mha += 1
        else:
            n_comm += 1
    tbase = np.cumsum(cnt)[:N]
    n_ci = 0
    for e in range(len(idx)):
        n_ci += idx[e] & 1
    tK = np.empty(max(n_mvm, 1), np.int64)
    tV = np.empty(max(n_mvm, 1), np.int64)
    iK = np.empty(max(n_mvm, 1), np.int64)
    iV = np.empty(max(n_mvm, 1), np.int64)
    tS = np.zeros(N, np.int64)
    iS = np.zeros(N, np.int64)
    tile_run = np.full(N, -1, np.int64)
    dirty = np.empty(N, np.int64)
    in_dirty = np.zeros(N, np.int8)
    dK = np.empty(max(n_dpu, 1), np.int64)
    dV = np.empty(max(n_dpu, 1), np.int64)
    mK = np.empty(max(n_mha, 1), np.int64)
    mV = np.empty(max(n_mha, 1), np.int64)
    eK = np.empty(P + M + 1, np.int64)
    eV = np.empty(P + M + 1, np.int64)
    mq = np.empty(max(n_mvm, 1), np.int64)
    ciF = np.empty(max(n_ci, 1), np.int64)
    ciI = np.empty(max(n_ci, 1), np.int64)
    ciN = np.empty(max(n_ci, 1), np.int64)
    nco = max(n_oc + n_comm, 1)
    coF = np.empty(nco, np.int64)
    coI = np.empty(nco, np.int64)
    coN = np.empty(nco, np.int64)
    coB = np.empty(nco, np.int8)
    dpu_busy = np.zeros(P, np.int8)
    mha_busy = np.zeros(M, np.int8)
    done = np.empty(max(n, 1), np.int64)
    dkey = np.empty(max(n, 1), np.int64)
    S = np.zeros(12, np.int64)
    dpu_free = P
    mha_free = M

    for v in range(n):
        if indeg[v] == 0:
            _ready(v, S, kind, tile, lat, seq, tok, ins, start, finish, tK, tV, tS, tbase, iK, iV, iS,
                   dirty, in_dirty, dK, dV, mK, mV, coF, coI, coN, coB)

    INF = np.int64(1) << 62
    t_prev = -1
    while True:
        T = S[NOW]
        # ---- pick ----
        for q in range(S[DIRTY_N]):
            t = dirty[q]
            in_dirty[t] = 0
            if tile_run[t] < 0 and tS[t] > 0:
                key, v = _pop(tK, tV, tbase[t], tS[t])
                tS[t] -= 1
                tile_run[t] = v
                start[v] = T
                finish[v] = T + lat[v]
                mq[S[MQ_T]] = v
                S[MQ_T] += 1
        S[DIRTY_N] = 0
        order = 0
        while dpu_free > 0 and S[DPU_N] > 0:
            key, v = _pop(dK, dV, 0, S[DPU_N])
            S[DPU_N] -= 1
            dpu_free -= 1
            start[v] = T
            finish[v] = T + lat[v]
            newkey[v] = order
            order += 1
            if record:
                for u in range(P):
                    if dpu_busy[u] == 0:
                        dpu_busy[u] = 1
                        unit[v] = u
                        break
            S[EV_N] = _push(eK, eV, 0, S[EV_N], finish[v], v)
        while mha_free > 0 and S[MHA_N] > 0:
            key, v = _pop(mK, mV, 0, S[MHA_N])
            S[MHA_N] -= 1
            mha_free -= 1
            start[v] = T
            finish[v] = T + lat[v]
            newkey[v] = order
            order += 1
            if record:
                for u in range(M):
                    if mha_busy[u] == 0:
                        mha_busy[u] = 1
                        unit[v] = u
                        break
            S[EV_N] = _push(eK, eV, 0, S[EV_N], finish[v], v)
        # ---- next completion ----
        nxt = INF
        if S[EV_N] > 0 and eK[0] < nxt:
            nxt = eK[0]
        if S[MQ_H] < S[MQ_T] and finish[mq[S[MQ_H]]] < nxt:
            nxt = finish[mq[S[MQ_H]]]
        if S[CI_H] < S[CI_T] and ciF[S[CI_H]] < nxt:
            nxt = ciF[S[CI_H]]
        if S[CO_H] < S[CO_T] and coF[S[CO_H]] < nxt:
            nxt = coF[S[CO_H]]
        if nxt == INF:
            break
        t_prev = T
        T = nxt
        S[NOW] = T
        # 1. transfers, in ready order
        while True:
            ci_ok = S[CI_H] < S[CI_T] and ciF[S[CI_H]] == T
            co_ok = S[CO_H] < S[CO_T] and coF[S[CO_H]] == T
            if not (ci_ok or co_ok):
                break
            if ci_ok and not (co_ok and coI[S[CO_H]] < ciI[S[CI_H]]):
                c = ciN[S[CI_H]]
                S[CI_H] += 1
                indeg[c] -= 1
                if indeg[c] == 0:
                    _ready(c, S, kind, tile, lat, seq, tok, ins, start, finish, tK, tV, tS, tbase, iK, iV, iS,
                           dirty, in_dirty, dK, dV, mK, mV, coF, coI, coN, coB)
            else:
                h = S[CO_H]
                v = coN[h]
                is_node = coB[h]
                S[CO_H] = h + 1
                for e in range(indptr[v], indptr[v + 1]):
                    c = idx[e]
                    if is_node and (c & 1):
                        S[CNT] += 1
                        j = S[CI_T]
                        ciF[j] = T + t_ci
                        ciI[j] = S[CNT]
                        ciN[j] = c >> 1
                        S[CI_T] = j + 1
                    else:
                        c >>= 1
                        indeg[c] -= 1
                        if indeg[c] == 0:
                            _ready(c, S, kind, tile, lat, seq, tok, ins, start, finish, tK, tV, tS, tbase, iK, iV,
                                   iS, dirty, in_dirty, dK, dV, mK, mV, coF, coI, coN, coB)
        # 2. MVMs, by the first ready-list position of any MVM of their tile
        nd = 0
        while S[MQ_H] < S[MQ_T] and finish[mq[S[MQ_H]]] == T:
            done[nd] = mq[S[MQ_H]]
            S[MQ_H] += 1
            nd += 1
        if nd > 0:
            if nd > 1:
                for q in range(nd):
                    v = done[q]
                    t = tile[v]
                    m = ins[v]
                    while iS[t] > 0 and start[iV[tbase[t]]] >= 0:
                        _pop(iK, iV, tbase[t], iS[t])
                        iS[t] -= 1
                    if iS[t] > 0 and iK[tbase[t]] < m:
                        m = iK[tbase[t]]
                    dkey[q] = m
                _isort(dkey, done, nd)
            for q in range(nd):
                v = done[q]
                t = tile[v]
                tile_run[t] = -1
                if in_dirty[t] == 0:
                    in_dirty[t] = 1
                    dirty[S[DIRTY_N]] = t
                    S[DIRTY_N] += 1
                if ocomm[v]:
                    S[CNT] += 1
                    j = S[CO_T]
                    coF[j] = T + t_co
                    coI[j] = S[CNT]
                    coN[j] = v
                    coB[j] = 0
                    S[CO_T] = j + 1
                else:
                    for e in range(indptr[v], indptr[v + 1]):
                        c = idx[e]
                        if c & 1:
                            S[CNT] += 1
                            j = S[CI_T]
                            ciF[j] = T + t_ci
                            ciI[j] = S[CNT]
                            ciN[j] = c >> 1
                            S[CI_T] = j + 1
                        else:
                            c >>= 1
                            indeg[c] -= 1
                            if indeg[c] == 0:
                                _ready(c, S, kind, tile, lat, seq, tok, ins, start, finish, tK, tV, tS, tbase, iK,
                                       iV, iS, dirty, in_dirty, dK, dV, mK, mV, coF, coI, coN, coB)
        # 3. DPU and MHA ops: running before the last step by ready order, then those started then
        nd = 0
        while S[EV_N] > 0 and eK[0] == T:
            key, v = _pop(eK, eV, 0, S[EV_N])
            S[EV_N] -= 1
            done[nd] = v
            nd += 1
        if nd > 1:
            for q in range(nd):
                v = done[q]
                is_mha = kind[v] == MHA
                if start[v] == t_prev:
                    g = 5 if is_mha else 4
                    dkey[q] = (g << 40) | newkey[v]
                else:
                    g = 3 if is_mha else 2
                    dkey[q] = (g << 40) | ins[v]
            _isort(dkey, done, nd)
        for q in range(nd):
            v = done[q]
            if kind[v] == DPU:
                dpu_free += 1
                if record:
                    dpu_busy[unit[v]] = 0
            else:
                mha_free += 1
                if record:
                    mha_busy[unit[v]] = 0
            for e in range(indptr[v], indptr[v + 1]):
                c = idx[e]
                if c & 1:
                    S[CNT] += 1
                    j = S[CI_T]
                    ciF[j] = T + t_ci
                    ciI[j] = S[CNT]
                    ciN[j] = c >> 1
                    S[CI_T] = j + 1
                else:
                    c >>= 1
                    indeg[c] -= 1
                    if indeg[c] == 0:
                        _ready(c, S, kind, tile, lat, seq, tok, ins, start, finish, tK, tV, tS, tbase, iK, iV, iS,
                               dirty, in_dirty, dK, dV, mK, mV, coF, coI, coN, coB)
    if record:
        for v in range(n):
            if kind[v] == MVM:
                unit[v] = tile[v]
    return S[NOW], finish, start, unit


def schedule_nb(kind, tile, lat_ps, seq, tok, ocomm, indptr, idx, N, P, M, t_ci_ps, t_co_ps, record=False):
    T, finish, start, unit = _run(
        np.ascontiguousarray(kind, np.int8), np.ascontiguousarray(tile, np.int64),
        np.ascontiguousarray(lat_ps, np.int64), np.ascontiguousarray(seq, np.int64),
        np.ascontiguousarray(tok, np.int64), np.ascontiguousarray(ocomm, np.int8),
        np.ascontiguousarray(indptr, np.int64), np.ascontiguousarray(idx, np.int64),
        int(N), int(P), int(M), int(t_ci_ps), int(t_co_ps), bool(record))
    return int(T), finish, start, (unit if record else None)
