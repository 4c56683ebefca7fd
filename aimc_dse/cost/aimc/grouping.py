"""Peripheral sharing and expert grouping as factors of the cost model
(docs/cost-model.md §6, docs/reference-simulators.md §E.2, §E.3, §G.6).

g crossbars share one periphery (Gao & Yang 2026). The group-wise schedules of
``aimc_dse.moe.grouping`` run on a token × expert routing — a gate trace, or one drawn from
the workload's expert-load model (uniform or zipf token choice; expert choice, every expert
equally loaded, when the model routes that way and no other load model is asked for) — and
give f_m (expert-phase steps per token), f_c (token transfers per token) and f_single (decode
serialisation per token). They depend on a handful of knobs, so they are computed once per
distinct combination (``memo.per_distinct``) and cached across calls. f_g, the per-crossbar
area (and, as MoEwithPIM codes it, energy) factor, follows from g.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ...moe.grouping import expert_phase_factors
from ...moe.routing import expert_choice_capacity, expert_choice_choices, load_trace, synth_choices
from ...specs.base import SpecError
from ...specs.hardware import sharing_area_factor
from ..memo import per_distinct
from ..numeric import Array
from ..shapes import ModelShape
from .inputs import Chip, GroupingKnobs, Work

# Synthetic routings are drawn over at least this many tokens per layer, and a few layers, so
# the factors are expectations rather than one prompt's luck.
MIN_SYNTH_TOKENS = 512
SYNTH_LAYERS = 4


@dataclass(frozen=True)
class GroupingFactors:
    f_m: Array  # expert-phase steps per token (prefill)
    f_c: Array  # token transfers per token into expert groups
    f_g: Array  # per-crossbar area (and MoEwithPIM energy) factor of sharing
    f_single: Array  # expected serialisation of one decode token's experts
    grouped: Array  # bool: a grouped schedule (derived or explicit) applies
    groups_ok: Array  # bool: g divides the routed experts wherever groups are formed (else fit_reason group_size)


@lru_cache(maxsize=1024)
def _factors(E: int, k: int, tokens: int, g: int, grouping: str, schedule: str, load: str, zipf: float,
             trace: str, seed: int, fit: float, expert_choice: bool) -> tuple[float, float, float]:
    if load == "trace":
        choices = load_trace(trace, top_k=None if expert_choice else k, exact_k=not expert_choice, k_from="the model's moe.top_k")
        if choices.shape[2] != E:
            raise SpecError(trace, "workload.expert_load.trace", f"trace has {choices.shape[2]} experts, the model {E}")
    elif expert_choice and load == "uniform":  # expert choice balances loads by construction
        T = max(tokens, MIN_SYNTH_TOKENS)
        choices = expert_choice_choices(E, T, expert_choice_capacity(T, k, E), layers=SYNTH_LAYERS, seed=seed)
    else:
        choices = synth_choices(E, k, max(tokens, MIN_SYNTH_TOKENS), layers=SYNTH_LAYERS, zipf=zipf, seed=seed)
    try:
        f = expert_phase_factors(choices, g, grouping, schedule, fit)
    except ValueError as e:
        raise SpecError("workload.grouping", "hw.sharing.group_size", str(e)) from None
    return f["f_m"], f["f_c"], f["f_single"]


def _derived(*key: Any) -> tuple[float, float, float]:
    E, k, tokens, g, grouping, schedule, load, zipf, trace, seed, fit, ec = key
    return _factors(int(E), int(k), int(tokens), int(g), str(grouping), str(schedule), str(load), float(zipf),
                    str(trace), int(seed), float(fit), bool(ec))


def grouping_factors(chip: Chip, sh: ModelShape, work: Work, knobs: GroupingKnobs,
                     physical: Array) -> GroupingFactors:
    """Explicit ``workload.grouping.factors.*`` win (reproduction of the reference runs);
    otherwise a schedule other than ``none`` derives them from the expert-load model.

    ``physical`` (the accounting flag ``grouping_on_expert_phase``): with shared peripherals
    (g > 1) ``none`` is not free — a group still serves one (token, expert) pair at a time, so
    tokens passing one at a time run the ``single`` schedule, whose factors are derived. The
    reference profiles keep ``none`` as the reference takes it (factors 1, only f_g).
    """
    shared = (chip.group_size > 1) & physical
    schedule = np.where((knobs.schedule == "none") & shared, "single", knobs.schedule)
    wanted = (schedule != "none") & (sh.experts > 0)
    # groups of g experts need g to divide E: a design that cannot form them does not fit (a
    # result, fit_reason group_size), so a sweep over group sizes and models runs through
    groups_ok = ~wanted | (sh.experts % np.maximum(chip.group_size, 1) == 0)
    derive = wanted & groups_ok
    fm, fc, fs = np.ones(len(derive)), np.ones(len(derive)), np.ones(len(derive))
    if derive.any():
        fm, fc, fs = per_distinct(_derived, derive, sh.experts, sh.top_k, work.prompt, chip.group_size,
                                  knobs.grouping, schedule, work.load_model, work.zipf, work.trace,
                                  work.seed, knobs.fit_tokens, sh.expert_choice, width=3, fill=1.0)
    f_g_share = sharing_area_factor(np.maximum(chip.group_size, 1), chip.crossbar_share)
    return GroupingFactors(
        f_m=np.where(np.isnan(knobs.f_m_set), fm, knobs.f_m_set),
        f_c=np.where(np.isnan(knobs.f_c_set), fc, knobs.f_c_set),
        f_g=np.where(np.isnan(knobs.f_g_set), f_g_share, knobs.f_g_set),
        f_single=fs,
        grouped=derive | ~np.isnan(knobs.f_m_set) | ~np.isnan(knobs.f_c_set),
        groups_ok=groups_ok,
    )
