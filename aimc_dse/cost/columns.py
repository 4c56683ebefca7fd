"""Design points as columns: the flat, dotted-path form the cost model reads.

A design point is (hardware, model, workload). ``spec_columns`` flattens the three specs
into ``{"hw.tiles": 100, "model.d_model": 512, "workload.batch": 1, ...}`` with every
optional value resolved (a dense model has ``model.moe.experts = 0``). A sweep grid is a
DataFrame of such columns, one row per point; ``Cols`` gives the cost functions typed numpy
views of it. The column names are exactly the ``--set`` paths, so a sweep axis *is* a column.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
from pydantic import BaseModel

from ..specs.hardware import AimcHardware, GpuHardware
from ..specs.model import ModelSpec
from ..specs.workload import Workload

_DROP = {"sources", "description"}


def _flatten(obj: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in _DROP:
                continue
            _flatten(v, f"{prefix}{k}.", out)
    elif isinstance(obj, list):
        out[prefix[:-1]] = ";".join(map(str, obj))
    else:
        out[prefix[:-1]] = obj


MOE_DEFAULTS = {
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


def model_columns(m: ModelSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _flatten(m, "model.", out)
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


def hardware_columns(hw: AimcHardware | GpuHardware) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _flatten(hw, "hw.", out)
    if isinstance(hw, AimcHardware):
        for k in [k for k in out if k.startswith("hw.core")]:
            out.pop(k)
    else:
        out["hw.devices"] = hw.devices or 0  # 0 = as many as memory needs
    return out


def workload_columns(w: Workload) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _flatten(w, "workload.", out)
    for k in ("mvm", "comm", "area"):
        key = f"workload.grouping.factors.{k}"
        if out.get(key) is None:
            out[key] = np.nan  # derived from the grouping when not set
    if out.get("workload.expert_load.trace") is None:
        out["workload.expert_load.trace"] = ""
    return out


def spec_columns(hw, model: ModelSpec, workload: Workload) -> dict[str, Any]:
    """One design point as flat columns."""
    return {**hardware_columns(hw), **model_columns(model), **workload_columns(workload)}


class Cols:
    """Typed numpy views of design-point columns (a DataFrame, or a dict of scalars/arrays)."""

    def __init__(self, data: Mapping[str, Any] | pd.DataFrame):
        if isinstance(data, pd.DataFrame):
            self._d = {c: data[c].to_numpy() for c in data.columns}
            self.n = len(data)
        else:
            self._d = dict(data)
            lens = [len(v) for v in self._d.values() if isinstance(v, (np.ndarray, list, pd.Series))]
            self.n = max(lens) if lens else 1

    def has(self, key: str) -> bool:
        return key in self._d

    def raw(self, key: str, default: Any = None) -> np.ndarray:
        if key not in self._d:
            if default is None:
                raise KeyError(f"design column {key!r} missing")
            v = default
        else:
            v = self._d[key]
        a = np.asarray(v)
        return np.broadcast_to(a, (self.n,)) if a.ndim == 0 else a

    def f(self, key: str, default: Any = None) -> np.ndarray:
        return self.raw(key, default).astype(np.float64)

    def i(self, key: str, default: Any = None) -> np.ndarray:
        return self.raw(key, default).astype(np.int64)

    def b(self, key: str, default: Any = None) -> np.ndarray:
        return self.raw(key, default).astype(bool)

    def s(self, key: str, default: Any = None) -> np.ndarray:
        return self.raw(key, default).astype(str)

    def eq(self, key: str, value: str) -> np.ndarray:
        return self.s(key) == value
