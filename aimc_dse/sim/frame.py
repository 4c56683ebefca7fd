"""``evaluate_frame_event``: a grid of design points at event fidelity.

AIMC rows are simulated point by point; GPU rows (no schedule to play out) take the closed
form via ``cost.evaluate.evaluate_frame``. Row order and the input columns are kept, as in
``evaluate_frame``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..cost.evaluate import evaluate_frame
from .core import simulate_point


def _clean(row: pd.Series) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, float) and math.isnan(v) and not str(k).startswith("workload.grouping.factors"):
            continue  # columns of another system in a mixed grid
        out[k] = v.item() if isinstance(v, np.generic) else v
    return out


def evaluate_frame_event(grid: pd.DataFrame) -> pd.DataFrame:
    """Append result columns to every row of ``grid``: AIMC rows simulated, GPU rows closed form."""
    if len(grid) == 0:
        return grid.copy()
    kinds = grid["hw.kind"].astype(str).to_numpy()
    parts = []
    aimc = np.flatnonzero(kinds == "aimc")
    other = np.flatnonzero(kinds != "aimc")
    if len(other):
        parts.append(evaluate_frame(grid.iloc[other]))
    if len(aimc):
        sub = grid.iloc[aimc]
        sub = sub.dropna(axis=1, how="all") if len(other) else sub
        rows = [simulate_point(_clean(r)) for _, r in sub.iterrows()]
        res = pd.DataFrame(rows, index=sub.index)
        res = res.drop(columns=[c for c in res.columns if c in grid.columns], errors="ignore")
        parts.append(pd.concat([grid.iloc[aimc], res], axis=1))
    return pd.concat(parts).loc[grid.index]
