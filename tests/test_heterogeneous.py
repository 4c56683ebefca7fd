"""Heterogeneous analog–digital MoE in the cost model (docs/cost-model.md §8, Chowdhury et al.)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from aimc_dse.cli import app
from aimc_dse.cost.evaluate import evaluate_point
from aimc_dse.specs.loader import load_digital, load_hardware, load_model, load_workload

PHIS = (0.0, 0.125, 0.25, 0.5, 1.0)


def _run(phi, dense=False, hw_digital=True, **wl):
    hw = load_hardware("hermes-3d", {"digital": "hermes-14nm-digital"} if hw_digital else {})
    w = dict(batch=32, prompt_len=64, gen_len=16)
    w.update(wl)
    w["digital"] = dict(fraction=phi, score="random", attention=dense, router=dense, lm_head=dense)
    return evaluate_point(hw, load_model("olmoe-1b-7b"), load_workload(w))


def test_phi_zero_is_exactly_the_all_analog_result():
    analog = evaluate_point(load_hardware("hermes-3d"), load_model("olmoe-1b-7b"),
                            load_workload(dict(batch=32, prompt_len=64, gen_len=16)))
    zero = _run(0.0)
    for col in ("latency_ns", "energy_nj", "flops", "area_mm2", "tokens_per_s", "tier_blocks", "ttft_ns"):
        assert zero[col] == analog[col], col
    assert zero["digital_param_fraction"] == 0


def test_tokens_per_s_per_w_falls_monotonically_as_phi_grows():
    for dense in (False, True):
        eff = [_run(phi, dense)["tokens_per_s_per_w"] for phi in PHIS]
        assert all(b < a for a, b in zip(eff, eff[1:])), (dense, eff)


def test_digital_experts_take_no_tiers_and_raise_the_digital_fraction():
    rows = [_run(phi) for phi in PHIS]
    tiles = [r["tiles_needed"] for r in rows]
    frac = [r["digital_param_fraction"] for r in rows]
    assert all(b < a for a, b in zip(tiles, tiles[1:]))
    assert all(b > a for a, b in zip(frac, frac[1:]))


def test_all_digital_matches_the_digital_units_roofline():
    # φ = 1 with the dense modules digital: nothing left on the crossbars.
    r = _run(1.0, dense=True, batch=1, prompt_len=32, gen_len=2, prefill=False)
    assert r["digital_param_fraction"] == pytest.approx(1.0)
    assert r["tier_blocks"] == 0 and r["mvms"] == 0 and r["energy_nj.mvm"] == 0
    m = load_model("olmoe-1b-7b")
    dg = load_digital("hermes-14nm-digital")
    d, L, V = m.d_model, m.layers, m.vocab
    attn = d * m.q_width + 2 * d * m.kv_width + m.q_width * d
    expert = 3 * d * m.moe.d_ff_expert
    macs = L * (attn + d * m.moe.experts + m.moe.top_k * expert) + d * V
    # one decode token touches the dense weights and its k experts (hit probability k/E each)
    touched = L * (attn + d * m.moe.experts + m.moe.top_k * expert) + d * V
    held = m.parameters * dg.weight_bytes
    f = max(0.0, held - dg.sram_bytes) / held
    by = touched * dg.weight_bytes
    roofline = max(macs / dg.macs_per_ns, (1 - f) * by / dg.sram_bandwidth_gbps, f * by / dg.dram_bandwidth_gbps)
    assert r["busy_ns.digital_mac"] == pytest.approx(roofline, rel=1e-9)
    # the step cannot beat the digital unit's roofline
    assert r["latency_ns"] >= roofline
    assert r["energy_nj.digital_mac"] == pytest.approx((macs * dg.energy_pj_per_mac + f * by * dg.dram_pj_per_byte) / 1000.0, rel=1e-9)


def test_load_score_moves_more_traffic_digital_than_random_under_zipf():
    common = dict(batch=8, prompt_len=32, gen_len=8, expert_load=dict(model="zipf", zipf_exponent=1.2))
    hw = load_hardware("hermes-3d", {"digital": "hermes-14nm-digital"})
    m = load_model("olmoe-1b-7b")
    res = {}
    for score in ("load", "random"):
        w = load_workload({**common, "digital": dict(fraction=0.125, score=score)})
        res[score] = evaluate_point(hw, m, w)
    assert res["load"]["energy_nj.digital_mac"] > res["random"]["energy_nj.digital_mac"]


def test_digital_placement_without_a_digital_unit_exits_2():
    r = CliRunner().invoke(app, ["evaluate", "--hw", "hermes-3d", "--model", "olmoe-1b-7b",
                                 "--set", "workload.digital.fraction=0.25", "--set", "workload.digital.score=random"])
    assert r.exit_code == 2
    assert "hw.digital" in r.output and "Traceback" not in r.output


def test_cli_evaluates_a_digital_placement():
    r = CliRunner().invoke(app, ["evaluate", "--hw", "hermes-3d", "--model", "olmoe-1b-7b", "--set", "hw.digital=hermes-14nm-digital",
                                 "--set", "workload.digital.fraction=0.125", "--set", "workload.digital.score=random",
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    import json

    row = json.loads(r.stdout)[0]
    assert 0.1 < row["digital_param_fraction"] < 0.15
    assert np.isfinite(row["tokens_per_s"])


def test_chip_sized_to_the_model_shrinks_as_experts_go_digital():
    hw = load_hardware("hermes-3d", {"digital": "hermes-14nm-digital", "size_to_model": True})
    m = load_model("olmoe-1b-7b")
    areas = []
    for phi in PHIS:
        w = load_workload(dict(batch=4, prompt_len=32, gen_len=4, digital=dict(fraction=phi, score="random")))
        r = evaluate_point(hw, m, w)
        assert r["fits"]
        areas.append(r["area_mm2"])
    assert all(b < a for a, b in zip(areas[1:], areas[2:]))
    assert areas[-1] < 0.5 * areas[0]


@pytest.mark.parametrize("kv_cache", [True, False])
def test_a_sequence_alone_waits_for_its_digital_engine(kv_cache):
    # One sequence, a 128-token prefill: its digital experts (8 of 64 per layer, 1.6 GB of
    # fp16 weights, 32 MiB in SRAM) are all touched and streamed from the engine's DRAM once.
    # The pipelined phases carry only the engine's MACs, so the latency came out at 21.4 ms
    # while the engine alone was busy 35.2 ms in the same run: a step cannot end before the
    # engine's own work for it. Cache-less decode steps (whole-context, many tokens) likewise.
    r = _run(0.125, batch=1, prompt_len=128, gen_len=2 if kv_cache else 4, kv_cache=kv_cache)
    assert r["latency_ns"] >= r["busy_ns.digital_mac"] * (1 - 1e-12)
    assert r["ttft_ns"] < r["latency_ns"]  # the decode step takes time after the first token
    # a second sequence shares the fetched weights: its first token cannot come sooner
    two = _run(0.125, batch=2, prompt_len=128, gen_len=1)
    one = _run(0.125, batch=1, prompt_len=128, gen_len=1)
    assert one["ttft_ns"] <= two["ttft_ns"]
    assert one["ttft_ns"] >= one["busy_ns.digital_mac"] * (1 - 1e-12)


def test_the_lm_head_moves_its_tables_once():
    # gpt2-large ties the LM head to the embedding and learns its positions: with the LM head
    # digital, the engine holds the one shared vocab × d table and the position table (the
    # crossbars keep neither). The shared table was counted twice and the position table
    # not at all: digital_param_fraction read 1.08 with everything digital.
    m = load_model("gpt2-large")
    hw = load_hardware("hermes-3d", {"digital": "hermes-14nm-digital"})
    w = dict(batch=1, prompt_len=16, gen_len=2)
    r = evaluate_point(hw, m, load_workload({**w, "digital": dict(lm_head=True)}))
    d = m.d_model
    assert r["digital_param_fraction"] == pytest.approx((m.vocab + m.max_positions) * d / m.parameters, rel=1e-12)
    dense = dict(attention=True, lm_head=True, dense_ffn=True)
    r = evaluate_point(hw, m, load_workload({**w, "digital": dense}))
    assert r["tier_blocks"] == 0
    assert 0.99 < r["digital_param_fraction"] <= 1.0  # biases are not weights of the engine


def test_digital_weights_beyond_an_sram_without_dram_say_so():
    # 8 of 64 experts per layer are 1.6 GB of fp16 weights; without a DRAM fallback the
    # engine's 32 MiB cannot hold them. The tier blocks fit (730 tiles of a chip sized to
    # the model), yet fit_reason read "weights", documented as "more tier blocks than tiers".
    hw = load_hardware("hermes-3d", {"size_to_model": True, "digital": "hermes-14nm-digital"})
    hw = load_hardware("hermes-3d", {"size_to_model": True, "digital": {**hw.digital.model_dump(),
                                                                        "dram_bandwidth_gbps": None, "dram_pj_per_byte": 0}})
    w = dict(batch=1, prompt_len=16, gen_len=2, digital=dict(fraction=0.125, score="random"))
    r = evaluate_point(hw, load_model("olmoe-1b-7b"), load_workload(w))
    assert not r["fits"] and r["fit_reason"] == "digital_weights"
    # the tier blocks overflowing too: weights comes first
    small = load_hardware("hermes-3d", {"tiles": 16, "digital": hw.digital.model_dump()})
    r = evaluate_point(small, load_model("olmoe-1b-7b"), load_workload(w))
    assert not r["fits"] and r["fit_reason"] == "weights"


def test_load_score_under_a_gate_trace_uses_the_traces_hot_experts(tmp_path):
    # Every token of the trace picks experts 0-3 plus 4 others: ranked by load, the 4 digital
    # experts (φ = 1/16) take 4 of a token's 8 picks, not k·n/E = 0.5 as for a choice
    # independent of routing. The trace was ignored and load read as random.
    rng = np.random.default_rng(0)
    a = np.zeros((64, 64), bool)
    a[:, :4] = True
    for t in range(64):
        a[t, 4 + rng.choice(60, 4, replace=False)] = True
    np.save(tmp_path / "trace.npy", a)
    hw = load_hardware("hermes-3d", {"digital": "hermes-14nm-digital"})
    m = load_model("olmoe-1b-7b")
    busy = {}
    for score in ("load", "random"):
        w = load_workload(dict(batch=1, prompt_len=16, gen_len=4, prefill=False,
                               expert_load=dict(model="trace", trace=str(tmp_path / "trace.npy")),
                               digital=dict(fraction=4 / 64, score=score)))
        busy[score] = evaluate_point(hw, m, w)["busy_ns.digital_mac"]
    assert busy["load"] == pytest.approx(8 * busy["random"], rel=1e-9)
