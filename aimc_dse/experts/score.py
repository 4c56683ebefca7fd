"""Score every routed expert of a checkpoint: MaxNNScore and the noise proxy, one matrix at a time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Literal

import numpy as np

from .noise import NoiseKind, ffn_noise, layer_inputs
from .weights import ROLES, ExpertWeights, iter_expert_matrices, max_neuron_norm


@dataclass(frozen=True)
class ExpertScore:
    layer: int  # model layer index
    expert: int
    maxnn: float  # ∏ over matrices of the largest neuron norm
    norms: dict[str, float]  # largest neuron norm per matrix role (gate, up, down)
    # Noise proxy (None when not computed, c = 0); see experts/noise.py
    mvm_rel_err: float | None = None  # mean per-MVM relative error on clean inputs
    ffn_rel_err: float | None = None  # end-to-end relative error of the expert's output
    ffn_err_vs_layer: float | None = None  # RMS ‖Δy‖ / median RMS ‖y‖ of the layer's experts


def score_experts(
    ew: ExpertWeights,
    *,
    activation: str,
    d_model: int,
    noise_c: float = 1.5,
    noise_kind: NoiseKind = "pcm",
    noise_inputs: int = 32,
    seed: int = 0,
    neuron: Literal["output", "input"] = "output",
    progress: Callable[[int, int], None] | None = None,
) -> list[ExpertScore]:
    """Scores of every expert of every layer, in (layer, expert) order.

    Each matrix is loaded once and serves both the MaxNNScore and the noise proxy;
    ``noise_c = 0`` skips the proxy. ``progress(done, total)`` is called after each expert.
    """
    out: list[ExpertScore] = []
    total = sum(len(v) for v in ew.experts.values())
    done = 0
    for layer in ew.layers:
        x = layer_inputs(d_model, noise_inputs, seed, layer) if noise_c > 0 else None
        rows: list[ExpertScore] = []
        abs_out: list[tuple[float, float]] = []
        for expert in sorted(ew.experts[layer]):
            norms: dict[str, float] = {}

            def mats():
                for role, w in iter_expert_matrices(ew, layer, expert):
                    norms[role] = max_neuron_norm(w, neuron)
                    yield role, w

            score = ExpertScore(layer, expert, 0.0, norms)
            if x is not None:
                res = ffn_noise(mats(), x, activation, noise_c, noise_kind, seed, layer, expert)
                score = replace(score, mvm_rel_err=res.mvm_rel_err, ffn_rel_err=res.ffn_rel_err)
                abs_out.append((res.abs_err, res.out_norm))
            else:
                for _ in mats():
                    pass
            rows.append(replace(score, maxnn=float(np.prod([norms[r] for r in ROLES if r in norms])), norms=dict(norms)))
            done += 1
            if progress is not None:
                progress(done, total)
        if abs_out:
            typical = float(np.median([o for _, o in abs_out]))
            rows = [
                replace(r, ffn_err_vs_layer=(a / typical if typical > 0 else float("inf")))
                for r, (a, _) in zip(rows, abs_out)
            ]
        out += rows
    return out
