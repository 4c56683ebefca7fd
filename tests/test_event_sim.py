"""The event-driven simulator (aimc_dse.sim): scheduler semantics, closed-form agreement, reference runs.

(a) Hand-checkable schedules: a chain's makespan is the sum of its latencies; MVMs of two
    sequences on one tile serialise, the lower sequence first; a DPU/MHA pool of P runs P ops
    at once; ties go to the op that became ready first.
(b) Single-sequence designs whose blocks sit on distinct tiles: latency within the closed
    form's validated B = 1 tolerance (1 %, docs/event-simulation.md), active energy and
    operations equal to it.
(c) Reference runs: the 60 MoEwithPIM stacked-batch runs of the shipped corpus and the four
    3D-SiM README runs (docs/reference-simulators.md §F.2) are reproduced — latency, energy and
    operations — to float precision. The issue asked for 2 % latency and 0.1 % energy; the
    simulator replays the reference's mapper, its torch expert draws (MT19937 + randperm,
    reproduced with numpy) and its list scheduler's ready-order tie-breaking, so the test
    asserts what is achieved: relative error below 1e-6 (measured max 7e-8 latency, 3e-8 energy,
    0 operations). The residue is the clock: the simulator counts whole picoseconds, so an
    attention job of 4,217.697… ns is rounded, while the reference accumulates floats.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import aimc_dse
from aimc_dse.cost.aimc import aimc_cost
from aimc_dse.cost.columns import Cols, spec_columns
from aimc_dse.sim import evaluate_frame_event, simulate_point
from aimc_dse.sim.corpus import cfg_point, load_corpus
from aimc_dse.sim.graph import DPU, MHA, MVM
from aimc_dse.sim.routing import torch_randperm_topk
from aimc_dse.sim.scheduler import schedule
from aimc_dse.specs import loader
from aimc_dse.specs.base import SpecError

PS = 1000


def run(nodes, edges, N=4, P=4, M=1, t_ci=24, t_co=24):
    """Schedule hand-built nodes: (kind, tile, lat_ns, seq, tok, ocomm); edges (u, v, via_transfer)."""
    n = len(nodes)
    kind = np.array([x[0] for x in nodes], np.int8)
    tile = np.array([x[1] for x in nodes], np.int64)
    lat = np.array([x[2] * PS for x in nodes], np.int64)
    seq = np.array([x[3] for x in nodes], np.int64)
    tok = np.array([x[4] for x in nodes], np.int64)
    oc = np.array([x[5] for x in nodes], np.int8)
    succ = [[] for _ in range(n)]
    for u, v, via in edges:
        succ[u].append(2 * v + int(via))
    indptr = np.concatenate([[0], np.cumsum([len(s) for s in succ])]).astype(np.int64)
    idx = np.array([c for s in succ for c in s], np.int64)
    T, fin, st, _ = schedule(kind, tile, lat, seq, tok, oc, indptr, idx, N, P, M, t_ci * PS, t_co * PS)
    return T / PS, [f / PS for f in fin], [s / PS for s in st]


# ---- (a) hand-checkable schedules ---------------------------------------------------------

def test_chain_makespan_is_the_hand_sum():
    # MVM (100) → output transfer (24) → add (12) → input transfer (24) → MVM (100), no output transfer
    nodes = [(MVM, 0, 100, 0, 0, 1), (DPU, -1, 12, 0, 0, 0), (MVM, 1, 100, 0, 0, 0)]
    T, fin, st = run(nodes, [(0, 1, False), (1, 2, True)])
    assert T == 100 + 24 + 12 + 24 + 100
    assert st[2] == 100 + 24 + 12 + 24


def test_two_sequences_on_one_tile_serialise_lower_sequence_first():
    # sequence 1's MVM becomes ready first (lower node id), but sequence 0 has priority
    nodes = [(MVM, 0, 100, 1, 0, 0), (MVM, 0, 100, 0, 0, 0)]
    T, fin, st = run(nodes, [])
    assert T == 200
    assert st[1] == 0 and st[0] == 100
    # on two tiles they run together
    T2, _, _ = run([(MVM, 0, 100, 1, 0, 0), (MVM, 1, 100, 0, 0, 0)], [])
    assert T2 == 100


@pytest.mark.parametrize("P,expected", [(1, 30), (2, 20), (3, 10)])
def test_dpu_pool_size(P, expected):
    nodes = [(DPU, -1, 10, 0, t, 0) for t in range(3)]
    T, _, _ = run(nodes, [], P=P)
    assert T == expected


@pytest.mark.parametrize("M,expected", [(1, 100), (2, 50)])
def test_mha_units(M, expected):
    T, _, _ = run([(MHA, -1, 50, 0, 0, 0), (MHA, -1, 50, 1, 0, 0)], [], M=M)
    assert T == expected


def test_ties_go_to_the_op_ready_first():
    # one DPU; two adds of the same (sequence, token) released by one producer in its successor order
    nodes = [(DPU, -1, 5, 0, 0, 0), (DPU, -1, 7, 0, 0, 0), (DPU, -1, 3, 0, 0, 0)]
    T, fin, st = run(nodes, [(0, 2, False), (0, 1, False)], P=1)
    assert st[2] == 5 and st[1] == 8 and T == 15
    T, fin, st = run(nodes, [(0, 1, False), (0, 2, False)], P=1)
    assert st[1] == 5 and st[2] == 12 and T == 15


def _tiny_point(batch=1, dpus=4, tiles=16):
    """One layer, d = d_ff = vocab = 512 on 512×512 tiers: every matrix is one block on its own tile."""
    data, src = loader.resolve("hw", "ibm3dsim-readme")
    hw = loader.validate_hardware(dict(data, tiles=tiles, stack_height=1, dpus=dpus), src)
    m = loader.validate_model(dict(name="tiny", layers=1, d_model=512, heads=8, d_ff=512, mlp="plain",
                                   activation="relu", vocab=512, position_embedding="none", max_positions=8), "tiny")
    w = loader.load_workload(dict(prompt_len=1, gen_len=1, batch=batch, prefill=True, kv_cache=True), "tiny")
    return spec_columns(hw, m, w)


def test_one_layer_one_token_is_the_hand_sum():
    # 3D-SiM defaults: MVM 100, transfer 10, add 10, LN 50, ReLU 1, attention stub 2, sampling 10 (ns)
    path = [
        100, 10,            # token embedding MVM, output transfer
        10,                 # embedding add
        10, 100, 10,        # in, Q/K/V MVMs (three tiles, in parallel), out
        2,                  # attention
        10, 100, 10, 10,    # in, out_proj, out, residual add
        50,                 # norm2
        10, 100, 10, 1,     # in, ffn1, out, ReLU
        10, 100, 10, 10,    # in, ffn2, out, residual add
        50,                 # final norm
        10, 100,            # in, lm_head (feeds sampling directly: no output transfer)
        10, 10,             # transfer before sampling, sampling
    ]
    res = simulate_point(_tiny_point())
    assert res["latency_ns"] == sum(path)
    # a second sequence trails the first by one MVM (each stage's tile is busy 100 ns)
    res2 = simulate_point(_tiny_point(batch=2))
    assert res2["latency_ns"] == sum(path) + 100


# ---- (b) the closed form on single-sequence designs ----------------------------------------

def _point(hw, model, hw_set=None, **w):
    data, src = loader.resolve("hw", hw)
    h = loader.validate_hardware(data, src, hw_set or {})
    return spec_columns(h, loader.load_model(model, {}), loader.load_workload(w, "test"))


CLOSED_CASES = [
    ("moewithpim-hermes", "moewithpim-layer", None, dict(prompt_len=4, gen_len=3)),
    ("ibm3dsim-readme", "ibm3dsim-readme", None, dict(prompt_len=4, gen_len=6)),
    ("moewithpim-hermes", "sigma-moe-small", {"accounting": "physical"}, dict(prompt_len=8, gen_len=4)),
    ("ibm3dsim-readme", "gpt2-medium", {"accounting": "physical", "tiles": 2000}, dict(prompt_len=4, gen_len=3)),
]


@pytest.mark.parametrize("hw,model,hw_set,w", CLOSED_CASES)
def test_single_sequence_matches_closed_form(hw, model, hw_set, w):
    pt = _point(hw, model, hw_set, **w)
    ev = simulate_point(pt)
    cf = {k: v[0] for k, v in aimc_cost(Cols(pt)).items()}
    assert ev["fits"] and cf["fits"]
    assert abs(ev["latency_ns"] / cf["latency_ns"] - 1) < 0.01
    active_ev = ev["energy_nj"] - ev["energy_nj.passive"] - ev.get("energy_nj.static", 0.0)
    active_cf = cf["energy_nj"] - cf["energy_nj.passive"] - cf.get("energy_nj.static", 0.0)
    assert active_ev == pytest.approx(active_cf, rel=1e-12)
    assert ev["flops"] == pytest.approx(cf["flops"], rel=1e-12)
    assert ev["energy_nj.passive"] / ev["latency_ns"] == pytest.approx(cf["energy_nj.passive"] / cf["latency_ns"])


# ---- (c) reference runs --------------------------------------------------------------------

def test_torch_randperm_replay():
    """torch 2.13 CPU: manual_seed(48); rand(1024); [randperm(12)[:3] for 5 draws] (run once with torch)."""
    got = torch_randperm_topk(48, 1024, 5, 12, 3).tolist()
    assert got == [[9, 4, 10], [6, 9, 7], [9, 8, 2], [7, 0, 10], [8, 0, 11]]


IBM_README = [  # docs/reference-simulators.md §F.2: 3D-SiM README example (start 1, target 12)
    ({}, dict(kv_cache=False), 45_739, 269_552.3594, 1_295_718_083),
    ({}, dict(kv_cache=True), 23_739, 128_914.6005, 225_607_283),
    ({}, dict(kv_cache=True, batch=4), 24_039, 151_875.4669, 902_429_132),
    ({"tiles": 8}, dict(kv_cache=False), 60_477, 343_242.3594, 1_295_718_083),
]


@pytest.mark.parametrize("hw_set,w,lat,energy,flops", IBM_README)
def test_ibm3dsim_readme_runs(hw_set, w, lat, energy, flops):
    res = simulate_point(_point("ibm3dsim-readme", "ibm3dsim-readme", hw_set, prompt_len=1, gen_len=11, **w))
    assert res["latency_ns"] == pytest.approx(lat, rel=1e-12)
    assert res["energy_nj"] == pytest.approx(energy, rel=1e-9)
    assert res["flops"] == flops


CORPUS = load_corpus()


@pytest.mark.parametrize("i", range(len(CORPUS)))
def test_stacked_batch_corpus_run(i):
    r = CORPUS[i]
    res = simulate_point(cfg_point(r["cfg"]))
    assert abs(res["latency_ns"] / r["latency_ns"] - 1) < 1e-6
    assert abs(res["energy_nj"] / r["energy_nj"] - 1) < 1e-6
    assert res["flops"] == pytest.approx(r["flops"], rel=1e-12)


# ---- outputs, frames, errors -------------------------------------------------------------

def test_timeline_is_a_valid_trace(tmp_path):
    pt = _point("ibm3dsim-readme", "ibm3dsim-readme", {"tiles": 8}, prompt_len=2, gen_len=3, batch=3)
    out = tmp_path / "t.json"
    res = simulate_point(pt, timeline=out)
    tr = json.loads(out.read_text())
    ev = [e for e in tr["traceEvents"] if e["ph"] == "X"]
    assert ev and {e["pid"] for e in ev} <= {1, 2, 3}
    end = max(e["ts"] + e["dur"] for e in ev)
    assert end * 1000 == pytest.approx(res["latency_ns"])
    for pid in (1, 2, 3):  # one op at a time per tile, per DPU, per MHA unit
        by = {}
        for e in ev:
            if e["pid"] == pid:
                by.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
        for spans in by.values():
            spans.sort()
            assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:]))
    assert len({e["tid"] for e in ev if e["pid"] == 2}) <= 4


def test_frame_mixes_event_and_closed_form():
    from aimc_dse.cost.evaluate import evaluate_frame

    a = _point("ibm3dsim-readme", "ibm3dsim-readme", None, prompt_len=1, gen_len=4)
    data, src = loader.resolve("hw", "a100-sxm4-80gb")
    g = spec_columns(loader.validate_hardware(data, src), loader.load_model("ibm3dsim-readme"),
                     loader.load_workload(dict(prompt_len=1, gen_len=4), "t"))
    grid = pd.DataFrame([a, g])
    ev = evaluate_frame_event(grid)
    cf = evaluate_frame(grid)
    assert list(ev.index) == list(grid.index)
    assert ev.iloc[1]["latency_ns"] == cf.iloc[1]["latency_ns"]  # GPU: closed form
    assert ev.iloc[0]["latency_ns"] == simulate_point(a)["latency_ns"]


def test_physical_moe_is_deterministic_per_seed():
    pts = [_point("moewithpim-hermes", "sigma-moe-small", {"tiles": 64, "stack_height": 64, "accounting": "physical"}, prompt_len=4, gen_len=3, batch=3, seed=s)
           for s in (1, 1, 2)]
    r = [simulate_point(p) for p in pts]
    assert r[0]["latency_ns"] == r[1]["latency_ns"]
    assert r[0]["energy_nj"] == r[1]["energy_nj"]
    assert math.isfinite(r[2]["latency_ns"])


def test_does_not_fit_is_a_result():
    res = simulate_point(_point("ibm3dsim-readme", "gpt2-medium", {"tiles": 2, "stack_height": 8}, prompt_len=2, gen_len=2))
    assert not res["fits"]
    assert math.isnan(res["latency_ns"])


def test_unsupported_feature_is_a_clear_error():
    pt = _point("ibm3dsim-readme", "ibm3dsim-readme", None, prompt_len=2, gen_len=2)
    pt["workload.digital.fraction"] = 0.5
    with pytest.raises(SpecError, match="digital"):
        simulate_point(pt)


# ---- the fast paths equal the readable ones -----------------------------------------------

def _assembled(pt):
    from aimc_dse.sim.assemble import assemble
    from aimc_dse.sim.graph import steps_of
    from aimc_dse.sim.mapper import map_model
    from aimc_dse.sim.params import read_point
    from aimc_dse.sim.routing import Router

    p = read_point(pt)
    m = map_model(p, p.N)
    return p, m, assemble(p, m, Router(p, [st["n"] for st in steps_of(p)], p.prompt + p.G))


FAST_CASES = [
    lambda: cfg_point(CORPUS[0]["cfg"]),   # MoE, greedy, KV+GO, B 8
    lambda: cfg_point(CORPUS[18]["cfg"]),  # MoE-separated, recompute, B 2
    lambda: _point("moewithpim-hermes", "sigma-moe-small", {"tiles": 64, "stack_height": 64, "accounting": "physical"}, prompt_len=5, gen_len=3, batch=3, seed=2),
]


@pytest.mark.parametrize("case", range(len(FAST_CASES)))
def test_template_replay_equals_building_every_token(case):
    from aimc_dse.sim.assemble import build_template

    p, m, _ = _assembled(FAST_CASES[case]())
    for n in (1, 2, 5):
        a, _ = build_template(p, m, n, replay=False)
        b, _ = build_template(p, m, n, replay=True)
        for f in ("kind", "tile", "lat_ps", "tok", "cls", "ocomm", "indptr", "idx", "xl", "xt", "xs", "xb", "xp", "entry"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), f
        assert a.sums == b.sums


@pytest.mark.parametrize("case", range(len(FAST_CASES)))
def test_compiled_scheduler_equals_python(case):
    pytest.importorskip("numba")
    from aimc_dse.sim import scheduler_nb

    p, _, bt = _assembled(FAST_CASES[case]())
    args = (bt.kind, bt.tile, bt.lat_ps, bt.seq, bt.tok, bt.ocomm, bt.indptr, bt.idx, p.N, p.P, p.M,
            int(round(bt.t_ci * 1000)), int(round(bt.t_co * 1000)))
    T1, f1, s1, u1 = schedule(*args, record=True)
    T2, f2, s2, u2 = scheduler_nb.schedule_nb(*args, record=True)
    assert T1 == T2
    assert np.array_equal(np.asarray(f1), f2) and np.array_equal(np.asarray(s1), s2)
    assert np.array_equal(np.asarray(u1), u2)


# ---- the CLI --------------------------------------------------------------------------------

def test_cli_evaluate_event_fidelity_and_timeline(tmp_path):
    from typer.testing import CliRunner

    from aimc_dse.cli import app

    runner = CliRunner()
    base = ["evaluate", "--hw", "ibm3dsim-readme", "--model", "ibm3dsim-readme", "--prompt-len", "1",
            "--gen-len", "11", "--batch", "4", "--format", "json"]
    r = runner.invoke(app, base + ["--fidelity", "event", "--timeline", str(tmp_path / "t.json")])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)[0]
    assert row["latency_ns"] == pytest.approx(24_039)  # the 3D-SiM README batch-4 run (§F.2)
    assert json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    closed = json.loads(runner.invoke(app, base).stdout)[0]
    assert closed["flops"] == row["flops"]
    r = runner.invoke(app, base + ["--fidelity", "exact"])
    assert r.exit_code == 2 and "--fidelity" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, base + ["--timeline", str(tmp_path / "u.json")])
    assert r.exit_code == 2 and "--fidelity event" in r.output
    # an existing timeline is kept unless --force; a missing folder is made
    before = (tmp_path / "t.json").read_bytes()
    r = runner.invoke(app, base + ["--fidelity", "event", "--timeline", str(tmp_path / "t.json")])
    assert r.exit_code == 2 and "already exists; pass --force" in r.output and (tmp_path / "t.json").read_bytes() == before
    r = runner.invoke(app, base + ["--fidelity", "event", "--timeline", str(tmp_path / "t.json"), "--force"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, base + ["--fidelity", "event", "--timeline", str(tmp_path / "new" / "t.json")])
    assert r.exit_code == 0 and json.loads((tmp_path / "new" / "t.json").read_text())["traceEvents"]


def test_cli_sweep_event_fidelity(tmp_path):
    from typer.testing import CliRunner

    from aimc_dse.cli import app

    sw = tmp_path / "s.yaml"
    sw.write_text("name: tiny-event\nsystems: [ibm3dsim-readme]\nmodel: ibm3dsim-readme\n"
                  "workload: {prompt_len: 1, gen_len: 11}\naxes:\n  workload.batch: [1, 4]\n  hw.tiles: [8, 100]\n")
    out = tmp_path / "s.csv"
    r = CliRunner().invoke(app, ["sweep", str(sw), "-o", str(out), "-j", "1", "-q", "--fidelity", "event"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    got = {(int(b), int(t)): v for b, t, v in zip(df["workload.batch"], df["hw.tiles"], df["latency_ns"])}
    assert got[(4, 100)] == pytest.approx(24_039) and got[(1, 100)] == pytest.approx(23_739)


def test_zipf_and_trace_routing_run_and_matter(tmp_path):
    q = cfg_point(CORPUS[10]["cfg"])  # 32 stacked experts: the makespan depends on which experts meet
    base = simulate_point(q)["latency_ns"]
    q["workload.expert_load.model"], q["workload.expert_load.zipf_exponent"] = "zipf", 1.5
    z1, z2 = simulate_point(q)["latency_ns"], simulate_point(dict(q))["latency_ns"]
    assert z1 == z2 and z1 != base
    c = np.zeros((3, 40, CORPUS[10]["cfg"]["experts"]), bool)
    rng = np.random.default_rng(0)
    for l in range(3):
        for t in range(40):
            c[l, t, rng.permutation(c.shape[2])[:CORPUS[10]["cfg"]["k"]]] = True
    np.save(tmp_path / "gates.npy", c)
    q["workload.expert_load.model"], q["workload.expert_load.trace"] = "trace", str(tmp_path / "gates.npy")
    for acc in ("moewithpim", "physical"):
        q["hw.accounting"] = acc
        assert math.isfinite(simulate_point(q)["latency_ns"])


def test_too_large_a_graph_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AIMC_DSE_SIM_MAX_NODES", "1000")
    with pytest.raises(SpecError, match="limit"):
        simulate_point(_point("ibm3dsim-readme", "ibm3dsim-readme", None, prompt_len=8, gen_len=8, batch=4))


def test_physical_chip_sections_are_refused_clearly():
    # converters, 8T4R encoding, KV SRAM, static power: closed form only (one line, named)
    from aimc_dse.specs.base import SpecError

    with pytest.raises(SpecError, match="hw.encoding, hw.converters"):
        simulate_point(_point("hermes-3d", "sigma-moe-small", None, prompt_len=4, gen_len=2))


def test_dpus_below_saturation_wait_as_the_mha_units_do():
    """The 3D-SiM README chip (4 DPUs) at batch 8: the event run keeps its DPUs 78 % busy, and
    the closed form charged every sequence beyond 4 its whole DPU work (+18 %); the M/D/1 wait
    brings it within 5 %. Batch 4 stays exact."""
    import aimc_dse

    def latency(b, fidelity):
        return float(aimc_dse.evaluate(hw="ibm3dsim-readme", model="ibm3dsim-readme", prompt_len=1, gen_len=11,
                                       batch=b, kv_cache=True, fidelity=fidelity).iloc[0]["latency_ns"])

    assert latency(4, "closed") == latency(4, "event")
    assert latency(8, "closed") == pytest.approx(latency(8, "event"), rel=0.05)


def test_sharing_leaves_the_event_mode_mvm_energy_alone_as_the_closed_form_does():
    """Outside MoEwithPIM a shared periphery still converts every column of an MVM: the closed
    form stopped scaling expert MVM energy by f_g, and the event mode charged 0.4 × at g = 4."""
    pt = _point("moewithpim-hermes", "sigma-moe-small", {"accounting": "ibm3dsim", "sharing": {"group_size": 4}},
                prompt_len=4, gen_len=2)
    ev = simulate_point(pt)
    cf = {k: v[0] for k, v in aimc_cost(Cols(pt)).items()}
    assert cf["grouping.f_g"] == pytest.approx(0.4)
    assert ev["energy_nj.mvm"] == pytest.approx(cf["energy_nj.mvm"], rel=1e-12)


def test_event_mode_refuses_physical_sharing_it_does_not_serialise():
    # the closed form costs g > 1 under physical accounting as the single schedule; the simulator
    # has no group constraint, so it refuses rather than report an unserialised run
    pt = _point("moewithpim-hermes", "sigma-moe-small", {"accounting": "physical", "sharing": {"group_size": 4}},
                prompt_len=4, gen_len=2)
    with pytest.raises(SpecError, match="group_size"):
        simulate_point(pt)
    # a dense model has no experts to share a periphery: simulated
    dense = _point("ibm3dsim-readme", "gpt2-medium", {"accounting": "physical", "tiles": 2000, "sharing": {"group_size": 4}},
                   prompt_len=2, gen_len=2)
    assert simulate_point(dense)["fits"]


def _model_point(hw, model, model_set, hw_set=None, **w):
    data, src = loader.resolve("hw", hw)
    h = loader.validate_hardware(data, src, hw_set or {})
    return spec_columns(h, loader.load_model(model, model_set), loader.load_workload(w, "test"))


def test_sliding_window_layers_load_their_window_as_in_the_closed_form():
    # gpt-oss: every other layer keeps 128 tokens. Past the window a local layer's KV read is
    # window-bounded (physical accounting, cost/aimc/memory.py); the simulator read all n
    # tokens on every layer (about 30 % more DRAM energy here). The closed form rounds the
    # layers' mean load up to whole ns, the simulator each layer's: equal to 1e-4
    pt = _model_point("nature-3d-aimc-sim", "gpt-oss-20b", {"layers": 2, "sliding_window": 16},
                      {"size_to_model": True}, prompt_len=40, gen_len=3)
    ev = simulate_point(pt)
    cf = {k: v[0] for k, v in aimc_cost(Cols(pt)).items()}
    assert ev["energy_nj.dram"] == pytest.approx(cf["energy_nj.dram"], rel=1e-4)
    glob = _model_point("nature-3d-aimc-sim", "gpt-oss-20b", {"layers": 2, "sliding_window": 64},
                        {"size_to_model": True}, prompt_len=40, gen_len=3)
    assert simulate_point(glob)["energy_nj.dram"] > ev["energy_nj.dram"]  # a window wider than the context binds nothing


def test_sliding_window_layers_attend_their_window_as_in_the_closed_form():
    # a local layer's query attends at most the window: its share of the fitted job shrinks
    # (prefill Σ min(i, W) of n(n + 1)/2 pairs, decode min(n, W) of n keys); the closed form
    # charges the layers' mean share, the simulator each layer's own — the same sums
    pt = _model_point("nature-3d-aimc-sim", "gpt-oss-20b", {"layers": 2, "sliding_window": 16},
                      {"size_to_model": True}, prompt_len=40, gen_len=3)
    ev = simulate_point(pt)
    cf = {k: v[0] for k, v in aimc_cost(Cols(pt)).items()}
    for col in ("energy_nj.attention", "busy_ns.attention", "flops"):
        assert ev[col] == pytest.approx(cf[col], rel=1e-9), col
    # all layers global (global_every 1): every query attends the whole context
    glob = _model_point("nature-3d-aimc-sim", "gpt-oss-20b", {"layers": 2, "sliding_window": 16, "global_every": 1},
                        {"size_to_model": True}, prompt_len=40, gen_len=3)
    full = {k: v[0] for k, v in aimc_cost(Cols(glob)).items()}
    assert full["energy_nj.attention"] > cf["energy_nj.attention"]
    assert simulate_point(glob)["energy_nj.attention"] == pytest.approx(full["energy_nj.attention"], rel=1e-9)


def test_multi_head_latent_attention_is_refused_not_mapped_as_mha():
    # the simulator maps Q, K, V, out of q = kv = heads·head_dim; an MLA model (DeepSeek-V2/V3)
    # came out as plain MHA of width d — its KV load 2·d per token and layer instead of
    # kv_lora_rank + rope
    pt = _model_point("nature-3d-aimc-sim", "deepseek-v3", {"layers": 1, "moe": None}, {"size_to_model": True},
                      prompt_len=2, gen_len=2)
    with pytest.raises(SpecError, match="model.mla"):
        simulate_point(pt)


def _closed_and_event(hw: str, model: str, sets: dict, **wl) -> dict:
    """The closed form's and the event schedule's result rows of one design, by fidelity."""
    return {fidelity: aimc_dse.evaluate(hw=hw, model=model, set=sets, go_cache=False, fidelity=fidelity, **wl).iloc[0]
            for fidelity in ("closed", "event")}


def test_a_stacked_single_sequence_matches_the_closed_form_once_reductions_overlap():
    """One layer of Llama-2-7B on 16 tiles of 4,096 tiers (d/R = 8: every matrix spans 8 tiers'
    rows, 24–86 waves a stage), a one-token prompt and 16 cached decode steps: the event
    schedule and the closed form agree to 1e-8. Before the closed form let a stage's reduction
    adds overlap its later MVM waves (and a gated FFN's activation its up matrix), it was 24 %
    slower here (docs/batch-fidelity.md, item 8)."""
    rows = _closed_and_event("nature-3d-aimc-sim", "llama-2-7b", {"model.layers": 1, "hw.tiles": 16, "hw.stack_height": 4096},
                             prompt_len=1, gen_len=16)
    assert rows["event"]["stacked"]
    for col in ("latency_ns", "ttft_ns", "tpot_ns"):
        assert rows["closed"][col] == pytest.approx(rows["event"][col], rel=1e-8), col


def test_a_stacked_prefill_charges_no_next_qkv_after_the_last_layer():
    """Eight prompt tokens through one layer of Llama-2-7B on 32 tiles of 256 tiers: each
    further token costs the busiest tile's blocks of the layer's phase, ⌈(256 + 1,376 + 688)/32⌉
    = 73 MVMs (out, gate + up, down) — not 97, which counted a next layer's Q,K,V (768 blocks)
    after the last layer. The closed form's time to first token is within 1.5 % of the event
    schedule's (it was 19 % slow)."""
    rows = _closed_and_event("moewithpim-hermes", "llama-2-7b", {"model.layers": 1, "hw.tiles": 32, "hw.stack_height": 256},
                             prompt_len=8, gen_len=1)
    assert 1.0 <= rows["closed"]["ttft_ns"] / rows["event"]["ttft_ns"] < 1.015


def test_stacked_experts_sharing_a_tile_overlap_their_reductions():
    """One Mixtral token through one layer on 32 tiles of 1,024 tiers: both chosen experts'
    up- and down-projection blocks share tiles (168 MVMs on the busiest). The flow shop's
    shared-tile bound charged all of one expert's reduction rounds after those MVMs (+17.8 %
    against the event schedule); with the reductions overlapping the later blocks it is
    within 1.5 %."""
    rows = _closed_and_event("moewithpim-hermes", "mixtral-8x7b", {"model.layers": 1, "hw.tiles": 32, "hw.stack_height": 1024},
                             prompt_len=1, gen_len=1)
    assert 1.0 <= rows["closed"]["ttft_ns"] / rows["event"]["ttft_ns"] < 1.015


@pytest.mark.parametrize("hw, sets, tol", [
    # planar: every block in one wave, so the gate's and the up matrix's partial sums reach the
    # DPUs together — the references' sum up → adds → activation, to the nanosecond
    ("moewithpim-hermes", {"model.layers": 1}, 1e-9),
    # 128 tiles of 70 tiers, 5 DPUs: the gate runs two of the stage's three waves, but the 308
    # adds outrun the pool, which finishes the gate's chains with the up matrix's
    ("nature-3d-aimc-sim", {"model.layers": 1, "hw.tiles": 128, "hw.stack_height": 70, "hw.dpus": 5}, 0.01),
])
def test_a_gated_ffn_activation_waits_for_the_reductions_it_shares_the_dpus_with(hw, sets, tol):
    """One Llama-2-7B token: the gate's reduction adds share the DPU pool with the up matrix's,
    first come, first served, and each chain's next add queues behind those already waiting,
    so where the pool binds the gate finishes with the up matrix and its activation cannot
    overlap the up-projection. Counting the gate's adds alone hid the activation: 4.4 % fast
    on the planar chip (which 07c0bd1 meant to leave unchanged), 6.9 % on the stacked one."""
    rows = _closed_and_event(hw, "llama-2-7b", sets, prompt_len=1, gen_len=1)
    assert rows["closed"]["latency_ns"] == pytest.approx(rows["event"]["latency_ns"], rel=tol)


@pytest.mark.parametrize("model", ["gpt-oss-20b", "qwen3-30b-a3b"])
def test_a_stage_s_adds_start_once_a_column_s_second_row_chunk_arrives(model):
    """One token through one layer on 8 tiles of `nature-3d-aimc-sim` with one DPU: the LM
    head's blocks run row-major, so the first partial-sum add (row chunks 0 + 1 of column 0)
    waits for block h = ⌈vocab/C⌉ (393 or 297), in wave ⌊h/8⌋ + 1 = 50 or 38 — the DPU pool
    cannot start on the first wave. Counting the pool from the first wave made the closed
    form 10 % and 15 % faster than the event schedule; within 2 % now."""
    rows = _closed_and_event("nature-3d-aimc-sim", model,
                             {"model.layers": 1, "hw.tiles": 8, "hw.stack_height": 1089, "hw.dpus": 1},
                             prompt_len=1, gen_len=1)
    assert rows["closed"]["latency_ns"] == pytest.approx(rows["event"]["latency_ns"], rel=0.02)


def test_an_moe_model_cut_to_its_dense_layers_has_no_moe_density_not_a_crash():
    """deepseek-moe-16b with one layer keeps only its leading dense layer: no MoE part on the
    tiles (area_mm2.moe = 0). The event mode divided by that area (ZeroDivisionError); like the
    closed form it now leaves the MoE part's densities empty and agrees on the rest."""
    rows = _closed_and_event("nature-3d-aimc-sim", "deepseek-moe-16b", {"model.layers": 1}, prompt_len=8, gen_len=2)
    for r in rows.values():
        assert r["fits"] and r["area_mm2.moe"] == 0
        assert math.isnan(r["gops_per_mm2.moe"]) and math.isnan(r["gops_per_w_per_mm2.moe"])
    assert rows["closed"]["latency_ns"] == pytest.approx(rows["event"]["latency_ns"], rel=0.01)


def test_moe_separated_linear_piles_come_from_the_replayed_placement():
    """Under MoE-separated placement the weighted fill piles the Q,K,V, out and LM-head blocks
    on the light-looking expert tiles too. Two layers of OLMoE on 16 tiles of 1,024 tiers, one
    prompt token and 8 tokens: the closed form took those stages at ⌈blocks/N⌉ and was 6.5 %
    fast; with the replayed piles it is within 2 % of the event schedule."""
    rows = _closed_and_event("moewithpim-hermes", "olmoe-1b-7b", {"model.layers": 2, "hw.tiles": 16, "hw.stack_height": 1024,
                                                                  "hw.mapping.strategy": "moe_separated"},
                             prompt_len=1, gen_len=8)
    assert rows["closed"]["latency_ns"] == pytest.approx(rows["event"]["latency_ns"], rel=0.02)
