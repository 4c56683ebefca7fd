"""Several AIMC chips joined by links (hw.chips, hw.link): layers pipelined across chips.

Laws: one chip is today's single-chip model exactly; with free links and one sequence, C chips
take as long as one chip holding C times the tiers (a stage stays on one chip, so its tile
loads are a single chip's); link traffic is C crossings of d activations per token and step.
"""

from __future__ import annotations

import math
import re

import aimc_dse

FREE = {"hw.link.bandwidth_gbps": 1e6, "hw.link.latency_ns": 0.0, "hw.link.energy_pj_per_bit": 0.0}


def _row(hw: str, model: str, sets: dict, **wl):
    return aimc_dse.evaluate(hw=hw, model=model, set=sets, **wl).iloc[0]


def test_one_chip_is_the_single_chip_model():
    a = _row("nature-3d-aimc", "nature-moe-51b", {})
    b = _row("nature-3d-aimc", "nature-moe-51b", {"hw.chips": 1})
    for col in ("latency_ns", "energy_nj", "area_mm2", "tier_blocks", "power_w"):
        assert a[col] == b[col]
    assert b["link_bytes"] == 0 and b["energy_nj.link"] == 0 and b["chips_needed"] == 1


def test_a_model_too_big_for_one_chip_fits_two():
    one = _row("nature-3d-aimc", "llama-2-70b", {})
    two = _row("nature-3d-aimc", "llama-2-70b", {"hw.chips": 2})
    assert not one["fits"] and one["fit_reason"] == "weights" and one["chips_needed"] == 2
    assert two["fits"] and two["tokens_per_s"] > 0
    assert two["area_mm2"] > 1.9 * one["area_mm2"]  # two chips' tiles, DPUs, MHA units, SRAM


def test_free_links_one_sequence_equals_one_chip_with_the_tiers_of_all():
    batch = 1
    sets = {"hw.chips": 2, **FREE}
    two = _row("nature-3d-aimc-sim", "nature-moe-51b", sets, batch=batch)
    big = _row("nature-3d-aimc-sim", "nature-moe-51b", {"hw.stack_height": 2048}, batch=batch)
    assert two["fits"] and big["fits"]
    # (the fastest link the spec allows still takes bytes / 1e6 GB/s per crossing: that and only that differs)
    assert two["busy_ns.link"] < 1.0
    assert math.isclose(two["latency_ns"] - two["busy_ns.link"], big["latency_ns"], rel_tol=1e-12)


def test_link_traffic_is_a_hand_count():
    # 2 chips: 1 crossing between them + the sampled token back to chip 0 = 2 crossings per token
    # and step; prefill 32 tokens + 7 decode tokens, d = 1024 activations of 1 byte
    r = _row("nature-3d-aimc-sim", "nature-moe-51b", {"hw.chips": 2}, prompt_len=32, gen_len=8)
    assert r["link_bytes"] == 2 * (32 + 7) * 1024 * 1
    assert math.isclose(r["energy_nj.link"], r["link_bytes"] * 8 * 0.6 / 1000, rel_tol=1e-12)
    assert math.isclose(r["busy_ns.link"], r["link_bytes"] / 64.0, rel_tol=1e-12)
    # and a slow link costs time: latency grows by 2 crossings × (latency + transfer) per step
    slow = _row("nature-3d-aimc-sim", "nature-moe-51b", {"hw.chips": 2, "hw.link.latency_ns": 1000.0},
                prompt_len=32, gen_len=8)
    assert math.isclose(slow["latency_ns"] - r["latency_ns"], 8 * 2 * (1000.0 - 2.0), rel_tol=1e-9)


def test_event_mode_refuses_several_chips_clearly():
    from aimc_dse.specs.base import SpecError

    try:
        aimc_dse.evaluate(hw="nature-3d-aimc-sim", model="sigma-moe-small", set={"hw.chips": 2}, fidelity="event")
    except SpecError as e:
        assert "hw.chips" in str(e)
    else:
        raise AssertionError("event mode ran a multi-chip design it does not model")


# ---- expert parallelism (hw.parallelism = expert | best) ----------------------------------------

EXPERT = {"hw.parallelism": "expert"}


def test_one_chip_expert_parallel_is_the_pipeline_exactly():
    for model, wl in (("nature-moe-51b", {}), ("mixtral-8x7b", {"batch": 8}), ("olmoe-1b-7b", {"batch": 4})):
        a = aimc_dse.evaluate(hw="nature-3d-aimc", model=model, set={}, **wl).iloc[0]
        b = aimc_dse.evaluate(hw="nature-3d-aimc", model=model, set=EXPERT, **wl).iloc[0]
        assert b["placement"] == "expert"
        for col in a.index:
            if col in ("placement", "hw.parallelism"):
                continue
            same = (a[col] == b[col]) or (a[col] != a[col] and b[col] != b[col])  # NaN == NaN
            assert same, (model, col, a[col], b[col])


def test_expert_parallel_link_traffic_is_a_hand_count():
    # nature-moe-51b: 48 MoE layers, top-1, d = 1024 activations of 1 byte. On 2 chips a token's
    # expert is on the other chip than its layer's home with probability 1/2, so per token and
    # MoE layer a dispatch and a combine move 1/2 · 1024 B each, besides the pipeline's 2
    # crossings of 1024 B per token; prefill 32 tokens + 7 decode tokens
    r = _row("nature-3d-aimc-sim", "nature-moe-51b", {"hw.chips": 2, **EXPERT}, prompt_len=32, gen_len=8)
    tokens = 32 + 7
    assert r["placement"] == "expert"
    assert r["link_bytes"] == tokens * (2 * 1024 + 48 * 2 * 0.5 * 1024)
    assert math.isclose(r["energy_nj.link"], r["link_bytes"] * 8 * 0.6 / 1000, rel_tol=1e-12)
    assert math.isclose(r["busy_ns.link"], r["link_bytes"] / 64.0, rel_tol=1e-12)
    # every crossing (2 pipeline + 2 × 48 all-to-all per step) pays the link latency: 8 steps
    slow = _row("nature-3d-aimc-sim", "nature-moe-51b", {"hw.chips": 2, "hw.link.latency_ns": 1000.0, **EXPERT},
                prompt_len=32, gen_len=8)
    assert math.isclose(slow["latency_ns"] - r["latency_ns"], 8 * (2 + 96) * (1000.0 - 2.0), rel_tol=1e-9)
    # top-8 of 256 over 16 chips: 8 · 15/16 = 7.5 remote experts per token and MoE layer (58 of them);
    # prefill 4 tokens + 1 decode token, d = 7168
    ds = _row("nature-3d-aimc", "deepseek-v3", {"hw.chips": 16, **EXPERT}, prompt_len=4, gen_len=2)
    d = 7168
    assert math.isclose(ds["link_bytes"], 5 * (16 * d + 58 * 2 * 8 * 15 / 16 * d), rel_tol=1e-12)


def test_expert_parallel_fit_is_a_hand_count():
    # nature-moe-51b on 200-tile chips: an expert is 16 + 16 blocks (1024×4096 and 4096×1024 on
    # 512×512 tiers), 48 layers × 128 experts = 196,608 expert blocks. Over 3 chips each holds
    # ⌈128/3⌉ = 43 experts of every layer and a third of the rest.
    one = _row("nature-3d-aimc-sim", "nature-moe-51b", {})
    rest = int(one["tier_blocks"]) - 48 * 128 * 32
    per_chip = -(-rest // 3) + 48 * 43 * 32
    # the smallest stack on which 3 chips hold the model as a pipeline (perfect balance)
    z = -(-int(one["tier_blocks"]) // (3 * 200))
    pipe = _row("nature-3d-aimc-sim", "nature-moe-51b", {"hw.chips": 3, "hw.stack_height": z})
    ep = _row("nature-3d-aimc-sim", "nature-moe-51b", {"hw.chips": 3, "hw.stack_height": z, **EXPERT})
    assert pipe["fits"] and pipe["chips_needed"] == 3
    assert bool(ep["fits"]) == (per_chip <= 200 * z) and not ep["fits"]  # ⌈E/C⌉ rounding costs tiers
    assert ep["tiers_used"] == -(-per_chip // 200)
    # 4 chips: ⌈128/4⌉ = 32 experts each, the rest quartered: fits, and chips_needed says 4
    per4 = -(-rest // 4) + 48 * 32 * 32
    ep4 = _row("nature-3d-aimc-sim", "nature-moe-51b", {"hw.chips": 4, "hw.stack_height": z, **EXPERT})
    assert ep4["fits"] == (per4 <= 200 * z) and ep4["fits"] and ep4["chips_needed"] == 4
    assert ep4["tiers_used"] == -(-per4 // 200)


def test_free_links_one_sequence_expert_parallel_is_not_slower_than_one_chip_with_all_tiers():
    # Expert parallelism keeps every stage's blocks on one chip's N tiles, as the big chip (N tiles,
    # C·Z tiers) does, except that a layer's experts spread over C·N tiles: chosen experts meet on a
    # tile only when they share a chip, and a prefill phase's hottest tile holds 1/C of the experts.
    sets = {"hw.chips": 2, **FREE, **EXPERT}
    big = {"hw.stack_height": 2048}
    # top-1 decode: one chosen expert never collides, so both take exactly as long
    wl = {"batch": 1, "prefill": False, "gen_len": 6, "prompt_len": 16}
    two = _row("nature-3d-aimc-sim", "nature-moe-51b", sets, **wl)
    one = _row("nature-3d-aimc-sim", "nature-moe-51b", big, **wl)
    assert math.isclose(two["latency_ns"] - two["busy_ns.link"], one["latency_ns"], rel_tol=1e-12)
    # top-2 (mixtral) and top-8 (olmoe), with a prefill: not slower, and faster than the pipeline
    for model, z in (("mixtral-8x7b", 4096), ("olmoe-1b-7b", 2048)):
        two = _row("nature-3d-aimc-sim", model, {**sets, "hw.stack_height": z // 2}, batch=1)
        pipe = _row("nature-3d-aimc-sim", model, {**sets, "hw.stack_height": z // 2, "hw.parallelism": "pipeline"},
                    batch=1)
        one = _row("nature-3d-aimc-sim", model, {"hw.stack_height": z}, batch=1)
        assert two["fits"] and one["fits"]
        assert two["latency_ns"] - two["busy_ns.link"] < one["latency_ns"]
        assert two["latency_ns"] - two["busy_ns.link"] < pipe["latency_ns"] - pipe["busy_ns.link"]


def test_best_reports_the_faster_placement():
    for model, chips, batch in (("deepseek-v3", 16, 1), ("deepseek-v3", 16, 64), ("qwen3-30b-a3b", 8, 1),
                                ("olmoe-1b-7b", 2, 4), ("nature-moe-51b", 1, 1)):
        got = {p: _row("nature-3d-aimc", model, {"hw.chips": chips, "hw.parallelism": p}, batch=batch)
               for p in ("pipeline", "expert", "best")}
        fast = max(("pipeline", "expert"), key=lambda p: (got[p]["tokens_per_s"], p == "pipeline"))
        assert got["best"]["placement"] == fast
        assert got["best"]["tokens_per_s"] == got[fast]["tokens_per_s"]
        assert got["best"]["energy_nj"] == got[fast]["energy_nj"]
    # a tie (one chip) goes to the pipeline; a dense model has no experts to spread
    assert _row("nature-3d-aimc", "olmoe-1b-7b", {"hw.parallelism": "best"})["placement"] == "pipeline"
    dense = _row("nature-3d-aimc", "llama-2-70b", {"hw.chips": 2, **EXPERT})
    assert dense["placement"] == "pipeline"
    assert dense["latency_ns"] == _row("nature-3d-aimc", "llama-2-70b", {"hw.chips": 2})["latency_ns"]


def test_an_unknown_parallelism_is_refused_in_one_line():
    from aimc_dse.specs.base import SpecError

    try:
        aimc_dse.evaluate(hw="nature-3d-aimc", model="olmoe-1b-7b", set={"hw.parallelism": "ep"})
    except SpecError as e:
        assert "parallelism" in str(e) and "\n" not in str(e).strip()
    else:
        raise AssertionError("hw.parallelism=ep accepted on an AIMC chip")


# ---- MLA attention on the tiers (shapes.attn_mats) -------------------------------------------------

def _internals(model: str, sets: list[str]):
    from aimc_dse.cost.aimc.accounting import accounting
    from aimc_dse.cost.aimc.blocks import digital_macs, stage_blocks, tier_cut
    from aimc_dse.cost.aimc.digital import digital_engine, digital_modules
    from aimc_dse.cost.aimc.encoding import tiers_per_block
    from aimc_dse.cost.aimc.inputs import read_inputs
    from aimc_dse.cost.columns import Cols
    from aimc_dse.specs.points import build_points

    inp = read_inputs(Cols(build_points(["nature-3d-aimc-sim"], [model], {}, sets)))
    dm = digital_modules(inp.digital, inp.shape, inp.work.zipf, inp.first_dense_layers, inp.moe_every)
    eng = digital_engine(inp.digital, inp.digital.has_unit)
    nb = stage_blocks(tier_cut(inp.chip, tiers_per_block(inp.physical), inp.physical.slices), inp.shape,
                      accounting(inp.profile), dm)
    return nb, digital_macs(inp.shape, dm, eng)


def test_mla_attention_blocks_and_macs_are_hand_counts():
    # DeepSeek-V3 on 512×512 tiers: q_a 7168×1536 (14·3 = 42 blocks), q_b 1536×(128·192) (3·48 = 144),
    # kv_a 7168×576 (14·2 = 28), kv_b 512×(128·256) (1·64 = 64); out (128·128)×7168 (32·14 = 448)
    nb, _ = _internals("deepseek-v3", [])
    assert int(nb.qkv[0]) == 42 + 144 + 28 + 64 and int(nb.out[0]) == 448
    # partial-sum adds: (⌈I/512⌉ − 1)·⌈O/512⌉ = 13·3 + 2·48 + 13·2 + 0·64; out 31·14
    assert int(nb.na_qkv[0]) == 39 + 96 + 26 and int(nb.na_out[0]) == 434
    # on a digital unit the same five matrices are its MACs per token and layer
    _, dmac = _internals("deepseek-v3", ["hw.digital=hermes-14nm-digital", "workload.digital.attention=true"])
    assert int(dmac.qkv[0]) == 7168 * 1536 + 1536 * 24576 + 7168 * 576 + 512 * 32768
    assert int(dmac.out[0]) == 16384 * 7168
    # a GQA model keeps Q, K, V: mixtral d 4096, q 4096, kv 1024 → 8·8 + 2·8·2 blocks
    nb, _ = _internals("mixtral-8x7b", [])
    assert int(nb.qkv[0]) == 64 + 2 * 16 and int(nb.out[0]) == 64


def test_mla_operations_count_the_real_matrices():
    # moving the attention to the digital unit turns each stored weight's (2 − 1/C) tier operations
    # into 2 MAC operations, and drops its partial-sum adds (161 + 434 adds of C = 512 per layer):
    # one token through 61 layers
    kw = dict(prompt_len=1, gen_len=1, batch=1, kv_cache=True)
    sets = {"hw.chips": 16}
    an = _row("nature-3d-aimc-sim", "deepseek-v3", sets, **kw)
    dg = _row("nature-3d-aimc-sim", "deepseek-v3", {**sets, "hw.digital": "hermes-14nm-digital",
                                                    "workload.digital.attention": True}, **kw)
    attn = 7168 * 1536 + 1536 * 24576 + 7168 * 576 + 512 * 32768 + 16384 * 7168
    assert an["fits"] and dg["fits"]
    assert math.isclose(dg["flops"] - an["flops"], 61 * (attn / 512 - (161 + 434) * 512), rel_tol=1e-9)


# ---- the README's multi-chip comparison table is the model's ------------------------------------

def _readme_table_rows():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = text[text.index("### Several chips"):text.index("### Event-driven fidelity")]
    for line in section.splitlines():
        if line.startswith("| DeepSeek-V3 |") or line.startswith("| Qwen3-30B-A3B |"):
            yield [c.strip() for c in line.strip("|").split("|")]


GPU_SETS = {"hw.devices": 8, "hw.parallelism": "ep", "hw.weight_precision": "fp8", "hw.compute_precision": "fp8",
            "hw.kv_precision": "fp8"}


def _close(shown: str, value: float) -> bool:
    s = shown.replace(",", "")
    decimals = len(s.split(".")[1]) if "." in s else 0
    return abs(float(s) - value) <= 0.5 * 10 ** -decimals + 1e-12


def test_readme_multichip_ratios_match_the_model():
    rows = list(_readme_table_rows())
    assert len(rows) == 12
    models = {"DeepSeek-V3": "deepseek-v3", "Qwen3-30B-A3B": "qwen3-30b-a3b"}
    gpus = {"H200": "h200-sxm", "H100": "h100-sxm"}
    for model, aimc, gpu, prompt, batch, *shown in rows:
        chips, placement = re.fullmatch(r"(\d+) chips?, (\w+)", aimc).groups()
        devices, name, par = re.fullmatch(r"(\d+)× (H\d+)(?: (EP|TP))?", gpu).groups()
        wl = dict(prompt_len=int(prompt), gen_len=128, batch=int(batch), kv_cache=True)
        a = _row("nature-3d-aimc", models[model], {"hw.chips": int(chips), "hw.parallelism": placement}, **wl)
        sets = {**GPU_SETS, "hw.devices": int(devices), "hw.parallelism": (par or "tp").lower()}
        g = _row(gpus[name], models[model], sets, **wl)
        for s, col in zip(shown, ("tokens_per_s", "tokens_per_s_per_w", "tokens_per_s_per_mm2", "gops_per_w_per_mm2")):
            assert _close(s, a[col] / g[col]), (model, aimc, prompt, batch, col, s, a[col] / g[col])


def test_chips_needed_under_expert_placement_is_the_same_from_one_chip():
    """A one-chip design asked to place experts across chips says how many it would need (14
    for DeepSeek-V3, ⌈256/C⌉ experts a chip), as a 13-chip one does; it said the pipeline's 13."""
    for chips in (1, 13):
        r = _row("nature-3d-aimc", "deepseek-v3", {"hw.chips": chips, "hw.parallelism": "expert"})
        assert (bool(r["fits"]), int(r["chips_needed"])) == (False, 14), chips
    assert int(_row("nature-3d-aimc", "deepseek-v3", {"hw.chips": 1})["chips_needed"]) == 13  # pipeline
    r = _row("nature-3d-aimc", "deepseek-v3", {"hw.chips": 14, "hw.parallelism": "expert"})
    assert bool(r["fits"]) and int(r["chips_needed"]) == 14


def test_a_batch_cannot_outrun_the_chips_link_ports():
    """Each chip has one link port: B sequences' link bytes take at least busy_ns.link / C of
    time. The stacked (3D) makespan left the port out of its throughput bound, so 16 sequences
    of Qwen3-30B-A3B on 4 expert-parallel chips over 1 GB/s links finished in 259 ms while
    their 3.0 GB of all-to-all needed 755 ms on the four ports."""
    sets = {"hw.chips": 4, "hw.parallelism": "expert", "hw.link.bandwidth_gbps": 1.0}
    r = _row("nature-3d-aimc", "qwen3-30b-a3b", sets, prompt_len=128, gen_len=32, batch=16)
    assert r["stacked"] and r["placement"] == "expert"
    # the all-to-all dominates (each chip's port also carries its pipeline crossing: ≥ 1/C of all)
    assert r["latency_ns"] >= r["busy_ns.link"] / 4 * (1 - 1e-12)
    assert r["throughput_bound_ns"] >= r["busy_ns.link"] / 4 * (1 - 1e-12)
    assert r["batch_bound"] == "throughput"
    # a fast link leaves the tiles and units in charge, as before
    fast = _row("nature-3d-aimc", "qwen3-30b-a3b", {**sets, "hw.link.bandwidth_gbps": 64.0},
                prompt_len=128, gen_len=32, batch=16)
    assert fast["latency_ns"] < r["latency_ns"] / 3


def test_chips_sized_to_the_model_share_its_tiles():
    # hw.size_to_model with C chips: each chip gets its share, ⌈blocks / (C·Z)⌉ tiles as a
    # pipeline and ⌈(one chip's expert-parallel load) / Z⌉ under expert placement — not the
    # whole model's tile count each (which made two chips twice the area and half-full tiers).
    Z = 64
    base = {"hw.size_to_model": True, "hw.stack_height": Z}
    one = _row("nature-3d-aimc-sim", "nature-moe-51b", base)
    blocks = int(one["tier_blocks"])
    assert one["fits"] and one["area_mm2.per_chip"] == one["area_mm2"]
    whole = one["area_mm2"]  # one chip sized to the whole model
    for C in (2, 3, 4):
        pipe = _row("nature-3d-aimc-sim", "nature-moe-51b", {**base, "hw.chips": C})
        N = -(-blocks // (C * Z))
        assert pipe["fits"] and pipe["chips_needed"] == C and pipe["tiers_used"] == -(-blocks // (C * N))
        rest = blocks - 48 * 128 * 32
        load = -(-rest // C) + 48 * -(-128 // C) * 32
        ep = _row("nature-3d-aimc-sim", "nature-moe-51b", {**base, "hw.chips": C, **EXPERT})
        assert ep["fits"] and ep["chips_needed"] == C and ep["tiers_used"] == -(-load // -(-load // Z))
        # the tiles' area is split over the chips: C chips cost one chip's tiles plus C − 1
        # more sets of the per-chip parts (DPUs, MHA units, SRAM), never C times the tiles
        assert pipe["area_mm2"] < 1.25 * whole
        assert ep["area_mm2"] >= pipe["area_mm2"]
    # a chip of N tiles per the pipeline rule: the same area as asking for those N tiles
    N2 = -(-blocks // (2 * Z))
    sized = _row("nature-3d-aimc-sim", "nature-moe-51b", {**base, "hw.chips": 2})
    asked = _row("nature-3d-aimc-sim", "nature-moe-51b", {"hw.stack_height": Z, "hw.chips": 2, "hw.tiles": N2})
    for col in ("area_mm2", "latency_ns", "energy_nj", "tiers_used"):
        assert sized[col] == asked[col], col
