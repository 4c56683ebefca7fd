"""The AIMC cost model: formulas against hand-computed values, and the laws the papers state."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimc_dse.cost.columns import spec_columns
from aimc_dse.cost.evaluate import evaluate_frame, evaluate_point
from aimc_dse.cost.mapping import (
    blocks,
    max_per_tile,
    max_weighted_two_ranges,
    reduction_adds,
)
from aimc_dse.specs.loader import load_hardware, load_model, load_workload, validate_model

from .support.exact_mapper import exact_greedy_map


def _eval(hw, model, sets_hw=None, **wl):
    return evaluate_point(load_hardware(hw, sets_hw or {}), load_model(model) if isinstance(model, str) else model, load_workload(wl))


def _moe(E, layers=12, k=2, d=1024, dffe=4096):
    return validate_model(
        dict(name=f"moe{E}", layers=layers, d_model=d, heads=16, d_ff=dffe, vocab=32000,
             moe=dict(experts=E, top_k=k, d_ff_expert=dffe)), "test")


def _dense(d_ff, layers=12, d=1024):
    return validate_model(dict(name=f"dense{d_ff}", layers=layers, d_model=d, heads=16, d_ff=d_ff, vocab=32000), "test")


# ---- formulas -------------------------------------------------------------------------------

def test_blocks_and_reduction_adds_of_the_pim_expert():
    # 4096×688 on 256² tiers: 16 row chunks × 3 column chunks; 15·3 adds (§B.4, §F.2)
    assert blocks(4096, 688, 256, 256) == 48
    assert reduction_adds(4096, 688, 256, 256) == 45
    assert blocks(688, 4096, 256, 256) == 48
    assert reduction_adds(688, 4096, 256, 256) == 32


def test_round_robin_closed_form_matches_exact_greedy_mapper():
    rng = np.random.default_rng(0)
    for _ in range(30):
        N = int(rng.integers(2, 40))
        mats = [(f"m{i}", int(rng.integers(1, 5)) * 64, int(rng.integers(1, 7)) * 64) for i in range(8)]
        placed = exact_greedy_map(mats, 64, 64, N, 64)
        assert placed is not None
        for name, r, c in mats:
            tiles = [b.tile for b in placed if b.matrix == name]
            worst = max(tiles.count(t) for t in set(tiles))
            assert worst == max_per_tile(blocks(r, c, 64, 64), N)


def test_exact_mapper_reports_does_not_fit():
    assert exact_greedy_map([("a", 512, 512), ("b", 512, 512)], 512, 512, 1, 1) is None


def test_two_adjacent_ranges_weighted_max():
    # 10 blocks then 6 blocks on 8 tiles: range 1 puts 2 on tiles 0-1, range 2 covers tiles 2-7
    # once: the max is max(2·1, 1·1 + 1·w2).
    assert max_weighted_two_ranges(10, 1.0, 6, 0.25, 8) == pytest.approx(2.0)
    assert max_weighted_two_ranges(10, 1.0, 8, 0.5, 8) == pytest.approx(2.5)


def test_op_counts_of_the_pim_prefill_match_the_reference_breakdown():
    r = _eval("moewithpim-hermes", "moewithpim-layer", prompt_len=32, gen_len=1, kv_cache=False)
    assert r["mvms"] == 48_080  # 32 × 1,440 + 2,000 lm_head
    assert r["energy_nj.mvm"] == pytest.approx(601_000)
    assert r["energy_nj.communication"] == pytest.approx(1_236.74157, rel=1e-6)  # 95,649 ops × 12.93 pJ
    assert r["busy_ns.digital"] == pytest.approx(556_878)  # DPU busy time
    assert r["busy_ns.attention"] == pytest.approx(130_876.5)
    assert r["flops"] == 6_085_003_041


def test_cached_decode_step_is_entry_plus_attention_plus_tail():
    # T_step(n) = 2,168 + t_MHA(n) + 8,437 (§G.2); one step at n = 33 with both caches.
    r = _eval("moewithpim-hermes", "moewithpim-layer", prompt_len=32, gen_len=2, prefill=False,
              kv_cache=True, go_cache=True)
    t_mha = 4_217.697 + 50_701  # KV-cached compute + DRAM KV load (§A.6 worked values)
    assert r["latency_ns"] == pytest.approx(2_168 - 12 + t_mha + 8_437, abs=1.0)  # first step: no input transfer


# ---- laws -----------------------------------------------------------------------------------

def test_moe_throughput_flat_as_experts_grow():
    hw = load_hardware("nature-3d-aimc")
    w = load_workload(dict(prompt_len=64, gen_len=16, batch=64))
    rows = [spec_columns(hw, _moe(E), w) for E in (8, 16, 32, 64, 128)]
    res = evaluate_frame(pd.DataFrame(rows))
    assert res["fits"].all()
    tps = res["tokens_per_s"].to_numpy()
    params = res["model.moe.experts"].to_numpy()
    assert params[-1] / params[0] == 16
    assert tps.min() >= 0.8 * tps.max()


def test_dense_model_of_the_same_size_loses_throughput_as_layers_share_tiles():
    hw = load_hardware("nature-3d-aimc")
    w = load_workload(dict(prompt_len=64, gen_len=16, batch=64))
    rows = [spec_columns(hw, _dense(4096 * E), w) for E in (8, 32, 128)]
    res = evaluate_frame(pd.DataFrame(rows))
    tps = res["tokens_per_s"].to_numpy()
    assert res["stacked"].all()
    assert tps[0] > tps[1] > tps[2]
    moe = evaluate_point(hw, _moe(128), w)
    assert moe["tokens_per_s"] > 2 * tps[2]


@settings(max_examples=25, deadline=None)
@given(tiles=st.integers(8, 400), batch=st.sampled_from([1, 4, 16, 64]), kv=st.booleans())
def test_doubling_tiles_never_lowers_tokens_per_s(tiles, batch, kv):
    hw = load_hardware("ibm3dsim-readme")
    m = _moe(16, layers=4, d=512, dffe=1024)
    w = load_workload(dict(prompt_len=8, gen_len=6, batch=batch, kv_cache=kv))
    rows = [spec_columns(hw.model_copy(update={"tiles": t}), m, w) for t in (tiles, 2 * tiles)]
    res = evaluate_frame(pd.DataFrame(rows))
    if res["fits"].iloc[0]:
        assert res["tokens_per_s"].iloc[1] >= res["tokens_per_s"].iloc[0] * (1 - 1e-12)


@pytest.mark.parametrize("model", ["ibm3dsim-readme", "moewithpim-layer"])
def test_active_energy_does_not_depend_on_placement_strategy(model):
    out = []
    for strategy in ("greedy_in_order", "greedy_random", "moe_separated"):
        r = _eval("hermes-3d", model, {"mapping.strategy": strategy}, prompt_len=16, gen_len=4, batch=2)
        out.append(r["energy_nj"] - r["energy_nj.passive"] - r["energy_nj.static"])
    assert out[0] == pytest.approx(out[1], rel=1e-12)
    assert out[0] == pytest.approx(out[2], rel=1e-12)


def test_model_that_does_not_fit_is_a_result():
    r = _eval("ibm3dsim-readme", "nature-moe-51b", prompt_len=8, gen_len=2)
    assert r["fits"] is False or r["fits"] == False  # noqa: E712 (numpy bool)
    assert r["tier_blocks"] == 197_872
    assert r["tiles_needed"] == -(-197_872 // 1024)
    assert np.isnan(r["tokens_per_s"])


def test_stacked_experts_serialise_more_when_separated():
    base = _eval("nature-3d-aimc", "nature-moe-51b", prompt_len=8, gen_len=4)
    assert base["fits"]
    # 16 DPUs: with the preset's 4, the partial-sum adds bound the expert stages either way
    # (their reductions overlap the stacked MVMs, docs/cost-model.md §4.1), and the two
    # placements take equally long
    sep = _eval("nature-3d-aimc", _moe(128, layers=4, k=4), {"mapping.strategy": "moe_separated", "dpus": 16},
                prompt_len=8, gen_len=4)
    rr = _eval("nature-3d-aimc", _moe(128, layers=4, k=4), {"dpus": 16}, prompt_len=8, gen_len=4)
    assert sep["latency_ns"] > 1.2 * rr["latency_ns"]
    sep4 = _eval("nature-3d-aimc", _moe(128, layers=4, k=4), {"mapping.strategy": "moe_separated"}, prompt_len=8, gen_len=4)
    rr4 = _eval("nature-3d-aimc", _moe(128, layers=4, k=4), prompt_len=8, gen_len=4)
    assert sep4["latency_ns"] >= rr4["latency_ns"]


def test_kv_cache_makes_decode_cheaper_than_recompute():
    kv = _eval("hermes-3d", "ibm3dsim-readme", prompt_len=32, gen_len=16, kv_cache=True)
    no = _eval("hermes-3d", "ibm3dsim-readme", prompt_len=32, gen_len=16, kv_cache=False)
    assert kv["latency_ns"] < no["latency_ns"]
    assert kv["flops"] < no["flops"]


def test_batch_raises_tokens_per_s_until_a_resource_saturates():
    # The simulator's Nature chip: MHA units (each job holds its unit while it loads its KV cache at 5.3 GB/s)
    # saturate early. (On the physical nature-3d-aimc tokens/s peaks instead once the batch's
    # KV caches outgrow the 8 MB SRAM: tests/test_physical.py.)
    res = [_eval("nature-3d-aimc-sim", "nature-moe-51b", prompt_len=32, gen_len=8, batch=b) for b in (1, 4, 16, 64)]
    tps = [r["tokens_per_s"] for r in res]
    assert all(b >= a * (1 - 1e-9) for a, b in zip(tps, tps[1:]))
    assert tps[-1] > tps[0]
    assert res[-1]["batch_bound"] == "throughput"
    assert res[-1]["latency_ns"] >= res[-1]["throughput_bound_ns"]


def test_vectorised_call_equals_row_by_row():
    hw = load_hardware("nature-3d-aimc")
    pts = [(hw.model_copy(update={"tiles": t}), _moe(E, layers=6), load_workload(dict(batch=b, gen_len=g)))
           for t, E, b, g in [(200, 8, 1, 4), (400, 64, 8, 9), (1000, 128, 32, 2), (150, 16, 2, 16)]]
    together = evaluate_frame(pd.DataFrame([spec_columns(*p) for p in pts]))
    for i, p in enumerate(pts):
        alone = evaluate_point(*p)
        for col in ("latency_ns", "energy_nj", "flops", "area_mm2", "tokens_per_s_per_w"):
            assert together[col].iloc[i] == pytest.approx(alone[col], rel=1e-12, nan_ok=True)


def test_peripheral_sharing_shrinks_moe_area_as_0_2_plus_0_8_over_g():
    areas = [_eval("moewithpim-hermes", "moewithpim-layer", {"sharing.group_size": g}, prompt_len=32, gen_len=1,
                   kv_cache=False)["area_mm2.moe"] for g in (1, 2, 4)]
    assert areas[0] == pytest.approx(1536 * 0.635)
    assert areas[1] / areas[0] == pytest.approx(0.6)
    assert areas[2] / areas[0] == pytest.approx(0.4)


def test_peripheral_sharing_without_a_schedule_still_serialises_a_tokens_experts():
    """g crossbars on one periphery serve one (token, expert) pair at a time, whatever the
    schedule: ``none`` with g > 1 is the one-token-at-a-time (``single``) schedule, not a
    free area and energy saving. (It used to keep f_m = f_single = 1: g = 16 looked as fast
    as g = 1 with 0.25× the expert area, so the largest group always ranked best.)"""
    m = _moe(16, layers=2, k=4, d=512, dffe=512)
    wl = dict(prompt_len=8, gen_len=4)

    def run(g, schedule="none", acc="physical"):
        return _eval("hermes-3d", m, {"sharing.group_size": g, "accounting": acc},
                     **wl, **{"grouping": {"schedule": schedule}})

    alone, shared, single = run(1), run(16), run(16, "single")
    assert shared["grouping.f_m"] == single["grouping.f_m"] == 4.0  # a token's 4 experts in the one group
    for col in ("latency_ns", "tpot_ns", "ttft_ns", "energy_nj", "grouping.f_c"):
        assert shared[col] == single[col], col
    assert shared["tpot_ns"] > alone["tpot_ns"]
    # the reference profile keeps the reference's reading: factors 1 unless given
    assert run(16, acc="moewithpim")["grouping.f_m"] == 1.0


def test_a_group_size_that_does_not_divide_the_experts_does_not_fit():
    """g crossbars per periphery group the routed experts g at a time: where g does not divide
    E no groups can be formed. That is a design that does not fit (fit_reason group_size, no
    performance numbers), not an error that stops a sweep over group sizes and models."""
    m = _moe(16, layers=2, k=4, d=512, dffe=512)
    wl = dict(prompt_len=8, gen_len=4)
    for g in (3, 32):
        r = _eval("hermes-3d", m, {"sharing.group_size": g}, **wl)
        assert (r["fits"], r["fit_reason"], r["max_batch"]) == (False, "group_size", 0.0), g
        assert math.isnan(r["tokens_per_s"]) and math.isnan(r["latency_ns"])
    ok = _eval("hermes-3d", m, {"sharing.group_size": 4}, **wl)
    assert ok["fits"] and ok["fit_reason"] == ""
    # a dense model forms no expert groups: any g is fine
    dense = _eval("hermes-3d", "llama-2-7b", {"sharing.group_size": 3, "tiles": 300000}, **wl)
    assert dense["fit_reason"] != "group_size"


def test_peripheral_sharing_saves_static_power_not_mvm_energy():
    """g crossbars sharing one set of converters still convert every column of each MVM:
    sharing shrinks the expert tiles' area and their periphery's static power by f_g, not the
    energy of an MVM (which f_g used to scale, so g = 4 cut the expert MVMs' energy by 60 %).
    MoEwithPIM's accounting keeps its every-MVM scaling."""
    m = _moe(16, layers=2, k=4, d=512, dffe=512)
    wl = dict(prompt_len=8, gen_len=4, grouping={"schedule": "compact"})
    one, four = (_eval("hermes-3d", m, {"sharing.group_size": g}, **wl) for g in (1, 4))
    assert four["energy_nj.mvm"] == pytest.approx(one["energy_nj.mvm"], rel=1e-12)
    hw = load_hardware("hermes-3d")
    expert_tiles = -(-2 * 16 * 2 * 2 * 2 // hw.stack_height)  # 2 layers × 16 experts × 2 matrices × 2×2 blocks
    saved = expert_tiles * (1 - four["grouping.f_g"]) * hw.static_power.tile_w
    assert one["power_w.static"] - four["power_w.static"] == pytest.approx(saved, rel=1e-9)
    pim = [_eval("moewithpim-hermes", "moewithpim-layer", {"sharing.group_size": g}, prompt_len=32, gen_len=1,
                 kv_cache=False)["energy_nj.mvm"] for g in (1, 4)]
    assert pim[1] / pim[0] == pytest.approx(0.4)


def test_expected_expert_serialisation_matches_brute_force_tile_counts():
    from aimc_dse.cost.mapping import _mc

    def brute(N, E, k, stride, span, seed, draws):
        rng = np.random.default_rng(seed)
        chosen = np.argsort(rng.random((draws, E)), axis=1)[:, :k]
        worst = []
        for row in chosen:
            load = np.zeros(N, int)
            for e in row:
                for i in range(span):
                    load[(e * stride + i) % N] += 1
            worst.append(load.max())
        return float(np.mean(worst))

    rng = np.random.default_rng(1)
    for _ in range(60):
        N, E = int(rng.integers(2, 60)), int(rng.integers(2, 20))
        k, stride = int(rng.integers(1, E + 1)), int(rng.integers(1, 12))
        span = int(rng.integers(1, stride + 1))
        assert _mc(N, E, k, stride, span, 0.0, 3, 64) == brute(N, E, k, stride, span, 3, 64)


def test_tile_demand_lines_equal_the_weighted_ranges_maximum():
    # TileDemand keeps the busiest tile's load as lines in the step's tokens; they must give
    # max_weighted_ranges exactly for any token count
    from aimc_dse.cost.aimc.stages import tile_demand

    from .support.round_robin import max_weighted_ranges

    rng = np.random.default_rng(3)
    n = 400
    dense, expert, lm = rng.integers(0, 3000, n), rng.integers(0, 9000, n), rng.integers(0, 300, n)
    N, p = rng.integers(1, 700, n), rng.random(n)
    td = tile_demand(np.ones(n), dense, expert, p, lm, N)
    for t in (1.0, 2.0, 7.0, 333.0):
        ref = max_weighted_ranges([dense, expert, lm], [t, t * p, 1.0], N)
        assert td.at(np.full(n, t)) == pytest.approx(ref, rel=1e-12)
