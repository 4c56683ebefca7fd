"""The physical AIMC model (docs/cost-model.md §1.3, §1.7–§1.10): each new formula against hand
values, and the done-when checks of issue 12 on the shipped presets."""

from __future__ import annotations

import math

import numpy as np
import pytest

import aimc_dse
from aimc_dse.specs.loader import SpecError, load_hardware
from aimc_dse.specs.physical import converter_energy_nj, converter_latency_ns, slices, tier_scaling, tile_area_factor


def _ev(hw: str = "nature-3d-aimc", model: str = "nature-moe-51b", **kw):
    sets = kw.pop("set", {})
    return aimc_dse.evaluate(hw=hw, model=model, set=sets, **kw).iloc[0]


# ---- formulas, by hand ------------------------------------------------------------------------

def test_converter_latency_pwm_with_integrating_adc_is_the_longer_window():
    # HERMES: 8-bit PWM at 0.5 ns/LSB = 128 ns; CCO ADC 8 bit at 0.3 ns/LSB = 76.8 ns; + 2.03 ns
    assert converter_latency_ns(8, False, 0.5, 8, 0.3, True, 2.03) == pytest.approx(130.03)
    # 9-bit ADC: 512 · 0.3 = 153.6 ns > 128 ns sets the window
    assert converter_latency_ns(8, False, 0.5, 9, 0.3, True, 2.03) == pytest.approx(155.63)
    # without overlap the two add: 128 + 76.8 + 2
    assert converter_latency_ns(8, False, 0.5, 8, 0.3, False, 2.0) == pytest.approx(206.8)


def test_converter_latency_bit_serial_converts_every_bit():
    # 8 bits × (1 ns + 2^6 · 0.3 ns) + 1 ns = 8 × 20.2 + 1
    assert converter_latency_ns(8, True, 1.0, 6, 0.3, True, 1.0) == pytest.approx(162.6)


def test_converter_energy_by_hand():
    # 256 ADCs · 2^8 · 4.4 fJ = 288.358 pJ; array 47.63 pJ · 256 = 12,193.28 pJ
    assert converter_energy_nj(8, False, 256, 8, 4.4, 47.63, 0.0) == pytest.approx(0.2883584 + 12.19328)
    # bit-serial: 8 conversions per ADC, 8 array steps; + 0.5 nJ overhead
    e = converter_energy_nj(8, True, 256, 8, 4.4, 47.63, 0.5)
    assert e == pytest.approx(8 * 0.2883584 + 8 * 0.04763 + 0.5)


def test_bit_slices():
    assert slices(8, 8) == 1 and slices(8, 4) == 2 and slices(5, 2) == 3 and slices(1, 4) == 1


def test_presets_anchor_to_the_published_mvm_figures():
    nat, her = load_hardware("nature-3d-aimc"), load_hardware("hermes-3d")
    assert nat.mvm_latency_ns == pytest.approx(100.0, rel=1e-3) and nat.mvm_energy_nj == pytest.approx(10.0, rel=1e-3)
    # HERMES-Core: 2·256² op at 1.008 TOPS and 10.5 TOPS/W
    assert her.mvm_latency_ns == pytest.approx(131072 / 1008, rel=1e-3)
    assert her.mvm_energy_nj == pytest.approx(131072 / 10500, rel=1e-3)
    assert her.weight_cols == 256 and her.area.tile_mm2 == pytest.approx(1.008 / 1.59)


# ---- weight encoding --------------------------------------------------------------------------

def test_doubling_devices_per_weight_doubles_tier_blocks():
    a = _ev(prompt_len=64, gen_len=8)
    b = _ev(prompt_len=64, gen_len=8, set={"hw.encoding.devices_per_weight": 2})
    # every matrix's column chunks double (256 weight columns instead of 512), except where a
    # matrix is narrower than that: the routers' 128 outputs stay one chunk (48 layers × 2 row
    # chunks = 96 blocks short) and the LM head's ⌈50,257/256⌉ = 197 = 2·⌈50,257/512⌉ − 1
    # chunks (× 2 row chunks: 2 short)
    assert b["tier_blocks"] == 2 * a["tier_blocks"] - 96 - 2
    assert b["tier_blocks"] / a["tier_blocks"] == pytest.approx(2.0, rel=1e-3)
    assert b["fits"] is False or not b["fits"]
    assert b["fit_reason"] == "weights" and b["max_batch"] == 0


def test_bit_slices_on_tiers_multiply_blocks_and_add_shift_adds():
    base = {"hw.encoding.weight_bits": 8, "hw.encoding.bits_per_device": 8, "hw.tiles": 4000}
    a = _ev(model="gpt2-medium", prompt_len=8, gen_len=2, set=base)
    t = _ev(model="gpt2-medium", prompt_len=8, gen_len=2, set={**base, "hw.encoding.bits_per_device": 4,
                                                               "hw.encoding.slicing": "tiers"})
    c = _ev(model="gpt2-medium", prompt_len=8, gen_len=2, set={**base, "hw.encoding.bits_per_device": 4})
    assert t["tier_blocks"] == 2 * a["tier_blocks"]  # two slices, each on its own tier
    assert t["mvms"] == pytest.approx(2 * a["mvms"])
    assert t["energy_nj.digital"] > a["energy_nj.digital"]  # the slices' shift-and-adds
    # slices side by side in the columns: half the weight columns per tier, one MVM each
    assert c["tier_blocks"] > a["tier_blocks"] and c["energy_nj.digital"] > a["energy_nj.digital"]


# ---- converters -------------------------------------------------------------------------------

def test_raising_adc_bits_raises_mvm_energy():
    a = _ev(prompt_len=64, gen_len=8)
    b = _ev(prompt_len=64, gen_len=8, set={"hw.converters.adc_bits": 9})
    # the ADC share doubles: 512 · 2^8 · 4.4 fJ = 0.5767 nJ more per MVM
    assert b["energy_nj.mvm"] / a["energy_nj.mvm"] == pytest.approx((10.0 + 0.5767) / 10.0, rel=1e-3)
    assert b["latency_ns"] > a["latency_ns"]  # 2^9 · 0.3 ns = 153.6 ns > the 98 ns input window


def test_fixed_mvm_figures_without_converters():
    r = _ev("nature-3d-aimc-sim", prompt_len=8, gen_len=2)
    r2 = _ev("nature-3d-aimc-sim", prompt_len=8, gen_len=2, set={"hw.encoding.devices_per_weight": 1})
    assert r["energy_nj.mvm"] == pytest.approx(10.0 * r["mvms"])
    assert r2["energy_nj"] == r["energy_nj"]


# ---- stack height -----------------------------------------------------------------------------

def test_stack_beyond_the_technology_does_not_fit():
    r = _ev(prompt_len=64, gen_len=8, set={"hw.stack_height": 1024})
    assert not r["fits"] and r["fit_reason"] == "stack_height" and math.isnan(r["tokens_per_s"])
    assert r["max_batch"] == 0


def test_staircase_area_grows_with_the_stack():
    a = _ev(prompt_len=8, gen_len=2)
    b = _ev(prompt_len=8, gen_len=2, set={"hw.stack_height": 321})
    assert b["area_mm2"] - a["area_mm2"] == pytest.approx(620 * 0.0005)


# ---- tier size (§1.12) ------------------------------------------------------------------------

def test_tier_scaling_by_hand():
    # 1024 × 512 against 512 × 512: twice the cells, (1024 + 512) / (512 + 512) = 1.5× the edges
    cells, periphery = tier_scaling(1024, 512, 512, 512)
    assert (cells, periphery) == (2.0, 1.5)
    assert tile_area_factor(cells, periphery, 0.2) == pytest.approx(0.2 * 2 + 0.8 * 1.5)  # 1.6
    assert tier_scaling(256, 1024, np.nan, np.nan) == (1.0, 1.0)  # no reference: figures hold at any size
    # the reference tier itself is exactly 1 whatever the share (0.3 + 0.7 is not 1.0 in binary)
    assert tile_area_factor(*tier_scaling(512, 512, 512, 512), 0.3) == 1.0


def test_a_bigger_tier_costs_area_array_energy_and_periphery_static_power():
    kw = dict(hw="nature-3d-aimc", model="llama-2-7b", prompt_len=64, gen_len=8)
    base = _ev(**kw, set={"hw.tiles": 4000})
    big = _ev(**kw, set={"hw.tiles": 4000, "hw.tier_rows": 1024})
    # tiles 1.0 → 1.6 mm² each (4,000 of them); DPUs, MHA unit and SRAM unchanged
    assert big["area_mm2"] - base["area_mm2"] == pytest.approx(4000 * 0.6)
    # tile static power (periphery) × 1.5: 4,000 · 0.919 mW · 0.5 more
    assert big["power_w.static"] - base["power_w.static"] == pytest.approx(4000 * 0.000919 * 0.5)
    hw = load_hardware("nature-3d-aimc", {"tier_rows": 1024})
    # 512 ADCs · 4.4 fJ · 2⁸ + 36.81 pJ · 2⁸ steps · 2 (twice the cells) per MVM
    assert hw.mvm_energy_nj == pytest.approx(512 * 4.4e-6 * 256 + 2 * 36.81e-3 * 256)
    assert hw.tile_mm2 == pytest.approx(1.6)
    # the tier-size optimum in tokens/s/mm² is no longer "as big as possible"
    huge = _ev(**kw, set={"hw.tiles": 4000, "hw.tier_rows": 2048})
    assert huge["tokens_per_s"] > big["tokens_per_s"] > base["tokens_per_s"]
    assert huge["tokens_per_s_per_mm2"] < big["tokens_per_s_per_mm2"] < base["tokens_per_s_per_mm2"]


def test_without_a_reference_tier_the_figures_hold_at_any_size():
    a = _ev("nature-3d-aimc-sim", "llama-2-7b", prompt_len=64, gen_len=8, set={"hw.tiles": 4000})
    b = _ev("nature-3d-aimc-sim", "llama-2-7b", prompt_len=64, gen_len=8, set={"hw.tiles": 4000, "hw.tier_rows": 1024})
    assert a["area_mm2"] == b["area_mm2"]
    with_ref = {"hw.tiles": 4000, "hw.tier_rows": 1024, "hw.reference_tier": {"tier_rows": 512, "tier_cols": 512}}
    c = _ev("nature-3d-aimc-sim", "llama-2-7b", prompt_len=64, gen_len=8, set=with_ref)
    assert c["area_mm2"] == pytest.approx(b["area_mm2"] + 4000 * 0.6)


def test_event_mode_refuses_figures_scaled_to_another_tier():
    sets = {"hw.tier_rows": 1024, "hw.reference_tier": {"tier_rows": 512, "tier_cols": 512}}
    with pytest.raises(SpecError, match="reference_tier"):
        aimc_dse.evaluate(hw="nature-3d-aimc-sim", model="llama-2-7b", prompt_len=8, gen_len=2, set=sets,
                          fidelity="event")
    # at the reference size nothing is scaled: simulated as before
    same = {"hw.reference_tier": {"tier_rows": 512, "tier_cols": 512}}
    aimc_dse.evaluate(hw="nature-3d-aimc-sim", model="llama-2-7b", prompt_len=8, gen_len=2, set=same, fidelity="event")


def test_sharing_divides_the_periphery_of_the_scaled_tile():
    """f_g = s + (1 − s)/g takes s, the crossbar's share of a tile, at the tier's size: a taller
    tier's tile is more crossbar (1024 × 1024 on HERMES's 256 × 1024: 4× the cells, 1.6× the
    edges, tile 2.08× with s = 0.8/2.08 = 5/13), so four crossbars sharing one periphery save
    (1 − 5/13)·3/4 of it, f_g = 7/13, not the reference's 0.4."""
    kw = dict(hw="hermes-3d", model="olmoe-1b-7b", prompt_len=8, gen_len=2)
    one = _ev(**kw, set={"hw.tier_rows": 1024})
    four = _ev(**kw, set={"hw.tier_rows": 1024, "hw.sharing.group_size": 4})
    assert four["grouping.f_g"] == pytest.approx(7 / 13)
    assert four["area_mm2.moe"] == pytest.approx(one["area_mm2.moe"] * 7 / 13)
    assert load_hardware("hermes-3d", {"tier_rows": 1024, "sharing": {"group_size": 4}}).sharing_area_factor \
        == pytest.approx(7 / 13)
    # the expert tiles' static power keeps following their area
    expert_tiles = one["area_mm2.moe"] / (0.634 * 2.08 + 0.0004 * 127)
    saved = expert_tiles * (1 - 7 / 13) * 0.000583 * 1.6
    assert one["power_w.static"] - four["power_w.static"] == pytest.approx(saved, rel=1e-3)
    # the reference tier keeps the given share: 0.2 + 0.8/4
    assert _ev(**kw, set={"hw.sharing.group_size": 4})["grouping.f_g"] == 0.4


def test_a_reference_tier_must_be_a_real_tier():
    with pytest.raises(SpecError, match="reference_tier"):
        load_hardware("nature-3d-aimc", {"reference_tier": {"tier_rows": 0, "tier_cols": 512}})


# ---- power ------------------------------------------------------------------------------------

def test_raising_mha_units_raises_power():
    a = _ev(prompt_len=64, gen_len=8)
    b = _ev(prompt_len=64, gen_len=8, set={"hw.mha_units": 4})
    assert b["power_w"] > a["power_w"]
    assert b["power_w.static"] - a["power_w.static"] == pytest.approx(3 * 0.004594)


def test_static_power_by_hand_and_parts_add_up():
    r = _ev(prompt_len=64, gen_len=8)
    # 620 tiles · 0.919 mW + 4 DPUs · 1.149 mW + 1 MHA · 4.594 mW + 8 MB · 0.919 mW + 4 LPDDR5 channels · 16 mW
    want = 620 * 0.000919 + 4 * 0.001149 + 0.004594 + 8 * 0.000919 + 4 * 0.016
    assert r["power_w.static"] == pytest.approx(want)
    assert r["energy_nj.static"] == pytest.approx(want * r["latency_ns"])
    parts = [c for c in r.index if c.startswith("energy_nj.")]
    assert sum(r[c] for c in parts) == pytest.approx(r["energy_nj"])
    assert r["power_w.static"] + r["power_w.dynamic"] == pytest.approx(r["power_w"])
    assert r["energy_nj.passive"] == 0.0


def test_reference_profiles_keep_the_flat_passive_power():
    r = _ev("ibm3dsim-readme", "ibm3dsim-readme", prompt_len=1, gen_len=11, kv_cache=True)
    assert r["energy_nj.static"] == 0.0
    assert r["energy_nj.passive"] == pytest.approx((5.0 + 0.1297) * r["latency_ns"])


# ---- KV cache and memory hierarchy ------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::aimc_dse.PositionsWarning")  # 4,103 positions on purpose: the KV cache, not the model
def test_a_long_prompt_at_batch_64_overflows_the_kv_memory():
    r = _ev(prompt_len=4096, gen_len=8, batch=64)
    assert not r["fits"] and r["fit_reason"] == "kv_cache"
    per_seq = 2 * 1024 * 48 * (4096 + 7)  # 8-bit K and V per token and layer at the last context
    assert r["kv_cache_bytes"] == 64 * per_seq
    assert r["max_batch"] == math.floor((8e6 + 4 * 2e9) / per_seq)
    ok = _ev(prompt_len=4096, gen_len=8, batch=int(r["max_batch"]))
    assert ok["fits"] and ok["fit_reason"] == ""


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no cache must not overflow a division either
def test_the_go_cache_counts_against_the_memory():
    # per sequence at the last context n = 39: KV 2·1024·48·39 B (SRAM first), GO 48·(39·128 + 128·1024) B
    # in DRAM (what each decode step reads back); 8 MB SRAM + 4 × 2 GB LPDDR5
    kv, go = 2 * 1024 * 48 * 39, 48 * (39 * 128 + 128 * 1024)
    r = _ev(prompt_len=32, gen_len=8, go_cache=True)
    assert r["max_batch"] == math.floor((8e6 + 8e9) / (kv + go)) == 772
    assert _ev(prompt_len=32, gen_len=8, go_cache=True, batch=772)["fits"]
    over = _ev(prompt_len=32, gen_len=8, go_cache=True, batch=773)
    assert not over["fits"] and over["fit_reason"] == "kv_cache"
    # without a KV cache the GO cache alone is bounded by the DRAM (it never lives in the SRAM)
    alone = _ev(prompt_len=32, gen_len=8, go_cache=True, kv_cache=False)
    assert alone["max_batch"] == math.floor(8e9 / go)
    assert not _ev(prompt_len=32, gen_len=8, go_cache=True, kv_cache=False, batch=int(alone["max_batch"]) + 1)["fits"]
    assert _ev(prompt_len=32, gen_len=8)["max_batch"] == math.floor((8e6 + 8e9) / kv)  # KV cache only


def test_kv_in_sram_is_read_from_sram():
    # 72-token cache of one sequence (7.08 MB) fits the 8 MB SRAM: the reads cost SRAM energy only
    r = _ev(prompt_len=64, gen_len=8)
    reads = sum(2 * 1024 * 48 * (64 + j) for j in range(1, 8))
    assert r["energy_nj.dram"] == pytest.approx(reads * 2.5e-3)
    none = _ev(prompt_len=64, gen_len=8, set={"hw.kv_sram.mb": 0})
    assert none["energy_nj.dram"] == pytest.approx(reads * 40e-3)  # all from LPDDR5 at 40 pJ/B
    assert none["latency_ns"] > r["latency_ns"]


def test_kv_bits_and_mla_shrink_the_cache():
    a = _ev(prompt_len=64, gen_len=8)
    b = _ev(prompt_len=64, gen_len=8, set={"hw.kv_bits": 4})
    assert b["kv_cache_bytes"] == a["kv_cache_bytes"] / 2
    # a sliding window bounds the local layers' caches
    w = _ev(prompt_len=64, gen_len=8, set={"model.sliding_window": 16})
    assert w["kv_cache_bytes"] == 2 * 1024 * 48 * 16


def test_more_dram_channels_shorten_a_dram_bound_decode():
    kw = dict(prompt_len=64, gen_len=8, set={"hw.kv_sram.mb": 0})
    a = _ev(**kw)
    b = _ev(**{**kw, "set": {"hw.kv_sram.mb": 0, "hw.dram.channels": 8}})
    assert b["latency_ns"] < a["latency_ns"] and b["power_w.static"] > a["power_w.static"]


# ---- Büchel et al. Fig. 4 -------------------------------------------------------------------------

def test_paper_preset_reproduces_fig4_within_30_percent():
    df = aimc_dse.evaluate(hw=["nature-3d-aimc-paper", "a100-paper"], model="nature-moe-51b", prompt_len=64,
                           gen_len=8, kv_cache=False)
    for metric, paper in (("tokens_per_s", 6.0), ("tokens_per_s_per_mm2", 20.0), ("tokens_per_s_per_w", 1000.0)):
        ratio = float(df[f"vs.a100-paper.{metric}"].iloc[0])
        assert 0.7 * paper <= ratio <= 1.3 * paper, (metric, ratio)
    a = df.iloc[0]
    assert a["area_mm2"] == pytest.approx(250.0) and a["power_w"] == pytest.approx(2.4, rel=0.05)


def test_old_preset_stays_reachable():
    r = _ev("nature-3d-aimc-sim", prompt_len=32, gen_len=8)
    assert r["tier_blocks"] == 197872 and r["area_mm2"] == pytest.approx(210.0)
    assert r["energy_nj.passive"] == pytest.approx(5.0 * r["latency_ns"])
    assert np.isclose(r["tokens_per_s"], 1278, rtol=1e-3)


def test_derived_mvm_figures_are_the_same_with_and_without_the_derivation_cache():
    # A sweep validates thousands of variants with the same converters; their MVM figures are
    # derived once (specs/hardware.py _DERIVED). Any converter, encoding, stack or tier change
    # must still give its own figures, equal to a fresh derivation.
    from aimc_dse.specs import hardware

    variants = [{}, {"converters.adc_bits": 9}, {"converters.adc_bits": 9.0}, {"converters.input_mode": "bit_serial"},
                {"converters.adc_overlaps_input": False}, {"encoding.devices_per_weight": 2}, {"stack_height": 160},
                {"tier_cols": 256}, {"tiles": 700}, {"stack.mvm_latency_ns_per_tier": 0.05}]
    for hw in ("nature-3d-aimc", "hermes-3d"):
        cached = [load_hardware(hw, sets) for sets in variants for _ in range(2)]
        fresh = []
        for sets in variants:
            hardware._DERIVED.clear()
            fresh.append(load_hardware(hw, sets))
        assert [(h.mvm_latency_ns, h.mvm_energy_nj) for h in cached[::2]] == [(h.mvm_latency_ns, h.mvm_energy_nj) for h in fresh]
        assert [(h.mvm_latency_ns, h.mvm_energy_nj) for h in cached[1::2]] == [(h.mvm_latency_ns, h.mvm_energy_nj) for h in fresh]
        figures = {(h.mvm_latency_ns, h.mvm_energy_nj) for h in fresh}
        assert len(figures) >= 6  # the changes above do move the figures
