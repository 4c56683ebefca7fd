"""``evaluate_frame_event``: a grid of design points at event fidelity.

AIMC rows are simulated point by point; GPU rows (no schedule to play out) take the closed
form via ``cost.evaluate.evaluate_frame``. Row order and the input columns are kept, as in
``evaluate_frame``.
"""

from __future__ import annotations

import math
from pathlib import Path

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


def evaluate_frame_event(grid: pd.DataFrame, timeline: str | Path | None = None) -> pd.DataFrame:
    """Append result columns to every row of ``grid``: AIMC rows simulated, GPU rows closed form.

    ``timeline``: also write each AIMC point's schedule (``timeline_paths`` names the files).
    """
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
        paths = timeline_paths(len(aimc), Path(timeline)) if timeline is not None else [None] * len(aimc)
        rows = [simulate_point(_clean(r), timeline=tl) for tl, (_, r) in zip(paths, sub.iterrows())]
        res = pd.DataFrame(rows, index=sub.index)
        res = res.drop(columns=[c for c in res.columns if c in grid.columns], errors="ignore")
        parts.append(pd.concat([grid.iloc[aimc], res], axis=1))
    return pd.concat(parts).loc[grid.index]


def timeline_paths(n: int, path: Path) -> list[Path]:
    """One file for one AIMC point, else NAME-0.json, NAME-1.json, … in row order."""
    path = Path(path)
    if n == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(n)]
