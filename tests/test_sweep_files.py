"""The shipped sweep files: every one builds its grid, and `make paper` writes its tables and figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from aimc_dse.sweep import paper
from aimc_dse.sweep.grid import load_grid

SWEEPS = Path(__file__).resolve().parent.parent / "sweeps"


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_sweep_file_builds_its_grid(path):
    spec, grid = load_grid(path)
    assert spec.name == path.stem and grid.n > 0


def test_every_paper_study_has_its_sweep_file():
    assert {s.name for s in paper.STUDIES} <= {p.stem for p in SWEEPS.glob("*.yaml")}


def test_paper_pipeline_writes_tables_figures_and_ratios(tmp_path):
    # buechel-dense-vs-moe: every design fits, so its CSV's fit_reason is empty on every row
    assert paper.main(["--jobs", "1", "--sweeps", str(SWEEPS), "--out", str(tmp_path), "gao-caches", "buechel-a100",
                       "buechel-dense-vs-moe"]) == 0
    for name in ("gao-caches", "buechel-a100"):
        assert (tmp_path / f"{name}.csv").exists() and (tmp_path / f"{name}.png").exists()
    caches = pd.read_csv(tmp_path / "gao-caches-ratios.csv")
    assert set(caches["cache"]) == {"kv", "kv+go"} and sorted(caches["workload.gen_len"].unique()) == [8, 16, 32, 64, 128]
    ratios = pd.read_csv(tmp_path / "buechel-a100-ratios.csv")
    assert len(ratios) == 2 * 4 * 2 * 2  # two AIMC chips × four models × with/without KV cache × two GPUs
    assert list(ratios.columns) == ["aimc", "gpu", "model.name", "workload.kv_cache", "tokens_per_s.ratio",
                                    "tokens_per_s_per_w.ratio", "tokens_per_s_per_mm2.ratio"]


def _two_configs_of_one_gpu() -> pd.DataFrame:
    """One AIMC row and two configurations of one GPU (1 device and 8 with expert parallelism),
    the second three times slower: the ratios must pair the AIMC row with each."""
    base = {"model.name": "m", "workload.prompt_len": 128, "workload.batch": 1, "workload.kv_cache": True,
            "tokens_per_s_per_w": 1.0, "tokens_per_s_per_mm2": 1.0, "gops_per_w_per_mm2": 1.0}
    return pd.DataFrame([
        {**base, "hw.name": "chip", "system": "aimc", "hw.chips": 1, "hw.devices": None, "hw.parallelism": "pipeline",
         "placement": "pipeline", "n_devices": None, "tokens_per_s": 6.0},
        {**base, "hw.name": "h100-sxm", "system": "gpu", "hw.chips": None, "hw.devices": 1, "hw.parallelism": "tp",
         "placement": None, "n_devices": 1, "tokens_per_s": 3.0},
        {**base, "hw.name": "h100-sxm", "system": "gpu", "hw.chips": None, "hw.devices": 8, "hw.parallelism": "ep",
         "placement": None, "n_devices": 8, "tokens_per_s": 1.0},
    ])


def test_multichip_ratios_tell_configurations_of_one_gpu_apart():
    r = paper.multichip_ratios(_two_configs_of_one_gpu())
    got = dict(zip(r["gpu"], r["tokens_per_s.ratio"]))
    assert got == {"h100-sxm (devices=1, parallelism=tp)": 2.0, "h100-sxm (devices=8, parallelism=ep)": 6.0}
    assert sorted(r["gpu_devices"]) == [1, 8]


def test_a100_ratios_tell_configurations_of_one_gpu_apart():
    r = paper.a100_ratios(_two_configs_of_one_gpu())
    got = dict(zip(r["gpu"], r["tokens_per_s.ratio"]))
    assert got == {"h100-sxm (devices=1, parallelism=tp)": 2.0, "h100-sxm (devices=8, parallelism=ep)": 6.0}
