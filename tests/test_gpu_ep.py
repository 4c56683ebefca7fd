"""GPU expert parallelism, weight formats, devices needed and the new GPU presets (cost/gpu.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from aimc_dse.cost.columns import Cols, spec_columns
from aimc_dse.cost.gpu import gpu_cost
from aimc_dse.specs import loader
from aimc_dse.specs.base import SpecError
from aimc_dse.specs.workload import Workload
from aimc_dse.validation.gpu import a100_v05_holdouts, h100_fp8_holdouts, v017_holdouts


def run(hw, model, **wl):
    return gpu_cost(Cols(pd.DataFrame([spec_columns(hw, model, Workload(**wl))])))


def h100(**update):
    hw = loader.load_hardware("h100-sxm")
    eff = update.pop("efficiency", {})
    return hw.model_copy(update={**update, "efficiency": hw.efficiency.model_copy(update=eff)})


QWEN = loader.load_model("qwen3-30b-a3b")


def test_ep_all_to_all_time_matches_a_hand_count():
    """Dispatch + combine per MoE layer; each device sends its ⌈B/n⌉·t tokens' k copies, (n−1)/n off-device."""
    n, B, P, G = 4, 6, 32, 5
    hw = h100(devices=n, parallelism="ep", efficiency={"collective_latency_us": 3.0})
    r = run(hw, QWEN, prompt_len=P, gen_len=G, batch=B)
    link = 450 * 0.7  # bytes/ns
    k, d, L = 8, 2048, 48

    def a2a(t):
        return 2 * L * (3000.0 + (n - 1) / n * math.ceil(B / n) * t * k * d * 2 / link)

    expect = a2a(P) + (G - 1) * a2a(1)
    assert r["latency_ns.communication"][0] == pytest.approx(expect, rel=1e-12)


def test_tp_and_tp_ep_pay_the_same_all_reduces():
    n, B, P, G = 4, 2, 16, 3
    res = {par: run(h100(devices=n, parallelism=par), QWEN, prompt_len=P, gen_len=G, batch=B) for par in ("tp", "tp+ep")}
    lat = 110e3
    ar = lambda t: 2 * 48 * (lat + 2 * (n - 1) / n * B * t * 2048 * 2 / (450 * 0.7))  # noqa: E731
    for par in ("tp", "tp+ep"):
        assert res[par]["latency_ns.communication"][0] == pytest.approx(ar(P) + (G - 1) * ar(1), rel=1e-12)


def test_ep_reads_whole_experts_so_batch_one_is_slower_than_tp():
    """At batch 1 gpt-oss hits k = 4 experts per layer: spread over 8 devices, the busiest reads
    a whole expert while TP shares the 4 among 8 (half an expert each); with 8 picks for 8
    devices (Qwen3, k = 8) the two are equal."""
    kw = dict(prompt_len=1, gen_len=64, batch=1)
    for model, slower in ((loader.load_model("gpt-oss-20b"), True), (QWEN, False)):
        tp = run(h100(devices=8, parallelism="tp"), model, **kw)
        tpep = run(h100(devices=8, parallelism="tp+ep"), model, **kw)
        assert bool(tpep["latency_ns.memory"][0] > tp["latency_ns.memory"][0] * 1.01) == slower


def test_ep_replicates_everything_but_the_experts():
    """Per device: the non-expert weights in full plus 1/n of the experts (and of the KV cache)."""
    m = loader.load_model("deepseek-v3")
    hw8 = loader.load_hardware("h200-sxm", {"weight_precision": "fp8", "compute_precision": "fp8", "kv_precision": "fp8"})
    tp = run(hw8.model_copy(update={"parallelism": "tp"}), m, prompt_len=128, gen_len=128, batch=1)
    ep = run(hw8.model_copy(update={"parallelism": "ep"}), m, prompt_len=128, gen_len=128, batch=1)
    experts = 58 * 256 * 3 * 7168 * 2048
    rest = m.parameters - experts
    usable = 141e9 * 0.9
    kv = 35_136 * 255
    assert tp["devices_needed"][0] == math.ceil((m.parameters + kv) / usable)
    assert ep["devices_needed"][0] == math.ceil((experts + kv) / (usable - rest))


def test_too_few_devices_is_a_result_with_the_count_needed():
    r = run(h100(devices=1), loader.load_model("llama-3.1-70b"), prompt_len=128, gen_len=8, batch=4)
    assert not r["fits"][0]
    assert r["devices_needed"][0] == 2  # 141 GB of FP16 weights on 72 GB usable per device


def test_fp8_weights_need_fp8_support():
    with pytest.raises(SpecError, match="weight_precision 'fp8' is not supported by this GPU"):
        loader.load_hardware("a100-sxm4-80gb", {"weight_precision": "fp8"})
    loader.load_hardware("a100-sxm4-80gb", {"weight_precision": "int4"})  # weight-only int4 (AWQ-style)
    loader.load_hardware("h100-sxm", {"weight_precision": "fp8"})


def test_fp8_halves_the_weight_bytes_and_doubles_the_peak():
    fp16 = run(h100(devices=2), QWEN, prompt_len=8, gen_len=2, batch=1)
    fp8 = run(h100(devices=2, weight_precision="fp8", compute_precision="fp8"), QWEN, prompt_len=8, gen_len=2, batch=1)
    assert fp8["weight_bytes"][0] == pytest.approx(fp16["weight_bytes"][0] / 2)


@pytest.mark.parametrize("name, mem, bw, fp16, tdp", [
    ("h200-sxm", 141, 4800, 989.5, 700), ("b200", 180, 8000, 2250, 1000), ("mi300x", 192, 5300, 1307.4, 750),
])
def test_new_gpu_presets(name, mem, bw, fp16, tdp):
    hw = loader.load_hardware(name)
    assert (hw.memory_gb, hw.hbm_bandwidth_gbps, hw.peak_tflops["fp16"], hw.tdp_w) == (mem, bw, fp16, tdp)
    assert hw.peak_tflops["fp8"] == pytest.approx(2 * fp16, rel=0.01)
    assert any("assumption" in s for s in hw.sources)  # what is not from a datasheet says so


H100_HOLDOUTS = h100_fp8_holdouts()
A100_V05_HOLDOUTS = a100_v05_holdouts()
HF = Path(__file__).resolve().parent / "data" / "hf"


@pytest.mark.parametrize("check", H100_HOLDOUTS, ids=[c.name for c in H100_HOLDOUTS])
def test_h100_fp8_holdouts(check):
    """The A100-fitted constants on TensorRT-LLM v0.5's H100 FP8 rows: within 20 % but two
    known misses (cost/gpu.py docstring): 128/128, shorter than a 110 µs collective allows, and
    2048/2048, whose v0.5 decode attention is slower than the model's (v0.17's)."""
    if "128/128" in check.name:
        assert -0.40 < check.error < -0.20, "the known miss (cost/gpu.py docstring) moved"
    elif "2048/2048" in check.name:
        assert 0.20 < check.error < 0.30, "the known miss (cost/gpu.py docstring) moved"
    else:
        assert check.passed, f"{check.name}: {check.error:+.1%}"


@pytest.mark.parametrize("check", A100_V05_HOLDOUTS, ids=[c.name for c in A100_V05_HOLDOUTS])
def test_a100_v05_holdouts(check):
    """TensorRT-LLM v0.5's Llama-2-70B A100 rows: within 20 % but 2048/2048, whose decode
    attention (v0.5's kernels) is slower than the v0.17 table the model follows."""
    if "2048/2048" in check.name:
        assert 0.25 < check.error < 0.35, "the known miss (cost/gpu.py docstring) moved"
    else:
        assert check.passed, f"{check.name}: {check.error:+.1%}"


def test_v017_table_holdouts_stay_within_20_percent_but_one():
    """TensorRT-LLM v0.17's A100 rows not used in any fit (21 of 24; the three Mixtral 128/128
    rows fit moe_compute): within 20 %, Mixtral TP2 2048/2048 at −23 % the one outside. With the
    earlier attention_memory 0.4 the long generations came out 20–51 % slow."""
    models = {"mixtral-8x7b": loader.load_model("mixtral-8x7b"),
              "llama-3.1-8b": loader.load_model(str(HF / "Llama-3.1-8B" / "config.json")),
              "llama-3.1-70b": loader.load_model(str(HF / "Llama-3.1-70B" / "config.json"))}
    rows = v017_holdouts(models)
    assert len(rows) == 21
    for name, tp, P, G, ref, model in rows:
        err = model / ref - 1
        if (name, tp, P, G) == ("mixtral-8x7b", 2, 2048, 2048):
            assert -0.25 < err < -0.20, "the known miss (cost/gpu.py docstring) moved"
        else:
            assert abs(err) <= 0.20, f"{name} TP{tp} {P}/{G}: {err:+.1%}"
