"""`aimc-dse experts score` and the functions behind it (Chowdhury et al., arXiv 2603.02633).

A tiny OLMoE-style checkpoint (2 layers, 8 experts, d_model 16, d_ff 8, SwiGLU) is written
with a few *planted* experts whose matrices carry outlier weights. The tests check that
MaxNNScore ranks the planted experts first, that the noise proxy behaves as the paper's
mechanism says it should (and as experts/noise.py documents), and that a checkpoint that
does not match the model is refused with one line and exit code 2.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file
from typer.testing import CliRunner

from aimc_dse.cli import app
from aimc_dse.experts.noise import PCM_PROG_COEFF, matrix_noise_rel_err, noise_sigma
from aimc_dse.experts.score import score_experts
from aimc_dse.experts.selection import read_selection, select, selection_scores
from aimc_dse.experts.weights import bf16_bytes, max_neuron_norm, maxnn_score, open_weights
from aimc_dse.specs import loader
from aimc_dse.specs.base import SpecError
from aimc_dse.specs.placement import DigitalPlacement, digital_experts

LAYERS, EXPERTS, D, F = 2, 8, 16, 8
PLANTED = {0: [3, 6], 1: [1, 5]}
TINY = {
    "name": "tiny-olmoe",
    "description": "2-layer OLMoE-style test model",
    "layers": LAYERS,
    "d_model": D,
    "heads": 2,
    "d_ff": 0,
    "mlp": "gated",
    "activation": "silu",
    "vocab": 32,
    "position_embedding": "rope",
    "moe": {"experts": EXPERTS, "top_k": 2, "d_ff_expert": F},
}
OLMOE = "model.layers.{l}.mlp.experts.{e}.{p}.weight"
MIXTRAL = "model.layers.{l}.block_sparse_moe.experts.{e}.{p}.weight"
OLMOE_ROLES = {"gate": "gate_proj", "up": "up_proj", "down": "down_proj"}
MIXTRAL_ROLES = {"gate": "w1", "up": "w3", "down": "w2"}
SHAPES = {"gate": (F, D), "up": (F, D), "down": (D, F)}  # Hugging Face (out, in)


def tiny_weights(seed: int = 0, layers: range = range(LAYERS), names=OLMOE, roles=OLMOE_ROLES) -> dict[str, np.ndarray]:
    """Gaussian experts (std 0.25); a planted expert has two outlier weights (±4, 16σ) per matrix.

    Outlier *weights* — not whole scaled rows — as in LLM checkpoints: they make the row (neuron)
    holding them the largest-norm neuron, so MaxNNScore rises ~4³ = 64×, and they set max|W|.
    Range-proportional programming noise (σ = c·max|W|) then hits every *other* weight of the
    matrix with an error ~16× larger relative to its size than in an expert without outliers,
    so each MVM's relative output error is largest for the planted experts: the paper's
    mechanism. Under weight-proportional noise (σ = c·|W|) the relative error of an MVM does
    not depend on the weights' scale, so it cannot single them out (tested below).
    """
    rng = np.random.default_rng(seed)
    out = {}
    for l in layers:
        for e in range(EXPERTS):
            for role, shape in SHAPES.items():
                w = rng.normal(0.0, 0.25, shape).astype(np.float32)
                if e in PLANTED.get(l, ()):
                    w[0, 0], w[1, 1] = 4.0, -4.0
                out[names.format(l=l, e=e, p=roles[role])] = w
    out["model.embed_tokens.weight"] = rng.normal(size=(32, D)).astype(np.float32)  # ignored
    return out


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    p = tmp_path / "tiny-olmoe.yaml"
    p.write_text(yaml.safe_dump(TINY))
    return p


@pytest.fixture
def st_file(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.safetensors"
    save_file(tiny_weights(), str(p))
    return p


def invoke(args: list[str]) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stdout, r.stderr


def assert_bad_input(code: int, out: str, err: str, *fragments: str) -> None:
    assert "Traceback" not in out + err, out + err
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def scores_of(path, model=None, **kw):
    m = model or loader.validate_model(dict(TINY), "tiny")
    with open_weights(path) as ew:
        ew.check_model(m)
        return score_experts(ew, activation=m.activation, d_model=m.d_model, **kw)


def by_layer(scores, attr):
    return {l: {s.expert: getattr(s, attr) for s in scores if s.layer == l} for l in range(LAYERS)}


def top2(values: dict[int, float]) -> set[int]:
    return set(sorted(values, key=lambda e: -values[e])[:2])


# ---- MaxNNScore ------------------------------------------------------------------------------

def test_max_neuron_norm_takes_the_rows_of_an_hf_out_by_in_matrix():
    # (out=2, in=3): neuron 0 has incoming weights (3, 4, 0) → norm 5; neuron 1 → 1
    w = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    assert max_neuron_norm(w) == pytest.approx(5.0)
    assert max_neuron_norm(w, "input") == pytest.approx(4.0)  # columns: 3, 4, 1
    assert maxnn_score({"gate": w, "up": 2 * w, "down": w.T}) == pytest.approx(5.0 * 10.0 * 4.0)


def test_maxnn_ranks_planted_outlier_experts_first(st_file):
    s = scores_of(st_file, noise_c=0)
    maxnn = by_layer(s, "maxnn")
    for l in range(LAYERS):
        assert top2(maxnn[l]) == set(PLANTED[l])
        planted = min(maxnn[l][e] for e in PLANTED[l])
        others = max(v for e, v in maxnn[l].items() if e not in PLANTED[l])
        assert planted > 10 * others
    assert all(s.mvm_rel_err is None for s in s)  # c = 0 skips the proxy


def test_selection_takes_ceil_of_fraction_times_experts_best_first(st_file):
    s = scores_of(st_file, noise_c=0)
    assert {l: len(v) for l, v in select(s, 0.125).items()} == {0: 1, 1: 1}  # 0.125·8 = 1
    assert {l: set(v) for l, v in select(s, 0.25).items()} == {l: set(PLANTED[l]) for l in range(LAYERS)}
    assert {l: len(v) for l, v in select(s, 0.3).items()} == {0: 3, 1: 3}  # ⌈2.4⌉
    assert select(s, 0.0) == {0: [], 1: []}
    best = select(s, 0.25)
    m = by_layer(s, "maxnn")
    assert all(m[l][v[0]] >= m[l][v[1]] for l, v in best.items())


# ---- the noise proxy -------------------------------------------------------------------------

def test_range_noise_mvm_error_is_largest_for_the_outlier_experts(st_file):
    s = scores_of(st_file, noise_c=0.03, noise_kind="range", noise_inputs=64)
    err = by_layer(s, "mvm_rel_err")
    for l in range(LAYERS):
        assert top2(err[l]) == set(PLANTED[l]), err[l]


def test_error_vs_layer_flags_large_norm_experts_under_every_noise_model(st_file):
    # The absolute error an expert writes into the residual stream, against a typical
    # expert's output: large-norm neurons are hurt most in absolute terms (the paper's theory).
    for kind, c in (("pcm", 1.5), ("weight", 0.05), ("range", 0.03)):
        s = scores_of(st_file, noise_c=c, noise_kind=kind)
        err = by_layer(s, "ffn_err_vs_layer")
        for l in range(LAYERS):
            assert top2(err[l]) == set(PLANTED[l]), (kind, err[l])


def test_weight_proportional_mvm_error_is_scale_invariant():
    # σ = c·|W|: scaling W scales ΔW by the same factor, so the relative error cannot tell a
    # large-norm matrix from a small one (why the range model is needed to see outliers).
    rng = np.random.default_rng(1)
    w = rng.normal(size=(8, 16)).astype(np.float32)
    x = rng.normal(size=(32, 16))
    a = matrix_noise_rel_err(w, x, 0.05, "weight", np.random.default_rng(7))
    b = matrix_noise_rel_err(10 * w, x, 0.05, "weight", np.random.default_rng(7))
    assert a == pytest.approx(b, rel=1e-5)
    # … while under range noise an outlier makes the same matrix markedly noisier
    wo = w.copy()
    wo[0, 0] = 16 * np.abs(w).max()
    ra = matrix_noise_rel_err(w, x, 0.03, "range", np.random.default_rng(7))
    rb = matrix_noise_rel_err(wo, x, 0.03, "range", np.random.default_rng(7))
    assert rb > 3 * ra


def test_pcm_noise_follows_the_aihwkit_polynomial():
    w = np.array([[0.0, 0.5, -1.0, 2.0]], dtype=np.float32)  # max|W| = 2 → r = 0, .25, .5, 1
    c0, c1, c2 = PCM_PROG_COEFF
    r = np.array([0.0, 0.25, 0.5, 1.0])
    want = 1.5 * 2.0 * (c0 + c1 * r + c2 * r**2) / 25.0
    np.testing.assert_allclose(noise_sigma(w, 1.5, "pcm")[0], want, rtol=1e-6)
    assert noise_sigma(w, 0.1, "range") == pytest.approx(0.2)
    np.testing.assert_allclose(noise_sigma(w, 0.1, "weight")[0], 0.1 * np.abs(w[0]), rtol=1e-6)


def test_noise_proxy_is_deterministic_and_independent_of_scoring_order(st_file, tmp_path):
    a = scores_of(st_file, seed=3)
    b = scores_of(st_file, seed=3)
    assert a == b
    # a file holding only layer 1 gives layer 1 the same numbers (noise seeded per layer/expert)
    one = tmp_path / "layer1.safetensors"
    save_file({k: v for k, v in tiny_weights().items() if ".layers.1." in k}, str(one))
    with open_weights(one) as ew:
        only = score_experts(ew, activation="silu", d_model=D, seed=3)
    assert [s.mvm_rel_err for s in only] == [s.mvm_rel_err for s in a if s.layer == 1]
    c = scores_of(st_file, seed=4)
    assert [s.mvm_rel_err for s in c] != [s.mvm_rel_err for s in a]


# ---- file formats ----------------------------------------------------------------------------

def test_npz_input_gives_the_same_scores(st_file, tmp_path):
    npz = tmp_path / "tiny.npz"
    np.savez(npz, **tiny_weights())
    assert scores_of(npz) == scores_of(st_file)


def _write_bf16_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        raw = bf16_bytes(a)
        header[name] = {"dtype": "BF16", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def test_bf16_safetensors_are_read_from_raw_bytes(st_file, tmp_path):
    bf = tmp_path / "tiny-bf16.safetensors"
    _write_bf16_safetensors(bf, tiny_weights())
    a, b = scores_of(st_file, noise_c=0), scores_of(bf, noise_c=0)
    for x, y in zip(a, b):
        assert y.maxnn == pytest.approx(x.maxnn, rel=0.02)  # bf16 keeps 8 bits of mantissa
    assert select(a, 0.25) == select(b, 0.25)
    with open_weights(bf) as ew:  # exact widening: the planted ±4 survive bit for bit
        t = ew.experts[0][3]["gate"]
        assert t.dtype == "BF16" and ew.load(t)[0, 0] == 4.0


def test_fp16_and_sharded_folder(tmp_path):
    shards = tmp_path / "ckpt"
    shards.mkdir()
    w = {k: v.astype(np.float16) for k, v in tiny_weights().items()}
    keys = sorted(w)
    save_file({k: w[k] for k in keys[: len(keys) // 2]}, str(shards / "model-00001-of-00002.safetensors"))
    save_file({k: w[k] for k in keys[len(keys) // 2 :]}, str(shards / "model-00002-of-00002.safetensors"))
    s = scores_of(shards, noise_c=0)
    assert {l: set(v) for l, v in select(s, 0.25).items()} == {l: set(PLANTED[l]) for l in range(LAYERS)}


def test_mixtral_names_are_recognised(tmp_path):
    p = tmp_path / "mixtral-style.safetensors"
    save_file(tiny_weights(names=MIXTRAL, roles=MIXTRAL_ROLES), str(p))
    s = scores_of(p, noise_c=0)
    assert {l: set(v) for l, v in select(s, 0.25).items()} == {l: set(PLANTED[l]) for l in range(LAYERS)}


def test_deepseek_layout_dense_first_layer_and_shared_experts(tmp_path):
    spec = {**TINY, "name": "tiny-deepseek", "layers": 3, "d_ff": 32,
            "moe": {**TINY["moe"], "shared_experts": 1, "first_dense_layers": 1}}
    m = loader.validate_model(spec, "tiny-deepseek")
    rng = np.random.default_rng(0)
    w = tiny_weights(layers=range(1, 3))
    for p, shape in (("gate_proj", (32, D)), ("up_proj", (32, D)), ("down_proj", (D, 32))):
        w[f"model.layers.0.mlp.{p}.weight"] = rng.normal(size=shape).astype(np.float32)  # dense layer 0
        for l in (1, 2):
            w[f"model.layers.{l}.mlp.shared_experts.{p}.weight"] = rng.normal(size=shape[::-1] if p == "down_proj" else shape).astype(np.float32)
    f = tmp_path / "deepseek-style.safetensors"
    save_file(w, str(f))
    with open_weights(f) as ew:
        ew.check_model(m)
        assert ew.layers == [1, 2] and ew.shared_tensors == 6


# ---- validation against the model: one line, exit 2 ------------------------------------------

@pytest.mark.parametrize(
    "change, fragments",
    [
        ({"moe": {**TINY["moe"], "experts": 16}}, ["has 8 experts", "has 16"]),
        ({"moe": {**TINY["moe"], "d_ff_expert": 4}}, ["shape [8, 16]", "expected [4, 16]"]),
        ({"d_model": 32, "heads": 2}, ["shape", "expected"]),
        ({"layers": 3}, ["experts in layers 0…1", "MoE layers 0…2", "no experts for MoE layer 2"]),
        ({"layers": 1}, ["layer 1 is not an MoE layer"]),
        ({"mlp": "plain"}, ["gate matrix", "plain"]),
    ],
)
def test_mismatched_model_exits_2_with_one_line(tmp_path, st_file, change, fragments):
    p = tmp_path / "other.yaml"
    p.write_text(yaml.safe_dump({**TINY, **change}))
    code, out, err = invoke(["experts", "score", st_file, "--model", p])
    assert_bad_input(code, out, err, str(st_file), *fragments)


def test_real_preset_that_does_not_match_exits_2(st_file):
    code, out, err = invoke(["experts", "score", st_file, "--model", "olmoe-1b-7b"])
    assert_bad_input(code, out, err, str(st_file), "olmoe-1b-7b")


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["missing.safetensors"], ["missing.safetensors", "file not found"]),
        (["{st}", "--fraction", "1.5"], ["--fraction 1.5", "between 0 and 1"]),
        (["{st}", "--noise-c", "-1"], ["--noise-c -1", "≥ 0"]),
        (["{model}"], ["expected a .safetensors or .npz"]),
    ],
)
def test_bad_arguments_exit_2(st_file, model_file, args, fragments):
    args = [a.format(st=st_file, model=model_file) for a in args]
    code, out, err = invoke(["experts", "score", *args, "--model", model_file])
    assert_bad_input(code, out, err, *fragments)


def test_dense_model_and_file_without_experts_exit_2(tmp_path, st_file):
    code, out, err = invoke(["experts", "score", st_file, "--model", "llama-2-7b"])
    assert_bad_input(code, out, err, "llama-2-7b", "dense")
    empty = tmp_path / "empty.safetensors"
    save_file({"model.embed_tokens.weight": np.zeros((4, 4), np.float32)}, str(empty))
    code, out, err = invoke(["experts", "score", empty, "--model", "olmoe-1b-7b"])
    assert_bad_input(code, out, err, "no routed-expert tensors")


def test_unsupported_dtype_exits_2(tmp_path, model_file):
    p = tmp_path / "int8.safetensors"
    w = tiny_weights()
    k = OLMOE.format(l=0, e=0, p="up_proj")
    w[k] = (w[k] * 10).astype(np.int8)
    save_file(w, str(p))
    code, out, err = invoke(["experts", "score", p, "--model", model_file])
    assert_bad_input(code, out, err, k, "dtype I8")


# ---- the command -----------------------------------------------------------------------------

def test_score_command_ranks_planted_first_and_writes_selection(st_file, model_file, tmp_path):
    sel = tmp_path / "selection.json"
    code, out, err = invoke(
        ["experts", "score", st_file, "--model", model_file, "--fraction", "0.25",
         "--noise-kind", "range", "--noise-c", "0.03", "--noise-inputs", "64", "-o", sel, "--format", "json"]
    )
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == LAYERS * EXPERTS
    for l in range(LAYERS):
        ranked = [r for r in rows if r["layer"] == l]
        assert [r["rank"] for r in ranked] == list(range(1, EXPERTS + 1))
        assert {r["expert"] for r in ranked[:2]} == set(PLANTED[l])
        assert {r["expert"] for r in ranked if r["digital"]} == set(PLANTED[l])
        worst = sorted(ranked, key=lambda r: -r["mvm_rel_err"])[:2]
        assert {r["expert"] for r in worst} == set(PLANTED[l])
    doc = json.loads(sel.read_text())
    assert doc["schema"] == "aimc-dse/expert-selection/1" and doc["digital_per_layer"] == 2
    assert {k: set(v) for k, v in doc["layers"].items()} == {str(l): set(PLANTED[l]) for l in range(LAYERS)}
    assert len(doc["scores"]["0"]) == EXPERTS and doc["noise"]["kind"] == "range"
    assert "wrote" in err and not list(tmp_path.glob(".selection.json.*"))  # no temp file left


def test_selection_file_feeds_digital_experts(st_file, model_file, tmp_path):
    sel = tmp_path / "sel.json"
    code, _, err = invoke(["experts", "score", st_file, "--model", model_file, "-o", sel, "--noise-c", "0"])
    assert code == 0, err
    m = loader.load_model(str(model_file))
    scores = selection_scores(sel, m)
    assert scores.shape == (LAYERS, EXPERTS)
    for phi in (0.125, 0.25):
        mask = digital_experts(DigitalPlacement(fraction=phi, selection_file=str(sel)), EXPERTS, LAYERS, scores=scores)
        assert mask.sum(axis=1).tolist() == [round(phi * EXPERTS)] * LAYERS
        assert all(set(np.flatnonzero(mask[l])) <= set(PLANTED[l]) for l in range(LAYERS))
    assert read_selection(sel).digital == {0: [3], 1: [5]}  # as stored at φ = 0.125
    other = loader.validate_model({**TINY, "moe": {**TINY["moe"], "experts": 16}}, "x")
    with pytest.raises(SpecError, match="8 experts per layer"):
        selection_scores(sel, other)


def test_table_and_csv_formats(st_file, model_file):
    code, out, _ = invoke(["experts", "score", st_file, "--model", model_file, "--top", "2"])
    assert code == 0 and "maxnn_score" in out and "mvm_rel_err" in out
    code, out, _ = invoke(["experts", "score", st_file, "--model", model_file, "-f", "csv", "--top", "1"])
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 1 + LAYERS
    assert lines[0].startswith("layer,rank,expert,maxnn_score,gate_max_norm")


def test_same_inputs_give_the_same_bytes(st_file, model_file, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for p in (a, b):
        assert invoke(["experts", "score", st_file, "--model", model_file, "-o", p, "-f", "csv"])[0] == 0
    assert a.read_bytes() == b.read_bytes()


def test_installed_command_runs_in_a_subprocess(st_file, model_file, tmp_path):
    env = {**os.environ, "COLUMNS": "40"}
    p = subprocess.run(
        [sys.executable, "-m", "aimc_dse.cli", "experts", "score", str(st_file), "--model", str(model_file),
         "-f", "json", "--noise-c", "0"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert {r["expert"] for r in json.loads(p.stdout) if r["digital"]} == {3, 5}
    bad = subprocess.run(
        [sys.executable, "-m", "aimc_dse.cli", "experts", "score", str(st_file), "--model", "mixtral-8x7b"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_noise_constant_that_is_not_a_finite_number_is_refused(st_file, model_file, tmp_path, value):
    out = tmp_path / "sel.json"
    code, stdout, err = invoke(["experts", "score", st_file, "--model", model_file, "--noise-c", value, "-o", out])
    assert_bad_input(code, stdout, err, f"--noise-c {float(value)}", "must be a finite number ≥ 0")
    assert not out.exists()


def test_the_selection_file_goes_into_a_folder_made_if_missing(st_file, model_file, tmp_path):
    out = tmp_path / "new" / "sub" / "sel.json"
    code, _, err = invoke(["experts", "score", st_file, "--model", model_file, "-o", out])
    assert code == 0, err
    assert out.is_file()


def test_a_folder_mixing_safetensors_and_npz_shards_is_refused_naming_both(tmp_path, model_file):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    save_file(tiny_weights(), str(folder / "a.safetensors"))
    np.savez(folder / "b.npz", **tiny_weights())
    code, out, err = invoke(["experts", "score", folder, "--model", model_file])
    assert_bad_input(code, out, err, "folder holds both .safetensors (1) and .npz (1) files")


def test_an_upper_case_suffix_is_read(tmp_path, model_file):
    p = tmp_path / "W.SAFETENSORS"
    save_file(tiny_weights(), str(p))
    code, _, err = invoke(["experts", "score", p, "--model", model_file])
    assert code == 0, err
