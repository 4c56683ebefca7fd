"""Expert-load sources (cost/routing.py): gate traces, synthetic token and expert choice,
and the per-expert selection probabilities the cost model's expected loads use."""

from __future__ import annotations

import numpy as np
import pytest

from aimc_dse.moe.routing import (
    expert_choice_capacity,
    expert_choice_choices,
    load_trace,
    selection_probabilities,
    synth_choices,
    zipf_weights,
)
from aimc_dse.specs.base import SpecError


def save(tmp_path, arr, name="trace.npy"):
    p = tmp_path / name
    np.save(p, arr)
    return p


# ---- load_trace ------------------------------------------------------------------------------


def test_load_trace_reads_layers_tokens_experts_as_bool(tmp_path):
    c = synth_choices(8, 2, 50, layers=3, seed=1)
    got = load_trace(save(tmp_path, c.astype(np.int8)))
    assert got.dtype == np.bool_ and got.shape == (3, 50, 8)
    assert np.array_equal(got, c)


def test_load_trace_takes_a_2d_trace_as_one_layer(tmp_path):
    c = synth_choices(8, 2, 20, seed=2)[0].astype(float)
    assert load_trace(save(tmp_path, c)).shape == (1, 20, 8)


def test_missing_trace_names_the_file(tmp_path):
    with pytest.raises(SpecError, match="file not found") as e:
        load_trace(tmp_path / "nope.npy")
    assert "nope.npy" in str(e.value)


def test_unreadable_trace_is_a_spec_error(tmp_path):
    p = tmp_path / "t.npy"
    p.write_text("not numpy at all\n")
    with pytest.raises(SpecError, match="not a readable .npy"):
        load_trace(p)


def test_pickled_object_trace_is_refused(tmp_path):
    p = save(tmp_path, np.array([{"a": 1}], dtype=object))
    with pytest.raises(SpecError, match="not a readable"):
        load_trace(p)


@pytest.mark.parametrize("shape", [(8,), (2, 2, 4, 8)])
def test_wrong_ndim_is_refused_with_the_shape(tmp_path, shape):
    with pytest.raises(SpecError, match=r"shape.*layers × tokens × experts") as e:
        load_trace(save(tmp_path, np.zeros(shape)))
    assert str(shape).replace(" ", "") in str(e.value).replace(" ", "")


def test_empty_axis_is_refused(tmp_path):
    with pytest.raises(SpecError, match="empty axis"):
        load_trace(save(tmp_path, np.zeros((1, 0, 8))))


@pytest.mark.parametrize("bad", [2, 0.5, -1, np.nan])
def test_values_other_than_0_1_are_refused_with_their_place(tmp_path, bad):
    c = synth_choices(8, 2, 10, layers=2, seed=3).astype(float)
    c[1, 4, 5] = bad
    with pytest.raises(SpecError, match=r"values: layer 1, token 4, expert 5") as e:
        load_trace(save(tmp_path, c))
    assert "not 0 or 1" in str(e.value)


def test_a_token_with_the_wrong_number_of_experts_is_named(tmp_path):
    c = synth_choices(8, 2, 10, layers=2, seed=4)
    c[1, 7] = False
    c[1, 7, :3] = True
    with pytest.raises(SpecError, match=r"layer 1, token 7 selects 3 experts, expected k = 2"):
        load_trace(save(tmp_path, c))


def test_top_k_given_must_match_every_token(tmp_path):
    p = save(tmp_path, synth_choices(8, 2, 10, seed=5))
    assert load_trace(p, top_k=2).shape == (1, 10, 8)
    with pytest.raises(SpecError, match=r"token 0 selects 2 experts, expected k = 3 \(--top-k\)"):
        load_trace(p, top_k=3)
    with pytest.raises(SpecError, match="top-k 9 is not between 1 and the trace's 8 experts"):
        load_trace(p, top_k=9)


def test_expert_choice_trace_loads_without_the_exact_k_check(tmp_path):
    c = expert_choice_choices(8, 40, capacity=10, seed=0)
    p = save(tmp_path, c)
    with pytest.raises(SpecError, match="selects"):
        load_trace(p)
    assert np.array_equal(load_trace(p, exact_k=False), c)


# ---- synth_choices ---------------------------------------------------------------------------


@pytest.mark.parametrize("E,k,zipf", [(16, 4, 0.0), (16, 4, 1.2), (8, 1, 2.0), (8, 8, 1.0), (64, 6, 0.7)])
def test_synth_selects_exactly_k_distinct_experts_per_token(E, k, zipf):
    c = synth_choices(E, k, 300, layers=2, zipf=zipf, seed=7)
    assert c.dtype == np.bool_ and c.shape == (2, 300, E)
    assert (c.sum(axis=2) == k).all()


def test_synth_is_deterministic_per_seed():
    a = synth_choices(16, 4, 500, layers=2, zipf=1.0, seed=11)
    assert np.array_equal(a, synth_choices(16, 4, 500, layers=2, zipf=1.0, seed=11))
    assert not np.array_equal(a, synth_choices(16, 4, 500, layers=2, zipf=1.0, seed=12))


def test_synth_uniform_loads_are_k_over_E():
    c = synth_choices(16, 4, 40000, zipf=0.0, seed=0)[0]
    assert np.allclose(c.mean(axis=0), 4 / 16, atol=0.01)


def test_synth_zipf_layers_have_different_hot_experts():
    c = synth_choices(16, 4, 4000, layers=6, zipf=1.2, seed=0)
    hottest = c.sum(axis=1).argmax(axis=1)
    assert len(set(hottest.tolist())) > 1


def test_synth_rejects_impossible_arguments():
    with pytest.raises(ValueError, match="top_k"):
        synth_choices(8, 9, 10)
    with pytest.raises(ValueError, match="tokens"):
        synth_choices(8, 2, 0)
    with pytest.raises(ValueError, match="zipf"):
        synth_choices(8, 2, 10, zipf=-1)


# ---- expert choice ---------------------------------------------------------------------------


def test_expert_choice_gives_every_expert_its_capacity():
    cap = expert_choice_capacity(tokens=96, top_k=2, experts=8)
    assert cap == 24
    c = expert_choice_choices(8, 96, cap, layers=2, seed=3)
    assert (c.sum(axis=1) == cap).all()
    assert c.sum(axis=2).std() > 0  # tokens get varying numbers of experts
    assert np.array_equal(c, expert_choice_choices(8, 96, cap, layers=2, seed=3))


def test_expert_choice_capacity_bounds():
    with pytest.raises(ValueError, match="capacity"):
        expert_choice_choices(8, 10, capacity=11)
    assert expert_choice_capacity(3, 1, 64) == 1


# ---- selection probabilities -----------------------------------------------------------------


def test_uniform_selection_probability_is_k_over_E():
    assert np.allclose(selection_probabilities(16, 4, "uniform"), 0.25)


def test_zipf_top1_probabilities_are_the_popularities():
    assert np.allclose(selection_probabilities(16, 1, "zipf", 1.2), zipf_weights(16, 1.2), atol=1e-5)


def test_zipf_probabilities_sum_to_k_and_fall_with_rank():
    p = selection_probabilities(32, 6, "zipf", 1.1)
    assert p.sum() == pytest.approx(6)
    assert (np.diff(p) <= 1e-12).all() and p.max() < 1


def test_all_experts_selected_when_k_equals_E():
    assert np.allclose(selection_probabilities(8, 8, "zipf", 2.0), 1.0)


@pytest.mark.parametrize("E,k,s", [(8, 2, 1.0), (16, 4, 1.2), (32, 8, 0.6)])
def test_zipf_probabilities_match_sampling(E, k, s):
    T = 60000
    c = synth_choices(E, k, T, zipf=s, seed=5)[0]
    empirical = np.sort(c.mean(axis=0))[::-1]
    p = selection_probabilities(E, k, "zipf", s)
    sigma = np.sqrt(p * (1 - p) / T)
    assert np.all(np.abs(empirical - p) < 5 * sigma + 1e-4)


def test_unknown_load_model_is_refused():
    with pytest.raises(ValueError, match="uniform' or 'zipf"):
        selection_probabilities(8, 2, "trace")


def test_a_trace_checked_against_a_model_names_the_model_field(tmp_path):
    a = np.zeros((1, 4, 8), dtype=np.uint8)
    a[:, :, :2] = 1
    np.save(tmp_path / "t.npy", a)
    with pytest.raises(SpecError, match=r"expected k = 1 \(the model's moe.top_k\)"):
        load_trace(tmp_path / "t.npy", 1, k_from="the model's moe.top_k")
