"""Grouping factors for columns of design points (COST-MODEL.md §6, reference-simulators.md §G.6).

The schedules of ``cost.grouping`` run on a token × expert routing: a gate trace, or a
synthetic one drawn from the workload's expert-load model (uniform or zipf token choice;
expert choice — every expert equally loaded — when the model routes that way and no other
load model is asked for). Their factors — f_m (expert-phase steps
per token), f_c (transfers per token), f_single (decode serialisation per token) — depend
only on a handful of knobs, so they are computed once per distinct combination and cached.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..specs.base import SpecError
from .columns import Cols
from .grouping import expert_phase_factors
from .routing import expert_choice_capacity, expert_choice_choices, load_trace, synth_choices

# Synthetic routings are drawn over this many tokens per layer (at least the prompt), and a
# few layers, so the factors are expectations rather than one prompt's luck.
_MIN_TOKENS = 512
_SYNTH_LAYERS = 4


@lru_cache(maxsize=1024)
def _factors(E: int, k: int, tokens: int, g: int, grouping: str, schedule: str, load: str, zipf: float,
             trace: str, seed: int, fit: float, expert_choice: bool) -> tuple[float, float, float]:
    if load == "trace":
        choices = load_trace(trace, top_k=None if expert_choice else k, exact_k=not expert_choice)
        if choices.shape[2] != E:
            raise SpecError(trace, "workload.expert_load.trace", f"trace has {choices.shape[2]} experts, the model {E}")
    elif expert_choice and load == "uniform":  # expert choice balances loads by construction
        T = max(tokens, _MIN_TOKENS)
        choices = expert_choice_choices(E, T, expert_choice_capacity(T, k, E), layers=_SYNTH_LAYERS, seed=seed)
    else:
        choices = synth_choices(E, k, max(tokens, _MIN_TOKENS), layers=_SYNTH_LAYERS, zipf=zipf, seed=seed)
    try:
        f = expert_phase_factors(choices, g, grouping, schedule, fit)
    except ValueError as e:
        raise SpecError("workload.grouping", "hw.sharing.group_size", str(e)) from None
    return f["f_m"], f["f_c"], f["f_single"]


def derived_factors(c: Cols, sh, mask: np.ndarray, prompt: np.ndarray, zipf: np.ndarray, seed: np.ndarray):
    """f_m, f_c, f_single per point (1 where ``mask`` is false)."""
    n = c.n
    out = np.ones((3, n))
    g = c.i("hw.sharing.group_size", 1)
    grouping = c.s("workload.grouping.grouping", "uniform")
    schedule = c.s("workload.grouping.schedule", "none")
    load = c.s("workload.expert_load.model", "uniform")
    trace = c.s("workload.expert_load.trace", "")
    fit = c.f("workload.grouping.fit_tokens", 1.0)
    for i in np.flatnonzero(mask):
        out[:, i] = _factors(int(sh.experts[i]), int(sh.top_k[i]), int(prompt[i]), int(g[i]), str(grouping[i]),
                             str(schedule[i]), str(load[i]), float(zipf[i]), str(trace[i]), int(seed[i]),
                             float(fit[i]), bool(sh.expert_choice[i]))
    return out[0], out[1], out[2]
