"""Each step of the AIMC model (aimc_dse/cost/aimc/) against hand-computed values.

The worked example of docs/cost-model.md §10.1 — the Q/K/V stage of ``moewithpim-layer`` on
``moewithpim-hermes`` — is recomputed step by step here, then the smaller pieces (accounting
flags, memoisation, mapping/fit, batching bounds, mean-value analysis, digital roofline).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aimc_dse.cost.aimc.accounting import accounting
from aimc_dse.cost.aimc.batching import batching, pool_waves, spacing_makespan
from aimc_dse.cost.aimc.blocks import digital_macs, mapping, stage_blocks, tier_cut
from aimc_dse.cost.aimc.digital import digital_engine, digital_modules, digital_time, dram_fraction
from aimc_dse.cost.aimc.encoding import effective_chip, tiers_per_block
from aimc_dse.cost.aimc.grouping import grouping_factors
from aimc_dse.cost.aimc.inputs import OpCost, read_inputs
from aimc_dse.cost.aimc.stages import last_wave_rounds, op_times, reduction_rounds, stages, tile_loads
from aimc_dse.cost.aimc.steps import StepTotals
from aimc_dse.cost.columns import Cols
from aimc_dse.cost.memo import per_distinct
from aimc_dse.specs.points import build_points


def _inputs(hw: str, model: str, sets: list[str] | None = None, **wl):
    inp = read_inputs(Cols(build_points([hw], [model], wl, sets)))
    return replace(inp, chip=effective_chip(inp.chip, inp.physical))


def _cut(inp):
    return tier_cut(inp.chip, tiers_per_block(inp.physical), inp.physical.slices)


@pytest.fixture(scope="module")
def pim():
    """The worked example's point, with every intermediate the QKV stage needs."""
    inp = _inputs("moewithpim-hermes", "moewithpim-layer", prompt_len=32, gen_len=2, prefill=False, go_cache=True)
    acc = accounting(inp.profile)
    dm = digital_modules(inp.digital, inp.shape, inp.work.zipf, inp.first_dense_layers, inp.moe_every)
    eng = digital_engine(inp.digital, np.zeros(1, bool))
    nb = stage_blocks(_cut(inp), inp.shape, acc, dm)
    dmac = digital_macs(inp.shape, dm, eng)
    mp = mapping(inp.chip, _cut(inp), inp.shape, nb, dm, eng, dmac)
    gf = grouping_factors(inp.chip, inp.shape, inp.work, inp.grouping, acc.grouping_on_expert_phase)
    t = op_times(inp.chip, inp.shape, acc, gf)
    w = tile_loads(inp.chip, mp.N, inp.shape, nb, acc, gf, inp.work.zipf, inp.work.seed)
    st = stages(inp.chip, inp.shape, nb, w, t, dm, dmac, eng, mp.N)
    return dict(inp=inp, acc=acc, nb=nb, mp=mp, t=t, w=w, st=st)


def test_worked_example_blocks_and_adds(pim):
    nb = pim["nb"]
    assert nb.qkv[0] == 3 * 16 * 16 == 768  # v = h = ⌈4096/256⌉ = 16 per d×d matrix
    assert nb.na_qkv[0] == 3 * 15 * 16 == 720
    assert pim["w"].qkv[0] == 1  # ⌈768 / 8192⌉


def test_worked_example_op_times(pim):
    t = pim["t"]
    assert t.add_c[0] == 12  # ⌈8·256/256 + 4⌉
    assert t.transfer_in[0] == t.transfer_out[0] == 12  # ⌈12·256/256⌉, f_c = 1
    assert reduction_rounds(pim["inp"].chip, np.array([720]), np.array([15]))[0] == 144  # max(15, ⌈720/5⌉)


def test_worked_example_qkv_stage(pim):
    assert pim["st"].qkv[0] == 12 + 130 * 1 + 12 + 12 * 144 == 1882


def test_stacked_qkv_stage_overlaps_its_reductions_by_hand():
    """The worked example's Q,K,V stage (768 blocks, 720 adds of chains 15 deep, 5 DPUs, 130 ns
    MVMs, 12 ns adds and transfers) stacked on 32 tiles: 24 waves. The last wave holds
    768 − 23·32 = 32 blocks, which feed ⌈720·32/768⌉ = 30 adds (6 rounds on 5 DPUs) and at most
    ⌈32·16/768⌉ = 1 add of any chain: 24·130 + 6·12 = 3,192 ns. The DPU bound, 130 + 144·12 =
    1,858 ns, is lower; the old sum charged 24·130 + 144·12 = 4,848 ns. The event schedule of
    this design (a 1-layer Llama-2-7B has the same Q,K,V) runs the stage in 3,216 ns from
    its input transfer to its last add, as the closed form's 12 + 3,192 + 12."""
    from aimc_dse.cost.aimc.stages import last_wave_rounds, mvms_and_adds

    inp = _inputs("moewithpim-hermes", "moewithpim-layer", ["hw.tiles=32", "hw.stack_height=512"], prompt_len=32,
                  gen_len=2, prefill=False, go_cache=True)
    chip, t = inp.chip, op_times(inp.chip, inp.shape, accounting(inp.profile),
                                 grouping_factors(inp.chip, inp.shape, inp.work, inp.grouping, np.zeros(1, bool)))
    N, w, m, na, depth = np.array([32]), np.array([24.0]), np.array([768]), np.array([720]), np.array([15])
    assert last_wave_rounds(chip, N, w, m, na, depth)[0] == 6
    assert mvms_and_adds(chip, t, N, w, m, na, depth)[0] == 24 * 130 + 6 * 12 == 3192
    # one wave: the references' sum, T_mvm + t_add·ρ
    assert mvms_and_adds(chip, t, np.array([8192]), np.array([1.0]), m, na, depth)[0] == 130 + 12 * 144
    # DPU-bound: with one DPU the adds outlast the MVMs, 130 + 720·12
    one = replace(chip, P=np.array([1]))
    assert mvms_and_adds(one, t, N, w, m, na, depth)[0] == 130 + 720 * 12
    # a stage without adds is its MVMs alone; an absent stage is free
    assert mvms_and_adds(chip, t, N, w, m, np.array([0]), np.array([0]))[0] == 24 * 130
    assert mvms_and_adds(chip, t, N, np.array([0.0]), np.array([0]), np.array([0]), np.array([0]))[0] == 0


def test_stacked_stages_are_never_slower_than_the_old_sum_nor_faster_than_either_bound():
    """For random stages: max(T·w, T·min(w, 1) + t_add·ρ) ≤ stage ≤ T·w + t_add·ρ."""
    from aimc_dse.cost.aimc.stages import mvms_and_adds

    inp = _inputs("moewithpim-hermes", "moewithpim-layer")
    chip = inp.chip
    t = op_times(chip, inp.shape, accounting(inp.profile),
                 grouping_factors(chip, inp.shape, inp.work, inp.grouping, np.zeros(1, bool)))
    rng = np.random.default_rng(7)
    n = 4000
    v, h, N = rng.integers(1, 40, n), rng.integers(1, 60, n), rng.integers(1, 200, n)
    m = v * h
    w = np.ceil(m / N)
    na, depth = (v - 1) * h, v - 1
    P = rng.integers(1, 33, n)
    c = replace(chip, P=P, mvm_latency_ns=np.full(n, 130.0))
    got = mvms_and_adds(c, t, N, w, m, na, depth)
    rho = np.maximum(depth, -(-na // P))
    T, a = 130.0, float(t.add_c[0])
    assert np.all(got <= T * w + a * rho + 1e-9)
    assert np.all(got >= np.maximum(T * w, T * np.minimum(w, 1) + a * rho) - 1e-9)
    assert np.all(got[w == 1] == (T + a * rho)[w == 1])


def test_accounting_profiles_are_named_flags():
    a = accounting(np.array(["physical", "ibm3dsim", "moewithpim"]))
    assert a.position_mvms.tolist() == [True, False, False]
    assert a.kv_load_charged.tolist() == [True, False, True]  # 3D-SiM's stub attention omits the load
    assert a.prompt_scaled_by_f_m.tolist() == [False, False, True]
    assert a.go_flag_traces_one_token.tolist() == [False, False, True]
    kv, go = np.array([True, True, True]), np.array([False, False, False])
    assert a.dram_powered(kv, go, go).tolist() == [True, True, False]  # MoEwithPIM powers DRAM only with GO
    # … and with its GO flag even for a dense model (no gate outputs to cache, go_cache false)
    assert a.dram_powered(~kv, go, ~go).tolist() == [False, False, True]


def test_op_cost_rounds_latency_up_but_not_float_noise():
    op = OpCost(np.array([50.0]), np.array([0.0]), np.array([20.0]), np.array([0.0]))
    assert op.lat(4096)[0] == 800  # exactly 50·4096/256, not 801
    assert op.lat(100)[0] == 20  # ⌈19.53⌉
    assert op.energy_nj(256)[0] == pytest.approx(0.02)


def test_per_distinct_calls_once_per_key():
    calls = []

    def f(a, b):
        calls.append((a, b))
        return a * 10 + b

    out = per_distinct(f, np.array([True, True, False, True]), np.array([1, 1, 2, 3]), np.array([5, 5, 5, 6]))
    assert out.tolist() == [15, 15, 0, 36]
    assert calls == [(1, 5), (3, 6)]
    pair = per_distinct(lambda a: (a, -a), np.array([True, False]), np.array([2, 3]), width=2, fill=1.0)
    assert pair.tolist() == [[2, 1], [-2, 1]]


def test_mapping_fit_and_size_to_model():
    big = _inputs("nature-3d-aimc-sim", "llama-2-70b")
    acc = accounting(big.profile)
    dm = digital_modules(big.digital, big.shape, big.work.zipf, big.first_dense_layers, big.moe_every)
    eng = digital_engine(big.digital, np.zeros(1, bool))
    nb = stage_blocks(_cut(big), big.shape, acc, dm)
    mp = mapping(big.chip, _cut(big), big.shape, nb, dm, eng, digital_macs(big.shape, dm, eng))
    assert not mp.fits[0] and mp.tiles_needed[0] == -(-mp.total[0] // 1024)
    sized = _inputs("nature-3d-aimc-sim", "llama-2-70b", ["hw.size_to_model=true"])
    mp2 = mapping(sized.chip, _cut(sized), sized.shape, nb, dm, eng, digital_macs(sized.shape, dm, eng))
    assert mp2.fits[0] and mp2.N[0] == mp.tiles_needed[0]


def test_list_scheduler_spacing():
    tot = StepTotals(4)
    tot.t1[:] = 100.0
    tot.delta[:] = 5.0
    tot.units_dpu[:] = 4.0
    tot.units_io[:] = 2.0
    tot.dem_tile[:] = [10.0, 0.0, 0.0, 0.0]  # a busy tile: every later sequence waits its demand
    tot.dem_dpu[:] = [0.0, 20.0, 0.0, 0.0]  # 4 DPUs, one server: saturated (ρ = 7·20/100), each later sequence waits D_DPU
    tot.dem_io[:] = [0.0, 0.0, 30.0, 0.0]  # 2 MHA units only queue the sequences beyond 2
    B = np.array([4, 8, 4, 4])
    t, queued = spacing_makespan(tot, B)
    assert t.tolist() == [100.0 + 3 * 10.0, 100.0 + 7 * 20.0, 100.0 + 2 * 30.0, 100.0 + 3 * 5.0]
    assert queued.tolist() == [True, True, True, False]  # the last: sequences one stage apart
    tot.dem_io[:] = 60.0  # the throughput bound B·D wins once it exceeds T(1) + spacing
    t, queued = spacing_makespan(tot, np.array([4, 4, 4, 4]))
    assert t.tolist() == [240.0] * 4 and queued.all()


def test_the_dpu_pool_queues_as_one_server_not_per_unit():
    # A sequence's adds take every free DPU, so a second sequence waits for the pool even with
    # fewer sequences than DPUs (B = 2 < P = 4): the M/D/1 wait of one server at ρ = D/T(1) =
    # 0.25, where P units would charge nothing; saturated (ρ = 5·0.25), (B − 1)·D_DPU.
    tot = StepTotals(2)
    tot.t1[:] = 100.0
    tot.units_dpu[:] = 4.0
    tot.units_io[:] = 4.0
    tot.dem_dpu[:] = 25.0  # work / P
    t, queued = spacing_makespan(tot, np.array([2, 6]))
    assert t[0] == pytest.approx(100.0 + 25.0 * 0.25 / (2 * 0.75))
    assert t[1] == pytest.approx(100.0 + 5 * 25.0)
    assert queued.all()


def test_a_few_sequences_slip_into_the_mha_gaps():
    # one MHA unit, a sequence busy on it 10 % of its life: a second one waits for a job in
    # progress about ρ/(2(1 − ρ)) of its own job time (ρ = 0.1), not a whole D_MHA
    tot = StepTotals(2)
    tot.t1[:] = 1000.0
    tot.units_dpu[:] = 4.0
    tot.units_io[:] = 1.0
    tot.dem_io[:] = 100.0
    t, _ = spacing_makespan(tot, np.array([2, 11]))
    assert t[0] == pytest.approx(1000.0 + 100.0 * 0.1 / (2 * 0.9))
    assert t[1] == pytest.approx(1000.0 + 10 * 100.0)  # ρ = 1: every further sequence waits D_MHA


def test_mha_waves():
    # u = 0.95 on 2 units: k = ⌈2/0.95⌉ = 3 share them (each slowed to 3·95/2), the 4th starves
    t1, work, units = np.full(3, 100.0), np.full(3, 95.0), np.full(3, 2.0)
    w = pool_waves(t1, work, units, np.array([2.0, 3.0, 4.0]))
    assert w.tolist() == pytest.approx([100.0, 142.5, 142.5 + 100.0])
    assert pool_waves(t1, np.zeros(3), units, np.array([2.0, 3.0, 4.0])).tolist() == [100.0] * 3


def test_batching_bounds_and_which_binds():
    tot = StepTotals(2)
    tot.t1[:] = 100.0
    tot.delta[:] = 10.0
    tot.units_dpu[:] = 4.0
    tot.units_io[:] = 4.0
    tot.dem_tile[:] = [5.0, 50.0]
    tot.t_pre[:] = 40.0
    B = np.array([4, 4])
    bt = batching(tot, B, np.array([True, True]), np.array([True, True]))
    assert bt.latency_bound.tolist() == [130.0, 130.0]  # T(1) + (B − 1)·δ
    assert bt.throughput_bound.tolist() == [20.0, 200.0]  # B·D_tile
    assert bt.makespan.tolist() == [130.0, 250.0]  # δ spacing; then the busy tile's (B − 1)·D_tile
    assert bt.batch_bound.tolist() == ["latency", "throughput"]


def test_digital_roofline_and_spill():
    from aimc_dse.cost.aimc.inputs import read_digital

    c = Cols({"hw.digital.peak_tops": np.array([2.0]), "hw.digital.sram_mb": np.array([1.0]),
              "hw.digital.weight_bytes": np.array([1.0]), "hw.digital.dram_bandwidth_gbps": np.array([10.0])})
    eng = digital_engine(read_digital(c), np.array([True]))
    assert eng.macs_per_ns[0] == 1000.0  # 2 TOPS = 1000 MAC/ns
    f = dram_fraction(eng, np.array([2e6]))  # 2 MB of weights, 1 MB of SRAM
    assert f[0] == pytest.approx(0.5)
    t = digital_time(eng, f, np.array([1e3]), np.array([2e6]))
    assert t[0] == pytest.approx(0.5 * 2e6 / 10.0)  # the DRAM half dominates: 100 µs


def test_window_share_by_hand():
    """gpt-oss-like: 24 layers, every other one local with a 128-token window (12 local)."""
    from types import SimpleNamespace

    from aimc_dse.cost.aimc.steps import window_share

    sh = SimpleNamespace(window=np.array([128]), layers=np.array([24]), local_layers=np.array([12]))
    m = SimpleNamespace(sh=sh, acc=SimpleNamespace(physical=np.array([True])))
    # a decode step at n = 1,024: local queries attend 128 of 1,024 keys
    assert window_share(m, np.array([1024.0]), np.array([True]))[0] == pytest.approx((12 + 12 * 128 / 1024) / 24)
    # a 256-token prefill: Σ min(i, 128) = 128·129/2 + 128·128 = 24,640 of 256·257/2 = 32,896 pairs
    assert window_share(m, np.array([256.0]), np.array([False]))[0] == pytest.approx((12 + 12 * 24640 / 32896) / 24)
    # within the window, and under the references' accounting, everything is attended
    assert window_share(m, np.array([100.0]), np.array([True]))[0] == 1.0
    ref = SimpleNamespace(sh=sh, acc=SimpleNamespace(physical=np.array([False])))
    assert window_share(ref, np.array([1024.0]), np.array([True]))[0] == 1.0


# ---- a stage's MVMs and adds (stages.mvms_and_adds) on random designs -----------------------------

STAGE_HW = ["hermes-3d", "nature-3d-aimc", "moewithpim-hermes", "nature-3d-aimc-sim"]
STAGE_MODELS = ["gpt2-medium", "llama-2-7b", "mixtral-8x7b", "olmoe-1b-7b", "qwen3-30b-a3b", "deepseek-moe-16b",
                "sigma-moe-small", "moewithpim-layer"]  # plain and gated, dense and MoE (shared experts, top-1…8)


@st.composite
def stage_points(draw):
    hw, model = draw(st.sampled_from(STAGE_HW)), draw(st.sampled_from(STAGE_MODELS))
    tallest = [1, 16, 128, 320] if hw in ("hermes-3d", "nature-3d-aimc") else [1, 16, 128, 1024, 4096]  # max_tiers 321
    sets = {"model.layers": draw(st.integers(1, 3)), "hw.stack_height": draw(st.sampled_from(tallest)),
            "hw.dpus": draw(st.integers(1, 64))}
    if draw(st.booleans()):
        sets["hw.size_to_model"] = True  # the fewest tiles that hold the model: the most stacked
    else:
        sets["hw.tiles"] = draw(st.sampled_from([8, 32, 128, 1024, 8192]))
    knobs = {"hw.chips": st.integers(2, 8), "hw.parallelism": st.sampled_from(["pipeline", "expert"]),
             "hw.tier_rows": st.sampled_from([128, 512])}
    if model not in ("gpt2-medium", "llama-2-7b"):
        knobs.update({"hw.mapping.strategy": st.just("moe_separated"), "model.moe.top_k": st.sampled_from([1, 8]),
                      "workload.expert_load.model": st.just("zipf")})
    for path, strat in knobs.items():
        if draw(st.booleans()):
            sets[path] = draw(strat)
    return hw, model, sets


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(stage_points())
def test_a_stage_lies_between_its_overlap_bounds_and_the_sum_they_replace(point):
    """Whatever the tile loads (round-robin, expected over routing, MoE-separated piles, expert
    parallelism's pools), each stage's MVMs-and-adds term is finite, at least both of its
    bounds (the last wave plus its adds; the pool's adds after a first wave) and the busiest
    tile's MVMs, and at most the old T_mvm·w + t_add·ρ, with 0 ≤ ρ_last ≤ ρ."""
    import importlib
    import warnings
    from unittest import mock

    import aimc_dse

    mod = importlib.import_module("aimc_dse.cost.aimc.stages")  # the module (the package exports the function)
    calls = []
    real = mod.mvms_and_adds

    def spy(chip, t, N, w, blocks, na_sum, depth, pools=1, lead=0):
        out = real(chip, t, N, w, blocks, na_sum, depth, pools, lead)
        calls.append((chip, t, N, w, blocks, na_sum, depth, pools, out))
        return out

    hw, model, sets = point
    with mock.patch.object(mod, "mvms_and_adds", spy), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            row = aimc_dse.evaluate(hw=hw, model=model, set=sets, prompt_len=4, gen_len=2).iloc[0]
        except aimc_dse.SpecError:
            assume(False)
    assume(bool(row["fits"]))
    assert calls
    for chip, t, N, w, blocks, na_sum, depth, pools, out in calls:
        ok = np.broadcast_to((np.asarray(blocks) > 0) & (np.asarray(depth) >= 0), out.shape)  # stages it has
        rho = np.broadcast_to(reduction_rounds(chip, na_sum, depth, pools), out.shape)[ok]
        last = np.broadcast_to(last_wave_rounds(chip, N, w, blocks, na_sum, depth, pools), out.shape)[ok]
        Tm, add = np.broadcast_to(chip.mvm_latency_ns, out.shape)[ok], np.broadcast_to(t.add_c, out.shape)[ok]
        wk, got = np.broadcast_to(w, out.shape)[ok], out[ok]
        assert np.isfinite(got).all() and (got >= 0).all()
        assert (0 <= last).all() and (last <= rho).all()
        assert (got >= Tm * wk + add * last - 1e-9).all() and (got >= Tm * np.minimum(wk, 1.0) + add * rho - 1e-9).all()
        assert (got <= Tm * wk + add * rho + 1e-9).all()


def test_the_last_layers_phase_runs_no_next_qkv_on_the_digital_engine():
    """One OLMoE layer with its attention (and half its experts) on the digital engine, a
    64-token prefill: both phases are bound by the engine, so Σ τ = Q,K,V (phase 0) + out and
    the MoE part (the layer's phase) — without a next layer's Q,K,V, which the last layer's
    phase charged (8.4 µs a token)."""
    from aimc_dse.cost.aimc import design

    sets = ["model.layers=1", "hw.digital=hermes-14nm-digital", "workload.digital.attention=true",
            "workload.digital.fraction=0.5", "workload.digital.score=random"]
    inp = _inputs("hermes-3d", "olmoe-1b-7b", sets, prompt_len=64, gen_len=1)
    acc = accounting(inp.profile)
    d = design(inp, acc, grouping_factors(inp.chip, inp.shape, inp.work, inp.grouping, acc.grouping_on_expert_phase),
               np.zeros(1, bool))
    rate = d.eng.macs_per_ns
    moe = d.dmac.moe_dense + d.dm.picks * d.dmac.expert
    assert d.ph.tau_total[0] == pytest.approx((d.dmac.qkv[0] + d.dmac.out[0] + moe[0]) / rate[0], rel=1e-12)
