"""Design points as columns: specs flattened to the dotted-path form the cost model reads.

A design point is (hardware, model, workload). ``spec_columns`` flattens the three specs
into ``{"hw.tiles": 100, "model.d_model": 512, "workload.batch": 1, ...}`` with every
optional value resolved (a dense model has ``model.moe.experts = 0``). A sweep grid is a
DataFrame of such columns, one row per point. The column names are exactly the ``--set``
paths, so a sweep axis *is* a column.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import BaseModel

from .flat import flatten, flatten_like
from .hardware import AimcHardware, GpuHardware
from .model import ModelSpec
from .workload import Workload

_DROP = ("sources", "description")


def _flatten(spec: BaseModel, prefix: str) -> dict[str, Any]:
    return flatten(spec, prefix, list_sep=";", drop=_DROP)


def raw_columns(spec: BaseModel, prefix: str, like: tuple[BaseModel, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A spec's fields as flat columns before the per-kind completion below; ``like`` = (a
    spec of the same class, its raw columns) reads only what differs from it (a sweep's
    variants of one spec)."""
    if like is None:
        return _flatten(spec, prefix)
    return flatten_like(spec, like[0], like[1], prefix, list_sep=";", drop=_DROP)


MOE_DEFAULTS: dict[str, Any] = {
    "experts": 0,
    "top_k": 0,
    "d_ff_expert": 0,
    "shared_experts": 0,
    "d_ff_shared": 0,
    "every": 1,
    "first_dense_layers": 0,
    "routing": "token_choice",
}


MLA_DEFAULTS = {  # grouped-query attention: no latent dimensions
    "q_lora_rank": 0,
    "kv_lora_rank": 0,
    "qk_nope_head_dim": 0,
    "qk_rope_head_dim": 0,
    "v_head_dim": 0,
}


def model_columns(m: ModelSpec, raw: dict[str, Any] | None = None) -> dict[str, Any]:
    out = _flatten(m, "model.") if raw is None else dict(raw)
    out["model.kv_heads"] = m.kv_heads or m.heads
    out["model.head_dim"] = m.head_dim or m.d_model // m.heads
    out["model.sliding_window"] = m.sliding_window or 0  # 0 = no window
    if m.mla is None:
        out.pop("model.mla", None)
        for k, v in MLA_DEFAULTS.items():
            out[f"model.mla.{k}"] = v
    else:
        out["model.mla.q_lora_rank"] = m.mla.q_lora_rank or 0  # 0 = a direct q projection
    if m.moe is None:
        out.pop("model.moe", None)
        for k, v in MOE_DEFAULTS.items():
            out[f"model.moe.{k}"] = v
    else:
        out["model.moe.d_ff_shared"] = m.moe.d_ff_shared or m.moe.d_ff_expert
    return out


@lru_cache(maxsize=256)
def _core_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The core-figure columns among ``keys`` (a sweep's variants share one key layout)."""
    return tuple(k for k in keys if k.startswith("hw.core"))


def hardware_columns(hw: AimcHardware | GpuHardware, raw: dict[str, Any] | None = None) -> dict[str, Any]:
    out = _flatten(hw, "hw.") if raw is None else dict(raw)
    if isinstance(hw, AimcHardware):
        for k in _core_keys(tuple(out)):
            out.pop(k)
    else:
        out["hw.devices"] = hw.devices or 0  # 0 = as many as memory needs
    return out


def workload_columns(w: Workload, raw: dict[str, Any] | None = None) -> dict[str, Any]:
    out = _flatten(w, "workload.") if raw is None else dict(raw)
    for k in ("mvm", "comm", "area"):
        key = f"workload.grouping.factors.{k}"
        if out.get(key) is None:
            out[key] = np.nan  # derived from the grouping when not set
    # The digital expert list keeps its validated structure (one list, a list per MoE layer,
    # or {layer: list}) as canonical JSON; the cost model counts it per MoE layer.
    for k in [k for k in out if k.startswith("workload.digital.experts")]:
        out.pop(k)
    out["workload.digital.experts"] = "" if w.digital.experts is None else json.dumps(w.digital.experts, sort_keys=True)
    if out.get("workload.expert_load.trace") is None:
        out["workload.expert_load.trace"] = ""
    return out


def spec_columns(hw: AimcHardware | GpuHardware, model: ModelSpec, workload: Workload) -> dict[str, Any]:
    """One design point as flat columns."""
    return {**hardware_columns(hw), **model_columns(model), **workload_columns(workload)}
