"""Several AIMC chips joined by links (hw.chips, hw.link): layers pipelined across chips.

Laws: one chip is today's single-chip model exactly; with free links and one sequence, C chips
take as long as one chip holding C times the tiers (a stage stays on one chip, so its tile
loads are a single chip's); link traffic is C crossings of d activations per token and step.
"""

from __future__ import annotations

import math

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
