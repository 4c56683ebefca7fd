"""The 3D AIMC analytic cost model: dense and MoE inference (COST-MODEL.md §1–5, §6, §9).

Follows reference-simulators.md §G: exact op counts and energy (§G.1), single-token stage
latencies with one-tier-at-a-time serialisation (§G.2), pipelined n-token phases separated
by attention barriers (§G.3), B sequences between the latency and throughput bounds with a
queueing correction where stacked tiers make stages share tiles (§G.4), expected OTT
serialisation of stacked experts over routing (§G.5) and peripheral-sharing factors (§G.6).

Everything is a function of numpy columns (``Cols``): one call evaluates a whole column
of design points. Symbols follow the reference: R×C tiers, N tiles, Z tiers per tile,
P DPUs, M MHA units, T_mvm/E_mvm per MVM; per matrix I×O: v = ⌈I/R⌉, h = ⌈O/C⌉,
nb = v·h blocks, na = (v − 1)·h reduction adds.

Accounting profiles (``hw.accounting``): ``physical`` (default) charges what the hardware
does; ``ibm3dsim`` and ``moewithpim`` reproduce the reference simulators' quirks
(§H): position-embedding MVMs dropped, expert-combining adds sized d_ff, the GO cache's
DRAM traffic not charged, stub attention without a KV load (3D-SiM), and the grouping
factors applied to the whole prompt, every input transfer and every MVM (MoEwithPIM, §E.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..specs.base import SpecError
from .columns import Cols
from .mapping import blocks as nb_fn
from .mapping import expected_expert_stage_w, max_per_tile, max_weighted_two_ranges
from .mapping import reduction_adds as na_fn
from .metrics import headline_metrics
from .shapes import ceil_div, model_shape

_EPS = 1e-9


def _ceil(x):
    # Latencies are rounded up before any later multiplication (§A.5.2); the epsilon keeps
    # exact integers (50·4096/256 = 800) from being pushed up by float noise.
    return np.ceil(np.asarray(x) - _EPS)


@dataclass
class _Op:
    lat_per256: np.ndarray
    lat_fixed: np.ndarray
    e_per256: np.ndarray
    e_fixed: np.ndarray

    def lat(self, s):
        return _ceil(self.lat_per256 * np.asarray(s) / 256.0 + self.lat_fixed)

    def energy_nj(self, s):
        return (self.e_per256 * np.asarray(s) / 256.0 + self.e_fixed) / 1000.0


def _op(c: Cols, name: str) -> _Op:
    p = f"hw.ops.{name}."
    return _Op(
        c.f(p + "latency_ns_per_256", 0.0),
        c.f(p + "latency_ns_fixed", 0.0),
        c.f(p + "energy_pj_per_256", 0.0),
        c.f(p + "energy_pj_fixed", 0.0),
    )


def _distinct(*cols):
    """Index of each row's distinct key, and the distinct keys (first occurrence order)."""
    frame = pd.DataFrame({i: c for i, c in enumerate(cols)})
    inv = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    first = np.unique(inv, return_index=True)[1]
    return inv, frame.iloc[first].to_numpy()


def _expert_w(N, E, k, stride, span, zipf, seed, strategy_sep):
    """Expected OTT serialisation w of one expert stage over routing, per point (§G.5).

    Distinct inputs are few in any sweep, so the Monte-Carlo is cached per distinct key;
    a layer whose experts all sit on distinct tiles needs none (w = ⌈span/N⌉).
    """
    out = ceil_div(span, N).astype(np.float64)
    wrap = (E > 0) & (E * stride > N) & ~strategy_sep
    if wrap.any():
        idx = np.flatnonzero(wrap)
        inv, keys = _distinct(N[idx], E[idx], k[idx], stride[idx], span[idx], zipf[idx], seed[idx])
        vals = np.array([expected_expert_stage_w(int(a), int(b), int(kk), int(st), int(sp), float(z), int(sd))
                         for a, b, kk, st, sp, z, sd in keys])
        out[idx] = vals[inv]
    # MoE-separated stacks all experts of a layer on the same tiles: the k chosen always serialise.
    return np.where(strategy_sep & (E > 0), k * ceil_div(span, N).astype(np.float64), out)


def _zipf_pmax(E, k, s):
    """Selection probability of the most popular expert under zipf(s) popularity (≈ k·p₁, capped at 1)."""
    out = np.zeros(len(E))
    live = (E > 0) & (s > 0)
    if live.any():
        idx = np.flatnonzero(live)
        inv, keys = _distinct(E[idx], s[idx])
        p1 = np.array([1.0 / np.sum(1.0 / np.arange(1, int(e) + 1) ** float(z)) for e, z in keys])
        out[idx] = p1[inv]
    return np.minimum(1.0, k * out)


def aimc_cost(c: Cols) -> dict[str, np.ndarray]:
    n = c.n
    sh = model_shape(c)
    acc = c.s("hw.accounting")
    pim, ibm = acc == "moewithpim", acc == "ibm3dsim"
    physical = ~(pim | ibm)

    # ---- hardware ------------------------------------------------------------------------
    R, C = c.i("hw.tier_rows"), c.i("hw.tier_cols")
    N, Z = c.i("hw.tiles"), c.i("hw.stack_height")
    Tm, Em = c.f("hw.mvm_latency_ns"), c.f("hw.mvm_energy_nj")
    P, M = c.f("hw.dpus"), c.f("hw.mha_units")
    ln, relu, gelu, add, comm, samp = (_op(c, o) for o in ("layer_norm", "relu", "gelu", "add", "communication", "sampling"))
    alpha, beta = c.f("hw.attention.alpha_ns"), c.f("hw.attention.beta_ns")
    gamma, cf = c.f("hw.attention.gamma_pj"), c.f("hw.attention.causal_factor")
    att_lat_fixed, att_e_fixed = c.f("hw.attention.latency_ns_fixed"), c.f("hw.attention.energy_nj_fixed")
    bw, p_act, p_idle = c.f("hw.dram.bandwidth_gbps"), c.f("hw.dram.active_power_w"), c.f("hw.dram.idle_power_w")
    p_passive = c.f("hw.passive_power_w")
    strategy_sep = c.eq("hw.mapping.strategy", "moe_separated")
    g = c.i("hw.sharing.group_size", 1)
    share = c.f("hw.sharing.crossbar_area_share", 0.2)

    # ---- model ---------------------------------------------------------------------------
    L, d, q, kv = sh.layers, sh.d, sh.q, sh.kv
    dff, m, V = sh.d_ff, sh.n_ffn_mats, sh.vocab
    E, k, dffe, ns, dfs = sh.experts, sh.top_k, sh.d_ff_expert, sh.shared, sh.d_ff_shared
    Lm, Ld = sh.moe_layers, sh.dense_layers
    gated = (m == 3).astype(np.float64)
    is_moe = E > 0
    kf = k.astype(np.float64)
    gelu_like = np.isin(sh.activation, ["gelu", "silu"])

    # ---- workload ------------------------------------------------------------------------
    prompt = c.i("workload.prompt_len")
    G = c.i("workload.gen_len")
    B = c.i("workload.batch")
    prefill = c.b("workload.prefill")
    kv_cache = c.b("workload.kv_cache")
    go_cache = c.b("workload.go_cache") & is_moe
    zipf = np.where(c.eq("workload.expert_load.model", "zipf"), c.f("workload.expert_load.zipf_exponent", 0.0), 0.0)
    seed = c.i("workload.seed", 0)

    # ---- blocks and reduction adds per stage (§B.2, §G.1) -------------------------------
    h_d = ceil_div(d, C)
    v_d = ceil_div(d, R)
    pos_used = sh.learned_pos & physical  # the references never execute the position MVMs (§H.6)
    nb_emb_tok = h_d * (1 + pos_used)
    nb_qkv = nb_fn(d, q, R, C) + 2 * nb_fn(d, kv, R, C)
    na_qkv = na_fn(d, q, R, C) + 2 * na_fn(d, kv, R, C)
    nb_out, na_out = nb_fn(q, d, R, C), na_fn(q, d, R, C)
    nb_f1, na_f1 = (m - 1) * nb_fn(d, dff, R, C), (m - 1) * na_fn(d, dff, R, C)
    nb_f2, na_f2 = nb_fn(dff, d, R, C), na_fn(dff, d, R, C)
    nb_r, na_r = np.where(is_moe, nb_fn(d, E, R, C), 0), np.where(is_moe, na_fn(d, E, R, C), 0)
    nb_e1, na_e1 = (m - 1) * nb_fn(d, dffe, R, C), (m - 1) * na_fn(d, dffe, R, C)
    nb_e2, na_e2 = nb_fn(dffe, d, R, C), na_fn(dffe, d, R, C)
    nb_e1, na_e1, nb_e2, na_e2 = (np.where(is_moe, x, 0) for x in (nb_e1, na_e1, nb_e2, na_e2))
    nb_s1, na_s1 = ns * (m - 1) * nb_fn(d, dfs, R, C), ns * (m - 1) * na_fn(d, dfs, R, C)
    nb_s2, na_s2 = ns * nb_fn(dfs, d, R, C), ns * na_fn(dfs, d, R, C)
    nb_s1, na_s1, nb_s2, na_s2 = (np.where(is_moe & (ns > 0), x, 0) for x in (nb_s1, na_s1, nb_s2, na_s2))
    nb_lm, na_lm = nb_fn(d, V, R, C), na_fn(d, V, R, C)
    stride = nb_e1 + nb_e2  # one expert's blocks, contiguous in mapping order

    # ---- heterogeneous analog–digital placement (COST-MODEL.md §8, Chowdhury et al.) -------
    # Digital modules keep no tier blocks; their MACs run on the digital engine (hw.digital).
    dg = _digital_placement(c, sh)
    att_d, router_d, shared_d, lm_d, dense_d = dg["attention"], dg["router"], dg["shared"], dg["lm_head"], dg["dense_ffn"]
    n_dig = np.where(is_moe, dg["n_experts"], 0)  # digital routed experts per MoE layer
    q_dig = np.where(is_moe, _digital_picks(k, E, n_dig, dg["score_load"], zipf), 0.0)  # expected digital picks per token
    k_an = kf - q_dig  # expected analog picks per token
    nb_emb_tok = np.where(lm_d, 0, nb_emb_tok)  # the embedding lookup follows the lm_head
    nb_qkv, na_qkv, nb_out, na_out = (np.where(att_d, 0, x) for x in (nb_qkv, na_qkv, nb_out, na_out))
    nb_r, na_r = np.where(router_d, 0, nb_r), np.where(router_d, 0, na_r)
    nb_s1, na_s1, nb_s2, na_s2 = (np.where(shared_d, 0, x) for x in (nb_s1, na_s1, nb_s2, na_s2))
    nb_f1, na_f1, nb_f2, na_f2 = (np.where(dense_d, 0, x) for x in (nb_f1, na_f1, nb_f2, na_f2))
    nb_lm, na_lm = np.where(lm_d, 0, nb_lm), np.where(lm_d, 0, na_lm)
    p_expert = m * d * dffe
    mac_qkv = (d * q + 2 * d * kv) * att_d
    mac_out = q * d * att_d
    mac_dense_ffn = m * d * dff * dense_d
    mac_moe_dense = d * E * router_d + ns * m * d * dfs * shared_d
    mac_lm = d * V * lm_d
    # digital weights held (bytes): modules + digital experts; beyond the SRAM they stream from DRAM
    dig_weights = (
        L * (mac_qkv + mac_out) + Ld * mac_dense_ffn + Lm * (mac_moe_dense + n_dig * p_expert) + mac_lm
        + V * d * lm_d
    ).astype(np.float64)
    wb = dg["weight_bytes"]
    f_dram = np.where(dig_weights > 0, np.clip((dig_weights * wb - dg["sram_bytes"]) / np.maximum(dig_weights * wb, 1), 0, 1), 0.0)

    def dig_time(macs, weights):
        """Digital engine time for ``macs`` using ``weights`` weights once (roofline, ns)."""
        by = weights * wb
        t = macs / dg["macs_per_ns"]
        t = np.maximum(t, (1 - f_dram) * by / dg["sram_gbps"])
        return np.maximum(t, f_dram * by / dg["dram_gbps"])

    # ---- mapping: fit and tiers (§B) -----------------------------------------------------
    blocks_emb_all = nb_fn(V, d, R, C)
    blocks_pos_all = np.where(sh.learned_pos, nb_fn(sh.max_positions, d, R, C), 0)
    blocks_expert = Lm * (E - n_dig) * stride
    blocks_emb_all = np.where(lm_d, 0, blocks_emb_all)
    blocks_pos_all = np.where(lm_d, 0, blocks_pos_all)
    blocks_total = (
        blocks_emb_all
        + blocks_pos_all
        + L * (nb_qkv + nb_out)
        + Ld * (nb_f1 + nb_f2)
        + Lm * (nb_r + nb_s1 + nb_s2)
        + blocks_expert
        + nb_lm
    )
    tiles_needed = ceil_div(blocks_total, Z)
    # A chip sized to its model has just the tiles the blocks need (digital experts shrink it).
    N = np.where(c.b("hw.size_to_model", False), np.maximum(tiles_needed, 1), N)
    capacity = N * Z
    fits = (blocks_total <= capacity) & ~(strategy_sep & is_moe & (Z < E))
    # digital weights beyond the SRAM need a DRAM fallback
    fits &= (dig_weights * wb <= dg["sram_bytes"]) | np.isfinite(dg["dram_gbps"]) | (dig_weights == 0)
    tiers_used = np.where(strategy_sep & is_moe, np.maximum(ceil_div(blocks_total, N), E), ceil_div(blocks_total, N))
    stacked = blocks_total > N  # some tile holds blocks of several stages

    # ---- grouping / peripheral-sharing factors (§E.2, §G.6) -----------------------------
    f_m, f_c, f_g, f_single, grouped = _grouping_factors(c, sh, g, share, prompt, B, zipf, seed)

    # ---- digital op latencies (ns) -------------------------------------------------------
    tA = add.lat(C)  # a partial-sum add (size C)
    t_add_d = add.lat(d)
    t_ln = ln.lat(d)
    act_op_lat = lambda s: np.where(gelu_like, gelu.lat(s), relu.lat(s))  # noqa: E731
    act_op_e = lambda s: np.where(gelu_like, gelu.energy_nj(s), relu.energy_nj(s))  # noqa: E731
    act_op_fl = lambda s: np.where(gelu_like, 6.0, 1.0) * s  # noqa: E731
    s_comb = np.where(physical, d, dffe)  # combine adds are labelled d_ff in the references (§H.8)
    n_comb = np.where(is_moe, k - 1 + ns, 0)
    t_ci_base = comm.lat(C)
    t_co = comm.lat(C)
    # MoEwithPIM scales every input transfer by f_c, without re-rounding (§A.5.3).
    t_ci = np.where(pim, t_ci_base * f_c, t_ci_base)
    e_co = comm.energy_nj(C)
    e_ci = np.where(pim, e_co * f_c, e_co)

    # ---- single-token stage latencies (§G.2) ---------------------------------------------
    def rho(na_sum, depth):
        return np.maximum(depth, ceil_div(na_sum, P.astype(np.int64)))

    def stage(w, na_sum, depth):
        return t_ci + Tm * w + t_co + tA * rho(na_sum, depth)

    w_qkv, w_out = max_per_tile(nb_qkv, N), max_per_tile(nb_out, N)
    w_f1, w_f2 = max_per_tile(nb_f1, N), max_per_tile(nb_f2, N)
    w_lm = max_per_tile(nb_lm, N)
    w_emb = max_per_tile(nb_emb_tok, N)
    w_e1 = _expert_w(N, E, k, stride, nb_e1, zipf, seed, strategy_sep)
    w_e2 = _expert_w(N, E, k, stride, nb_e2, zipf, seed, strategy_sep)
    # A shared periphery serves one crossbar at a time: a token whose experts share a group
    # serialises (expected max_g ℓ_g(t) = single-token schedule length per token).
    w_e1 = np.where(physical & grouped, np.maximum(w_e1, f_single), w_e1)
    w_e2 = np.where(physical & grouped, np.maximum(w_e2, f_single), w_e2)
    w_m1 = np.maximum(np.maximum(max_per_tile(nb_r, N), w_e1), max_per_tile(nb_s1, N))
    w_m2 = np.maximum(w_e2, max_per_tile(nb_s2, N))

    dep_d, dep_q = v_d - 1, ceil_div(q, R) - 1
    st_qkv = stage(w_qkv, na_qkv, dep_d)
    st_out = stage(w_out, na_out, dep_q)
    st_f1 = stage(w_f1, na_f1, dep_d)
    st_f2 = stage(w_f2, na_f2, ceil_div(dff, R) - 1)
    st_m1 = stage(w_m1, na_r + k * na_e1 + na_s1, dep_d)
    st_m2 = stage(w_m2, k * na_e2 + na_s2, np.maximum(ceil_div(dffe, R), ceil_div(dfs, R)) - 1)

    # Digital modules (placement) replace their analog stages by the digital engine's time.
    st_qkv = np.where(att_d, dig_time(mac_qkv, mac_qkv), st_qkv)
    st_out = np.where(att_d, dig_time(mac_out, mac_out), st_out)
    st_f1 = np.where(dense_d, dig_time(mac_dense_ffn * (m - 1) / m, mac_dense_ffn * (m - 1) / m), st_f1)
    st_f2 = np.where(dense_d, dig_time(mac_dense_ffn / m, mac_dense_ffn / m), st_f2)
    t_act_dense = act_op_lat(dff) + gated * add.lat(dff)
    t_act_exp = act_op_lat(dffe) + gated * add.lat(dffe)
    s_entry_core = Tm * w_emb + t_co + t_add_d + st_qkv  # + t_ci except on the first simulated step
    # Tokens routed to analog and digital experts proceed in parallel; the stage waits for the slower.
    # One digital engine serves the digital router, shared and routed experts of the layer in turn.
    mac_moe_dig_tok = q_dig * p_expert + mac_moe_dense
    t_dexp_tok = dig_time(mac_moe_dig_tok, mac_moe_dig_tok)
    ffn_moe_analog = st_m1 + t_act_exp + st_m2
    ffn_moe = np.where(mac_moe_dig_tok > 0, np.maximum(ffn_moe_analog, t_dexp_tok + t_act_exp), ffn_moe_analog)
    ffn_moe = ffn_moe + n_comb * add.lat(s_comb)
    ffn_dense = st_f1 + t_act_dense + st_f2
    post_common = st_out + t_add_d + t_ln + t_add_d
    post_sum = Ld * (post_common + ffn_dense) + Lm * (post_common + ffn_moe) + (L - 1) * (t_ln + st_qkv)
    s_tail_analog = t_ln + t_ci + Tm * w_lm + (v_d > 1) * (t_co + tA * rho(na_lm, dep_d)) + t_co + samp.lat(512)
    s_tail = np.where(lm_d, t_ln + dig_time(mac_lm, mac_lm) + samp.lat(512), s_tail_analog)
    t1_nomha = s_entry_core + post_sum + s_tail  # without attention and the entry transfer

    # ---- pipelined phases (§G.3) -----------------------------------------------------------
    w_dpu0 = t_add_d + na_qkv * tA
    w_dpu_dense = na_out * tA + t_add_d + t_ln + (na_f1 + na_f2) * tA + t_act_dense + t_add_d
    w_dpu_moe = (
        na_out * tA + t_add_d + t_ln
        + (na_r + k * (na_e1 + na_e2) + na_s1 + na_s2) * tA
        + (k + ns) * t_act_exp + n_comb * add.lat(s_comb) + t_add_d
    )
    w_dpu_next = t_ln + na_qkv * tA  # LN + next layer's Q,K,V reductions, all layers but the last
    u0 = max_per_tile(nb_emb_tok + nb_qkv, N)
    u_dense = max_per_tile(nb_qkv + nb_out + nb_f1 + nb_f2, N)
    # MoE phase: non-expert blocks at weight 1 beside the expert region at the expected
    # selection probability (k/E uniform; the most popular expert's under zipf).
    p_sel = np.where(zipf > 0, _zipf_pmax(E, k, zipf), np.where(is_moe, kf / np.maximum(E, 1), 0.0))
    u_moe = max_weighted_two_ranges(nb_qkv + nb_out + nb_r + nb_s1 + nb_s2, 1.0, E * stride, p_sel, N)
    u_moe = np.where(strategy_sep & is_moe, np.maximum(max_per_tile(nb_qkv + nb_out + nb_r, N), kf), u_moe)
    # Grouped prefill (physical): the expert groups' periphery serves f_m MVMs per token (§G.6).
    u_moe_grouped = np.maximum(max_per_tile(nb_qkv + nb_out + nb_r + nb_s1 + nb_s2, N), f_m)
    # the digital engine is one more pipeline resource: its MAC time per token in each phase
    dig_tok_dense = (L > 0) * (mac_qkv + mac_out + mac_dense_ffn) / dg["macs_per_ns"]
    dig_tok_moe = (mac_qkv + mac_out + mac_moe_dense + q_dig * p_expert) / dg["macs_per_ns"]
    tau0 = np.maximum.reduce([w_dpu0 / P, Tm * u0, mac_qkv / dg["macs_per_ns"]])
    # τ of every post-attention phase, summed over layers (the last layer has no next QKV).
    tau_dense = np.maximum.reduce([(w_dpu_dense + w_dpu_next) / P, Tm * u_dense, dig_tok_dense])
    tau_moe_of = lambda u: np.maximum.reduce([(w_dpu_moe + w_dpu_next) / P, Tm * u, dig_tok_moe])  # noqa: E731
    tau_last_dense = np.maximum.reduce([w_dpu_dense / P, Tm * u_dense, dig_tok_dense])
    tau_last_moe_of = lambda u: np.maximum.reduce([w_dpu_moe / P, Tm * u, dig_tok_moe])  # noqa: E731
    last_is_moe = _last_layer_moe(c, sh)

    def tau_sum(u_moe_arr):
        ld_nl = Ld - np.where(last_is_moe, 0, 1)
        lm_nl = Lm - np.where(last_is_moe, 1, 0)
        return (
            tau0
            + ld_nl * tau_dense
            + lm_nl * tau_moe_of(u_moe_arr)
            + np.where(last_is_moe, tau_last_moe_of(u_moe_arr), tau_last_dense)
        )

    tau_total = tau_sum(u_moe)
    tau_total_prefill = np.where(physical & grouped, tau_sum(u_moe_grouped), tau_total)
    tau_max_phase = np.maximum.reduce([tau0, np.where(Ld > 0, tau_dense, 0), np.where(Lm > 0, tau_moe_of(u_moe), 0)])

    # ---- per-token counts (§G.1) -----------------------------------------------------------
    mvm_tok = nb_emb_tok + L * (nb_qkv + nb_out) + Ld * (nb_f1 + nb_f2) + Lm * (nb_r + k_an * stride + nb_s1 + nb_s2)
    mvm_tok_expert = Lm * k_an * stride
    adds_c_tok = L * (na_qkv + na_out) + Ld * (na_f1 + na_f2) + Lm * (na_r + k_an * (na_e1 + na_e2) + na_s1 + na_s2)
    mac_dig_tok = L * (mac_qkv + mac_out) + Ld * mac_dense_ffn + Lm * (mac_moe_dense + q_dig * p_expert)
    # DPU work per token (busy time and energy), excluding the once-per-step tail.
    n_ln_tok = 2 * L - 1
    dpu_lat_tok = (
        adds_c_tok * tA + (1 + 2 * L) * t_add_d + n_ln_tok * t_ln
        + Ld * t_act_dense + Lm * ((k + ns) * t_act_exp + n_comb * add.lat(s_comb))
    )
    dpu_e_tok = (
        adds_c_tok * add.energy_nj(C) + (1 + 2 * L) * add.energy_nj(d) + n_ln_tok * ln.energy_nj(d)
        + Ld * (act_op_e(dff) + gated * add.energy_nj(dff))
        + Lm * ((k + ns) * (act_op_e(dffe) + gated * add.energy_nj(dffe)) + n_comb * add.energy_nj(s_comb))
    )
    dpu_fl_tok = (
        adds_c_tok * C + (1 + 2 * L) * d + n_ln_tok * 10 * d
        + Ld * (act_op_fl(dff) + gated * dff) + Lm * ((k + ns) * (act_op_fl(dffe) + gated * dffe) + n_comb * s_comb)
    )
    dpu_lat_step = t_ln + na_lm * tA + samp.lat(512)
    dpu_e_step = ln.energy_nj(d) + na_lm * add.energy_nj(C) + samp.energy_nj(512)
    dpu_fl_step = 10 * d + na_lm * C + 512
    # MVM operations: utilisation · (2RC − R) per block = (2 − 1/C) per stored weight used (§C.5).
    per_w = 2.0 - 1.0 / C
    emb_rows = np.minimum(R, V)
    # Digital MACs count 2 operations each.
    mvm_fl_tok = per_w * (
        emb_rows * d * (1 + pos_used) * ~lm_d
        + L * (d * q + 2 * d * kv + q * d) * ~att_d
        + Ld * m * d * dff * ~dense_d
        + Lm * (d * E * ~router_d + k_an * m * d * dffe + ns * m * d * dfs * ~shared_d)
    ) + 2.0 * mac_dig_tok
    mvm_fl_step = per_w * d * V * ~lm_d + 2.0 * mac_lm
    dig_dense_weights = (L * (mac_qkv + mac_out) + Ld * mac_dense_ffn + Lm * mac_moe_dense + mac_lm).astype(np.float64)
    em_expert = Em * f_g  # expert crossbars carry the sharing factor
    em_other = np.where(pim, Em * f_g, Em)  # MoEwithPIM scales every MVM's energy (§E.2)

    # ---- attention and DRAM per job (§A.6) -------------------------------------------------
    kv_dram = physical | pim  # 3D-SiM never charges its KV load (stub, §H.3)

    # ---- steps ------------------------------------------------------------------------------
    # Prefill: prompt tokens (MoEwithPIM rescales them by f_m, §E.2). Decode step j (1…G−1) at
    # context n = prompt + j: one token when caches allow it, else the whole context again.
    pre_tokens = np.where(pim, np.ceil(prompt * f_m - _EPS).astype(np.int64), prompt)
    single_decode = np.where(pim, go_cache, np.where(sh.expert_choice & is_moe, go_cache, kv_cache))
    charge_go = physical & go_cache

    acc_ = {key: np.zeros(n) for key in (
        "t1", "tthr", "delta", "e_mvm", "e_comm", "e_dpu", "e_att", "e_dram", "flops",
        "n_mvm", "b_mvm", "b_comm", "b_att", "b_dram", "b_dpu", "t_pre", "delta_pre", "tthr_pre",
        "e_dig", "b_dig")}

    tile_dem_tok = Tm * np.where(is_moe, max_weighted_two_ranges(
        blocks_total - blocks_expert - blocks_emb_all - blocks_pos_all + nb_emb_tok, 1.0, blocks_expert, p_sel, N),
        max_per_tile(mvm_tok, N))
    w_all = np.maximum.reduce([w_qkv, w_out, w_f1, w_f2, w_m1, w_m2, w_lm, w_emb])

    any_dig = bool(np.any(mac_dig_tok > 0) or np.any(mac_lm > 0))
    # attention per job at context n, as per-point coefficients (§A.6): full = cf·⌈n²·c_lat⌉
    c_lat = alpha * d + beta * d * d
    c_en = cf * gamma * d / 1000.0
    c_kv = 2.0 * kv / bw

    def add_steps(active, n_p, nctx, first, cached, pre: bool):
        """Accumulate steps given as (steps, points) arrays: the prefill, or a block of decode steps.

        Everything but attention, DRAM traffic and the per-step maxima is linear in the
        step's token count with per-point coefficients, so it is accumulated from Σ active
        and Σ active·n_p; only the n-dependent terms are evaluated per (step, point).
        ``cached``: KV-cached attention per point; ``pre``: these are prefill steps.
        """
        a = active.astype(np.float64)
        n_pf = n_p.astype(np.float64)
        nn = nctx.astype(np.float64)
        cnt = a.sum(axis=0)
        snp = (a * n_pf).sum(axis=0)
        fa = a * first
        s_first, s_first_np = fa.sum(axis=0), (fa * n_pf).sum(axis=0)
        # attention, KV and GO loads per job (cached: 1/n of the full job plus the KV load)
        full_lat = cf * _ceil(nn * nn * c_lat)
        if cached.all():  # the common decode case: only the cached branch is needed
            lat_c = full_lat / nn + att_lat_fixed
            e_c = c_en * nn + att_e_fixed
            # D = n dot products; FLOPs = 2Dd + (1 + D) + 2D + (D − n) + 2nd (§A.6)
            fl_att = nn * (4.0 * d + 3.0) + 1.0
        else:
            lat_c = np.where(cached, full_lat / nn, full_lat) + att_lat_fixed
            e_c = np.where(cached, c_en * nn, c_en * nn * nn) + att_e_fixed
            dq = np.where(cached, nn, (nn * nn + nn) / 2.0)
            fl_att = 2 * dq * d + (1 + dq) + 2 * dq + (dq - nn) + np.where(cached, 2 * nn * d, 2 * nn * nn * d)
        kv_load = cached & kv_dram
        t_kv = _ceil(c_kv * nn) if kv_load.all() else np.where(kv_load, _ceil(c_kv * nn), 0.0)
        go = charge_go & (not pre)  # the GO cache is read by decode steps only
        t_go = np.where(go, _ceil((nn * E + E * d) / bw), 0.0) if go.any() else 0.0
        t_job = lat_c + t_kv + (np.where(Lm > 0, t_go, 0.0) if go.any() else 0.0)
        s_lat, s_e, s_kv = (a * lat_c).sum(axis=0), (a * e_c).sum(axis=0), (a * t_kv).sum(axis=0)
        s_go = (a * t_go).sum(axis=0) if np.ndim(t_go) == 2 else 0.0
        s_job, s_fl = (a * t_job).sum(axis=0), (a * fl_att).sum(axis=0)
        # digital engine (per step: which digital experts the batch's tokens touch)
        if any_dig:
            hit = np.where(n_dig > 0, 1.0 - (1.0 - q_dig / np.maximum(n_dig, 1)) ** (n_pf * B), 0.0)
            w_touched = (dig_dense_weights + Lm * n_dig * hit * p_expert) / B
            macs = n_pf * mac_dig_tok + mac_lm
            e_dig = (macs * dg["pj_per_mac"] + w_touched * wb * ((1 - f_dram) * dg["sram_pj"] + f_dram * dg["dram_pj"])) / 1000.0
            t_dig = dig_time(macs, w_touched)
            acc_["e_dig"] += (a * e_dig).sum(axis=0)
            acc_["b_dig"] += (a * t_dig).sum(axis=0)
        else:
            t_dig = 0.0
        # per-step throughput demand and latency-bound stage occupancy (§G.4)
        d_tile = n_pf * tile_dem_tok + Tm * w_lm
        d_dpu = (n_pf * dpu_lat_tok + dpu_lat_step) / P
        d_io = L * lat_c / M
        dram_busy = L * t_kv + Lm * t_go
        d_io = np.maximum(d_io, dram_busy if physical.all() else np.where(physical, dram_busy, 0.0))
        d_max = np.maximum(np.maximum(d_tile, d_dpu), np.maximum(d_io, t_dig))
        delta = np.maximum(np.maximum(Tm * w_all, np.where(n_p > 1, n_pf * tau_max_phase, 0.0)),
                           np.where(B > M, t_job, 0.0))
        tau = tau_total_prefill if pre else tau_total
        t_steps = cnt * t1_nomha + (cnt - s_first) * t_ci + L * s_job + (snp - cnt) * tau
        thr = B * (a * d_max).sum(axis=0)
        occ = (a * delta).max(axis=0)
        acc_["tthr"] += thr
        acc_["delta"] = np.maximum(acc_["delta"], occ)
        acc_["t1"] += t_steps
        if pre:
            acc_["t_pre"] += t_steps
            acc_["tthr_pre"] += thr
            acc_["delta_pre"] = np.maximum(acc_["delta_pre"], occ)
        n_mvm = snp * mvm_tok + cnt * nb_lm
        n_out = n_mvm - cnt * np.where(v_d == 1, nb_lm, 0)
        n_in = n_mvm - s_first_np * nb_emb_tok
        if pre:  # grouped prefill (physical): f_c token transfers per token replace the k per-expert ones
            n_in = n_in + np.where(physical & grouped, f_c / np.maximum(kf, 1) - 1.0, 0.0) * snp * mvm_tok_expert
        acc_["n_mvm"] += n_mvm
        acc_["e_mvm"] += (snp * (mvm_tok - mvm_tok_expert) + cnt * nb_lm) * em_other + snp * mvm_tok_expert * em_expert
        acc_["e_comm"] += n_out * e_co + n_in * e_ci + cnt * e_co
        acc_["e_dpu"] += snp * dpu_e_tok + cnt * dpu_e_step
        acc_["e_att"] += L * s_e
        acc_["e_dram"] += p_act * (L * s_kv + Lm * s_go)
        acc_["flops"] += snp * (mvm_fl_tok + dpu_fl_tok) + cnt * (mvm_fl_step + dpu_fl_step) + L * s_fl
        acc_["b_mvm"] += Tm * n_mvm
        acc_["b_comm"] += n_out * t_co + n_in * t_ci + cnt * t_co
        acc_["b_att"] += L * s_lat
        acc_["b_dram"] += L * s_kv + Lm * s_go
        acc_["b_dpu"] += snp * dpu_lat_tok + cnt * dpu_lat_step

    add_steps(prefill[None, :], pre_tokens[None, :], pre_tokens[None, :], np.ones((1, n), bool), np.zeros(n, bool), True)
    # Decode steps j = 1 … G−1, evaluated a block of steps at a time as (steps, points) arrays
    # (about a million cells per block, so memory stays bounded for any chunk).
    g_max = int(G.max()) if n else 1
    block = max(1, 1_000_000 // max(n, 1))
    for j0 in range(1, g_max, block):
        j = np.arange(j0, min(g_max, j0 + block))[:, None]
        active = j <= G - 1
        nctx = prompt + j
        first = ~prefill & (j == 1)
        n_p = np.where(single_decode, 1, nctx)
        add_steps(active, n_p, nctx, first, kv_cache, False)

    # ---- B sequences (§G.4) ---------------------------------------------------------------
    t_single = acc_["t1"]
    t_lat = t_single + (B - 1) * acc_["delta"]
    t_thr = acc_["tthr"]
    lower = np.maximum(t_lat, t_thr)
    upper = B * t_single  # lock-step: every sequence serialises at every stage
    # With stacked tiers, stages of different sequences meet on shared tiles: mean-value
    # analysis of the closed network (B sequences; busiest tile, DPU pool, MHA pool) adds the
    # queueing the bounds ignore. Without shared tiles the reference matches the lower bound.
    t_mva = _mva_makespan(B, t_single, acc_["tthr"] / np.maximum(B, 1))
    makespan = np.where(B == 1, t_single, np.where(stacked, np.clip(t_mva, lower, upper), lower))
    bound = np.where(B == 1, "latency", np.where(t_thr >= t_lat, "throughput", "latency"))
    t_pre_b = np.where(
        prefill, np.maximum(acc_["t_pre"] + (B - 1) * acc_["delta_pre"], acc_["tthr_pre"]), np.nan
    )
    t_pre_b = np.where(prefill, np.minimum(t_pre_b, makespan), np.nan)

    # ---- energy, area, metrics ---------------------------------------------------------------
    dram_in_use = np.where(ibm, kv_cache, np.where(pim, go_cache, kv_cache | go_cache))
    p_passive_total = p_passive + np.where(dram_in_use, p_idle, 0.0) + dg["static_w"]
    e_passive = p_passive_total * makespan
    e_active = B * (acc_["e_mvm"] + acc_["e_comm"] + acc_["e_dpu"] + acc_["e_att"] + acc_["e_dram"] + acc_["e_dig"])
    energy = e_active + e_passive
    flops = B * acc_["flops"]

    tile_a = c.f("hw.area.tile_mm2") + c.f("hw.area.tier_overhead_mm2", 0.0) * (Z - 1)
    expert_tiles = np.minimum(N, ceil_div(blocks_expert, Z)).astype(np.float64)
    area_moe = expert_tiles * tile_a * f_g
    area = (
        (N - expert_tiles) * tile_a + area_moe
        + P * c.f("hw.area.dpu_mm2", 0.0) + M * c.f("hw.area.mha_unit_mm2", 0.0) + c.f("hw.area.other_mm2", 0.0)
        + dg["area_mm2"]
    )
    gen_per_seq = np.where(prefill, G, G - 1)
    tokens = B * gen_per_seq
    decode_steps = G - 1
    ttft = t_pre_b
    tpot = np.where(decode_steps > 0, (makespan - np.nan_to_num(t_pre_b)) / np.maximum(decode_steps, 1), np.nan)

    out = headline_metrics(
        system="aimc", n=n, fits=fits, latency_ns=makespan, ttft_ns=ttft, tpot_ns=tpot,
        energy_nj=energy, area_mm2=area, flops=flops, tokens=tokens,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out.update({
            "energy_nj.mvm": B * acc_["e_mvm"],
            "energy_nj.communication": B * acc_["e_comm"],
            "energy_nj.digital": B * acc_["e_dpu"],
            "energy_nj.attention": B * acc_["e_att"],
            "energy_nj.dram": B * acc_["e_dram"],
            "energy_nj.passive": e_passive,
            "energy_nj.digital_mac": B * acc_["e_dig"],
            "energy_nj.analog": B * (acc_["e_mvm"] + acc_["e_comm"]),
            "latency_ns.digital_mac": B * acc_["b_dig"],
            "digital_param_fraction": dig_weights / sh.params,
            "digital_experts_per_layer": n_dig,
            "area_mm2.digital": dg["area_mm2"],
            "latency_ns.mvm": B * acc_["b_mvm"],
            "latency_ns.communication": B * acc_["b_comm"],
            "latency_ns.digital": B * acc_["b_dpu"],
            "latency_ns.attention": B * acc_["b_att"],
            "latency_ns.dram": B * acc_["b_dram"],
            "latency_ns.single_sequence": t_single,
            "latency_ns.latency_bound": t_lat,
            "latency_ns.throughput_bound": t_thr,
            "bound": bound,
            "mvms": B * acc_["n_mvm"],
            "tier_blocks": blocks_total,
            "tiles_needed": tiles_needed,
            "tiers_used": tiers_used,
            "stacked": stacked,
            "area_mm2.moe": np.where(is_moe, area_moe, np.nan),
            "gops_per_mm2.moe": np.where(is_moe, flops / makespan / area_moe, np.nan),
            "gops_per_w_per_mm2.moe": np.where(is_moe, flops / energy / area_moe, np.nan),
            "grouping.f_m": f_m,
            "grouping.f_c": f_c,
            "grouping.f_g": f_g,
        })
    # A model that does not fit is a result: keep its counts, but no performance figures.
    for key in ("latency_ns", "ttft_ns", "tpot_ns", "tokens_per_s", "energy_nj", "power_w",
                "tokens_per_s_per_w", "tokens_per_s_per_mm2", "gops_per_w_per_mm2"):
        out[key] = np.where(fits, out[key], np.nan)
    return out


def _last_layer_moe(c: Cols, sh) -> np.ndarray:
    """Whether layer L−1 is an MoE layer."""
    fd = c.i("model.moe.first_dense_layers", 0)
    every = np.maximum(c.i("model.moe.every", 1), 1)
    last = sh.layers - 1
    return (sh.experts > 0) & (last >= fd) & ((last - fd) % every == 0)


def _mva_makespan(B, t_single, d_max_per_seq):
    """Mean-value analysis of B sequences cycling through one run (single class, closed network).

    Stations: the bottleneck resource with demand D = the per-sequence throughput demand
    (summed over steps), the rest of the single-sequence latency as a delay Z = T(1) − D.
    R(b) = Z + D·(1 + Q(b−1)), X(b) = b/R(b), Q(b) = X(b)·D·(1 + Q(b−1)); makespan ≈
    B/X(B), the time for all B sequences to complete the run. Vectorised over points,
    iterated to max(B).
    """
    D = np.minimum(d_max_per_seq, t_single)
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


def _grouping_factors(c: Cols, sh, g, share, prompt, B, zipf, seed):
    """f_m, f_c, f_g, f_single and whether a grouped schedule applies (§E.2, §G.6).

    Explicit ``workload.grouping.factors.*`` win (reproduction of the reference runs).
    Otherwise a schedule other than ``none`` derives them from the expert-load model
    (cost.grouping), cached per distinct input; f_g follows from the sharing group size.
    """
    n = c.n
    f_g_share = share + (1.0 - share) / np.maximum(g, 1)
    fm_set = c.f("workload.grouping.factors.mvm", np.nan)
    fc_set = c.f("workload.grouping.factors.comm", np.nan)
    fg_set = c.f("workload.grouping.factors.area", np.nan)
    schedule = c.s("workload.grouping.schedule", "none")
    derive = (schedule != "none") & (sh.experts > 0)
    f_m = np.ones(n)
    f_c = np.ones(n)
    f_single = np.ones(n)
    if derive.any():
        from .grouping_model import derived_factors

        fm_d, fc_d, fs_d = derived_factors(c, sh, derive, prompt, zipf, seed)
        f_m = np.where(derive, fm_d, f_m)
        f_c = np.where(derive, fc_d, f_c)
        f_single = np.where(derive, fs_d, f_single)
    f_m = np.where(np.isnan(fm_set), f_m, fm_set)
    f_c = np.where(np.isnan(fc_set), f_c, fc_set)
    f_g = np.where(np.isnan(fg_set), f_g_share, fg_set)
    grouped = derive | ~np.isnan(fm_set) | ~np.isnan(fc_set)
    return f_m, f_c, f_g, f_single, grouped


def _digital_placement(c: Cols, sh) -> dict:
    """Which modules and how many experts run digitally, and the digital engine's figures.

    Reads ``workload.digital.*`` (specs.placement) and ``hw.digital.*`` (specs.digital);
    with no digital unit every figure is neutral. Asking for digital work on hardware without
    a digital unit is bad input.
    """
    n = c.n
    flag = lambda key: c.b(f"workload.digital.{key}", False) if c.has(f"workload.digital.{key}") else np.zeros(n, bool)  # noqa: E731
    out = {name: flag(key) for name, key in (("attention", "attention"), ("router", "router"),
                                             ("shared", "shared_experts"), ("lm_head", "lm_head"), ("dense_ffn", "dense_ffn"))}
    out["shared"] &= sh.shared > 0
    phi = c.f("workload.digital.fraction", 0.0)
    score = c.s("workload.digital.score", "maxnn")
    n_exp = np.minimum(sh.experts, np.maximum(0, np.ceil(phi * sh.experts - 1e-9))).astype(np.int64)
    if c.has("workload.digital.experts"):
        lists = c.s("workload.digital.experts", "")
        listed = np.array([0 if v in ("", "None", "nan") else len(v.split(";")) for v in lists])
        n_exp = np.where(score == "list", np.minimum(listed, sh.experts), n_exp)
    out["n_experts"] = n_exp
    out["score_load"] = score == "load"
    any_digital = (n_exp > 0) | out["attention"] | out["router"] | out["shared"] | out["lm_head"] | out["dense_ffn"]
    has = c.f("hw.digital.peak_tops", np.nan) if c.has("hw.digital.peak_tops") else np.full(n, np.nan)
    has = np.isfinite(has)
    if (any_digital & ~has).any():
        raise SpecError("workload.digital", "hw.digital",
                        "digital experts or modules are asked for but the hardware has no digital unit "
                        "(set hw.digital, e.g. --set hw.digital=hermes-14nm-digital)")
    g = lambda key, default: np.where(has, np.nan_to_num(c.f(f"hw.digital.{key}", default), nan=default), default) if c.has(f"hw.digital.{key}") else np.full(n, float(default))  # noqa: E731
    units = g("units", 1.0)
    out["macs_per_ns"] = np.where(has, units * g("peak_tops", 1.0) * 1e3 / 2.0 * g("compute_efficiency", 1.0), np.inf)
    out["weight_bytes"] = g("weight_bytes", 2.0)
    out["sram_bytes"] = units * g("sram_mb", 0.0) * 1e6
    sram_bw = c.f("hw.digital.sram_bandwidth_gbps", np.nan) if c.has("hw.digital.sram_bandwidth_gbps") else np.full(n, np.nan)
    out["sram_gbps"] = np.where(np.isfinite(sram_bw), units * sram_bw, np.inf)
    dram_bw = c.f("hw.digital.dram_bandwidth_gbps", np.nan) if c.has("hw.digital.dram_bandwidth_gbps") else np.full(n, np.nan)
    out["dram_gbps"] = np.where(np.isfinite(dram_bw), dram_bw, np.inf)
    out["pj_per_mac"] = g("energy_pj_per_mac", 0.0)
    out["sram_pj"] = g("sram_pj_per_byte", 0.0)
    out["dram_pj"] = g("dram_pj_per_byte", 0.0)
    # The digital unit is provisioned only when the placement uses it, so φ = 0 is the all-analog chip.
    used = has & any_digital
    out["area_mm2"] = np.where(used, units * (g("logic_mm2", 0.0) + g("sram_mb", 0.0) * g("sram_mm2_per_mb", 0.0)), 0.0)
    out["static_w"] = np.where(used, units * g("static_power_w", 0.0), 0.0)
    return out


def _digital_picks(k, E, n_dig, score_load, zipf):
    """Expected digital experts among a token's k picks.

    The digital experts are chosen by a score independent of routing (maxnn, random, list):
    k·n/E. Chosen by load under zipf popularity: the n most popular experts' selection
    probabilities (their inclusion probabilities sum to k over all experts).
    """
    out = k * n_dig / np.maximum(E, 1).astype(np.float64)
    live = score_load & (zipf > 0) & (n_dig > 0)
    if live.any():
        from .routing import selection_probabilities

        idx = np.flatnonzero(live)
        inv, keys = _distinct(E[idx], k[idx], zipf[idx], n_dig[idx])
        vals = np.array([np.sort(selection_probabilities(int(e), int(kk), "zipf", float(z)))[::-1][: int(nd)].sum()
                         for e, kk, z, nd in keys])
        out[idx] = vals[inv]
    return out
