"""Modern architectures from real Hugging Face config.json files (tests/data/hf/<Model>/config.json):
parameter counts against the published figures, MLA and sliding-window KV caches, names from
folders, and evaluate on AIMC and GPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aimc_dse import api
from aimc_dse.cost import gpu
from aimc_dse.cost.columns import Cols, model_columns, spec_columns
from aimc_dse.cost.shapes import model_shape
from aimc_dse.specs import loader
from aimc_dse.specs.base import SpecError
from aimc_dse.specs.workload import Workload

HF = Path(__file__).parent / "data" / "hf"


def load(folder: str):
    return loader.load_model(str(HF / folder / "config.json"))


# (folder, published total, published active, which active count the publisher uses)
PUBLISHED = [
    ("DeepSeek-V3", 671e9, 36.6e9, "excl_embedding"),  # README_WEIGHTS.md: 36.6B incl. 0.9B output head
    ("gpt-oss-20b", 20.91e9, 3.61e9, "excl_embedding"),  # model card: 20.91B total, 3.61B active
    ("Qwen2.5-7B", 7.61e9, None, None),
    ("Qwen3-8B", 8.2e9, None, None),
    ("Llama-3.1-8B", 8.03e9, None, None),
    ("Llama-3.1-70B", 70.6e9, None, None),
    ("Phi-3.5-MoE-instruct", 41.9e9, 6.6e9, "with_embedding"),
    ("dbrx-base", 132e9, 36e9, "excl_embedding"),
    ("gemma-2-9b", 9.24e9, None, None),
    ("gemma-3-27b-it", 27e9, None, None),  # language model only (vision tower ignored)
    ("DeepSeek-V2-Lite", 15.7e9, None, None),
    ("Qwen3-30B-A3B", 30.5e9, None, None),
]


@pytest.mark.parametrize("folder, total, active, kind", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_parameters_within_one_percent_of_published(folder, total, active, kind):
    m = load(folder)
    assert m.parameters == pytest.approx(total, rel=0.01)
    if active is not None:
        got = m.active_parameters_excl_embedding if kind == "excl_embedding" else m.active_parameters
        assert got == pytest.approx(active, rel=0.01)


def test_qwen3_30b_a3b_counts_match_the_model_card():
    """Model card: "30.5B in total and 3.3B activated", "29.9B non-embedding". The exact counts
    are 30.53 B, 29.91 B and 3.353 B: the card truncates to one decimal (3.353 → 3.3), so the
    active count is checked against that truncation, the others within 1 %."""
    m = load("Qwen3-30B-A3B")
    non_embedding = m.parameters - 2 * m.vocab * m.d_model
    assert non_embedding == pytest.approx(29.9e9, rel=0.01)
    assert int(m.active_parameters / 1e8) / 10 == 3.3


def test_deepseek_v2_lite_active_count_is_the_rounded_published_figure():
    """DeepSeek-V2 paper: V2-Lite "15.7B total, 2.4B activated". Counted as for V3 (no input
    embedding) it is 2.451 B: +2.1 % from 2.4, the published figure's two-digit rounding.
    Recorded here as a known difference, not a pass within 1 %."""
    m = load("DeepSeek-V2-Lite")
    assert m.active_parameters_excl_embedding == pytest.approx(2.451e9, rel=0.001)


@pytest.mark.parametrize("folder", [p[0] for p in PUBLISHED])
def test_vectorised_shape_agrees_with_the_spec(folder):
    m = load(folder)
    sh = model_shape(Cols(model_columns(m)))
    assert int(sh.params[0]) == m.parameters
    assert int(sh.active_params[0]) == m.active_parameters
    for n in (1, 100, 5000, 200_000):
        assert sh.kv_elements(n)[0] == m.kv_elements(n)


def test_mla_shapes_and_kv_cache_of_deepseek_v3():
    m = load("DeepSeek-V3")
    names = [x.name for x in m.attention_matrices(0)]
    assert names == ["layer0.q_a", "layer0.q_b", "layer0.kv_a", "layer0.kv_b", "layer0.out"]
    shapes = [(x.rows, x.cols) for x in m.attention_matrices(0)]
    assert shapes == [(7168, 1536), (1536, 128 * 192), (7168, 576), (512, 128 * 256), (128 * 128, 7168)]
    # the cache holds the 512-wide latent plus the 64-wide shared rope key: 576 per layer
    assert m.kv_elements_per_token == 61 * 576 == 35_136
    # ~35 KB per token at 8 bit, where 128 full K/V heads of 128 would take 2 MB (57x more)
    assert 10e3 < m.kv_elements_per_token * 1.0 < 100e3
    assert 2 * 128 * 128 * 61 > 50 * m.kv_elements_per_token


def test_deepseek_v2_lite_has_a_direct_q_projection():
    m = load("DeepSeek-V2-Lite")
    assert m.mla.q_lora_rank is None
    assert [x.name for x in m.attention_matrices(0)] == ["layer0.q", "layer0.kv_a", "layer0.kv_b", "layer0.out"]
    assert (m.moe_layers, m.dense_layers, m.moe.shared_experts) == (26, 1, 2)


def test_sliding_window_bounds_the_kv_cache_of_gpt_oss():
    m = load("gpt-oss-20b")
    assert (m.sliding_window, m.global_every, m.local_layers) == (128, 2, 12)
    per_layer = 2 * 8 * 64
    assert m.kv_elements(100) == 24 * 100 * per_layer  # within the window every layer grows
    assert m.kv_elements(10_000) == per_layer * (12 * 10_000 + 12 * 128)
    # beyond the window only the 12 global layers grow
    assert m.kv_elements(10_001) - m.kv_elements(10_000) == 12 * per_layer


def test_gemma_layer_patterns():
    g2, g3 = load("gemma-2-9b"), load("gemma-3-27b-it")
    assert [g2.is_local_layer(l) for l in range(4)] == [True, False, True, False]
    assert [g3.is_local_layer(l) for l in range(12)] == [True] * 5 + [False] + [True] * 5 + [False]
    assert (g3.vocab, g3.tie_embeddings, g3.head_dim) == (262_208, True, 128)


def test_biases_and_sinks_are_counted():
    m = load("gpt-oss-20b")
    plain = m.model_copy(update={"attention_bias": "none", "mlp_bias": False, "attention_sinks": False})
    L, H, d, E, f = 24, 64, 2880, 32, 2880
    attn_bias = L * (H * 64 + 2 * 8 * 64 + d)
    expert_bias = L * E * (2 * f + d) + L * E  # gate/up and down biases, router bias
    assert m.parameters - plain.parameters == attn_bias + expert_bias + L * H


def test_names_come_from_the_checkout_folder_in_evaluate():
    res = api.evaluate("h100-sxm", str(HF / "Qwen3-30B-A3B" / "config.json"), batch=1, as_frame=False)
    assert [r["model"] for r in res] == ["Qwen3-30B-A3B"]
    assert load("gpt-oss-20b").name == "gpt-oss-20b"


@pytest.mark.parametrize("folder", ["DeepSeek-V3", "Qwen3-30B-A3B", "gpt-oss-20b", "Qwen2.5-7B"])
def test_evaluate_runs_on_aimc_and_gpu(folder):
    res = api.evaluate(["nature-3d-aimc", "h100-sxm"], str(HF / folder / "config.json"), prompt_len=64, gen_len=8,
                       batch=2, set=["hw.size_to_model=true"], ratios=False)
    assert list(res["system"]) == ["aimc", "gpu"]
    assert res["fits"].all()
    assert np.isfinite(res["tokens_per_s"]).all() and (res["tokens_per_s"] > 0).all()


def _cols(hw, model, wl):
    return Cols(pd.DataFrame([spec_columns(hw, model, wl)]))


@pytest.mark.parametrize("folder, P, G", [("gpt-oss-20b", 100, 80), ("gpt-oss-20b", 20, 300), ("gemma-2-9b", 4000, 200)])
def test_windowed_decode_sum_equals_the_step_by_step_sum(folder, P, G):
    """The closed-form decode sum, split at the window, against a plain loop over steps."""
    hw = loader.load_hardware("h100-sxm", {"devices": 2})
    c = _cols(hw, load(folder), Workload(prompt_len=P, gen_len=G, batch=3))
    p, _ = gpu._point(c, model_shape(c))
    D = np.array([G - 1.0])
    tot = gpu._decode_kv(p, D)
    loop = {k: 0.0 for k in ("comp", "mem", "flops", "bytes", "comm")}
    for j in range(1, G):
        s = gpu._single(gpu._step(p, np.ones(1), np.array([P + j], dtype=float)))
        for k in loop:
            loop[k] += float(s[k][0])
    for k, v in loop.items():
        assert float(tot[k][0]) == pytest.approx(v, rel=1e-9), k


def test_mla_kv_traffic_on_the_gpu_is_the_latent_cache():
    hw = loader.load_hardware("h200-sxm", {"kv_precision": "fp8", "weight_precision": "fp8", "compute_precision": "fp8"})
    c = _cols(hw, load("DeepSeek-V3"), Workload(prompt_len=128, gen_len=2, batch=1))
    assert gpu.kv_bytes_per_token(c)[0] == 35_136  # 1 byte per element


# ---- refused configs -------------------------------------------------------------------------

def _write(tmp_path, cfg, folder="X"):
    d = tmp_path / folder
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    return str(d / "config.json")


def test_linear_attention_layers_are_refused_naming_the_key(tmp_path):
    cfg = json.loads((HF / "gpt-oss-20b" / "config.json").read_text())
    cfg["layer_types"][0] = "linear_attention"
    path = _write(tmp_path, cfg)
    with pytest.raises(SpecError) as e:
        loader.load_model(path)
    assert str(e.value).startswith(f"{path}: layer_types: linear_attention is not modelled")


def test_qwen_partial_sliding_window_is_refused(tmp_path):
    cfg = {**json.loads((HF / "Qwen2.5-7B" / "config.json").read_text()), "use_sliding_window": True}
    with pytest.raises(SpecError, match="max_window_layers: full attention on the first 20 layers"):
        loader.load_model(_write(tmp_path, {**cfg, "max_window_layers": 20, "num_hidden_layers": 28}))


def test_missing_nested_key_is_named(tmp_path):
    cfg = json.loads((HF / "dbrx-base" / "config.json").read_text())
    del cfg["ffn_config"]["moe_top_k"]
    with pytest.raises(SpecError, match=r"ffn_config\.moe_top_k: missing"):
        loader.load_model(_write(tmp_path, cfg))


def test_a_checkout_folder_is_read_through_its_config_json():
    """`--model path/to/Llama-3.1-70B` (the folder a download leaves) is its config.json."""
    assert loader.load_model(str(HF / "Llama-3.1-70B")) == loader.load_model(str(HF / "Llama-3.1-70B" / "config.json"))
    from typer.testing import CliRunner

    from aimc_dse.cli import app

    r = CliRunner().invoke(app, ["show", str(HF / "Llama-3.1-70B"), "-f", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["name"] == "Llama-3.1-70B"
    r = CliRunner().invoke(app, ["show", str(HF)])
    assert r.exit_code == 2 and "is a folder, not a file (a Hugging Face checkout is read through its config.json)" in r.output


def _kimi_hand_counts() -> tuple[int, int]:
    """Kimi-K2's matrices by hand: MLA attention on 61 layers, one dense SwiGLU layer of 18,432,
    60 MoE layers of a router, 384 routed experts and 1 shared of 2,048; untied embedding and
    lm_head of 163,840 × 7,168. Active: 8 routed experts, no input embedding (DeepSeek's count)."""
    d, V = 7168, 163_840
    attn = d * 1536 + 1536 * 64 * (128 + 64) + d * (512 + 64) + 512 * 64 * (128 + 128) + 64 * 128 * d
    expert = 3 * d * 2048
    total = 2 * V * d + 61 * attn + 3 * d * 18_432 + 60 * (d * 384 + 384 * expert + expert)
    active = V * d + 61 * attn + 3 * d * 18_432 + 60 * (d * 384 + 8 * expert + expert)
    return total, active


def test_kimi_k2_imports_as_deepseek_v3s_layout_and_counts_by_hand():
    m = load("Kimi-K2-Instruct")
    total, active = _kimi_hand_counts()
    assert m.parameters == total == 1_026_407_202_816
    assert m.active_parameters_excl_embedding == active
    # the README's model summary: "1T" total, "32B" activated (rounded figures)
    assert round(m.parameters / 1e12) == 1 and round(m.active_parameters_excl_embedding / 1e9) == 32
    assert m.kv_elements_per_token == 61 * (512 + 64)
    assert (m.moe_layers, m.dense_layers, m.moe.experts, m.moe.top_k) == (60, 1, 384, 8)
    preset = loader.load_model("kimi-k2")
    for attr in ("parameters", "active_parameters", "active_parameters_excl_embedding", "kv_elements_per_token",
                 "moe_layers", "dense_layers", "max_positions"):
        assert getattr(preset, attr) == getattr(m, attr), attr


def test_kimi_k25_reads_the_language_model_in_text_config(tmp_path):
    text = json.loads((HF / "Kimi-K2-Instruct" / "config.json").read_text())
    cfg = {"architectures": ["KimiK25ForConditionalGeneration"], "model_type": "kimi_k25",
           "vision_config": {"vt_num_hidden_layers": 27}, "text_config": text}
    (tmp_path / "Kimi-K2.5").mkdir()
    (tmp_path / "Kimi-K2.5" / "config.json").write_text(json.dumps(cfg))
    m = loader.load_model(str(tmp_path / "Kimi-K2.5"))
    assert m.name == "Kimi-K2.5" and m.parameters == _kimi_hand_counts()[0]  # the vision tower is not counted
    del cfg["text_config"]
    (tmp_path / "Kimi-K2.5" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SpecError, match=r"text_config: missing \(required for model_type 'kimi_k25'\)"):
        loader.load_model(str(tmp_path / "Kimi-K2.5"))
