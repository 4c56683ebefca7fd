"""GPU baseline (cost/gpu.py, docs/cost-model.md §7): roofline regimes, scaling, MoE bytes, vectorisation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from aimc_dse.cost import gpu
from aimc_dse.cost.columns import Cols, spec_columns
from aimc_dse.cost.evaluate import evaluate_point
from aimc_dse.cost.gpu import experts_hit, gpu_cost
from aimc_dse.specs.hardware import GpuHardware
from aimc_dse.specs.loader import load_hardware, load_model
from aimc_dse.specs.model import ModelSpec, MoeSpec
from aimc_dse.specs.workload import ExpertLoad, Workload


def _model(name: str) -> ModelSpec:
    """The preset, or the same numbers written out if the preset is not there."""
    try:
        return load_model(name)
    except Exception:  # pragma: no cover - presets are written by another engineer
        if name == "llama-2-7b":
            return ModelSpec(name=name, layers=32, d_model=4096, heads=32, d_ff=11008, mlp="gated",
                             activation="silu", vocab=32000)
        if name == "mixtral-8x7b":
            return ModelSpec(name=name, layers=32, d_model=4096, heads=32, kv_heads=8, d_ff=0, mlp="gated",
                             activation="silu", vocab=32000,
                             moe=MoeSpec(experts=8, top_k=2, d_ff_expert=14336))
        raise


LLAMA = _model("llama-2-7b")
MIXTRAL = _model("mixtral-8x7b")
A100 = load_hardware("a100-sxm4-80gb")
A100_40 = load_hardware("a100-sxm4-40gb")
H100 = load_hardware("h100-sxm")
PAPER = load_hardware("a100-paper")


def _cost(hw, model, workload) -> dict:
    res = gpu_cost(Cols(pd.DataFrame([spec_columns(hw, model, workload)])))
    return {k: np.asarray(v)[0] for k, v in res.items()}


# ---- regimes ---------------------------------------------------------------------------------

def test_llama2_7b_decode_memory_bound_prefill_compute_bound_on_a100():
    decode = _cost(A100, LLAMA, Workload(prompt_len=128, gen_len=33, batch=1, prefill=False))
    prefill = _cost(A100, LLAMA, Workload(prompt_len=2048, gen_len=1, batch=1))
    assert decode["memory_bound_share"] == 1.0 and decode["latency_ns.compute"] == 0.0
    assert prefill["memory_bound_share"] == 0.0 and prefill["latency_ns.memory"] < 0.05 * prefill["latency_ns"]
    # decode time per token ≈ weights / (bandwidth · memory efficiency) + overheads
    stream_ns = decode["weight_bytes"] / (A100.hbm_bandwidth_gbps * A100.efficiency.memory)
    overhead_ns = LLAMA.layers * A100.efficiency.per_layer_overhead_us * 1e3
    assert decode["tpot_ns"] == pytest.approx(stream_ns + overhead_ns, rel=0.03)
    # prefill ≈ 2 · active parameters · tokens / (peak · compute efficiency), attention on top
    gemm_ns = 2 * LLAMA.parameters * 2048 / (312e3 * A100.efficiency.compute)
    assert gemm_ns < prefill["ttft_ns"] < 1.2 * gemm_ns


def test_tokens_per_s_rises_with_batch_until_the_compute_roof_then_flattens():
    hw = A100.model_copy(update={"devices": 1})
    batches = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    rows = [_cost(hw, LLAMA, Workload(prompt_len=32, gen_len=32, batch=b)) for b in batches]
    tps = np.array([r["tokens_per_s"] for r in rows])
    assert all(r["fits"] for r in rows)
    assert np.all(np.diff(tps) > 0)
    assert tps[1] / tps[0] > 1.9  # memory-bound: a second sequence is almost free
    assert tps[-1] / tps[-2] < 1.05  # compute roof: flat
    # batch 1024: mostly compute-bound; the last decode steps may turn memory-bound as the
    # KV reads grow with the context
    assert rows[0]["memory_bound_share"] == 1.0 and rows[-1]["memory_bound_share"] < 0.2
    assert rows[-1]["latency_ns.compute"] > 0.8 * rows[-1]["latency_ns"]


def test_h100_faster_than_a100_on_the_same_point():
    for wl in (Workload(prompt_len=128, gen_len=128, batch=1), Workload(prompt_len=2048, gen_len=16, batch=32)):
        a, h = _cost(A100, LLAMA, wl), _cost(H100, LLAMA, wl)
        assert h["latency_ns"] < a["latency_ns"]
        assert h["tokens_per_s"] > 1.4 * a["tokens_per_s"]
        assert h["flops"] == a["flops"]


def test_model_larger_than_one_device_is_split_with_area_and_power_scaled():
    wl = Workload(prompt_len=128, gen_len=32, batch=4)
    r = _cost(A100_40, MIXTRAL, wl)
    need = (r["weight_bytes"] + r["kv_cache_bytes"]) / A100_40.usable_memory_bytes
    assert r["weight_bytes"] > A100_40.usable_memory_bytes
    assert r["n_devices"] == math.ceil(need) == 3
    assert r["fits"]
    assert r["area_mm2"] == pytest.approx(3 * A100_40.die_area_mm2)
    assert r["energy_nj.idle"] == pytest.approx(3 * A100_40.idle_power_w * r["latency_ns"])
    assert 3 * A100_40.idle_power_w < r["power_w"] <= 3 * A100_40.tdp_w
    assert r["latency_ns.communication"] > 0
    # the same model forced onto one device does not fit
    one = _cost(A100_40.model_copy(update={"devices": 1}), MIXTRAL, wl)
    assert not one["fits"] and one["n_devices"] == 1 and one["area_mm2"] == A100_40.die_area_mm2
    # more devices: faster per token (tensor parallel), more area
    eight = _cost(A100_40.model_copy(update={"devices": 8}), MIXTRAL, wl)
    assert eight["latency_ns"] < r["latency_ns"] and eight["area_mm2"] == 8 * A100_40.die_area_mm2


def test_memory_bound_decode_draws_the_measured_share_of_tdp_not_the_tdp():
    """Memory-bound decode leaves the GPU far below its TDP: an H200 draws 137-300 W of 700 W
    in decode (arXiv 2605.11999). Charging the TDP for every memory-bound ns made the GPU's
    tokens/s/W 2x too low (600 W) and every AIMC ÷ GPU energy ratio 2x too high."""
    h200 = load_hardware("h200-sxm")
    for b in (1, 16, 64):
        r = _cost(h200, LLAMA, Workload(prompt_len=512, gen_len=256, batch=b, prefill=False))
        assert r["memory_bound_share"] == 1.0
        assert 137.0 <= r["power_w"] <= 300.0, (b, r["power_w"])
    # the split: compute-bound time at the TDP, memory-bound time at the preset's share
    for hw in (A100, H100, h200):
        r = _cost(hw, LLAMA, Workload(prompt_len=2048, gen_len=64, batch=8))
        f = hw.memory_bound_power_fraction
        assert 0 < f < 1 and r["latency_ns.compute"] > 0 and r["latency_ns.memory"] > 0
        busy = r["latency_ns.compute"] + f * r["latency_ns.memory"]
        assert r["energy_nj.active"] == pytest.approx((hw.tdp_w - hw.idle_power_w) * busy, rel=1e-12)
    # a compute-bound prefill still runs at (nearly) the TDP
    pre = _cost(H100, LLAMA, Workload(prompt_len=4096, gen_len=1, batch=4))
    assert pre["power_w"] > 0.9 * H100.tdp_w
    # the paper accounting draws the TDP throughout, whatever the fraction says
    paper = _cost(PAPER.model_copy(update={"memory_bound_power_fraction": 0.1}), LLAMA,
                  Workload(prompt_len=32, gen_len=8, batch=1))
    assert paper["power_w"] == pytest.approx(PAPER.tdp_w)


def test_kv_cache_that_does_not_fit_adds_devices():
    big = Workload(prompt_len=2048, gen_len=2048, batch=256)
    r = _cost(A100, LLAMA, big)
    assert r["kv_cache_bytes"] == pytest.approx(2 * 4096 * 32 * 2 * 256 * (2048 + 2047))
    assert r["n_devices"] == math.ceil((r["weight_bytes"] + r["kv_cache_bytes"]) / A100.usable_memory_bytes)
    assert r["n_devices"] > 1 and r["fits"]


# ---- MoE bytes ---------------------------------------------------------------------------------

def test_experts_hit_uniform_matches_hand_computation():
    # E = 8, k = 2, 3 tokens: 8 · (1 − (6/8)^3) = 8 · (1 − 27/64) = 4.625
    assert experts_hit(8, 2, 3, False, 1.0, False) == pytest.approx(4.625)
    assert experts_hit(8, 2, 1, False, 1.0, False) == pytest.approx(2.0)  # one token: its k experts
    assert experts_hit(128, 1, 1e6, False, 1.0, False) == pytest.approx(128.0)
    assert experts_hit(0, 0, 10, False, 1.0, False) == 0.0  # dense
    assert experts_hit(8, 2, 3, False, 1.0, True) == 8.0  # expert choice: every expert works


def test_experts_hit_zipf_is_the_expected_distinct_count():
    E, k, T, s = 16, 2, 5, 1.2
    p = np.arange(1, E + 1, dtype=float) ** -s
    p /= p.sum()
    expect = np.sum(1 - (1 - p) ** (k * T))
    assert experts_hit(E, k, T, True, s, False) == pytest.approx(expect, rel=1e-12)
    # s = 0: uniform popularity, k·T independent draws
    assert experts_hit(E, k, T, True, 0.0, False) == pytest.approx(E * (1 - (1 - 1 / E) ** (k * T)))
    # skew concentrates the load: fewer distinct experts than uniform
    assert experts_hit(E, k, T, True, 2.0, False) < experts_hit(E, k, T, False, 1.0, False)
    # vectorised over rows with different E and s
    got = experts_hit([16, 64, 64], [2, 2, 2], [5, 5, 7], [True, True, True], [1.2, 1.2, 0.5], False)
    for g, (e, t_, s_) in zip(got, [(16, 5, 1.2), (64, 5, 1.2), (64, 7, 0.5)]):
        q = np.arange(1, e + 1, dtype=float) ** -s_
        q /= q.sum()
        assert g == pytest.approx(np.sum(1 - (1 - q) ** (2 * t_)))


def test_moe_step_bytes_follow_the_distinct_expert_count():
    """One step of B tokens (prompt 1, batch B) on a 1-layer MoE, bytes written out by hand."""
    d, E, k, f, V = 256, 8, 2, 1024, 64
    model = ModelSpec(layers=1, d_model=d, heads=4, vocab=V, mlp="plain", moe=MoeSpec(experts=E, top_k=k, d_ff_expert=f))
    hw = A100.model_copy(update={"devices": 1})
    for B in (1, 3, 10):
        r = _cost(hw, model, Workload(prompt_len=1, gen_len=1, batch=B))
        hit = E * (1 - (1 - k / E) ** B)
        weights = 4 * d * d + d * E + hit * 2 * d * f + d * V + min(B, V) * d  # attention, router, experts hit, lm_head, rows
        act_tok = (d + d + 2 * d) + (d + d) + (d + E) + k * (d + f + f + d)  # in/out of every linear op
        acts = B * act_tok + B * (d + V)
        kv = 2 * d * B * (1 + 1)  # context read + new entries written
        assert r["bytes_moved"] == pytest.approx(2 * (weights + acts + kv), rel=1e-12)


def test_zipf_routing_touches_fewer_expert_bytes_than_uniform():
    wl = Workload(prompt_len=1, gen_len=9, batch=4, prefill=False)
    uni = _cost(A100, MIXTRAL, wl)
    zipf = _cost(A100, MIXTRAL, wl.model_copy(update={"expert_load": ExpertLoad(model="zipf", zipf_exponent=1.5)}))
    assert zipf["bytes_moved"] < uni["bytes_moved"]
    assert zipf["flops"] == uni["flops"]


# ---- accounting, precision, workload semantics ---------------------------------------------------

def test_paper_profile_fetches_every_weight_each_iteration_at_5_bit():
    model = load_model("nature-moe-51b")
    r = _cost(PAPER, model, Workload(prompt_len=32, gen_len=8, batch=1))
    assert r["bytes_moved"] == pytest.approx(8 * model.parameters * 0.625)
    assert r["latency_ns"] == pytest.approx(r["bytes_moved"] / 1555.0, rel=1e-3)  # 100 % of 1,555 GB/s
    assert r["bytes_moved"] == pytest.approx(250e9, rel=0.05)
    assert r["latency_ns"] / 1e9 == pytest.approx(0.16, rel=0.05)
    assert r["power_w"] == pytest.approx(400.0) and r["area_mm2"] == 826.0
    assert r["latency_ns.overhead"] == 0 and r["latency_ns.communication"] == 0
    # the calibrated A100 with the same 5-bit weights touches only the selected experts
    cal = _cost(A100.model_copy(update={"weight_precision": "5bit"}), model, Workload(prompt_len=32, gen_len=8, batch=1))
    assert cal["bytes_moved"] < 0.1 * r["bytes_moved"]


def test_compute_precision_picks_its_peak_per_row():
    wl = Workload(prompt_len=4096, gen_len=1, batch=4)
    fp16 = _cost(A100, LLAMA, wl)
    int8 = _cost(A100.model_copy(update={"compute_precision": "int8", "weight_precision": "int8"}), LLAMA, wl)
    assert int8["latency_ns.compute"] == pytest.approx(fp16["latency_ns.compute"] / 2, rel=0.02)
    with pytest.raises(ValueError, match="fp8"):  # the A100 has no FP8 tensor cores
        GpuHardware.model_validate({**A100.model_dump(), "compute_precision": "fp8"})


def test_weight_precision_scales_decode_streaming():
    wl = Workload(prompt_len=64, gen_len=33, batch=1, prefill=False)
    fp16 = _cost(A100, LLAMA, wl)
    int4 = _cost(A100.model_copy(update={"weight_precision": "int4"}), LLAMA, wl)
    assert int4["weight_bytes"] == pytest.approx(fp16["weight_bytes"] / 4)
    assert int4["latency_ns.memory"] < 0.3 * fp16["latency_ns.memory"]


def test_without_kv_cache_every_decode_step_recomputes_the_context():
    wl = Workload(prompt_len=64, gen_len=8, batch=2)
    kv = _cost(A100, LLAMA, wl)
    rec = _cost(A100, LLAMA, wl.model_copy(update={"kv_cache": False}))
    assert rec["flops"] > 50 * kv["flops"] / 8
    assert rec["latency_ns"] > kv["latency_ns"] and rec["ttft_ns"] == pytest.approx(kv["ttft_ns"], rel=0.01)
    assert rec["kv_cache_bytes"] == 0


def test_generated_tokens_with_and_without_prefill():
    on = _cost(A100, LLAMA, Workload(prompt_len=32, gen_len=8, batch=3))
    off = _cost(A100, LLAMA, Workload(prompt_len=32, gen_len=8, batch=3, prefill=False))
    assert on["tokens_per_s"] * on["latency_ns"] * 1e-9 == pytest.approx(3 * 8)
    assert off["tokens_per_s"] * off["latency_ns"] * 1e-9 == pytest.approx(3 * 7)
    assert off["latency_ns"] == pytest.approx(on["latency_ns"] - on["ttft_ns"])
    assert on["tpot_ns"] == pytest.approx(off["latency_ns"] / 7)
    parts = sum(on[f"latency_ns.{p}"] for p in ("compute", "memory", "overhead", "communication"))
    assert parts == pytest.approx(on["latency_ns"])
    assert on["energy_nj.active"] + on["energy_nj.idle"] == pytest.approx(on["energy_nj"])


def test_evaluate_point_dispatches_gpu_rows_here():
    r = evaluate_point(A100, LLAMA, Workload())
    assert r["system"] == "gpu" and r["n_devices"] == 1 and r["tokens_per_s"] > 0


# ---- closed form and vectorisation ---------------------------------------------------------------

def test_split_max_matches_brute_force():
    rng = np.random.default_rng(1)
    n = 400
    f0, f1, g0, g1 = rng.normal(size=(4, n)) * [[10], [1], [10], [1]]
    f1[:40] = g1[:40]  # parallel lines
    f1[40:60], g1[40:60] = 0.0, 0.0
    n0 = rng.integers(0, 30, n).astype(float)
    n1 = n0 + rng.integers(-1, 40, n)
    comp, mem, cnt = gpu._split_max(f0, f1, g0, g1, n0, n1)
    for i in range(n):
        xs = np.arange(n0[i], n1[i] + 1)
        f, g = f0[i] + f1[i] * xs, g0[i] + g1[i] * xs
        assert comp[i] == pytest.approx(f[f > g].sum(), abs=1e-9)
        assert mem[i] == pytest.approx(g[g >= f].sum(), abs=1e-9)
        assert cnt[i] == (g >= f).sum()


def test_closed_form_decode_sum_equals_step_by_step():
    # batch large enough that steps turn from compute- to memory-bound as the context grows
    rows = [
        spec_columns(A100.model_copy(update={"devices": 1}), LLAMA, Workload(prompt_len=16, gen_len=400, batch=200)),
        spec_columns(H100, MIXTRAL, Workload(prompt_len=100, gen_len=50, batch=3)),
        spec_columns(PAPER, load_model("nature-moe-51b"), Workload(prompt_len=8, gen_len=30, batch=64)),
    ]
    c = Cols(pd.DataFrame(rows))
    p, _ = gpu._point(c, gpu.model_shape(c))
    D = p.G - 1
    tot = gpu._decode_kv(p, D)
    keys = ("comp", "mem", "over", "comm", "flops", "bytes", "memsteps")
    loop = {key: np.zeros(c.n) for key in keys}
    for j in range(1, int(D.max()) + 1):
        s = gpu._single(gpu._step(p, np.ones(c.n), p.P + j))
        for key in keys:
            loop[key] += np.where(j <= D, s[key], 0.0)
    for key in keys:
        np.testing.assert_allclose(tot[key], loop[key], rtol=1e-9, err_msg=key)
    assert 0 < loop["memsteps"][0] < D[0]  # the first row really crosses over


def test_vectorised_call_equals_row_by_row():
    rows = [
        spec_columns(A100, LLAMA, Workload(prompt_len=128, gen_len=16, batch=8)),
        spec_columns(H100, MIXTRAL, Workload(prompt_len=64, gen_len=8, batch=2, kv_cache=False)),
        spec_columns(PAPER, load_model("nature-moe-51b"), Workload()),
        spec_columns(A100_40, MIXTRAL, Workload(prompt_len=32, gen_len=5, batch=16, prefill=False,
                                                expert_load=ExpertLoad(model="zipf", zipf_exponent=1.1))),
        spec_columns(A100.model_copy(update={"compute_precision": "int8", "weight_precision": "int4"}), LLAMA,
                     Workload(prompt_len=512, gen_len=1, batch=1)),
        spec_columns(H100.model_copy(update={"compute_precision": "fp8", "weight_precision": "fp8",
                                             "kv_precision": "fp8"}), MIXTRAL, Workload(prompt_len=256, gen_len=4, batch=32)),
        spec_columns(H100.model_copy(update={"devices": 4}), LLAMA, Workload(prompt_len=16, gen_len=12, batch=64,
                                                                              kv_cache=False, prefill=False)),
    ]
    frame = pd.DataFrame(rows)
    together = gpu_cost(Cols(frame))
    for i in range(len(rows)):
        alone = gpu_cost(Cols(frame.iloc[[i]].reset_index(drop=True)))
        for key, col in together.items():
            a, b = np.asarray(col)[i], np.asarray(alone[key])[0]
            if isinstance(a, (str, bool, np.bool_)) or np.asarray(col).dtype == object:
                assert a == b, key
            else:
                assert a == pytest.approx(b, rel=1e-12, nan_ok=True), key


@pytest.mark.parametrize("hw", ["a100-sxm4-80gb", "nature-3d-aimc"])
def test_ttft_and_tpot_exist_exactly_when_there_is_a_prefill_and_a_decode_step(hw):
    """One definition for both systems (the registry's): TTFT is the prefill, TPOT the mean
    decode step. The GPU model once gave the first decode step as TTFT without a prefill and
    TTFT as TPOT at gen_len 1, where the AIMC model left them empty."""
    h, m = load_hardware(hw), load_model("mixtral-8x7b")
    for prefill, gen_len in [(True, 1), (True, 8), (False, 8), (False, 2)]:
        r = evaluate_point(h, m, Workload(prompt_len=32, gen_len=gen_len, prefill=prefill))
        assert math.isnan(r["ttft_ns"]) == (not prefill), (prefill, gen_len)
        decode_steps = gen_len - 1
        assert math.isnan(r["tpot_ns"]) == (decode_steps == 0), (prefill, gen_len)
        if prefill and decode_steps:
            assert r["tpot_ns"] == pytest.approx((r["latency_ns"] - r["ttft_ns"]) / decode_steps, rel=1e-12)


def test_a_gpu_design_that_does_not_fit_says_why():
    m = load_model("mixtral-8x7b")  # ~93 GB of fp16 weights
    one = load_hardware("a100-sxm4-80gb", {"devices": 1})
    two = load_hardware("a100-sxm4-80gb", {"devices": 2})
    r = evaluate_point(one, m, Workload())
    assert (r["fits"], r["fit_reason"], r["devices_needed"]) == (False, "weights", 2)
    r = evaluate_point(two, m, Workload(batch=4096, prompt_len=4000))
    assert (r["fits"], r["fit_reason"]) == (False, "kv_cache") and r["devices_needed"] > 2
    r = evaluate_point(two, m, Workload())
    assert (r["fits"], r["fit_reason"]) == (True, "")


def test_mi300x_mesh_gives_fewer_devices_fewer_links():
    """MI300X GPUs are a switchless xGMI mesh, one 64 GB/s link per peer: two devices talk over
    one link, not the 448 GB/s all seven give at eight. The model gave every count 448 GB/s,
    which made TP2 all-reduces 7x too fast (llama-2-70b, 2048/128, batch 64: 3.4 s of
    communication instead of 10.4 s)."""
    mi = load_hardware("mi300x")
    wl = Workload(prompt_len=2048, gen_len=128, batch=64)
    switch = mi.model_copy(update={"peer_link_gbps": None})
    for n in (2, 4, 8):
        got = _cost(mi.model_copy(update={"devices": n}), _model("llama-2-70b"), wl)
        same = _cost(switch.model_copy(update={"devices": n, "nvlink_bandwidth_gbps": 64.0 * (n - 1)}),
                     _model("llama-2-70b"), wl)
        assert got["latency_ns.communication"] == pytest.approx(same["latency_ns.communication"], rel=1e-12), n
    eight = _cost(mi.model_copy(update={"devices": 8}), _model("llama-2-70b"), wl)
    assert eight["latency_ns"] == pytest.approx(_cost(switch.model_copy(update={"devices": 8}), _model("llama-2-70b"), wl)["latency_ns"])
    # a switch (NVSwitch) gives any count the full bandwidth: the H100 is unchanged
    assert H100.peer_link_gbps is None


def test_collective_bandwidths_across_nodes_by_hand():
    """Past node_devices the network joins the nodes: an all-reduce runs every NIC of a node at
    once (min(NVLink, k·o)), an all-to-all sends (n − k)/n of a device's data over its own NIC."""
    a100 = load_hardware("a100-sxm4-80gb")  # NVLink 300, 8 per node, 25 GB/s per GPU (DGX A100)
    c = Cols(pd.DataFrame([spec_columns(a100, LLAMA, Workload())]))
    ar, a2a = gpu.collective_bandwidths(c, np.array([8.0, 16.0]))
    assert ar.tolist() == [300.0, 200.0]
    assert a2a.tolist() == [300.0, 25.0 * 15 / 8]
    flat = a100.model_copy(update={"node_devices": None, "scale_out_gbps": None})
    one_domain = Cols(pd.DataFrame([spec_columns(flat, LLAMA, Workload())]))
    assert [x.tolist() for x in gpu.collective_bandwidths(one_domain, np.array([16.0]))] == [[300.0], [300.0]]


def test_tensor_parallel_past_one_node_pays_for_the_network():
    """16 H100s in two DGX nodes: the all-reduces run at 8 · 50 = 400 GB/s, not NVLink's 450 —
    the same communication as one 16-GPU NVLink domain of 400 GB/s."""
    wl = Workload(prompt_len=2048, gen_len=128, batch=64)
    two_nodes = _cost(H100.model_copy(update={"devices": 16}), _model("llama-2-70b"), wl)
    flat = H100.model_copy(update={"devices": 16, "node_devices": None, "scale_out_gbps": None,
                                   "nvlink_bandwidth_gbps": 400.0})
    same = _cost(flat, _model("llama-2-70b"), wl)
    assert two_nodes["latency_ns.communication"] == pytest.approx(same["latency_ns.communication"], rel=1e-12)
    one = _cost(H100.model_copy(update={"devices": 16, "node_devices": None, "scale_out_gbps": None}),
                _model("llama-2-70b"), wl)
    assert two_nodes["latency_ns.communication"] > one["latency_ns.communication"]


def test_node_devices_and_scale_out_come_together():
    with pytest.raises(Exception, match="node_devices and scale_out_gbps together"):
        GpuHardware.model_validate({**H100.model_dump(), "node_devices": 8, "scale_out_gbps": None})
