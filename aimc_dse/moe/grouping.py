"""Expert grouping and group-wise schedules for peripheral sharing (Gao & Yang 2026).

g crossbars share one periphery, so a *group* of g experts serves one (token, expert)
pair per time step (docs/reference-simulators.md §E.1, §E.3). This module follows §E.4–§E.5
and §G.6:

* **Groupings** of E experts into E/g groups of exactly g: ``uniform`` (by index),
  ``sorted`` (the paper's load-sorted grouping: light experts with heavy ones) and
  ``balanced`` (minimise the heaviest group's load).
* **Schedules** of one layer's expert phase, from the per-group per-token loads
  ℓ[t][g] = Σ_{e∈g} c[t][e]: ``single`` (one token at a time), ``compact`` (each group
  drains its FIFO queue), ``optimized_reference`` (the reference's "reschedule by
  inserting idle" heuristic, exactly) and ``optimized`` (our alignment search; never more
  transfers than compact or the reference heuristic).
* **Factors** for the cost model: f_m = length/T, f_c = transfers/T, f_single = single-token
  length/T (decode serialisation per token), f_g = share + (1 − share)/g.

A schedule is an int array steps × groups holding a token id or −1 (idle). Its
*transfers* are Σ over steps of the distinct token ids in the step: a token vector is sent
once per step and broadcast to every group that needs it then (§E.5).

Expert ids are 0-based throughout (the toy example of the paper is 1-based).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from ..specs.hardware import sharing_area_factor as _f_g

GROUPINGS = ("uniform", "sorted", "balanced")
SCHEDULES = ("single", "compact", "optimized", "optimized_reference")


# ---------------------------------------------------------------------------------------
# Loads and groupings (§E.4)
# ---------------------------------------------------------------------------------------


def expert_loads(choices: np.ndarray) -> np.ndarray:
    """Tokens routed to each expert: Σ_t c[t][e] (over the token axis, −2)."""
    return np.asarray(choices).sum(axis=-2, dtype=np.int64)


def _check_group_size(experts: int, group_size: int) -> int:
    g = int(group_size)
    if g < 1 or experts % g:
        divisors = [d for d in range(1, experts + 1) if experts % d == 0]
        raise ValueError(
            f"group size {group_size} does not divide {experts} experts; choose one of {divisors}"
        )
    return g


def uniform_groups(experts: int, group_size: int) -> np.ndarray:
    """Groups by index: {0..g−1}, {g..2g−1}, … (the reference's U1/U2/U4). Shape (E/g) × g."""
    g = _check_group_size(experts, group_size)
    return np.arange(experts).reshape(experts // g, g)


def sorted_groups(loads: np.ndarray, group_size: int) -> np.ndarray:
    """Load-sorted grouping (the paper's S grouping), generalised to any g dividing E.

    Experts are sorted by load, ascending (stable: ties by index): idx[0] … idx[E−1]. With
    G = E/g groups and g = 2h + r (r ∈ {0, 1}), group i gets

    * h light experts idx[h·i], …, idx[h·i + h − 1] and the h heavy experts
      idx[E−1−h·i], …, idx[E−h−h·i] — i.e. the h consecutive light–heavy pairs
      (idx[j], idx[E−1−j]), j = h·i … h·i + h − 1;
    * when g is odd, one middle-ranked expert idx[h·G + i].

    g = 2 gives the reference's S2 {idx[i], idx[E−1−i]}; g = 4 its S4 {idx[2i], idx[2i+1],
    idx[E−1−2i], idx[E−2−2i]} (same sets, §E.4); g = 1 gives singletons in load order.
    """
    loads = np.asarray(loads)
    E = loads.size
    g = _check_group_size(E, group_size)
    G, h, r = E // g, g // 2, g % 2
    idx = np.argsort(loads, kind="stable")
    i = np.arange(G)[:, None]
    light = idx[h * i + np.arange(h)]  # G × h
    heavy = idx[E - 1 - h * i - np.arange(h)]  # G × h
    parts = [light, heavy] if h else []
    if r:
        parts.append(idx[h * G + np.arange(G)][:, None])
    return np.concatenate(parts, axis=1)


def balanced_groups(loads: np.ndarray, group_size: int, max_swaps: int | None = None) -> np.ndarray:
    """Groups of exactly g experts that keep the heaviest group's load small.

    Longest-processing-time first with a cardinality limit: experts in descending load
    (ties by index) each join the lightest group that still has fewer than g members
    (ties: lowest group index). Then pairwise swaps between the heaviest group and any
    other group are applied while one lowers the heavier of the two below the current
    maximum (best swap first); each swap removes one group from the maximum, so the pass
    ends and never makes the heaviest group heavier than LPT's.
    """
    loads = np.asarray(loads, dtype=float)
    E = loads.size
    g = _check_group_size(E, group_size)
    G = E // g
    member = np.full((G, g), -1, dtype=np.int64)
    fill = np.zeros(G, dtype=np.int64)
    tot = np.zeros(G)
    for e in np.argsort(-loads, kind="stable"):
        open_ = fill < g
        j = int(np.flatnonzero(open_)[np.argmin(tot[open_])])
        member[j, fill[j]] = e
        fill[j] += 1
        tot[j] += loads[e]
    if g == 1 or G == 1:
        return member
    for _ in range(max_swaps if max_swaps is not None else 4 * E):
        H = int(np.argmax(tot))
        top = tot[H]
        la = loads[member[H]]  # g
        lb = loads[member]  # G × g
        d = la[None, :, None] - lb[:, None, :]  # G × g(a in H) × g(b in other): load moved out of H
        new_max = np.maximum(top - d, tot[:, None, None] + d)
        new_max[H] = np.inf
        new_max[d <= 0] = np.inf
        o, a, b = np.unravel_index(np.argmin(new_max), new_max.shape)
        if not new_max[o, a, b] < top:
            break
        member[H, a], member[o, b] = member[o, b], member[H, a]
        tot[H] -= d[o, a, b]
        tot[o] += d[o, a, b]
    return member


def make_groups(loads: np.ndarray, group_size: int, grouping: str = "uniform") -> np.ndarray:
    """Groups (E/g) × g of expert ids for ``grouping`` ∈ uniform | sorted | balanced.

    ``loads`` is a per-expert load vector (tokens per expert from a trace, or expected
    loads such as selection probabilities); ``uniform`` uses only its length.
    """
    loads = np.asarray(loads)
    if loads.ndim != 1:
        raise ValueError(f"loads must be a vector of per-expert loads, got shape {loads.shape}")
    if grouping == "uniform":
        return uniform_groups(loads.size, group_size)
    if grouping == "sorted":
        return sorted_groups(loads, group_size)
    if grouping == "balanced":
        return balanced_groups(loads, group_size)
    raise ValueError(f"unknown grouping {grouping!r}; choose one of {', '.join(GROUPINGS)}")


def group_token_loads(choices_T_by_E: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """ℓ[t][g] = Σ_{e∈g} c[t][e]: slots group g must serve for token t. Shape T × G."""
    c = np.asarray(choices_T_by_E)
    if c.ndim != 2:
        raise ValueError(f"expected one layer's choices (tokens × experts), got shape {c.shape}")
    groups = np.asarray(groups)
    return c[:, groups].sum(axis=2, dtype=np.int64)


def split_tokens(choices: np.ndarray, fit_tokens: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(fit, evaluate) token slices of a choice array (token axis −2).

    ``fit_tokens`` = 1: both are the whole trace (the paper's oracle setting, §E.4).
    Otherwise the first ⌊f·T⌉ tokens (at least 1) choose the grouping and the remaining
    tokens (at least 1) evaluate it, showing how a grouping generalises to unseen tokens.
    """
    T = np.asarray(choices).shape[-2]
    if not 0 < fit_tokens <= 1:
        raise ValueError(f"fit_tokens must be in (0, 1], got {fit_tokens}")
    if fit_tokens == 1:
        return choices, choices
    if T < 2:
        raise ValueError("fit_tokens < 1 needs at least 2 tokens (one to fit, one to evaluate)")
    n = min(T - 1, max(1, int(round(fit_tokens * T))))
    return choices[..., :n, :], choices[..., n:, :]


# ---------------------------------------------------------------------------------------
# Schedules (§E.5)
# ---------------------------------------------------------------------------------------


def count_transfers(slots: np.ndarray) -> int:
    """Σ over steps of the number of distinct token ids (−1 = idle) in the step."""
    s = np.sort(np.asarray(slots), axis=1)
    if s.size == 0:
        return 0
    first = s[:, 0] >= 0
    new = (s[:, 1:] != s[:, :-1]) & (s[:, 1:] >= 0)
    return int(first.sum() + new.sum())


@dataclass(frozen=True)
class Schedule:
    """A group-wise schedule: ``slots[step, group]`` = token id, or −1 when idle."""

    kind: str
    slots: np.ndarray
    length: int
    transfers: int

    @classmethod
    def of(cls, kind: str, slots: np.ndarray) -> "Schedule":
        slots = np.asarray(slots, dtype=np.int64)
        slots.setflags(write=False)
        return cls(kind, slots, int(slots.shape[0]), count_transfers(slots))


def _as_loads(loads_T_by_G: np.ndarray) -> np.ndarray:
    ell = np.asarray(loads_T_by_G, dtype=np.int64)
    if ell.ndim != 2:
        raise ValueError(f"expected per-token group loads (tokens × groups), got shape {ell.shape}")
    if (ell < 0).any():
        raise ValueError("group loads must be non-negative")
    return ell


def single_length(loads_T_by_G: np.ndarray) -> int:
    """Single-token schedule length L_1 = Σ_t max_g ℓ[t][g] (without building it)."""
    ell = _as_loads(loads_T_by_G)
    return int(ell.max(axis=1).sum()) if ell.size else 0


def single_schedule(loads_T_by_G: np.ndarray) -> Schedule:
    """One token at a time (bandwidth and buffer of one token), §E.5.1.

    Token t occupies max_g ℓ[t][g] consecutive steps; in its j-th step group g is busy iff
    ℓ[t][g] > j. Length = Σ_t max_g ℓ[t][g]; transfers = length.
    """
    ell = _as_loads(loads_T_by_G)
    T, G = ell.shape
    span = ell.max(axis=1) if T else np.zeros(0, dtype=np.int64)
    tok = np.repeat(np.arange(T), span)
    j = np.arange(tok.size) - np.repeat(np.cumsum(span) - span, span)
    slots = np.where(ell[tok] > j[:, None], tok[:, None], -1)
    return Schedule.of("single", slots.reshape(-1, G))


def _queues(ell: np.ndarray) -> list[np.ndarray]:
    """Each group's FIFO queue: token t repeated ℓ[t][g] times, in token order."""
    T = ell.shape[0]
    return [np.repeat(np.arange(T), ell[:, g]) for g in range(ell.shape[1])]


def _slots_from_positions(queues: list[np.ndarray], pos: list[np.ndarray], length: int) -> np.ndarray:
    slots = np.full((length, len(queues)), -1, dtype=np.int64)
    for g, (q, p) in enumerate(zip(queues, pos)):
        slots[p, g] = q
    return slots


def compact_schedule(loads_T_by_G: np.ndarray) -> Schedule:
    """Each group drains its own FIFO queue from step 0 (unlimited bandwidth/buffer), §E.5.2.

    Length L* = max_g Σ_t ℓ[t][g], the heaviest group's load.
    """
    ell = _as_loads(loads_T_by_G)
    q = _queues(ell)
    L = max((x.size for x in q), default=0)
    return Schedule.of("compact", _slots_from_positions(q, [np.arange(x.size) for x in q], L))


def _reference_insertions(r: np.ndarray) -> tuple[list[int], list[int]]:
    """§E.5.3 scan of one group's slack r(t) = C^{g*}(t) − C^g(t).

    The reference scans t = 0, 1, …: it stops when r(T−1) = 0; where r(t) > 0 and the positive
    entries of r[t..] are a strict majority, it inserts m = min positive entry of r[t..] idles
    and subtracts m from r[t..]. Every subtraction covers the whole suffix any later t looks
    at, so there r(i) = r₀(i) − D with D the idles inserted so far: between two insertions D
    is fixed, and the next insertion point is found for all t at once (suffix counts of
    r₀ > D) instead of testing each t with its own O(T) window — the same insertions, in
    O(T) per insertion rather than per positive t (18.9 s → <1 s on a 400k-token trace).
    """
    r0 = np.asarray(r, dtype=np.int64)
    T = r0.size
    at: list[int] = []
    num: list[int] = []
    t, D = 0, 0
    while t < T and r0[-1] != D:  # r(T−1) = 0: no slack left
        tail = r0[t:] > D  # r(i) > 0 for i ≥ t
        positives = np.cumsum(tail[::-1])[::-1]  # positive entries of r[i..]
        majority = tail & (2 * positives > T - np.arange(t, T))
        hit = int(np.argmax(majority))
        if not majority[hit]:
            break  # no t left where an insertion happens; D stays, so none later either
        t += hit
        window = r0[t:]
        m = int(window[window > D].min()) - D
        at.append(t)
        num.append(m)
        D += m
        assert r0[-1] - D >= 0, "idle insertion exceeds the compact length"
        t += 1
    return at, num


def optimized_reference_schedule(loads_T_by_G: np.ndarray) -> Schedule:
    """The reference's "reschedule by inserting idle" heuristic, exactly (§E.5.3, Alg. 1).

    g* = the heaviest group (first on ties), L* its load, C^g(t) cumulative loads, slack
    r_g(t) = C^{g*}(t) − C^g(t). For each group, scan t: stop when r(T−1) = 0; when r(t) > 0
    and the positive entries are a strict majority of r[t..], insert m = min positive entry
    of r[t..] idles before the first queue entry with token id ≥ t (stop if none) and
    subtract m from r[t..]. Queues are padded to L*. Gives 7/13 on the paper's toy example.
    """
    ell = _as_loads(loads_T_by_G)
    T, G = ell.shape
    q = _queues(ell)
    tot = ell.sum(axis=0)
    L = int(tot.max()) if G and T else 0
    if L == 0:
        return Schedule.of("optimized_reference", np.full((0, G), -1, dtype=np.int64))
    star = int(np.argmax(tot))
    C = np.cumsum(ell, axis=0)  # T × G
    slack = C[:, [star]] - C  # r_g(t)
    pos = []
    for g in range(G):
        # Idles inserted before "the first entry with token id ≥ t" land before original
        # queue entry j = searchsorted(queue, t) (earlier idles, for smaller t, sit before
        # earlier entries); a t beyond the queue's last token stops the insertions.
        at, num = _reference_insertions(slack[:, g])
        n = q[g].size
        j = np.searchsorted(q[g], np.asarray(at, dtype=np.int64), side="left")
        keep = np.cumprod(j < n, dtype=bool) if j.size else j.astype(bool)
        idles = np.zeros(n + 1, dtype=np.int64)
        np.add.at(idles, j[keep], np.asarray(num, dtype=np.int64)[keep])
        pos.append(np.arange(n) + np.cumsum(idles)[:n])
    return Schedule.of("optimized_reference", _slots_from_positions(q, pos, L))


# --- our optimized schedule: order-preserving alignment by group-wise exact improvement ---


def _lnds_chain(u: list[int]) -> list[int]:
    """Indices of a longest non-decreasing subsequence of u (patience sorting, O(P log P))."""
    tails: list[int] = []  # tails[m] = smallest last value of a chain of length m + 1
    tail_at: list[int] = []
    prev = [-1] * len(u)
    m = 0
    for j, x in enumerate(u):
        if m and x >= tails[-1]:  # extends the longest chain (the common case once aligned)
            prev[j] = tail_at[-1]
            tails.append(x)
            tail_at.append(j)
            m += 1
            continue
        i = bisect_right(tails, x)
        if i:
            prev[j] = tail_at[i - 1]
        if i == m:
            tails.append(x)
            tail_at.append(j)
            m += 1
        else:
            tails[i] = x
            tail_at[i] = j
    out = []
    j = tail_at[-1] if tail_at else -1
    while j >= 0:
        out.append(j)
        j = prev[j]
    return out[::-1]


class _Aligner:
    """Placements of every group's queue, indexed by token for the per-group exact update.

    All queue items are kept sorted by (token, group) — an order that never changes — with
    their current step, so the steps at which other groups serve a token are a slice.
    """

    def __init__(self, queues: list[np.ndarray], pos: list[np.ndarray], L: int):
        self.queues, self.L = queues, L
        sizes = np.array([q.size for q in queues], dtype=np.int64)
        self.off = np.concatenate([[0], np.cumsum(sizes)])
        tok = np.concatenate(queues) if queues else np.zeros(0, dtype=np.int64)
        grp = np.repeat(np.arange(len(queues)), sizes)
        order = np.lexsort((grp, tok))
        self.tok, self.grp = tok[order], grp[order]
        self.where = np.empty_like(order)
        self.where[order] = np.arange(order.size)  # concatenated index → sorted index
        self.step = np.concatenate(pos)[order] if queues else np.zeros(0, dtype=np.int64)
        self.pos = [p.copy() for p in pos]

    def free_points(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        """(item, idles-before) pairs where group g's item would share another group's transfer."""
        q, n = self.queues[g], self.queues[g].size
        slack = self.L - n
        lo = np.searchsorted(self.tok, q, side="left")
        cnt = np.searchsorted(self.tok, q, side="right") - lo
        item = np.repeat(np.arange(n, dtype=np.int64), cnt)
        at = np.repeat(lo, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        u = self.step[at] - item
        keep = (self.grp[at] != g) & (u >= 0) & (u <= slack)
        item, u = item[keep], u[keep]
        order = np.lexsort((-u, item))  # item ascending, u descending: one point per item in a chain
        item, u = item[order], u[order]
        dup = np.zeros(item.size, dtype=bool)
        dup[1:] = (item[1:] == item[:-1]) & (u[1:] == u[:-1])  # two groups sending it at that step
        return item[~dup], u[~dup]

    @staticmethod
    def misses(n: int, item: np.ndarray, u: np.ndarray, p: np.ndarray) -> int:
        """Marginal transfers of a group's n items at positions p, given its free points."""
        return int(n - np.unique(item[p[item] == item + u]).size)

    def best(self, g: int, item: np.ndarray, u: np.ndarray, lean: str) -> np.ndarray:
        """Exact best placement of group g's queue given the others' (see optimized_schedule).

        Item i goes to step p_i = i + u_i with 0 ≤ u_1 ≤ … ≤ u_n ≤ slack = L − n (FIFO order,
        idles only). It is free when another group sends the same token at p_i, else it costs
        one transfer; so the best placement is a longest chain of free (i, u) points with i
        increasing and u non-decreasing — a longest non-decreasing subsequence. Items off the
        chain take the idle count of the chain item before (``lean='left'``) or after ('right').
        """
        n = self.queues[g].size
        slack = self.L - n
        chain = _lnds_chain(u.tolist())
        uu = np.full(n, -1, dtype=np.int64)
        uu[item[chain]] = u[chain]
        matched = uu >= 0
        if lean == "left":
            filled = np.maximum.accumulate(np.where(matched, uu, 0))
        else:
            filled = np.minimum.accumulate(np.where(matched, uu, slack)[::-1])[::-1]
        return np.arange(n) + filled

    def move(self, g: int, p: np.ndarray) -> np.ndarray:
        """Re-place group g; return the groups whose free points may have changed."""
        q = self.queues[g]
        moved = q[p != self.pos[g]]
        self.pos[g] = p
        self.step[self.where[self.off[g] : self.off[g + 1]]] = p
        lo = np.searchsorted(self.tok, moved, side="left")
        cnt = np.searchsorted(self.tok, moved, side="right") - lo
        at = np.repeat(lo, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        return np.unique(self.grp[at])


def _descend(queues: list[np.ndarray], pos: list[np.ndarray], L: int, lean: str, max_rounds: int) -> np.ndarray:
    """Coordinate descent: re-place one group at a time optimally; accept strict improvements.

    A group is re-evaluated only when a group sharing one of its tokens has moved since its
    last evaluation (otherwise its optimum is unchanged); this gives the same result as
    full sweeps. Ends when no group can improve, or after ``max_rounds`` sweeps.
    """
    al = _Aligner(queues, pos, L)
    movable = np.array([0 < q.size < L for q in queues])
    dirty = movable.copy()
    for _ in range(max_rounds):
        if not dirty.any():
            break
        for g in np.flatnonzero(movable):
            if not dirty[g]:
                continue
            dirty[g] = False
            item, u = al.free_points(g)
            new = al.best(g, item, u, lean)
            n = queues[g].size
            if al.misses(n, item, u, new) < al.misses(n, item, u, al.pos[g]):
                dirty[al.move(g, new)] = True
                dirty[g] = False
    return _slots_from_positions(queues, al.pos, L)


def _lazy_positions(queues: list[np.ndarray], L: int) -> list[np.ndarray]:
    """Greedy start: a group serves only when it must (its remaining items fill the remaining
    steps) or when its head token is already being sent by a group that must."""
    # Plain Python over lists: a step touches G heads, and numpy's per-call cost on arrays of
    # G elements made this loop half of an optimized schedule's time (L steps × ~5 calls).
    qs = [q.tolist() for q in queues]
    n = [len(q) for q in qs]
    head = [0] * len(qs)
    pos = [[0] * k for k in n]
    live = [g for g in range(len(qs)) if n[g]]
    for s in range(L):
        must = {qs[g][head[g]] for g in live if n[g] - head[g] == L - s}
        if not must:
            continue
        for g in live:
            h = head[g]
            if h < n[g] and (n[g] - h == L - s or qs[g][h] in must):
                pos[g][h] = s
                head[g] = h + 1
        live = [g for g in live if head[g] < n[g]]
    return [np.asarray(p, dtype=np.int64) for p in pos]


def optimized_schedule(loads_T_by_G: np.ndarray, max_rounds: int = 50) -> Schedule:
    """Compact-length schedule with idles inserted to share token transfers (our algorithm).

    Model (the reference's, §E.5.3): every group serves its FIFO queue in token order, only
    idles may be inserted, and the length is the compact length L* = max_g load_g.
    Minimising transfers is then a multi-sequence alignment. We run coordinate descent:
    re-place one group at a time *optimally given the others* — its items' placements are a
    longest non-decreasing subsequence of the (item, idles-before) points where the item's
    token is already being sent by another group — and accept strict improvements, until no
    group can improve. It starts from three schedules (compact; the reference heuristic; a
    step-by-step greedy that serves a group only when it must — its remaining items fill the
    remaining steps — or when its head token is already being sent by a group that must),
    each with two tie-breaks for items off the chain (as early / as late as allowed), and
    keeps the best of the six results.

    Guarantees: length = L* (the compact length); each group keeps its FIFO order;
    transfers ≤ min(compact, reference heuristic) — both are starts and each accepted move
    lowers the total; deterministic; when the descent converges (within ``max_rounds``
    sweeps; in practice < 15) no single group's placement can be changed to lower the
    transfers (a local optimum). Not guaranteed globally optimal, though it matched a
    brute-force optimum on every small random case tried (tests/test_grouping.py). Lower
    bounds: transfers ≥ L* (every step sends a token) and ≥ the number of routed tokens.
    On the paper's toy example it reaches the figure's 7/12, which is optimal.
    Cost per group update O(P log P), P ≤ (k − 1)·n_g candidate points.
    """
    ell = _as_loads(loads_T_by_G)
    T, G = ell.shape
    queues = _queues(ell)
    L = max((q.size for q in queues), default=0)
    if L == 0:
        return Schedule.of("optimized", np.full((0, G), -1, dtype=np.int64))
    ref = optimized_reference_schedule(ell).slots
    starts = [
        [np.arange(q.size) for q in queues],
        [np.flatnonzero(ref[:, g] >= 0) for g in range(G)],
        _lazy_positions(queues, L),
    ]
    best: np.ndarray | None = None
    best_x = None
    for start in starts:
        for lean in ("left", "right"):
            slots = _descend(queues, start, L, lean, max_rounds)
            x = count_transfers(slots)
            if best_x is None or x < best_x:
                best, best_x = slots, x
    return Schedule.of("optimized", best)


_RUNNERS = {
    "single": single_schedule,
    "compact": compact_schedule,
    "optimized": optimized_schedule,
    "optimized_reference": optimized_reference_schedule,
}


def run_schedule(loads_T_by_G: np.ndarray, kind: str) -> Schedule:
    """Build the ``kind`` schedule (single | compact | optimized | optimized_reference)."""
    kind = kind.replace("-", "_")
    if kind not in _RUNNERS:
        raise ValueError(f"unknown schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")
    return _RUNNERS[kind](loads_T_by_G)


def schedule_choices(choices_T_by_E: np.ndarray, groups: np.ndarray, kind: str) -> Schedule:
    """Schedule one layer's choices (tokens × experts) under ``groups``."""
    return run_schedule(group_token_loads(choices_T_by_E, groups), kind)


# ---------------------------------------------------------------------------------------
# Factors for the cost model (§E.2, §E.3, §G.6)
# ---------------------------------------------------------------------------------------


def sharing_area_factor(group_size: int, crossbar_area_share: float = 0.2) -> float:
    """f_g = share + (1 − share)/g: per-crossbar area (and, as the reference codes it, MVM
    energy) relative to no sharing (§E.3). share 0.2 → 1.0 / 0.6 / 0.4 for g = 1 / 2 / 4."""
    if group_size < 1:
        raise ValueError(f"group size must be at least 1, got {group_size}")
    if not 0 < crossbar_area_share <= 1:
        raise ValueError(f"crossbar area share must be in (0, 1], got {crossbar_area_share}")
    return float(_f_g(group_size, crossbar_area_share))


def expert_phase_factors(
    choices: np.ndarray,
    group_size: int,
    grouping: str = "uniform",
    schedule: str = "compact",
    fit_tokens: float = 1.0,
) -> dict:
    """Grouping factors of a trace's expert phase, per layer and averaged over layers (§G.6).

    ``choices``: bool tokens × experts (one layer) or layers × tokens × experts. Per layer,
    the grouping is chosen on the first ``fit_tokens`` fraction of the tokens (1 = the
    whole trace, the paper's oracle setting) and the schedule runs on the rest, T tokens:

    * f_m = schedule length / T (expert-phase MVM steps per token; prefill),
    * f_c = transfers / T (token-vector transfers into expert groups per token),
    * f_single = single-token schedule length / T = E_t[max_g ℓ[t][g]], the expected
      serialisation of one decode token's experts in its groups.

    Returns a dict: ``f_m``, ``f_c``, ``f_single`` (means over layers, float);
    ``f_m_layers``, ``f_c_layers``, ``f_single_layers``, ``length``, ``transfers``,
    ``single_length`` (per layer); ``group_loads`` (layers × G, evaluated tokens);
    ``groups`` (layers × G × g expert ids); ``tokens`` (T) and ``fit_tokens`` (count).
    """
    c = np.asarray(choices)
    if c.ndim == 2:
        c = c[None]
    if c.ndim != 3:
        raise ValueError(f"expected tokens × experts or layers × tokens × experts, got shape {c.shape}")
    fit, ev = split_tokens(c, fit_tokens)
    T = ev.shape[1]
    if T == 0:
        raise ValueError("no tokens to evaluate")
    length, transfers, single, loads, groups = [], [], [], [], []
    for l in range(c.shape[0]):
        grp = make_groups(expert_loads(fit[l]), group_size, grouping)
        ell = group_token_loads(ev[l], grp)
        s = run_schedule(ell, schedule)
        length.append(s.length)
        transfers.append(s.transfers)
        single.append(single_length(ell))
        loads.append(ell.sum(axis=0))
        groups.append(grp)
    length_a, transfers_a, single_a = (np.array(x, dtype=np.int64) for x in (length, transfers, single))
    out = {
        "f_m_layers": length_a / T,
        "f_c_layers": transfers_a / T,
        "f_single_layers": single_a / T,
        "length": length_a,
        "transfers": transfers_a,
        "single_length": single_a,
        "group_loads": np.array(loads, dtype=np.int64),
        "groups": np.array(groups, dtype=np.int64),
        "tokens": int(T),
        "fit_tokens": int(fit.shape[1]),
    }
    for f in ("f_m", "f_c", "f_single"):
        out[f] = float(out[f"{f}_layers"].mean())
    return out
