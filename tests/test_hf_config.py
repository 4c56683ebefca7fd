"""Hugging Face config.json → ModelSpec (specs/hf.py), offline, on hand-written configs that use
the public configs' field names (tests/data/hf/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aimc_dse.specs import loader
from aimc_dse.specs.base import SpecError
from aimc_dse.specs.hf import SUPPORTED_MODEL_TYPES, model_dict_from_hf_config
from aimc_dse.specs.model import ModelSpec

HF = Path(__file__).parent / "data" / "hf"
PROVENANCE = {"name", "description", "sources"}


def hf(name: str) -> dict:
    return json.loads((HF / f"{name}.json").read_text())


def spec(cfg: dict, name: str = "t") -> ModelSpec:
    return ModelSpec.model_validate(model_dict_from_hf_config(cfg, name))


@pytest.mark.parametrize(
    "config, preset",
    [
        ("llama-2-7b", "llama-2-7b"),
        ("llama-2-70b", "llama-2-70b"),
        ("mixtral-8x7b", "mixtral-8x7b"),
        ("deepseek-moe-16b", "deepseek-moe-16b"),
        ("olmoe-1b-7b", "olmoe-1b-7b"),
        ("gpt2-medium", "gpt2-medium"),
    ],
)
def test_hf_config_gives_the_same_model_as_the_preset(config, preset):
    """The YAML presets and their HF configs describe one network, field by field."""
    from_hf = loader.load_model(str(HF / f"{config}.json"))
    from_yaml = loader.load_model(preset)
    assert from_hf.model_dump(exclude=PROVENANCE) == from_yaml.model_dump(exclude=PROVENANCE)
    assert from_hf.parameters == from_yaml.parameters


def test_mistral_7b_is_dense_gqa_7_24b():
    m = spec(hf("mistral-7b"))
    assert (m.kv_heads, m.mlp, m.activation, m.moe) == (8, "gated", "silu", None)
    assert m.parameters == pytest.approx(7.24e9, rel=0.005)


def test_qwen15_moe_a27b_has_one_wide_shared_expert():
    """Qwen1.5-MoE-A2.7B: 60 experts of 1408, top-4, shared expert 5632; 14.3 B / 2.7 B active."""
    m = spec(hf("qwen1.5-moe-a2.7b"))
    assert (m.moe.experts, m.moe.top_k, m.moe.d_ff_expert) == (60, 4, 1408)
    assert (m.moe.shared_experts, m.moe.d_ff_shared) == (1, 5632)
    assert m.moe_layers == 24
    assert m.parameters == pytest.approx(14.3e9, rel=0.01)
    assert m.active_parameters == pytest.approx(2.7e9, rel=0.01)


def test_gpt2_defaults_inner_width_to_4d_and_ties_embeddings():
    cfg = hf("gpt2-medium")
    assert "n_inner" not in cfg and "tie_word_embeddings" not in cfg
    m = spec(cfg)
    assert (m.d_ff, m.tie_embeddings, m.position_embedding, m.max_positions) == (4096, True, "learned", 1024)


def test_model_type_may_come_from_architectures():
    cfg = hf("mixtral-8x7b")
    del cfg["model_type"]
    assert spec(cfg).moe.experts == 8


def test_head_dim_key_is_honoured():
    """Mistral-NeMo-style: head_dim 128 with hidden 5120 and 32 heads (q width 4096)."""
    cfg = {**hf("mistral-7b"), "hidden_size": 5120, "head_dim": 128}
    m = spec(cfg)
    assert m.q_width == 4096 and m.kv_width == 1024


def test_deepseek_moe_layer_freq_follows_modeling_rule():
    """modeling_deepseek: MoE iff l >= first_k_dense_replace and l % moe_layer_freq == 0."""
    cfg = {**hf("deepseek-moe-16b"), "first_k_dense_replace": 1, "moe_layer_freq": 2}
    m = spec(cfg)
    expected = [l >= 1 and l % 2 == 0 for l in range(28)]
    assert [m.is_moe_layer(l) for l in range(28)] == expected


def test_deepseek_without_routed_experts_is_dense():
    cfg = {**hf("deepseek-moe-16b"), "n_routed_experts": None}
    m = spec(cfg)
    assert m.moe is None and m.d_ff == 10944


@pytest.mark.parametrize(
    "change, moe_layers",
    [
        ({"decoder_sparse_step": 2}, [l for l in range(24) if (l + 1) % 2 == 0]),
        ({"mlp_only_layers": [0, 1]}, list(range(2, 24))),
        ({"num_experts": 0}, []),
    ],
)
def test_qwen2_moe_layer_placement(change, moe_layers):
    m = spec({**hf("qwen1.5-moe-a2.7b"), **change})
    assert [l for l in range(24) if m.is_moe_layer(l)] == moe_layers
    if m.dense_layers:
        assert m.d_ff == 5632  # intermediate_size of the dense layers


def test_name_is_file_stem_or_checkout_folder(tmp_path):
    assert loader.load_model(str(HF / "olmoe-1b-7b.json")).name == "olmoe-1b-7b"
    checkout = tmp_path / "OLMoE-1B-7B-0924"
    checkout.mkdir()
    (checkout / "config.json").write_text(json.dumps(hf("olmoe-1b-7b")))
    assert loader.load_model(str(checkout / "config.json")).name == "OLMoE-1B-7B-0924"


def test_plain_json_spec_is_not_treated_as_hf(tmp_path):
    p = tmp_path / "tiny.json"
    p.write_text(json.dumps({"layers": 1, "d_model": 8, "heads": 2, "d_ff": 16, "vocab": 10}))
    assert loader.load_model(str(p)).d_model == 8


# ---- bad configs -----------------------------------------------------------------------------

def test_unknown_model_type_names_it_and_lists_supported():
    with pytest.raises(ValueError) as e:
        model_dict_from_hf_config({"model_type": "bert", "hidden_size": 768}, "x")
    msg = str(e.value)
    assert "model_type" in msg and "'bert'" in msg
    assert all(t in msg for t in SUPPORTED_MODEL_TYPES)


def test_unknown_architecture_without_model_type():
    with pytest.raises(ValueError, match="architectures"):
        model_dict_from_hf_config({"architectures": ["BertModel"]}, "x")


@pytest.mark.parametrize(
    "config, key",
    [
        ("llama-2-7b", "hidden_size"),
        ("llama-2-7b", "intermediate_size"),
        ("mixtral-8x7b", "num_local_experts"),
        ("mixtral-8x7b", "num_experts_per_tok"),
        ("deepseek-moe-16b", "moe_intermediate_size"),
        ("olmoe-1b-7b", "num_experts"),
        ("qwen1.5-moe-a2.7b", "moe_intermediate_size"),
        ("gpt2-medium", "n_embd"),
        ("gpt2-medium", "vocab_size"),
    ],
)
def test_missing_required_key_is_named(config, key):
    cfg = hf(config)
    del cfg[key]
    with pytest.raises(ValueError) as e:
        model_dict_from_hf_config(cfg, "x")
    assert str(e.value).startswith(f"{key}: missing")


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"hidden_size": "4096"}, "hidden_size: expected an integer"),
        ({"num_hidden_layers": 0}, "num_hidden_layers: must be at least 1"),
        ({"tie_word_embeddings": "no"}, "tie_word_embeddings: expected true or false"),
        ({"hidden_act": "sigmoid"}, "hidden_act: unsupported activation 'sigmoid'"),
    ],
)
def test_bad_values_name_the_key(change, fragment):
    with pytest.raises(ValueError, match=fragment):
        model_dict_from_hf_config({**hf("llama-2-7b"), **change}, "x")


def test_layer_pattern_the_spec_cannot_express_is_rejected():
    cfg = {**hf("qwen1.5-moe-a2.7b"), "mlp_only_layers": [5]}
    with pytest.raises(ValueError, match="decoder_sparse_step/mlp_only_layers"):
        model_dict_from_hf_config(cfg, "x")


def test_loader_turns_hf_errors_into_spec_errors_naming_the_file(tmp_path):
    cfg = hf("mixtral-8x7b")
    del cfg["num_local_experts"]
    p = tmp_path / "broken.json"
    p.write_text(json.dumps(cfg))
    with pytest.raises(SpecError) as e:
        loader.load_model(str(p))
    assert str(e.value) == f"{p}: num_local_experts: missing (required for model_type 'mixtral')"
