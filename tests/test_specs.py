"""Specs and presets: derived figures against the published numbers, strict validation, and the
vectorised model shapes (cost/shapes.py) agreeing with ModelSpec's per-matrix counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from aimc_dse.commands.presets import model_figures
from aimc_dse.cost.columns import Cols, model_columns
from aimc_dse.cost.shapes import model_shape
from aimc_dse.specs import loader
from aimc_dse.specs.hardware import AimcHardware, GpuHardware
from aimc_dse.specs.model import ModelSpec

HW_PRESETS = loader.preset_names("hw")
MODEL_PRESETS = loader.preset_names("model")


# ---- published figures ---------------------------------------------------------------------

def test_mixtral_8x7b_has_46_7b_parameters_12_9b_active():
    """Mistral AI's release post (the preset's source): 46.7 B total, 12.9 B active per token (the paper rounds to 47 B / 13 B)."""
    m = loader.load_model("mixtral-8x7b")
    assert m.parameters == pytest.approx(46.7e9, rel=0.01)
    assert m.active_parameters == pytest.approx(12.9e9, rel=0.01)
    assert m.moe_layers == 32 and m.dense_layers == 0


@pytest.mark.parametrize(
    "preset, total, active",
    [
        ("llama-2-7b", 6.74e9, 6.74e9),  # Llama 2 paper: 7B (6.74 B weights)
        ("llama-2-70b", 68.98e9, 68.98e9),  # 70B with GQA
        ("llama-moe-4-16", 6.7e9, 3.5e9),  # LLaMA-MoE-3.5B (4/16): 3.5 B activated
        ("deepseek-moe-16b", 16.4e9, 2.8e9),  # DeepSeekMoE paper: 16.4 B / 2.8 B
        ("olmoe-1b-7b", 6.9e9, 1.3e9),  # OLMoE paper: 6.9 B / 1.3 B
        ("gpt2-medium", 354.5e6, 354.5e6),  # 345M in Radford et al. (HF: 355 M with biases)
        ("gpt2-large", 773.4e6, 773.4e6),
        ("gpt2-xl", 1.557e9, 1.557e9),
    ],
)
def test_preset_parameter_counts_match_published(preset, total, active):
    m = loader.load_model(preset)
    assert m.parameters == pytest.approx(total, rel=0.02)
    assert m.active_parameters == pytest.approx(active, rel=0.02)


def test_moewithpim_layer_tier_blocks_on_moewithpim_hermes():
    """docs/reference-simulators.md §B: one LLaMA-MoE-4/16 layer on 256×256 tiers."""
    m = loader.load_model("moewithpim-layer")
    hw = loader.load_hardware("moewithpim-hermes")
    blocks = m.tier_blocks(hw.tier_rows, hw.tier_cols)
    assert blocks["embedding"] == 2_000  # 32000/256 × 4096/256 = 125 × 16
    assert blocks["attention"] == 1_024  # 4 × 16 × 16
    assert blocks["router"] == 16  # 4096×16: 16 × 1
    assert blocks["expert"] == 1_536  # 16 experts × 96
    assert blocks["lm_head"] == 2_000
    assert blocks["position"] == 16  # 33×4096 learned table: 1 × 16
    figs = model_figures(m, hw)
    assert figs["tier_blocks.per_expert"] == 96  # ffn1 16×3 + ffn2 3×16
    assert figs["tier_blocks.total"] == 6_592
    assert figs["derived.fits"] is True
    assert figs["derived.tiers_available"] == 8_192


def test_deepseek_moe_first_layer_dense_then_moe():
    m = loader.load_model("deepseek-moe-16b")
    assert not m.is_moe_layer(0) and all(m.is_moe_layer(l) for l in range(1, 28))
    parts = {mat.part for mat in m.layer_matrices(0)}
    assert "ffn" in parts and "expert" not in parts
    shared = [mat for mat in m.layer_matrices(1) if mat.part == "shared"]
    assert len(shared) == 2 * 3  # 2 shared SwiGLU experts of 3 matrices


def test_llama_2_70b_uses_grouped_query_attention():
    m = loader.load_model("llama-2-70b")
    k = next(mat for mat in m.layer_matrices(0) if mat.name.endswith(".k"))
    assert (k.rows, k.cols) == (8192, 1024)  # 8 KV heads × 128


def test_gpt2_ties_lm_head_and_maps_learned_positions():
    m = loader.load_model("gpt2-medium")
    L, d, V, P = 24, 1024, 50257, 1024
    assert m.parameters == 12 * L * d * d + V * d + P * d  # lm_head counted once
    assert m.tier_blocks(512, 512)["position"] == 2 * 2


def test_sigma_moe_small_head_dim_41():
    m = loader.load_model("sigma-moe-small")
    assert m.q_width == 410 and m.kv_width == 410
    assert m.moe.experts == 16 and m.moe.top_k == 4 and m.moe.d_ff_expert == 128


# ---- every preset validates --------------------------------------------------------------

@pytest.mark.parametrize("name", HW_PRESETS)
def test_every_hardware_preset_validates(name):
    hw = loader.load_hardware(name)
    assert isinstance(hw, (AimcHardware, GpuHardware))
    assert hw.name == name and hw.description and hw.sources


@pytest.mark.parametrize("name", MODEL_PRESETS)
def test_every_model_preset_validates_and_cites_sources(name):
    m = loader.load_model(name)
    assert m.name == name and m.description and m.sources
    assert m.parameters > 0 and 0 < m.active_parameters <= m.parameters


def test_the_foundation_model_presets_exist():
    wanted = {
        "llama-2-7b", "llama-2-70b", "mixtral-8x7b", "llama-moe-4-16", "deepseek-moe-16b",
        "olmoe-1b-7b", "sigma-moe-small", "gpt2-medium", "gpt2-large", "gpt2-xl",
    }
    assert wanted <= set(MODEL_PRESETS)


# ---- strict validation ---------------------------------------------------------------------

BASE = {"layers": 2, "d_model": 64, "heads": 4, "d_ff": 256, "vocab": 100}


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"layerz": 3}, "Extra inputs are not permitted"),
        ({"layers": 0}, "greater than 0"),
        ({"moe": {"experts": 4, "top_k": 5, "d_ff_expert": 8}}, "top_k (5) exceeds experts (4)"),
        ({"kv_heads": 3}, "not a multiple of kv_heads"),
        ({"heads": 5}, "give head_dim"),
        ({"d_ff": 0}, "d_ff must be positive"),
        ({"mlp": "swiglu"}, "Input should be 'plain' or 'gated'"),
    ],
)
def test_model_spec_rejects_bad_fields(change, fragment):
    with pytest.raises(ValidationError) as e:
        ModelSpec.model_validate({**BASE, **change})
    assert fragment in str(e.value)


def test_head_dim_makes_uneven_widths_valid():
    m = ModelSpec.model_validate({**BASE, "heads": 5, "head_dim": 16})
    assert m.q_width == 80


def test_specs_are_frozen():
    m = loader.load_model("llama-2-7b")
    with pytest.raises(ValidationError):
        m.layers = 1  # derived variants go through model_copy / --set, never mutation


# ---- vectorised shapes agree with the per-matrix counts ------------------------------------

def _assert_shape_agrees(models: list[ModelSpec]) -> None:
    df = pd.DataFrame([model_columns(m) for m in models])
    s = model_shape(Cols(df))
    np.testing.assert_array_equal(s.params, [m.parameters for m in models])
    np.testing.assert_array_equal(s.active_params, [m.active_parameters for m in models])
    np.testing.assert_array_equal(s.moe_layers, [m.moe_layers for m in models])
    np.testing.assert_array_equal(s.dense_layers, [m.dense_layers for m in models])
    # q: the out projection's input (the query width for GQA); kv: half the cached elements per
    # token and layer (the K width for GQA) — cost/shapes.py
    np.testing.assert_array_equal(s.q, [m.attn_out_width for m in models])
    np.testing.assert_array_equal(s.kv, [m.kv_elements_per_token_layer // 2 for m in models])
    np.testing.assert_array_equal(s.kv_elems, [m.kv_elements_per_token_layer for m in models])
    np.testing.assert_array_equal(s.q[[m.mla is None for m in models]], [m.q_width for m in models if m.mla is None])


@pytest.mark.parametrize("name", MODEL_PRESETS)
def test_vectorised_shape_matches_spec_for_preset(name):
    m = loader.load_model(name)
    s = model_shape(Cols(model_columns(m)))
    assert int(s.params[0]) == m.parameters
    assert int(s.active_params[0]) == m.active_parameters


def test_vectorised_shape_matches_spec_for_all_presets_as_one_grid():
    _assert_shape_agrees([loader.load_model(n) for n in MODEL_PRESETS])


@st.composite
def model_specs(draw) -> ModelSpec:
    heads = draw(st.integers(1, 8))
    kv_heads = draw(st.sampled_from([h for h in range(1, heads + 1) if heads % h == 0]))
    layers = draw(st.integers(1, 12))
    data = {
        "layers": layers,
        "d_model": heads * draw(st.integers(1, 16)),
        "heads": heads,
        "kv_heads": kv_heads,
        "d_ff": draw(st.integers(1, 300)),
        "mlp": draw(st.sampled_from(["plain", "gated"])),
        "vocab": draw(st.integers(1, 500)),
        "position_embedding": draw(st.sampled_from(["learned", "rope", "none"])),
        "max_positions": draw(st.integers(1, 64)),
        "tie_embeddings": draw(st.booleans()),
    }
    if draw(st.booleans()):
        data["head_dim"] = draw(st.integers(1, 32))
    if draw(st.booleans()):
        experts = draw(st.integers(1, 12))
        data["moe"] = {
            "experts": experts,
            "top_k": draw(st.integers(1, experts)),
            "d_ff_expert": draw(st.integers(1, 200)),
            "shared_experts": draw(st.integers(0, 2)),
            "d_ff_shared": draw(st.one_of(st.none(), st.integers(1, 200))),
            "every": draw(st.integers(1, 4)),
            "first_dense_layers": draw(st.integers(0, layers)),
            "routing": draw(st.sampled_from(["token_choice", "expert_choice"])),
        }
    return ModelSpec.model_validate(data)


@settings(max_examples=60, deadline=None)
@given(st.lists(model_specs(), min_size=1, max_size=6))
def test_vectorised_shape_matches_spec_for_random_models(models):
    _assert_shape_agrees(models)


def test_every_field_that_can_hold_a_number_is_bounded():
    """Spec.__init_subclass__ attaches the bound check to the fields whose annotations may
    hold a number; every spec class's numeric fields (resolved types) must be among them."""
    import typing

    from pydantic import BaseModel

    import aimc_dse.specs  # noqa: F401  (every spec module)
    from aimc_dse.specs.base import Spec

    def may_hold_numbers(tp) -> bool:
        if tp in (int, float) or tp is typing.Any:
            return True
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return False
        origin = typing.get_origin(tp)
        if origin is typing.Literal or tp in (str, bool, type(None)):
            return False
        if origin is typing.Annotated:
            return may_hold_numbers(typing.get_args(tp)[0])
        args = typing.get_args(tp)
        return any(may_hold_numbers(a) for a in args) if args else True

    def subclasses(c):
        for s in c.__subclasses__():
            yield s
            yield from subclasses(s)

    checked = 0
    for cls in set(subclasses(Spec)):
        covered = set()
        for d in cls.__pydantic_decorators__.field_validators.values():
            if d.cls_var_name.startswith("_bounded_"):
                covered |= set(d.info.fields)
        for name, f in cls.model_fields.items():
            if may_hold_numbers(f.annotation):
                assert name in covered, f"{cls.__name__}.{name} ({f.annotation}) is not bounded"
                checked += 1
    assert checked > 100


def test_libyaml_reads_every_shipped_yaml_file_as_the_python_loader_does():
    """Spec files are parsed by libyaml when PyYAML has it (safe_io.YAML_LOADER); every YAML
    file of the repository (presets, sweeps, targets, examples) gives equal data either way."""
    import math
    from pathlib import Path

    import yaml

    from aimc_dse.specs.safe_io import YAML_LOADER

    def same(a, b) -> bool:
        if type(a) is not type(b):
            return False
        if isinstance(a, float):
            return a == b or (math.isnan(a) and math.isnan(b))
        if isinstance(a, dict):
            return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return a == b

    root = Path(__file__).resolve().parent.parent
    files = [p for p in sorted(root.rglob("*.y*ml")) if not any(s.startswith(".") for s in p.relative_to(root).parts)]
    assert len(files) >= 30
    for p in files:
        text = p.read_text(encoding="utf-8")
        assert same(yaml.load(text, Loader=YAML_LOADER), yaml.load(text, Loader=yaml.SafeLoader)), p


def test_a_mapping_override_merges_into_the_group_it_names():
    """``{efficiency: {memory: 0.8}}`` changes one field and keeps the group's others, as the
    dotted ``efficiency.memory`` does; replacing the group would reset the A100's calibrated
    efficiencies to their defaults without a word."""
    base = loader.load_hardware("a100-sxm4-40gb")
    dotted = loader.load_hardware("a100-sxm4-40gb", {"efficiency.memory": 0.8})
    nested = loader.load_hardware("a100-sxm4-40gb", {"efficiency": {"memory": 0.8}})
    assert nested == dotted
    assert nested.efficiency.memory == 0.8 != base.efficiency.memory
    assert nested.efficiency.compute == base.efficiency.compute != GpuHardware.model_fields["efficiency"].default_factory().compute
    # deeper mappings merge level by level
    assert loader.load_hardware("nature-3d-aimc", {"dram": {"channels": 2}}).dram.bandwidth_gbps == \
        loader.load_hardware("nature-3d-aimc").dram.bandwidth_gbps


def test_a_mapping_for_a_group_the_spec_lacks_is_set_whole():
    dense = loader.load_model("llama-2-7b")
    assert dense.moe is None
    moe = loader.load_model("llama-2-7b", {"moe": {"experts": 8, "top_k": 2, "d_ff_expert": 11008}})
    assert (moe.moe.experts, moe.moe.top_k, moe.moe.d_ff_expert) == (8, 2, 11008)
