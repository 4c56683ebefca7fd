"""Evaluate design points given as columns: dispatch each row to its system's cost model.

``evaluate_frame(grid)`` takes a DataFrame of design-point columns (``cost.columns``), one
row per point, and returns the same rows with the schema-1 result columns appended
(docs/architecture.md). Rows are grouped by ``hw.kind`` and each group is evaluated in one
vectorised call; row order is preserved.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from ..specs.hardware import AimcHardware, GpuHardware
from ..specs.model import ModelSpec
from ..specs.workload import Workload
from .columns import Cols, spec_columns

CostFn = Callable[[Cols], dict[str, np.ndarray]]


def _cost_fn(kind: str) -> CostFn:
    if kind == "aimc":
        from .aimc import aimc_cost

        return aimc_cost
    if kind == "gpu":
        from .gpu import gpu_cost

        return gpu_cost
    raise ValueError(f"unknown hardware kind {kind!r}")


def evaluate_frame(grid: pd.DataFrame) -> pd.DataFrame:
    """Append result columns to every row of ``grid`` (row order kept)."""
    if len(grid) == 0:
        return grid.copy()
    parts = []
    kinds = grid["hw.kind"].astype(str).to_numpy()
    for kind in pd.unique(kinds):
        idx = np.flatnonzero(kinds == kind)
        sub = grid.iloc[idx]
        # Columns of other systems (NaN here) are dropped so the cost model sees only its own.
        sub = sub.dropna(axis=1, how="all") if len(pd.unique(kinds)) > 1 else sub
        res = _cost_fn(kind)(Cols(sub))
        out = pd.DataFrame({k: np.asarray(v) for k, v in res.items()}, index=sub.index)
        parts.append(pd.concat([grid.iloc[idx], out], axis=1))
    result = pd.concat(parts).loc[grid.index]
    return result


def evaluate_columns(kind: str, fixed: dict[str, Any], varying: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Result columns (arrays of ``n``) of ``n`` points of one hardware kind, given as columns.

    ``fixed`` columns hold one value for every point and are passed to the cost model as
    broadcast views, never repeated: the sweep runner's fast path (same numbers as
    ``evaluate_frame``).
    """
    data: dict[str, Any] = {c: np.broadcast_to(np.asarray(v), (n,)) for c, v in fixed.items()}
    data.update(varying)
    res = _cost_fn(kind)(Cols(data))
    return {k: np.broadcast_to(np.asarray(v), (n,)) if np.ndim(v) == 0 else np.asarray(v) for k, v in res.items()}


def evaluate_point(hw: AimcHardware | GpuHardware, model: ModelSpec, workload: Workload) -> dict[str, Any]:
    """One design point from specs: its columns plus results, as a plain dict."""
    grid = pd.DataFrame([spec_columns(hw, model, workload)])
    return {str(k): v for k, v in evaluate_frame(grid).iloc[0].to_dict().items()}
