"""A noise-sensitivity *proxy* for routed experts — not an accuracy model.

Each expert's weights are programmed with Gaussian noise (three models below) and its
outputs are compared with the clean ones on n seeded random inputs X ~ N(0, I) (n × d_model).
Three figures, all Frobenius norms over the n inputs:

* ``mvm_rel_err`` — the mean over the expert's matrices (gate, up, down) of the relative
  error of that one MVM on its clean input, ‖X_m ΔW_mᵀ‖ / ‖X_m W_mᵀ‖ (X_m = X for gate and
  up, the clean hidden activation for down). This is "the crossbar's relative output error".
* ``ffn_rel_err`` — end to end: ‖Ŷ − Y‖ / ‖Y‖, Y = FFN_W(X), Ŷ = FFN_{W+ΔW}(X).
* ``abs_err`` (RMS over inputs of ‖ŷ − y‖); :func:`aimc_dse.experts.score.score_experts`
  divides it by the median output norm of the layer's experts (``ffn_err_vs_layer``): the
  error an expert adds to the residual stream, compared with what a typical expert writes.

Which experts each figure flags (measured on planted experts, see tests/test_experts.py):
``mvm_rel_err`` under ``range`` noise ranks experts with outlier weights first — the
range is set by the outliers, so every other weight of the matrix gets a large error
relative to itself. ``ffn_rel_err`` does *not* reliably: an outlier neuron dominates the
expert's own output, and that neuron is itself programmed accurately. ``ffn_err_vs_layer``
ranks large-norm experts first under every noise model, the paper's mechanism
(large-norm neurons are hurt most in absolute terms).

Noise models of weight programming, each Gaussian and scaled by a factor c:

* ``pcm`` (default) — the PCM programming-noise model of IBM's AIHWKIT
  (``PCMLikeNoiseModel``, fitted on measured PCM devices, Nandakumar et al. ICECS 2019; the
  Le Gallo et al. 2023 family that Chowdhury et al. use, docs/paper-numbers.md §3). Weights are
  mapped so that max|W| of the matrix sits at g_max; a weight w has target r = |w|/max|W| and

      σ(w) = c · max|W| · (0.26348 + 1.9650·r − 1.1731·r²) / 25

  (the polynomial is in µS for g_max = 25 µS). c is the paper's noise scale ("c = 1.5, 2.5"):
  c = 1 is the measured device. Simplifications: one device per weight (the idle device of
  the differential pair, its clamp at 0 µS, read noise and drift are left out).
* ``weight`` — σ = c·|W| per entry (the digests' reading of the paper's Eq. 3,
  ΔW ~ N(0, c²W²)); c is the relative std (0.05 = 5 %). For one linear layer the relative
  error is then independent of the weights' scale (it depends only on how the output mixes
  entries), so it barely separates experts — an expert with a huge-norm neuron is hurt in
  *absolute* terms (``abs_err``), which is what matters once its output is summed with the
  other experts' in the residual stream.
* ``range`` — σ = c·max|W| per entry, one scale per matrix; c is the std as a fraction of the
  range (0.02 = 2 %). This is the floor of the PCM model: the weights are mapped onto the
  conductance range once per matrix, and a device's error does not shrink with its weight.

``pcm`` lies between the two: a floor of ~1 % of the range (r = 0) rising to ~4 % at the
range's end (r = 1), per unit c. Its per-MVM relative error separates outlier experts less
than ``range`` does, because the error of the small weights is partly weight-proportional.

The FFN is the model's: gated ``down(act(gate x) ⊙ up x)`` or plain ``down(act(up x))``,
with ReLU, GeLU (tanh form) or SiLU. Deterministic: the inputs of layer l come from
``default_rng([seed, l])`` (the same for every expert of a layer), the noise of expert e
from ``default_rng([seed, l, e, m])`` for its m-th matrix, so a result does not depend on
which other experts are scored or in what order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

import numpy as np

NoiseKind = Literal["pcm", "weight", "range"]

# AIHWKIT PCMLikeNoiseModel programming-noise polynomial, µS at g_max = 25 µS (Nandakumar et al. 2019)
PCM_PROG_COEFF = (0.26348, 1.9650, -1.1731)
PCM_G_MAX_US = 25.0


def activation(name: str, x: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "silu":
        return x / (1.0 + np.exp(-x))
    if name == "gelu":
        return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))
    raise ValueError(f"unknown activation {name!r}")


def layer_inputs(d_model: int, n: int, seed: int, layer: int) -> np.ndarray:
    """The n seeded N(0, 1) input vectors of one layer, float64, shape (n, d_model)."""
    return np.random.default_rng([seed, layer]).standard_normal((n, d_model))


def noise_sigma(w: np.ndarray, c: float, kind: NoiseKind) -> np.ndarray | float:
    """Per-entry std of the programming noise of W (see the module docstring)."""
    if kind == "weight":
        return np.float32(c) * np.abs(w, dtype=np.float32)
    wmax = float(np.max(np.abs(w))) if w.size else 0.0
    if kind == "range":
        return np.float32(c * wmax)
    if kind == "pcm":
        if wmax == 0:
            return np.float32(0.0)
        r = np.abs(w, dtype=np.float32) / np.float32(wmax)
        c0, c1, c2 = PCM_PROG_COEFF
        poly = np.float32(c0) + r * (np.float32(c1) + np.float32(c2) * r)
        return poly * np.float32(c * wmax / PCM_G_MAX_US)
    raise ValueError(f"noise kind must be 'pcm', 'weight' or 'range', got {kind!r}")


def perturb(w: np.ndarray, c: float, kind: NoiseKind, rng: np.random.Generator) -> np.ndarray:
    """W + ΔW with ΔW ~ N(0, σ²), σ from :func:`noise_sigma` (float32 noise)."""
    sigma = noise_sigma(w, c, kind)
    eps = rng.standard_normal(w.shape, dtype=np.float32)
    eps *= sigma
    return w + eps


def matrix_noise_rel_err(w: np.ndarray, x: np.ndarray, c: float, kind: NoiseKind, rng: np.random.Generator) -> float:
    """Relative error ‖x(W+ΔW)ᵀ − xWᵀ‖_F / ‖xWᵀ‖_F of one linear layer (W stored (out, in))."""
    y = x @ w.T.astype(np.float64)
    dy = x @ (perturb(w, c, kind, rng) - w).T.astype(np.float64)
    ny = np.linalg.norm(y)
    return float(np.linalg.norm(dy) / ny) if ny > 0 else float("inf")


@dataclass(frozen=True)
class NoiseResult:
    mvm_rel_err: float  # mean over matrices of ‖X_m ΔW_mᵀ‖ / ‖X_m W_mᵀ‖ (clean inputs)
    mvm_rel_errs: dict[str, float]  # the same per matrix role
    ffn_rel_err: float  # ‖Ŷ − Y‖_F / ‖Y‖_F, end to end
    abs_err: float  # RMS over inputs of ‖ŷ − y‖₂ (output units of the expert)
    out_norm: float  # RMS over inputs of ‖y‖₂


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else (0.0 if num == 0 else float("inf"))


def ffn_noise(
    mats: Iterable[tuple[str, np.ndarray]],
    x: np.ndarray,
    act: str,
    c: float,
    kind: NoiseKind,
    seed: int,
    layer: int,
    expert: int,
) -> NoiseResult:
    """Noise proxy of one expert whose matrices arrive one at a time in gate, up, down order.

    Each matrix serves the clean pass, the noisy pass and its own MVM error, then is
    dropped, so only one matrix (and its noisy copy) is held at a time.
    """
    g = gn = u = un = y = yn = None
    per: dict[str, float] = {}
    for m, (role, w) in enumerate(mats):
        wn = perturb(w, c, kind, np.random.default_rng([seed, layer, expert, m]))
        wt, wnt = w.T.astype(np.float64), wn.T.astype(np.float64)
        del wn
        if role == "gate":
            g, gn = x @ wt, x @ wnt
            per[role] = _ratio(float(np.linalg.norm(x @ wnt - g)), float(np.linalg.norm(g)))
        elif role == "up":
            u, un = x @ wt, x @ wnt
            per[role] = _ratio(float(np.linalg.norm(un - u)), float(np.linalg.norm(u)))
        elif role == "down":
            if u is None:
                raise ValueError(f"layer {layer} expert {expert}: down matrix before up")
            if g is not None:
                h, hn = activation(act, g) * u, activation(act, gn) * un
            else:
                h, hn = activation(act, u), activation(act, un)
            y, yn = h @ wt, hn @ wnt
            per[role] = _ratio(float(np.linalg.norm(h @ wnt - y)), float(np.linalg.norm(y)))
        else:
            raise ValueError(f"unknown matrix role {role!r}")
    if y is None:
        raise ValueError(f"layer {layer} expert {expert}: no down matrix")
    n = x.shape[0]
    ny = float(np.linalg.norm(y))
    dy = float(np.linalg.norm(yn - y))
    return NoiseResult(
        mvm_rel_err=float(np.mean(list(per.values()))),
        mvm_rel_errs=per,
        ffn_rel_err=_ratio(dy, ny),
        abs_err=dy / np.sqrt(n),
        out_norm=ny / np.sqrt(n),
    )
