"""Evaluate design points given as columns: dispatch each row to its system's cost model.

``evaluate_frame(grid)`` takes a DataFrame of design-point columns (``cost.columns``), one
row per point, and returns the same rows with the schema-1 result columns appended
(docs/architecture.md). Rows are grouped by ``hw.kind`` and each group is evaluated in one
vectorised call; row order is preserved.

``evaluate_records(rows)`` does the same for a few points given as dicts, without pandas: a
one-point ``aimc-dse evaluate`` then starts without loading it (~0.2 s of CPU). The cost
model reads the same arrays either way (``cost.numeric.column_array``), so the numbers are
the same to the bit (tests/test_evaluate_records.py).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..specs.hardware import AimcHardware, GpuHardware
from ..specs.model import ModelSpec
from ..specs.workload import Workload
from .columns import Cols, spec_columns
from .numeric import column_array, is_gap

if TYPE_CHECKING:
    import pandas as pd

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
    import pandas as pd

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


def evaluate_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row of ``rows`` (design-point columns as dicts) with its result columns appended,
    as plain Python values: what ``evaluate_frame`` gives for ``pd.DataFrame(rows)``, row by
    row, with NaN where a row lacks a column (another system's knob or result).

    Columns keep ``evaluate_frame``'s order: the rows' keys as they first appear, then each
    system's results (systems in order of first appearance).
    """
    keys = list(dict.fromkeys(k for r in rows for k in r))
    kinds = [str(r["hw.kind"]) for r in rows]
    systems = list(dict.fromkeys(kinds))
    results: dict[str, list[Any]] = {}
    for kind in systems:
        idx = [i for i, k in enumerate(kinds) if k == kind]
        data = {k: [rows[i].get(k, math.nan) for i in idx] for k in keys}
        if len(systems) > 1:  # as evaluate_frame: columns of other systems (empty here) are dropped
            data = {k: v for k, v in data.items() if not all(is_gap(x) for x in v)}
        res = evaluate_columns(kind, {}, {k: column_array(v) for k, v in data.items()}, len(idx))
        for name, col in res.items():
            got = results.setdefault(name, [math.nan] * len(rows))
            for i, v in zip(idx, col.tolist()):
                got[i] = v
    return [{**{k: r.get(k, math.nan) for k in keys}, **{k: v[j] for k, v in results.items()}}
            for j, r in enumerate(rows)]


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
    return evaluate_records([spec_columns(hw, model, workload)])[0]
