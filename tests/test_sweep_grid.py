"""The grid of a sweep: one row per design point, exactly the columns of the realised specs.

Every row must equal ``spec_columns`` of the specs the loader builds with that point's
``--set`` overrides — derived columns included (``model.head_dim`` follows ``model.heads``) —
whichever way the grid was built (every combination realised, or values patched in for
grids too large for that) and whichever row range is asked for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aimc_dse.cost.columns import spec_columns
from aimc_dse.specs import loader
from aimc_dse.specs.sweep import SweepSpec
from aimc_dse.sweep import grid as grid_mod
from aimc_dse.sweep.grid import build_grid


def sweep(**kw) -> SweepSpec:
    data = {"name": "t", "systems": ["nature-3d-aimc", "a100-sxm4-80gb"], "model": "nature-moe-51b"}
    data.update(kw)
    return SweepSpec.model_validate(data)


def expected_row(row: pd.Series, axes: list[str]) -> dict:
    """spec_columns of the point as the loader builds it from presets + --set overrides."""
    sets = {"hw": {}, "model": {}, "workload": {}}
    for a in axes:
        v = row[a]
        if pd.isna(v):
            continue  # an axis of the other system kind
        head, _, rest = a.partition(".")
        sets[head][rest] = v.item() if hasattr(v, "item") else v
    hw = loader.load_hardware(row["hw.name"], sets["hw"])
    model = loader.load_model(row["model.name"], sets["model"])
    wl = loader.load_workload({"prompt_len": 16}, sets=sets["workload"])
    return spec_columns(hw, model, wl)


def assert_rows_match_specs(df: pd.DataFrame, axes: list[str], rows) -> None:
    for i in rows:
        row = df.iloc[i]
        exp = expected_row(row, axes)
        for c, v in exp.items():
            got = row[c]
            if v is None or isinstance(v, float) and np.isnan(v):
                assert pd.isna(got), (i, c)
            else:
                assert got == v, (i, c, got, v)
        extra = [c for c in df.columns if c not in exp]
        assert all(pd.isna(row[c]) for c in extra), "other kinds' columns are missing values"


def test_product_of_axes_last_axis_fastest_gpu_not_multiplied_by_tiles():
    s = sweep(axes={"hw.tiles": [200, 400], "workload.batch": [1, 2, 4]}, workload={"prompt_len": 16})
    g = build_grid(s, "t.yaml")
    df = g.frame()
    assert g.n == len(df) == 2 * 3 + 3
    aimc = df[df["hw.kind"] == "aimc"]
    assert aimc["hw.tiles"].tolist() == [200, 200, 200, 400, 400, 400]
    assert aimc["workload.batch"].tolist() == [1, 2, 4, 1, 2, 4]
    gpu = df[df["hw.kind"] == "gpu"]
    assert gpu["workload.batch"].tolist() == [1, 2, 4]
    assert gpu["hw.tiles"].isna().all()
    assert aimc["hw.hbm_bandwidth_gbps"].isna().all()
    # explicit dtypes: integers stay integers even where the other kind has no value
    assert str(df["hw.tiles"].dtype) == "Int64"
    assert df["workload.batch"].dtype == np.int64
    assert_rows_match_specs(df, g.axes, range(len(df)))


def test_derived_columns_follow_their_axes():
    s = sweep(axes={"model.heads": [8, 16, 32], "model.d_model": [1024, 2048]}, workload={"prompt_len": 16})
    df = build_grid(s, "t.yaml").frame()
    assert (df["model.head_dim"] == df["model.d_model"] // df["model.heads"]).all()
    assert (df["model.kv_heads"] == df["model.heads"]).all()
    assert_rows_match_specs(df, ["model.heads", "model.d_model"], range(len(df)))


def test_zip_axes_advance_together():
    s = sweep(
        systems=["nature-3d-aimc"],
        axes={"hw.tiles": [100, 200, 400], "hw.stack_height": [2048, 1024, 512], "workload.batch": [1, 8]},
        zip=[["hw.tiles", "hw.stack_height"]],
    )
    df = build_grid(s, "t.yaml").frame()
    assert len(df) == 3 * 2
    assert (df["hw.tiles"] * df["hw.stack_height"] == 204_800).all()
    assert df["workload.batch"].tolist() == [1, 8] * 3


def test_models_axis_and_ranges():
    s = sweep(
        systems=["nature-3d-aimc"],
        model=None,
        models=["nature-moe-51b", "mixtral-8x7b"],
        axes={"workload.batch": {"pow2": [1, 8]}, "hw.tiles": {"start": 100, "stop": 400, "num": 4}},
    )
    df = build_grid(s, "t.yaml").frame()
    assert df["model.name"].unique().tolist() == ["nature-moe-51b", "mixtral-8x7b"]
    assert sorted(df["workload.batch"].unique()) == [1, 2, 4, 8]
    assert sorted(df["hw.tiles"].unique()) == [100, 200, 300, 400]
    assert len(df) == 2 * 4 * 4


def test_moe_axes_vary_moe_models_only_dense_models_appear_once():
    s = sweep(systems=["nature-3d-aimc"], model=None, models=["gpt2-medium", "nature-moe-51b"], axes={"model.moe.experts": [4, 8, 16]})
    df = build_grid(s, "t.yaml").frame()
    assert df[["model.name", "model.moe.experts"]].values.tolist() == [
        ["gpt2-medium", 0],
        ["nature-moe-51b", 4],
        ["nature-moe-51b", 8],
        ["nature-moe-51b", 16],
    ]


def test_log_range_values():
    s = sweep(systems=["nature-3d-aimc-sim"], axes={"hw.mvm_latency_ns": {"start": 10, "stop": 1000, "num": 3, "scale": "log"}})
    df = build_grid(s, "t.yaml").frame()
    assert df["hw.mvm_latency_ns"].tolist() == pytest.approx([10.0, 100.0, 1000.0])


def test_values_invalid_alone_but_valid_in_every_combination_are_accepted():
    # top_k 200 alone exceeds the preset's 128 experts; with 256 experts it is fine.
    s = sweep(systems=["nature-3d-aimc"], axes={"model.moe.top_k": [200], "model.moe.experts": [256]})
    df = build_grid(s, "t.yaml").frame()
    assert df[["model.moe.top_k", "model.moe.experts"]].values.tolist() == [[200, 256]]


def test_patched_grid_equals_fully_realised_grid(monkeypatch):
    """Grids too large to realise every combination patch values in; the rows must be the same."""
    s = sweep(
        axes={
            "model.heads": [8, 16],
            "model.d_model": [1024, 2048],
            "model.layers": [12, 24, 48],
            "hw.tiles": [100, 200, 300],
            "hw.dpus": [4, 8],
            "workload.batch": [1, 2, 4],
            "workload.gen_len": [8, 16],
        },
        workload={"prompt_len": 16},
    )
    full = build_grid(s, "t.yaml").frame()
    monkeypatch.setattr(grid_mod, "JOINT_LIMIT", 4)
    g = build_grid(s, "t.yaml")
    # heads and d_model share a derived column (head_dim), so they are realised together;
    # layers, tiles, dpus, batch and gen_len are patched one by one.
    comps = [sorted(p for i in c.factors for p in g.blocks[0].factors[i].paths) for c in g.blocks[0].components]
    assert ["model.d_model", "model.heads"] in comps
    assert ["model.layers"] in comps and ["hw.tiles"] in comps and ["workload.batch"] in comps
    pd.testing.assert_frame_equal(g.frame(), full)


def test_coupled_axes_over_the_limit_are_refused(monkeypatch):
    from aimc_dse.specs.base import SpecError

    monkeypatch.setattr(grid_mod, "JOINT_LIMIT", 3)
    s = sweep(systems=["nature-3d-aimc"], axes={"model.heads": [8, 16], "model.d_model": [1024, 2048]})
    with pytest.raises(SpecError, match="change derived columns together"):
        build_grid(s, "t.yaml")


def test_any_row_range_equals_the_slice_of_the_whole_grid():
    s = sweep(
        systems=["nature-3d-aimc", "hermes-3d", "a100-sxm4-80gb"],
        axes={"hw.tiles": [1024, 4096], "workload.batch": [1, 2, 4], "model.layers": [24, 48]},
    )
    g = build_grid(s, "t.yaml")
    whole = g.frame()
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = sorted(rng.integers(0, g.n + 1, size=2))
        part = g.frame(a, b)
        pd.testing.assert_frame_equal(part, whole.iloc[a:b].reset_index(drop=True))


def test_grid_digest_changes_with_the_sweep():
    a = build_grid(sweep(axes={"hw.tiles": [200, 400]}), "t.yaml").digest()
    b = build_grid(sweep(axes={"hw.tiles": [200, 400]}), "t.yaml").digest()
    c = build_grid(sweep(axes={"hw.tiles": [200, 401]}), "t.yaml").digest()
    assert a == b != c
