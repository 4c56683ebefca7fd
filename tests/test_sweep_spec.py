"""Bad sweep files are refused before any work: exit 2, one line naming the file, the field, the problem.

Nothing is evaluated and nothing is written (no results file, no partial folder).
"""

from __future__ import annotations

import pytest

from .sweep_support import invoke, write_sweep

BASE = """name: bad
systems: [nature-3d-aimc, a100-sxm4-80gb]
model: nature-moe-51b
"""

CASES = {
    "unknown_axis_field": (BASE + "axes: {hw.tilez: [100]}", "axes.hw.tilez", "no such field; did you mean tiles?"),
    "unknown_nested_axis_field": (BASE + "axes: {model.moe.expertz: [8]}", "axes.model.moe.expertz", "no such field"),
    "axis_field_of_no_listed_system": (
        "name: bad\nsystems: [nature-3d-aimc]\nmodel: nature-moe-51b\naxes: {hw.hbm_bandwidth_gbps: [1000]}",
        "axes.hw.hbm_bandwidth_gbps",
        "no system in `systems` has this field",
    ),
    "moe_axis_on_dense_models_only": (
        "name: bad\nsystems: [nature-3d-aimc]\nmodels: [gpt2-medium, gpt2-large]\naxes: {model.moe.experts: [8]}",
        "axes.model.moe.experts",
        "no model in `models` has this field (model.moe is not set)",
    ),
    "axis_value_rejected": (BASE + "axes: {hw.tiles: [0, 100]}", "axes.hw.tiles", "value 0 is rejected for system nature-3d-aimc"),
    "fractional_value_for_integer": (
        BASE + "axes: {workload.batch: {start: 1, stop: 2, num: 3}}",
        "axes.workload.batch",
        "value 1.5 is rejected",
    ),
    "combination_rejected": (
        BASE + "axes: {model.moe.experts: [1, 2], model.moe.top_k: [2]}",
        "axes",
        "combination model.moe.experts=1, model.moe.top_k=2 is rejected",
    ),
    "unknown_hardware_preset": (
        "name: bad\nsystems: [nature-3d-aimc, a100-sxm4-80g]\nmodel: nature-moe-51b",
        "systems.1",
        "unknown hardware preset; did you mean a100-sxm4-80gb",
    ),
    "unknown_model_preset": (
        "name: bad\nsystems: [nature-3d-aimc]\nmodel: nature-moe-5b",
        "model",
        "unknown model preset",
    ),
    "malformed_yaml": (BASE + "axes: {hw.tiles: [1, 2}", None, "malformed YAML: line 4"),
    "unknown_key": (BASE + "axis: {hw.tiles: [1]}", "axis", "unknown field"),
    "unknown_key_in_range": (BASE + "axes: {hw.tiles: {start: 1, stop: 2, num: 2, step: 1}}", "axes.hw.tiles.step", "unknown field"),
    "not_a_power_of_two": (BASE + "axes: {workload.batch: {pow2: [1, 48]}}", "axes.workload.batch", "48 is not a power of two"),
    "zip_lengths_differ": (
        BASE + "axes: {hw.tiles: [100, 200], workload.batch: [1]}\nzip: [[hw.tiles, workload.batch]]",
        None,
        "zip group 1: axes must have equal numbers of values (hw.tiles has 2, workload.batch has 1)",
    ),
    "zip_names_an_axis_twice": (
        BASE + "axes: {hw.tiles: [100, 200], workload.batch: [1, 2]}\nzip: [[hw.tiles, workload.batch, hw.tiles]]",
        None,
        "axis 'hw.tiles' is named twice in zip group 1",
    ),
    "zip_groups_share_an_axis": (
        BASE + "axes: {hw.tiles: [1, 2], workload.batch: [1, 2], workload.gen_len: [8, 9]}\n"
        "zip: [[hw.tiles, workload.batch], [workload.gen_len, hw.tiles]]",
        None,
        "axis 'hw.tiles' is named in zip groups 1 and 2",
    ),
    "bad_workload_value": (BASE + "workload: {batch: 0}", "workload.batch", "greater than 0"),
    "system_override_rejected": (
        "name: bad\nsystems: [{spec: nature-3d-aimc, set: {tiles: -1}}]\nmodel: nature-moe-51b",
        "systems.0",
        "hw.tiles: Input should be greater than 0",
    ),
    "model_and_models": (BASE + "models: [nature-moe-51b]", None, "give exactly one of `model`"),
    "filter_unknown_column": (BASE + "filters: ['tokens_per_sec > 1']", "filters.0", "unknown column tokens_per_sec; did you mean tokens_per_s?"),
    "filter_not_a_condition": (BASE + "filters: ['tokens_per_s * 2']", "filters.0", "is not a condition"),
    "columns_pattern_matches_nothing": (BASE + "columns: ['energy_pj.*']", "columns.0", "matches no result column"),
    "bad_sweep_name": ("name: a/b\nsystems: [nature-3d-aimc]\nmodel: nature-moe-51b", "name", "should match pattern"),
}


@pytest.mark.parametrize("text,field,problem", CASES.values(), ids=CASES.keys())
def test_bad_sweep_exits_2_with_one_line_naming_file_and_field(tmp_path, text, field, problem):
    sweep = write_sweep(tmp_path, text, "bad.yaml")
    out = tmp_path / "out.csv"
    code, stdout, stderr = invoke(["sweep", sweep, "-o", out, "-q"])
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith(f"error: {sweep}: "), line
    if field is not None:
        assert line.startswith(f"error: {sweep}: {field}: "), line
    assert problem in line, line
    assert "Traceback" not in stderr
    assert not out.exists()
    assert not any(tmp_path.glob(".aimc-dse-*")), "no partial folder before any work"


def test_grid_over_max_points_is_refused_before_work(tmp_path):
    sweep = write_sweep(tmp_path, BASE + "axes: {hw.tiles: {start: 100, stop: 1000, num: 10}, workload.batch: {pow2: [1, 1024]}}")
    code, _, stderr = invoke(["sweep", sweep, "-o", tmp_path / "o.csv", "--max-points", "100"])
    assert code == 2
    # 10 tile counts × 11 batch sizes on the AIMC chip, 11 batch sizes on the GPU (no tiles)
    assert stderr.strip() == (
        f"error: {sweep}: axes: the grid has 121 points, more than --max-points 100 "
        "(raise --max-points or narrow the axes)"
    )


def test_missing_sweep_file_exits_2(tmp_path):
    code, _, stderr = invoke(["sweep", tmp_path / "nope.yaml"])
    assert code == 2
    assert stderr.strip() == f"error: {tmp_path / 'nope.yaml'}: file not found"


def test_output_must_be_csv_or_parquet(tmp_path):
    sweep = write_sweep(tmp_path, BASE)
    code, _, stderr = invoke(["sweep", sweep, "-o", tmp_path / "o.xlsx"])
    assert code == 2
    assert "output must end in .csv or .parquet" in stderr


@pytest.mark.parametrize("extra, problem", [
    ("filters: ['nosuchcol > 3']", "filters.0: 'nosuchcol > 3': unknown column nosuchcol"),
    ("pareto: [tokens_per_s, nosuch_metric]", "pareto: 'nosuch_metric' is not a result column"),
    ("columns: [nosuch*]", "columns.0: 'nosuch*' matches no result column"),
])
def test_dry_run_checks_the_names_a_run_would_refuse(tmp_path, extra, problem):
    sweep = write_sweep(tmp_path, BASE + "axes: {workload.batch: [1, 2]}\n" + extra + "\n")
    code, _, err = invoke(["sweep", sweep, "--dry-run", "-o", tmp_path / "o.csv"])
    assert code == 2 and problem in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o.csv").exists()


def test_dry_run_prints_the_size_and_writes_nothing(tmp_path):
    sweep = write_sweep(tmp_path, BASE + "axes: {hw.tiles: [200, 400], workload.batch: [1, 2, 4]}")
    code, stdout, _ = invoke(["sweep", sweep, "--dry-run", "-o", tmp_path / "o.csv"])
    assert code == 0
    assert "9 points" in stdout  # 2 × 3 on the AIMC chip, 3 on the GPU (no tiles)
    assert not (tmp_path / "o.csv").exists()


def test_dry_run_tells_two_entries_of_one_preset_apart_by_their_overrides(tmp_path):
    sweep = write_sweep(tmp_path, "name: two\nsystems:\n  - {spec: nature-3d-aimc, set: {chips: 2}}\n"
                                  "  - {spec: nature-3d-aimc, set: {chips: 4}}\nmodel: olmoe-1b-7b\n")
    code, stdout, err = invoke(["sweep", sweep, "--dry-run", "-f", "csv"])
    assert code == 0, err
    assert stdout.splitlines()[1:] == ["nature-3d-aimc,chips=2,olmoe-1b-7b,1,", "nature-3d-aimc,chips=4,olmoe-1b-7b,1,"]
