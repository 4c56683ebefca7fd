"""The AIMC model computes a design's structures once per run of equal designs and gathers
them to the points (cost/aimc/__init__.py, ``DEDUPE``; memo.gather). That must change no
result, bit for bit: on a sweep-like frame (workload axes fastest), on a shuffled one
(designs recur as runs of one), and through the closed-form decode and the step loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import aimc_dse.cost.aimc as aimc
from aimc_dse.cost.columns import Cols
from aimc_dse.cost.memo import gather, take
from aimc_dse.specs.points import build_points

DESIGNS = [
    ("nature-3d-aimc", "mixtral-8x7b", []),
    ("nature-3d-aimc", "deepseek-v3", ["hw.chips=14", "hw.parallelism=best"]),
    ("hermes-3d", "nature-moe-51b", []),
    ("moewithpim-hermes", "nature-moe-51b", []),  # whole-context decode steps
    ("moewithpim-hermes", "nature-moe-51b", ["workload.kv_cache=true"]),
]


def _frame() -> pd.DataFrame:
    frames = []
    for hw, model, sets in DESIGNS:
        for tiles in (None, 4096):
            extra = sets + ([f"hw.tiles={tiles}"] if tiles else [])
            for batch in (1, 16):
                for gen in (1, 9, 64):
                    wl = {"prompt_len": 50, "gen_len": gen, "batch": batch}
                    frames.append(build_points([hw], [model], wl, extra))
    return pd.concat(frames, ignore_index=True)


def _both(df: pd.DataFrame) -> tuple[dict, dict]:
    mp = pytest.MonkeyPatch()
    try:
        on = aimc.aimc_cost(Cols(df))
        mp.setattr(aimc, "DEDUPE", False)
        off = aimc.aimc_cost(Cols(df))
    finally:
        mp.undo()
    return on, off


def _same(on: dict, off: dict) -> None:
    assert on.keys() == off.keys()
    for k in on:
        a, b = np.asarray(on[k]), np.asarray(off[k])
        if a.dtype.kind == "f":
            assert np.array_equal(a, b, equal_nan=True), k
        else:
            assert np.array_equal(a, b), k


def test_sharing_designs_changes_no_result():
    df = _frame()
    keys = [Cols(df).raw(k) for k in Cols(df).varying() if k not in aimc.PER_POINT]
    _, first = aimc.design_runs(keys, len(df))
    assert len(first) <= len(df) // 3  # the frame does share designs
    _same(*_both(df))


def test_interleaved_designs_give_the_same_results():
    df = _frame().sample(frac=1.0, random_state=5).reset_index(drop=True)
    _same(*_both(df))


def test_gather_reads_a_field_once_and_take_composes_indices():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class D:
        x: np.ndarray
        y: np.ndarray  # (2, u)
        k: float

        def total(self) -> np.ndarray:
            return self.x + self.y.sum(axis=0)

    d = D(x=np.array([1.0, 2.0, 3.0]), y=np.array([[10.0, 20.0, 30.0], [0.0, 0.0, 1.0]]), k=7.0)
    g = gather(d, np.array([2, 0, 0, 1]), 3)
    assert isinstance(g, D) and g.k == 7.0
    assert g.x.tolist() == [3.0, 1.0, 1.0, 2.0]
    assert g.total().tolist() == [34.0, 11.0, 11.0, 22.0]
    assert g.x is g.x  # gathered once
    sub = take(g, np.array([3, 0]), 4)
    assert sub.x.tolist() == [2.0, 3.0] and sub.y[0].tolist() == [20.0, 30.0]
