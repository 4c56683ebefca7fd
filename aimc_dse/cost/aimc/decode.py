"""The steps of a request, with the decode steps in closed form (docs/cost-model.md §4.7).

A decode step at context n = prompt + j runs τ0 + τ1·n tokens: one (KV or GO cache) or the
whole context again. Everything it costs is affine in n but for its attention jobs, whose
compute and KV/GO loads depend on n through a few knobs (attention costs, d, the KV shape,
memory hierarchy, batch, cache flags): per distinct combination of them we tabulate the
job's terms at n = 1 … n_max once, keep their prefix sums, and read any point's range
[prompt + 1, prompt + G − 1] as a difference of two prefix sums. The per-step maximum of
the throughput bound, max(K(n), D_MHA(n)), has K the upper envelope of the step's other
demands — lines in n — summed exactly per line share; where D_MHA − K is monotone over the
range it changes sign once, at a point found by bisection. The cost is then independent of
the generated length; points it cannot take (whole-context steps with digital-engine work,
ranges where neither monotonicity holds, a one-token job that dips) run the step loop of
``steps.decode_loop``.

Tables start at n = 1 whatever the chunk holds, so a point's result does not depend on
which other points share its chunk (byte-identical sweeps across chunkings).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..memo import distinct_index, take
from ..numeric import Array
from .steps import (
    DECODE_BLOCK_CELLS,
    Block,
    StepModel,
    StepTotals,
    _add_counts,
    add_block,
    attention_jobs,
    decode_loop,
    digital_step,
    link_step,
)

# Tests switch the closed form off to compare it with the step loop.
CLOSED_FORM = True

# the per-step attention job terms tabulated over n (AttentionJobs fields, plus t_job)
_TERMS = ("job", "lat", "e", "ops", "t_kv", "e_kv", "t_go", "e_go")


def job_key(m: StepModel) -> tuple[Array, ...]:
    """Everything a point's attention job at context n depends on (steps.attention_jobs,
    memory.kv_load, memory.go_load, shapes.kv_elements)."""
    c, sh, acc, mem, w = m.chip, m.sh, m.acc, m.mem, m.work
    return (c.att_alpha_ns, c.att_beta_ns, c.att_gamma_pj, c.causal_factor, c.att_latency_ns_fixed,
            c.att_energy_nj_fixed, c.dram_gbps, c.dram_active_w, sh.d, sh.kv, sh.layers, sh.experts, sh.kv_lora,
            sh.rope, sh.window, sh.global_every, sh.moe_layers > 0, acc.kv_load_charged, acc.go_traffic_charged,
            mem.physical, mem.bytes_per_elem, mem.sram_bytes, mem.sram_gbps, mem.sram_pj, mem.dram_gbps,
            mem.dram_pj, mem.dram_active_w, w.B, w.go_cache, w.kv_cache)


@dataclass(frozen=True)
class JobTables:
    """Prefix sums P[n, key] = Σ_{m ≤ n} term(m) (row 0 = 0), the job time itself, and the
    smallest rise of the job time from each context on: min_rise[n] = min_{m ≥ n} job(m + 1) −
    job(m) (+inf at the last row; negative where latency rounding makes the job dip later)."""

    prefix: dict[str, Array]
    job: Array
    min_rise: Array
    max_rise: Array  # … and the largest (−inf at the last row)


def job_tables(mk: StepModel, n_max: int) -> JobTables:
    """The job terms of the representative points ``mk`` (one per key) at n = 1 … n_max."""
    u = len(mk.work.B)
    nn = np.broadcast_to(np.arange(1, n_max + 1)[:, None], (n_max, u))
    one = np.ones((n_max, u), bool)
    aj = attention_jobs(mk, Block(active=one, tokens=one.astype(np.int64), ctx=nn, first=~one,
                                  cached=mk.work.kv_cache, prefill=False))
    terms = {"lat": aj.lat, "e": aj.e, "ops": aj.ops, "t_kv": aj.t_kv, "e_kv": aj.e_kv, "t_go": aj.t_go,
             "e_go": aj.e_go}
    terms = {k: np.broadcast_to(v, (n_max, u)) for k, v in terms.items()}
    terms["job"] = terms["lat"] + terms["t_kv"] + np.where(mk.sh.moe_layers > 0, terms["t_go"], 0.0)
    zero = np.zeros((1, u))
    prefix = {k: np.concatenate([zero, np.cumsum(terms[k], axis=0)]) for k in _TERMS}
    job = np.concatenate([zero, terms["job"]])
    rise = np.concatenate([np.diff(job[1:], axis=0), np.full((1, u), np.inf)])  # rise[n − 1] = job(n + 1) − job(n)
    min_rise = np.concatenate([zero, np.minimum.accumulate(rise[::-1], axis=0)[::-1]])
    rise[-1] = -np.inf
    max_rise = np.concatenate([zero, np.maximum.accumulate(rise[::-1], axis=0)[::-1]])
    return JobTables(prefix=prefix, job=job, min_rise=min_rise, max_rise=max_rise)


@dataclass(frozen=True)
class Lines:
    """Per point, k lines in the context n, v_k(n) = s[k]·n + i[k] (arrays (k, points)); the
    step's demands that do not come from the attention job are such lines, and their
    maximum K(n) is a convex piecewise-linear function."""

    s: Array
    i: Array

    def at(self, nn: Array, idx: Array | slice = slice(None)) -> Array:
        return (self.s[:, idx] * nn + self.i[:, idx]).max(axis=0)


@dataclass(frozen=True)
class Envelope:
    """Each line's share [lo[k], hi[k]] of the integer contexts [a, b] where it is the maximum
    (empty: hi < lo), and whether the shares cover [a, b] exactly."""

    lines: Lines
    lo: Array  # (k, points)
    hi: Array
    exact: Array

    def sum(self, x: Array, y: Array) -> Array:
        """Σ_{n=x}^{y} K(n) for a ≤ x and y ≤ b (0 where y < x)."""
        lo, hi = np.maximum(self.lo, x), np.minimum(self.hi, y)
        cnt = np.maximum(hi - lo + 1, 0.0)
        with np.errstate(invalid="ignore"):  # an empty share may have an infinite end
            part = np.where(cnt > 0, self.lines.s * (lo + hi) * cnt / 2.0 + self.lines.i * cnt, 0.0)
        return part.sum(axis=0)

    def slopes(self) -> tuple[Array, Array]:
        """The least and the greatest slope of the lines that are the maximum somewhere in
        [a, b]: K(n + 1) − K(n) lies between them."""
        active = self.hi >= self.lo
        s = self.lines.s
        return np.where(active, s, np.inf).min(axis=0), np.where(active, s, -np.inf).max(axis=0)


def envelope(lines: Lines, a: Array, b: Array) -> Envelope:
    """The upper envelope of ``lines`` on the integer contexts [a, b].

    For every pair of lines the crossing x splits the range once (the lower-numbered line
    takes ties), and a line's share is the intersection of its pairs' sides. The thresholds
    are computed once per pair, so two lines never both claim a context; rounding in x could
    in principle leave a context to none (a non-transitive tie), which ``exact`` reports."""
    k = lines.s.shape[0]
    lo = [np.asarray(a, np.float64).copy() for _ in range(k)]
    hi = [np.asarray(b, np.float64).copy() for _ in range(k)]
    s, i = lines.s, lines.i
    for p in range(k):
        for q in range(p + 1, k):
            ds, di = s[p] - s[q], i[q] - i[p]
            with np.errstate(divide="ignore", invalid="ignore"):
                x = di / ds
            up, down = ds > 0, ds < 0
            cx, fx = np.ceil(x), np.floor(x)
            lo[p] = np.where(up, np.maximum(lo[p], cx), lo[p])  # p wins for n ≥ x
            hi[q] = np.where(up, np.minimum(hi[q], cx - 1), hi[q])
            hi[p] = np.where(down, np.minimum(hi[p], fx), hi[p])  # p wins for n ≤ x
            lo[q] = np.where(down, np.maximum(lo[q], fx + 1), lo[q])
            p_wins = i[p] >= i[q]  # parallel: the higher line everywhere
            hi[q] = np.where((ds == 0) & p_wins, -np.inf, hi[q])
            hi[p] = np.where((ds == 0) & ~p_wins, -np.inf, hi[p])
    lo_, hi_ = np.array(lo), np.array(hi)
    covered = np.maximum(hi_ - lo_ + 1, 0.0).sum(axis=0)
    return Envelope(lines=lines, lo=lo_, hi=hi_, exact=covered == np.maximum(np.asarray(b) - np.asarray(a) + 1, 0))


def rise_range(tb: JobTables, key: Array, a: Array, b: Array) -> tuple[Array, Array]:
    """The least and the greatest rise of the job, job(n + 1) − job(n), over n in [a, b − 1]
    (+inf and −inf when b ≤ a), of each point: its own range, whatever the table's length.

    ``JobTables.min_rise``/``max_rise`` hold the bounds from a context to the end of the table,
    whose length is the longest context of the points evaluated together; deciding on them made
    a point's path (closed form or step loop, which round differently) depend on the other
    points of its chunk (tests/test_laws.py). Called only for the points those bounds do not
    settle, so its cost (the points' ranges) stays below the step loop's they would run.
    """
    rows = tb.job.shape[0] - 1  # rise rows 0 … n_max − 1 (row m: job(m + 1) − job(m))
    flat = np.append(np.diff(tb.job, axis=0).T.ravel(), 0.0)  # key-major, one spare cell
    start = key * rows + a
    stop = key * rows + np.maximum(b, a)  # exclusive: rises a … b − 1
    order = np.argsort(start, kind="stable")  # forward gaps between ranges are disjoint
    idx = np.column_stack([start[order], stop[order]]).ravel()
    lo = np.empty(len(a))
    hi = np.empty(len(a))
    lo[order] = np.minimum.reduceat(flat, idx)[::2]
    hi[order] = np.maximum.reduceat(flat, idx)[::2]
    empty = b <= a
    return np.where(empty, np.inf, lo), np.where(empty, -np.inf, hi)


def sum_max(tb: JobTables, key: Array, a: Array, b: Array, lines: Lines, scale: Array,
            constant: bool) -> tuple[Array, Array]:
    """(Σ_{n=a}^{b} max(K(n), scale·job(n)), whether it was exact), K the maximum of ``lines``.

    Exact when g = scale·job − K is monotone on [a, b]: it does not decrease where the job
    rises at least as fast as the steepest line of K's envelope there (``JobTables.min_rise``),
    and does not increase where the job rises at most as fast as the flattest. Then g changes
    sign at most once, at a point found by bisection; on one side each step counts K(n), on
    the other scale·job(n). ``constant``: every line is flat (one-token steps)."""
    job = tb.job
    lo_r, hi_r = tb.min_rise[a, key], tb.max_rise[a, key]  # over [a, n_max]: bounds of the range's
    if constant:
        k_a = lines.at(a)
        env = None
        redo = np.flatnonzero(lo_r < 0)
        if len(redo):  # the suffix dips: whether [a, b] does decides, not the other points' n_max
            lo_r, hi_r = lo_r.copy(), hi_r.copy()
            lo_r[redo], hi_r[redo] = rise_range(tb, key[redo], a[redo], b[redo])
        rising = lo_r >= 0
        ok = rising
    else:
        env = envelope(lines, a, b)
        s_lo, s_hi = env.slopes()
        redo = np.flatnonzero(~((scale * lo_r >= s_hi) | (scale * hi_r <= s_lo)))
        if len(redo):
            lo_r, hi_r = lo_r.copy(), hi_r.copy()
            lo_r[redo], hi_r[redo] = rise_range(tb, key[redo], a[redo], b[redo])
        rising = scale * lo_r >= s_hi
        ok = env.exact & (rising | (scale * hi_r <= s_lo))

    def job_side(nn: Array, idx: Array | slice) -> Array:
        """The steps at ``nn`` count scale·job: g ≥ 0 where g rises, g > 0 where it falls."""
        g = (scale[idx] * job[nn, key[idx]]) - (k_a[idx] if constant else lines.at(nn, idx))
        return np.where(rising[idx], g >= 0, g > 0)

    all_ = slice(None)
    # the first n of [a, b + 1] on the side the steps reach last: most points change nowhere
    first_side = job_side(a, all_)
    last_side = job_side(b, all_)
    m = np.where(first_side == last_side, np.where(first_side == rising, a, b + 1), -1)
    open_ = np.flatnonzero(m < 0)
    if len(open_):
        lo, hi = a[open_] + 1, b[open_]  # the side flips in (a, b]
        want = rising[open_]
        while np.any(lo < hi):
            mid = (lo + hi) // 2
            before = job_side(mid, open_) != want
            go = lo < hi
            lo = np.where(go & before, mid + 1, lo)
            hi = np.where(go & ~before, mid, hi)
        m[open_] = lo
    p = tb.prefix["job"]

    def k_sum(x: Array, y: Array) -> Array:
        return k_a * np.maximum(y - x + 1, 0) if env is None else env.sum(x, y)

    def j_sum(x: Array, y: Array) -> Array:
        return np.where(y >= x, scale * (p[np.maximum(y, x - 1), key] - p[x - 1, key]), 0.0)

    # rising: K on [a, m − 1], the job on [m, b]; falling: the job on [a, m − 1], K on [m, b]
    total = np.where(rising, k_sum(a, m - 1) + j_sum(m, b), j_sum(a, m - 1) + k_sum(m, b))
    return total, ok


def decode_closed_form(m: StepModel, keys: Array, tb: JobTables, recompute: bool) -> tuple[StepTotals, Array]:
    """The G − 1 decode steps of every point of ``m`` (module docstring), and where the
    closed form was exact (elsewhere the caller runs the step loop). ``recompute``: every
    step runs its whole context (tokens = n) and the points have no digital engine work;
    else every step runs one token."""
    sh, chip, t, tw, work = m.sh, m.chip, m.d.t, m.d.tw, m.work
    n = len(work.G)
    L, Lm, B, Tm = sh.layers, sh.moe_layers, work.B, chip.mvm_latency_ns
    a, b = work.prompt + 1, work.prompt + work.G - 1
    cnt = (work.G - 1).astype(np.float64)
    s_first = (~work.prefill).astype(np.float64)
    # a step's tokens are τ0 + τ1·n: one, or the whole context
    tau0, tau1 = (0.0, 1.0) if recompute else (1.0, 0.0)
    s_tok = tau0 * cnt + tau1 * (a + b) * cnt / 2.0  # Σ tokens over the steps
    tok_a, tok_b = tau0 + tau1 * a, tau0 + tau1 * b
    tot = StepTotals(n)

    def rng(term: str) -> Array:
        p = tb.prefix[term]
        return p[b, keys] - p[a - 1, keys]

    zero = np.zeros(n)
    if not recompute and (np.any(tw.dig_macs > 0) or np.any(m.d.dmac.lm > 0)):
        e_dig, t_dig = digital_step(m, np.ones(n))
        tot.e_dig += cnt * e_dig
        tot.busy_dig += cnt * t_dig
    else:
        t_dig = zero
    # the step's non-attention demands as lines in n (steps.add_block): the busiest tile's
    # four, the DPU pool, the digital engine and one chip's link port
    ts, ti = m.d.tile.lines(tau0, tau1)
    P = chip.P * chip.chips
    dpu_s, dpu_i = tau1 * tw.dpu_lat / P, (tau0 * tw.dpu_lat + tw.step_dpu_lat) / P
    port = m.d.link.port_bytes_per_token / chip.link_gbps
    full = np.broadcast_arrays(*ts, dpu_s, zero, tau1 * port)
    tile = Lines(s=ts, i=ti)
    other = Lines(s=np.array(full), i=np.array(np.broadcast_arrays(*ti, dpu_i, t_dig, tau0 * port)))
    s_io = L / (chip.M * chip.chips)  # d_io(n) = s_io · job(n)
    s_io = np.broadcast_to(s_io, (n,)).astype(np.float64)
    thr, ok = sum_max(tb, keys, a, b, other, s_io, constant=not recompute)
    tot.tthr += B * thr
    if recompute:
        env = envelope(tile, a, b)
        tot.dem_tile += env.sum(a, b)
        ok &= env.exact
        tot.dem_io += s_io * rng("job")
    else:
        tot.dem_tile += cnt * tile.at(np.ones(n))
        dem_io, _ = sum_max(tb, keys, a, b, Lines(s=zero[None], i=t_dig[None]), s_io, constant=True)
        tot.dem_io += dem_io
    tot.dem_dpu += dpu_s * (a + b) * cnt / 2.0 + dpu_i * cnt
    lk = link_step(chip, m.d.link, s_tok)  # bytes, busy and energy are linear in the tokens
    tot.t1 += (cnt * m.d.st.token + (cnt - s_first) * t.transfer_in + L * rng("job") + (s_tok - cnt) * m.d.ph.tau_total
               + cnt * m.d.link.crossings * chip.link_ns + lk.busy)  # each step pays the crossings' latency
    tot.delta = np.maximum(np.maximum(Tm * m.d.w.busiest, np.where(tok_b > 1, tok_b * m.d.ph.tau_max, 0.0)),
                           np.where(B > chip.M, tb.job[b, keys], 0.0))  # the job rises: the last step's is longest
    tot.e_link += lk.energy_nj
    tot.busy_link += lk.busy
    tot.link_bytes += lk.bytes
    tot.dem_link += lk.occupancy
    _add_counts(tot, m, False, cnt, s_tok, s_first * tok_a)
    tot.e_att += L * rng("e")
    tot.e_dram += L * rng("e_kv") + Lm * rng("e_go")
    tot.ops += L * rng("ops")
    tot.busy_att += L * rng("lat")
    tot.busy_dram += L * rng("t_kv") + Lm * rng("t_go")
    return tot, ok


def decode_steps(tot: StepTotals, m: StepModel, single_decode: Array) -> None:
    """Add the decode steps of every point: closed form where it is exact (one-token steps, and
    whole-context steps without digital engine work, whose job rises fast enough); the step
    loop elsewhere."""
    work = m.work
    n = len(work.G)
    todo = work.G > 1
    digital = (m.d.tw.dig_macs > 0) | (m.d.dmac.lm > 0)
    fast = np.flatnonzero(todo & (single_decode | ~digital) & CLOSED_FORM)
    if len(fast):
        mf = take(m, fast, n)
        single = np.broadcast_to(single_decode, (n,))[fast]
        inv, first = distinct_index(*job_key(mf))
        n_max = int((mf.work.prompt + mf.work.G - 1).max())
        per_block = max(1, DECODE_BLOCK_CELLS // max(n_max, 1))
        ok = np.zeros(len(fast), bool)
        for k0 in range(0, len(first), per_block):  # tables for a block of keys at a time (memory)
            kb = np.arange(k0, min(len(first), k0 + per_block))
            tb = job_tables(take(mf, first[kb], len(fast)), n_max)
            in_block = (inv >= k0) & (inv < k0 + len(kb))
            for recompute in (False, True):
                sel = np.flatnonzero(in_block & (single != recompute))
                if not len(sel):
                    continue
                part, exact = decode_closed_form(take(mf, sel, len(fast)), inv[sel] - k0, tb, recompute)
                good = np.flatnonzero(exact)
                ok[sel[good]] = True
                tot.merge(fast[sel[good]], take(part, good, len(sel)))
        todo[fast[ok]] = False
    rest = np.flatnonzero(todo)
    if len(rest):
        tot.merge(rest, decode_loop(take(m, rest, n), single_decode[rest]))


def run_steps(m: StepModel, n: int, prompt_tokens: Array, single_decode: Array) -> StepTotals:
    """The prefill step, then the decode steps."""
    tot = StepTotals(n)
    work = m.work
    tot.units_dpu = np.broadcast_to(m.chip.P * m.chip.chips, (n,)).astype(np.float64)
    tot.units_io = np.broadcast_to(m.chip.M * m.chip.chips, (n,)).astype(np.float64)
    add_block(tot, m, Block(active=work.prefill[None, :], tokens=prompt_tokens[None, :], ctx=prompt_tokens[None, :],
                            first=np.ones((1, n), bool), cached=np.zeros(n, bool), prefill=True))
    decode_steps(tot, m, single_decode)
    return tot
