"""Pareto fronts of result tables: the designs no other design beats in every chosen metric.

A row is on the front unless another row is at least as good in every metric and strictly
better in one (rows equal in every metric are all kept). Each result column's direction is
its ``better`` in the column registry (``cost.registry``: times, energies, areas and powers
are minimised); other columns are maximised unless their name is a time, energy, area or
power (``latency_ns``, ``energy_nj``, ``area_mm2``, ``power_w``, ``busy_ns`` …). Rows with a
missing or infinite metric take no part. ``ParetoFront`` folds in a table chunk by chunk
(the front of a union is the front of the union of fronts), so results far larger than
memory stream through it.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from ..cost import registry

MINIMIZED = ("latency_ns", "energy_nj", "area_mm2", "power_w", "ttft_ns", "tpot_ns", "busy_ns")


def default_maximize(metric: str) -> bool:
    """Whether ``metric`` is better when larger (the default sense of each result column)."""
    col = registry.column(metric)
    if col is not None and col.better:
        return col.better == "higher"
    return not any(metric == m or metric.startswith(m + ".") or metric.endswith("_" + m) for m in MINIMIZED)


def senses(metrics: list[str], minimize: Iterable[str] = (), maximize: Iterable[str] = ()) -> list[bool]:
    """Maximise flags for ``metrics``: defaults, overridden by explicit --minimize/--maximize."""
    lo, hi = set(minimize), set(maximize)
    return [False if m in lo else True if m in hi else default_maximize(m) for m in metrics]


def nondominated(values: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``values`` (n × d, larger is better) that no other row dominates."""
    n = len(values)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    # Equal rows share a fate: work on distinct rows, sorted best-first lexicographically.
    # (Distinct rows by a numeric lexsort: np.unique(axis=0) sorts byte strings, ~10x slower.)
    first = np.lexsort(tuple(values[:, j] for j in reversed(range(values.shape[1]))))
    sv = values[first]
    new = np.ones(n, dtype=bool)
    new[1:] = np.any(sv[1:] != sv[:-1], axis=1)
    uniq = sv[new]
    inverse = np.empty(n, dtype=np.int64)
    inverse[first] = np.cumsum(new) - 1
    # uniq is strictly ascending lexicographically, so best-first is simply the reverse.
    order = np.arange(len(uniq) - 1, -1, -1)
    u = uniq[order]
    on = np.zeros(len(u), dtype=bool)
    if u.shape[1] == 2:
        # Sorted by x desc (then y desc): a point survives iff its y beats every earlier y.
        prev = np.concatenate([[-np.inf], np.maximum.accumulate(u[:-1, 1])])
        on = u[:, 1] > prev
    else:
        on = _nondominated_sorted(u)
    on_uniq = np.zeros(len(uniq), dtype=bool)
    on_uniq[order] = on
    keep = on_uniq[inverse]
    return keep


# Points are compared with the front found so far a block at a time: a (front × block × d)
# comparison costs about this many cells at most.
_CELLS = 1 << 21


def _nondominated_sorted(u: np.ndarray) -> np.ndarray:
    """``nondominated`` of distinct rows sorted best-first lexicographically (d ≥ 3).

    A dominator sorts before the point it dominates, and dominance is transitive, so a
    point is off the front iff some earlier front point is ≥ in every metric (distinct rows:
    then strictly better in one). Blocks of points are compared with the front so far,
    then the survivors with the earlier survivors of their block."""
    n, d = u.shape
    on = np.zeros(n, dtype=bool)
    front = np.empty((0, d))
    block = 1024
    for s in range(0, n, block):
        blk = u[s: s + block]
        alive = np.ones(len(blk), dtype=bool)
        step = max(1, _CELLS // (len(blk) * d))
        for f0 in range(0, len(front), step):
            f = front[f0: f0 + step]
            idx = np.flatnonzero(alive)
            if not len(idx):
                break
            alive[idx] = ~np.all(f[:, None, :] >= blk[idx][None, :, :], axis=2).any(axis=0)
        idx = np.flatnonzero(alive)
        cand = blk[idx]
        earlier_ge = np.triu(np.all(cand[:, None, :] >= cand[None, :, :], axis=2), 1)  # [i, j]: i < j, i ≥ j
        keep = idx[~earlier_ge.any(axis=0)]
        on[s + keep] = True
        front = np.concatenate([front, blk[keep]])
    return on


def pareto_mask(df: pd.DataFrame, metrics: list[str], maximize: list[bool]) -> np.ndarray:
    """Mask of the rows of ``df`` on the front of ``metrics`` (rows with a non-finite metric excluded)."""
    vals = np.column_stack([pd.to_numeric(df[m], errors="coerce").to_numpy(dtype=float) for m in metrics])
    return pareto_values(vals, maximize)


def pareto_values(vals: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """``pareto_mask`` of an (n × d) array of metric values."""
    finite = np.all(np.isfinite(vals), axis=1)
    signs = np.where(maximize, 1.0, -1.0)
    out = np.zeros(len(vals), dtype=bool)
    out[finite] = nondominated(vals[finite] * signs)
    return out


def sort_front(front: pd.DataFrame, metrics: list[str], maximize: list[bool]) -> pd.DataFrame:
    """Front rows best-first in the first metric (ties keep their order)."""
    if front.empty:
        return front
    key = pd.to_numeric(front[metrics[0]], errors="coerce")
    key = -key if maximize[0] else key
    return front.iloc[np.argsort(key.to_numpy(dtype=float), kind="stable")]


def pareto_front(df: pd.DataFrame, metrics: list[str], maximize: list[bool] | None = None) -> pd.DataFrame:
    """The rows of ``df`` on the Pareto front of ``metrics``, best-first in the first metric."""
    maximize = senses(metrics) if maximize is None else maximize
    return sort_front(df[pareto_mask(df, metrics, maximize)], metrics, maximize)


def collapse_ties(front: pd.DataFrame, metrics: list[str], column: str = "ties") -> pd.DataFrame:
    """One row per distinct point of the front, the first of its ties, with their count in ``column``.

    Designs equal in every metric (e.g. batch sizes past a saturated resource) are all on a
    front; a table of 27 rows showing 2 distinct points hides the answer, so each point is
    shown once and ``column`` says how many designs share it.
    """
    if front.empty:
        out = front.copy()
        out[column] = pd.Series(dtype="int64")
        return out
    key = [pd.to_numeric(front[m], errors="coerce").to_numpy(dtype=float) for m in metrics]
    codes = pd.MultiIndex.from_arrays(key).factorize()[0] if len(key) > 1 else pd.factorize(key[0])[0]
    counts = np.bincount(codes)
    first = ~pd.Series(codes).duplicated().to_numpy()
    out = front[first].copy()
    out[column] = counts[codes[first]]
    return out


class ParetoFront:
    """A Pareto front folded in chunk by chunk; ``rows`` is the front of everything added so far."""

    def __init__(self, metrics: list[str], maximize: list[bool] | None = None, columns: list[str] | None = None):
        self.metrics = list(metrics)
        self.maximize = senses(self.metrics) if maximize is None else list(maximize)
        self.columns = columns  # columns to keep for the front rows (None: all)
        self._rows: pd.DataFrame | None = None

    def add(self, df: pd.DataFrame) -> None:
        if df.empty:
            return
        cand = df[pareto_mask(df, self.metrics, self.maximize)]
        if self.columns is not None:
            cand = cand[[c for c in self.columns if c in cand.columns]]
        both = cand if self._rows is None else pd.concat([self._rows, cand], ignore_index=True)
        self._rows = both[pareto_mask(both, self.metrics, self.maximize)].reset_index(drop=True)

    @property
    def rows(self) -> pd.DataFrame:
        if self._rows is None:
            return pd.DataFrame(columns=self.columns or self.metrics)
        return sort_front(self._rows, self.metrics, self.maximize).reset_index(drop=True)
