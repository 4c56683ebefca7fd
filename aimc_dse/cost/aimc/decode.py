"""The steps of a request, with one-token decode steps in closed form (docs/cost-model.md §4.7).

A decode step that runs one token (KV or GO cache) costs the same at every step but for its
attention jobs, whose compute and KV/GO loads grow with the context n = prompt + j. So over
the G − 1 decode steps of a point everything is (G − 1) × a per-step constant except sums
over n of the attention job's terms, the per-step maximum max(K, d_io(n)) of the throughput
bound, and the largest stage spacing. Those depend on n only through a few knobs (attention
costs, d, the KV shape, memory hierarchy, batch, cache flags): per distinct combination of
them we tabulate the job's terms at n = 1 … n_max once, keep their prefix sums, and read any
point's range [prompt + 1, prompt + G − 1] as a difference of two prefix sums. Where the job
time is non-decreasing over the range (it grows with n; only latency rounding can make it
dip), Σ max(K, t(n)) splits at the crossing point found by bisection. The cost is then
independent of the generated length; points it cannot take (whole-context recomputation
without caches, a dip inside the range) run the step loop of ``steps.decode_loop``.

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
    """Prefix sums P[n, key] = Σ_{m ≤ n} term(m) (row 0 = 0), the job time itself, and the last
    context at which the job time dips (0: never)."""

    prefix: dict[str, Array]
    job: Array
    last_dip: Array


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
    dips = np.diff(job[1:], axis=0) < 0  # dips[i]: job(i + 2) < job(i + 1)
    last = np.where(dips.any(axis=0), n_max - np.argmax(dips[::-1], axis=0), 0)
    return JobTables(prefix=prefix, job=job, last_dip=last)


def sum_max(tb: JobTables, key: Array, a: Array, b: Array, floor: Array) -> Array:
    """Σ_{n=a}^{b} max(floor, job(n)) for a non-decreasing job on [a, b]: below the crossing
    point m (the first n with job(n) ≥ floor) each step counts floor."""
    # most points cross nowhere in their range: all steps above the floor, or all below
    m = np.where(tb.job[a, key] >= floor, a, np.where(tb.job[b, key] < floor, b + 1, -1))
    open_ = np.flatnonzero(m < 0)
    if len(open_):
        lo, hi, k, f = a[open_] + 1, b[open_], key[open_], floor[open_]  # job(a) < f ≤ job(b)
        while np.any(lo < hi):  # bisection for the first n with job(n) ≥ f
            mid = (lo + hi) // 2
            below = tb.job[mid, k] < f
            go = lo < hi
            lo = np.where(go & below, mid + 1, lo)
            hi = np.where(go & ~below, mid, hi)
        m[open_] = lo
    p = tb.prefix["job"]
    return floor * (m - a) + p[b, key] - p[m - 1, key]


def decode_closed_form(m: StepModel, keys: Array, tb: JobTables) -> StepTotals:
    """The G − 1 one-token decode steps of every point of ``m`` (module docstring)."""
    sh, chip, t, tw, work = m.sh, m.chip, m.t, m.tw, m.work
    n = len(work.G)
    L, Lm, B, Tm = sh.layers, sh.moe_layers, work.B, chip.mvm_latency_ns
    a, b = work.prompt + 1, work.prompt + work.G - 1
    cnt = (work.G - 1).astype(np.float64)
    s_first = (~work.prefill).astype(np.float64)
    tot = StepTotals(n)

    def rng(term: str) -> Array:
        p = tb.prefix[term]
        return p[b, keys] - p[a - 1, keys]

    one = np.ones(n)
    if np.any(tw.dig_macs > 0) or np.any(m.dmac.lm > 0):
        e_dig, t_dig = digital_step(m, one)
        tot.e_dig += cnt * e_dig
        tot.busy_dig += cnt * t_dig
    else:
        t_dig = np.zeros(n)
    d_tile = m.tile.at(one)
    d_dpu = (tw.dpu_lat + tw.step_dpu_lat) / (chip.P * chip.chips)
    lk = link_step(chip, m.link, one)
    s_io = L / (chip.M * chip.chips)  # d_io(n) = s_io · job(n)
    k_other = np.maximum(np.maximum(np.maximum(d_tile, d_dpu), t_dig), lk.occupancy)
    s_job = rng("job")
    tot.t1 += cnt * m.st.token + (cnt - s_first) * t.transfer_in + L * s_job + cnt * lk.time
    tot.tthr += B * s_io * sum_max(tb, keys, a, b, k_other / s_io)
    tot.dem_tile += cnt * d_tile
    tot.dem_dpu += cnt * d_dpu
    tot.dem_io += s_io * sum_max(tb, keys, a, b, t_dig / s_io)
    job_last = tb.job[b, keys]  # the longest job: the last step's
    tot.delta = np.maximum(Tm * m.w.busiest, np.where(B > chip.M, job_last, 0.0))
    tot.e_link += cnt * lk.energy_nj
    tot.busy_link += cnt * lk.busy
    tot.link_bytes += cnt * lk.bytes
    _add_counts(tot, m, False, cnt, cnt, s_first)
    tot.e_att += L * rng("e")
    tot.e_dram += L * rng("e_kv") + Lm * rng("e_go")
    tot.ops += L * rng("ops")
    tot.busy_att += L * rng("lat")
    tot.busy_dram += L * rng("t_kv") + Lm * rng("t_go")
    return tot


def decode_steps(tot: StepTotals, m: StepModel, single_decode: Array) -> None:
    """Add the decode steps of every point: closed form where each step runs one token and
    the job time does not dip within the point's range; the step loop elsewhere."""
    work = m.work
    n = len(work.G)
    todo = work.G > 1
    fast = np.flatnonzero(todo & single_decode & CLOSED_FORM)
    if len(fast):
        mf = take(m, fast, n)
        inv, first = distinct_index(*job_key(mf))
        n_max = int((mf.work.prompt + mf.work.G - 1).max())
        per_block = max(1, DECODE_BLOCK_CELLS // max(n_max, 1))
        ok = np.zeros(len(fast), bool)
        for k0 in range(0, len(first), per_block):  # tables for a block of keys at a time (memory)
            kb = np.arange(k0, min(len(first), k0 + per_block))
            tb = job_tables(take(mf, first[kb], len(fast)), n_max)
            sel = np.flatnonzero((inv >= k0) & (inv < k0 + len(kb)))
            keys = inv[sel] - k0
            smooth = tb.last_dip[keys] <= mf.work.prompt[sel] + 1  # no dip inside [prompt + 1, …]
            sel, keys = sel[smooth], keys[smooth]
            ok[sel] = True
            tot.merge(fast[sel], decode_closed_form(take(mf, sel, len(fast)), keys, tb))
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
