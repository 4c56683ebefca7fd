"""Heterogeneous analog–digital placement (workload.digital) and digital-unit specs (hw.digital).

Which experts go digital (:func:`digital_experts`: counts, ranking by each score, ties,
seeds, explicit lists), how the placement validates (one-line errors naming the field),
and the digital-unit presets' derived figures against the numbers they cite.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from aimc_dse.specs import loader
from aimc_dse.specs.base import SpecError
from aimc_dse.specs.digital import DigitalCompute
from aimc_dse.specs.loader import digital_preset_names, load_digital
from aimc_dse.specs.placement import DigitalPlacement, digital_count, digital_experts
from aimc_dse.specs.workload import Workload

# ---- defaults --------------------------------------------------------------------------------

def test_default_workload_runs_nothing_digitally():
    w = Workload()
    assert w.digital.fraction == 0 and not w.digital.any_digital
    assert w.digital.digital_parts == frozenset()
    assert not digital_experts(w.digital, experts=64, layers=16).any()


def test_dense_module_flags_name_model_matrix_parts():
    p = DigitalPlacement(attention=True, router=True, shared_experts=True, lm_head=True, dense_ffn=True)
    assert p.digital_parts == {"attention", "router", "shared", "lm_head", "ffn"}
    assert p.any_digital and not digital_experts(p, 8, 2).any()


# ---- counts ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "fraction, experts, n",
    [
        (0.125, 64, 8),  # the paper's 12.5 % of OLMoE / DeepSeekMoE's 64 experts
        (0.25, 64, 16),  # and 25 %
        (0.3, 10, 3),  # 0.3·10 = 3.0000000000000004 in floating point: still 3
        (0.1, 8, 1),  # ⌈0.8⌉: any φ > 0 moves at least one expert
        (0.01, 64, 1),
        (0.0, 64, 0),
        (1.0, 8, 8),
        (0.26, 64, 17),  # ⌈16.64⌉
    ],
)
def test_digital_count_is_ceil_of_fraction_times_experts(fraction, experts, n):
    assert digital_count(fraction, experts) == n
    p = DigitalPlacement(fraction=fraction, score="random")
    assert digital_experts(p, experts, 3, seed=1).sum(axis=1).tolist() == [n] * 3


# ---- scores ----------------------------------------------------------------------------------

def test_maxnn_takes_the_highest_scores_of_each_layer():
    scores = np.array([[1.0, 9.0, 3.0, 7.0], [5.0, 0.5, 6.0, 2.0]])
    p = DigitalPlacement(fraction=0.5, selection_file="sel.json")
    mask = digital_experts(p, 4, 2, scores=scores)
    assert mask.tolist() == [[False, True, False, True], [True, False, True, False]]
    # one row of scores applies to every layer
    assert digital_experts(p, 4, 3, scores=scores[0]).sum(axis=0).tolist() == [0, 3, 0, 3]


def test_load_takes_the_most_selected_experts_ties_to_lower_index():
    zipf = np.array([0.1, 0.4, 0.2, 0.3])
    p = DigitalPlacement(fraction=0.5, score="load")
    assert np.flatnonzero(digital_experts(p, 4, 1, load_probs=zipf)[0]).tolist() == [1, 3]
    uniform = np.full(4, 0.5)
    assert np.flatnonzero(digital_experts(p, 4, 1, load_probs=uniform)[0]).tolist() == [0, 1]
    nan = np.array([np.nan, 0.1, 0.2, 0.3])  # NaN never wins
    assert np.flatnonzero(digital_experts(p, 4, 1, load_probs=nan)[0]).tolist() == [2, 3]


def test_random_is_seeded_and_differs_per_layer():
    p = DigitalPlacement(fraction=0.25, score="random")
    a = digital_experts(p, 64, 16, seed=7)
    assert (a == digital_experts(p, 64, 16, seed=7)).all()
    assert not (a == digital_experts(p, 64, 16, seed=8)).all()
    assert len({tuple(np.flatnonzero(r)) for r in a}) > 1
    assert a.sum(axis=1).tolist() == [16] * 16


def test_explicit_lists():
    one = DigitalPlacement(score="list", experts=[0, 5])
    assert digital_experts(one, 8, 2).sum(axis=0).tolist() == [2, 0, 0, 0, 0, 2, 0, 0]
    per = DigitalPlacement(score="list", experts=[[1], [2, 3]])
    assert digital_experts(per, 4, 2).tolist() == [[False, True, False, False], [False, False, True, True]]
    by_id = DigitalPlacement(score="list", experts={3: [0], 5: [1, 2]})  # model layer indices
    m = digital_experts(by_id, 4, 3, layer_ids=[1, 3, 5])
    assert m.tolist() == [[False] * 4, [True, False, False, False], [False, True, True, False]]
    with pytest.raises(ValueError, match="out of range"):
        digital_experts(one, 4, 2)
    with pytest.raises(ValueError, match="2 lists given"):
        digital_experts(per, 4, 3)


def test_missing_inputs_and_wrong_shapes_raise():
    with pytest.raises(ValueError, match="needs the MaxNNScores"):
        digital_experts(DigitalPlacement(fraction=0.5, selection_file="s.json"), 4, 2)
    with pytest.raises(ValueError, match="load_probs"):
        digital_experts(DigitalPlacement(fraction=0.5, score="load"), 4, 2)
    with pytest.raises(ValueError, match="shape"):
        digital_experts(DigitalPlacement(fraction=0.5, score="load"), 4, 2, load_probs=np.ones((3, 4)))


# ---- validation: through the loader, one line naming the field -------------------------------

@pytest.mark.parametrize(
    "sets, field, fragment",
    [
        ({"digital.fraction": 1.5}, "workload.digital.fraction", "less than or equal to 1"),
        ({"digital.fraction": -0.1}, "workload.digital.fraction", "greater than or equal to 0"),
        ({"digital.score": "norm"}, "workload.digital.score", "'maxnn', 'load', 'random' or 'list'"),
        ({"digital.score": "list"}, "workload.digital", "no experts are given"),
        ({"digital.experts": [1]}, "workload.digital", "only with score = list"),
        ({"digital.fraction": 0.25}, "workload.digital", "needs selection_file"),
        ({"digital.score": "load", "digital.selection_file": "s.json"}, "workload.digital", "only with score = maxnn"),
        ({"digital.score": "list", "digital.experts": [1, 1]}, "workload.digital.experts", "listed twice"),
        ({"digital.score": "list", "digital.experts": [-1]}, "workload.digital.experts", "negative"),
        ({"digital.score": "list", "digital.experts": [1], "digital.fraction": 0.5}, "workload.digital", "fraction is not used"),
        ({"digital.router": "sometimes"}, "workload.digital.router", "must be true or false"),
    ],
)
def test_bad_placements_are_one_line_spec_errors(sets, field, fragment):
    with pytest.raises(SpecError) as e:
        loader.load_workload({"digital": {}}, "study.yaml", sets)
    msg = str(e.value)
    assert "\n" not in msg and e.value.field == field and fragment in msg, msg


def test_good_placements_from_a_file_and_by_set():
    w = loader.load_workload({"digital": {"fraction": 0.125, "score": "maxnn", "selection_file": "sel.json", "attention": True}})
    assert w.digital.fraction == 0.125 and w.digital.digital_parts == {"attention"}
    w = loader.load_workload(None, "w", {"digital.fraction": 0.25, "digital.score": "load"})
    assert w.digital.score == "load"
    w = loader.load_workload({"digital": {"score": "list", "experts": {"1": [0, 2]}}})  # JSON keys
    assert w.digital.experts == {1: [0, 2]}


def test_expert_list_is_checked_against_the_model_later():
    m = loader.load_model("deepseek-moe-16b")  # 64 experts, MoE layers 1…27
    ids = [l for l in range(m.layers) if m.is_moe_layer(l)]
    DigitalPlacement(score="list", experts=[0, 63]).check_experts(m.moe.experts, ids)
    with pytest.raises(SpecError) as e:
        DigitalPlacement(score="list", experts=[64]).check_experts(m.moe.experts, ids, "study.yaml")
    assert e.value.field == "digital.experts" and "out of range" in str(e.value) and "0…63" in str(e.value)
    with pytest.raises(SpecError, match="layer 0 is not an MoE layer"):
        DigitalPlacement(score="list", experts={0: [1]}).check_experts(m.moe.experts, ids)


# ---- digital compute units -------------------------------------------------------------------

def test_presets_load_and_derive_what_they_cite():
    assert {"a100-class", "hermes-14nm-digital"} <= set(digital_preset_names())
    a = load_digital("a100-class")
    assert a.peak_tops == 312 and a.dram_bandwidth_gbps == 1555 and a.sram_mb == 40
    assert a.energy_pj_per_mac == pytest.approx(2 * 400 / 312, rel=1e-3)  # TDP / peak, 2 op per MAC
    assert a.area_mm2 == pytest.approx(826)  # the GA100 die
    h = load_digital("hermes-14nm-digital")
    assert h.energy_pj_per_mac == pytest.approx(2 / 1.4 * (0.62 / 0.54) ** 2, rel=1e-2)
    assert h.macs_per_ns == pytest.approx(1500)  # 3.0 TFLOPS = 1.5 TMAC/s
    assert h.dram_pj_per_byte == pytest.approx(3.26 / 44.8 * 1e3, rel=1e-3)
    assert h.sram_weights == 16 * 2**20  # 32 MiB of fp16


def test_units_scale_throughput_sram_area_and_static_power():
    one = load_digital("hermes-14nm-digital")
    four = load_digital("hermes-14nm-digital", {"units": 4, "static_power_w": 0.5})
    assert four.total_peak_tops == 4 * one.total_peak_tops
    assert four.area_mm2 == pytest.approx(4 * one.area_mm2)
    assert four.sram_bytes == 4 * one.sram_bytes and four.total_static_power_w == 2.0
    assert four.weight_split(100e6) == (four.sram_bytes, 200e6 - four.sram_bytes)


def test_bad_digital_specs_name_file_and_field(tmp_path):
    with pytest.raises(SpecError, match="did you mean hermes-14nm-digital"):
        load_digital("hermes-14nm-digitl")
    p = tmp_path / "d.yaml"
    p.write_text("peak_tops: -1\nenergy_pj_per_mac: 1\nweight_bytes: 2\nsram_mb: 1\nsram_mm2_per_mb: 1\nlogic_mm2: 1\n")
    with pytest.raises(SpecError) as e:
        load_digital(str(p))
    assert e.value.source == str(p) and e.value.field == "peak_tops"
    p.write_text("peak_tops: 1\nenergy_pj_per_mac: 1\nweight_bytes: 2\nsram_mb: 1\nsram_mm2_per_mb: 1\nlogic_mm2: 1\nsram: 4\n")
    with pytest.raises(SpecError, match="sram: unknown field"):
        load_digital(str(p))
    with pytest.raises(ValidationError, match="no DRAM fallback"):
        DigitalCompute(peak_tops=1, energy_pj_per_mac=1, weight_bytes=2, sram_mb=1, sram_mm2_per_mb=1, logic_mm2=1, dram_pj_per_byte=5)


def test_aimc_hardware_takes_a_digital_unit_by_name_or_inline():
    assert loader.load_hardware("hermes-3d").digital is None
    h = loader.load_hardware("hermes-3d", {"digital": "hermes-14nm-digital"})
    assert h.digital == load_digital("hermes-14nm-digital")
    with pytest.raises(SpecError) as e:
        loader.load_hardware("hermes-3d", {"digital": "no-such-unit"})
    assert e.value.field == "digital" and "unknown digital-unit preset" in str(e.value)
