"""`aimc-dse presets` and `aimc-dse show` as a user types them: in-process with typer's CliRunner
and in a real subprocess (``python -m aimc_dse.cli`` and the installed ``aimc-dse`` script).

Every bad input must exit 2 with ONE line on stderr naming the file (or the ``--set`` item),
the field and the problem, and never a traceback (docs/architecture.md, command-line contract).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from aimc_dse.cli import app
from aimc_dse.specs import loader
from aimc_dse.specs.loader import digital_preset_names

HF = Path(__file__).parent / "data" / "hf"

ALL_PRESETS = set(loader.preset_names("hw")) | set(loader.preset_names("model")) | set(digital_preset_names())


# ---- running the CLI -------------------------------------------------------------------------

def invoke(args: list[str]) -> tuple[int, str, str]:
    """CliRunner: (exit code, stdout, stderr); click ≥ 8.2 keeps stderr apart."""
    r = CliRunner().invoke(app, args)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    try:
        return r.exit_code, r.stdout, r.stderr
    except ValueError:  # older click: stderr mixed into output
        return r.exit_code, "", r.output


def run(args: list[str], cwd: Path, exe: list[str] | None = None) -> tuple[int, str, str]:
    """A real process, with a narrow terminal so a wrapped message would show."""
    cmd = (exe or [sys.executable, "-m", "aimc_dse.cli"]) + args
    env = {**os.environ, "COLUMNS": "40"}
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    return p.returncode, p.stdout, p.stderr


def entry_point() -> str | None:
    """The installed console script (next to this interpreter, else on PATH)."""
    return shutil.which("aimc-dse", path=str(Path(sys.executable).parent)) or shutil.which("aimc-dse")


def assert_bad_input(code: int, out: str, err: str, fragments: list[str]) -> None:
    assert "Traceback" not in out + err, out + err
    assert code == 2, (code, out, err)
    assert out.strip() == "", out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    for f in fragments:
        assert f in lines[0], (f, lines[0])


# ---- bad-input cases: each builds its files in tmp_path and says what the line must name --------

def _preset(kind: str, name: str) -> dict:
    return yaml.safe_load((loader.preset_dir(kind) / f"{name}.yaml").read_text())


def _write(tmp: Path, fname: str, content: dict | str) -> str:
    p = tmp / fname
    p.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return str(p)


def _hw_with(tmp: Path, fname: str, **change) -> str:
    return _write(tmp, fname, {**_preset("hw", "moewithpim-hermes"), **change})


def _model_with(tmp: Path, fname: str, **change) -> str:
    return _write(tmp, fname, {**_preset("model", "mixtral-8x7b"), **change})


def case_missing_file(tmp):
    p = str(tmp / "nope.yaml")
    return ["show", p], [p, "file not found"]


def case_missing_hw_file(tmp):
    p = str(tmp / "no-hw.yaml")
    return ["show", "mixtral-8x7b", "--hw", p], [p, "file not found"]


def case_unknown_preset_suggests_closest(tmp):
    return ["show", "mixtral"], ["mixtral: unknown preset", "did you mean", "mixtral-8x7b"]


def case_unknown_hw_preset_suggests_closest(tmp):
    return ["show", "mixtral-8x7b", "--hw", "moewithpim"], ["moewithpim: unknown hardware preset", "moewithpim-hermes"]


def case_malformed_yaml(tmp):
    p = _write(tmp, "bad.yaml", "layers: 3\nd_model: 512\nheads: 8\nd_ff: 2048\n  vocab: 1024\n")
    return ["show", p], [p, "malformed YAML", "line 5"]


def case_malformed_json(tmp):
    p = _write(tmp, "bad.json", '{"layers": 3,,}')
    return ["show", p], [p, "malformed JSON", "line 1"]


def case_negative_tiles(tmp):
    p = _hw_with(tmp, "neg-tiles.yaml", tiles=-4)
    return ["show", p], [p, "hw.tiles", "greater than 0"]


def case_tier_rows_not_positive(tmp):
    p = _hw_with(tmp, "rows0.yaml", tier_rows=0)
    return ["show", p], [p, "hw.tier_rows", "greater than 0"]


def case_top_k_exceeds_experts(tmp):
    p = _model_with(tmp, "topk.yaml", moe={"experts": 8, "top_k": 9, "d_ff_expert": 14336})
    return ["show", p], [p, "model.moe", "top_k (9) exceeds experts (8)"]


def case_unknown_model_field(tmp):
    p = _model_with(tmp, "extra.yaml", layerz=3)
    return ["show", p], [p, "model.layerz", "unknown field"]


def case_unknown_nested_hw_field(tmp):
    hw = _preset("hw", "moewithpim-hermes")
    hw["dram"] = {**hw["dram"], "bandwith_gbps": 10}
    p = _write(tmp, "typo.yaml", hw)
    return ["show", p], [p, "hw.dram.bandwith_gbps", "unknown field"]


def case_bad_hw_file_given_with_hw(tmp):
    p = _hw_with(tmp, "neg-tiles.yaml", tiles=-4)
    return ["show", "mixtral-8x7b", "--hw", p], [p, "hw.tiles", "greater than 0"]


def case_set_unknown_model_path(tmp):
    return ["show", "mixtral-8x7b", "--set", "model.moe.expertz=3"], [
        "--set model.moe.expertz", "no such field", "did you mean experts"]


def case_set_unknown_hw_path(tmp):
    return ["show", "moewithpim-hermes", "--set", "hw.tilez=3"], ["--set hw.tilez", "no such field", "tiles"]


def case_set_unknown_hw_path_without_hw(tmp):
    return ["show", "mixtral-8x7b", "--set", "hw.tilez=3"], ["--set hw.tilez", "no such field"]


def case_set_unknown_root(tmp):
    return ["show", "mixtral-8x7b", "--set", "gpu.tiles=3"], ["--set gpu.tiles=3", "path must start with"]


def case_set_below_a_value(tmp):
    return ["show", "mixtral-8x7b", "--set", "model.layers.count=3"], [
        "--set model.layers.count", "model.layers", "is a value"]


def case_set_without_value(tmp):
    return ["show", "mixtral-8x7b", "--set", "model.layers"], ["--set model.layers", "PATH=VALUE"]


def case_set_negative_tiles(tmp):
    return ["show", "moewithpim-hermes", "--set", "hw.tiles=-1"], ["--set hw.tiles=-1", "hw.tiles", "greater than 0"]


def case_set_tier_rows_zero(tmp):
    return ["show", "mixtral-8x7b", "--hw", "moewithpim-hermes", "--set", "hw.tier_rows=0"], [
        "--set hw.tier_rows=0", "hw.tier_rows", "greater than 0"]


def case_set_top_k_exceeds_experts(tmp):
    return ["show", "mixtral-8x7b", "--set", "model.moe.top_k=9"], [
        "--set model.moe.top_k=9", "model.moe", "top_k (9) exceeds experts (8)"]


def case_set_moe_field_on_dense_model(tmp):
    return ["show", "llama-2-7b", "--set", "model.moe.top_k=2"], [
        "--set model.moe.top_k=2", "model.moe.experts", "Field required"]


def case_set_hw_field_without_hw(tmp):
    return ["show", "mixtral-8x7b", "--set", "hw.tiles=4"], ["--set hw.tiles=4", "not used", "--hw"]


def case_set_workload_field_on_show(tmp):
    return ["show", "mixtral-8x7b", "--set", "workload.batch=4"], ["--set workload.batch=4", "not used"]


def case_folder_given_as_spec(tmp):
    return ["show", str(tmp)], [f"{tmp}: is a folder, not a file"]


def case_set_empty_value_echoed_as_typed(tmp):
    return ["show", "mixtral-8x7b", "--set", "hw.tiles="], ["--set hw.tiles=: hw.tiles: not used"]


def case_hw_given_when_showing_hardware(tmp):
    return ["show", "nature-3d-aimc", "--hw", "hermes-3d"], [
        "--hw hermes-3d", "maps a model onto hardware", "nature-3d-aimc is hardware and takes no --hw"]


def case_hf_unknown_model_type(tmp):
    p = _write(tmp, "bert.json", json.dumps({"model_type": "bert", "hidden_size": 768}))
    return ["show", p], [p, "model_type", "'bert' is not supported", "llama"]


def case_hf_missing_key(tmp):
    cfg = json.loads((HF / "llama-2-7b.json").read_text())
    del cfg["hidden_size"]
    p = _write(tmp, "no-hidden.json", json.dumps(cfg))
    return ["show", p], [p, "hidden_size: missing"]


BAD_CASES = {name[len("case_"):]: fn for name, fn in dict(globals()).items() if name.startswith("case_")}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_exits_2_with_one_line_in_process(case, tmp_path):
    args, fragments = BAD_CASES[case](tmp_path)
    assert_bad_input(*invoke(args), fragments)


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_exits_2_with_one_line_in_subprocess(case, tmp_path):
    args, fragments = BAD_CASES[case](tmp_path)
    assert_bad_input(*run(args, tmp_path), fragments)


def test_bad_input_through_installed_entry_point(tmp_path):
    exe = entry_point()
    if exe is None:
        pytest.skip("aimc-dse console script not installed")
    args, fragments = case_unknown_preset_suggests_closest(tmp_path)
    assert_bad_input(*run(args, tmp_path, [exe]), fragments)
    args, fragments = case_malformed_yaml(tmp_path)
    assert_bad_input(*run(args, tmp_path, [exe]), fragments)


# ---- presets and show --------------------------------------------------------------------------

def _check_presets_json(code: int, out: str) -> None:
    assert code == 0
    rows = json.loads(out)
    assert {r["name"] for r in rows} == ALL_PRESETS
    assert len(rows) == len(loader.preset_names("hw")) + len(loader.preset_names("model")) + len(digital_preset_names())
    types = {"hardware": ("aimc", "gpu"), "model": ("dense", "moe"), "digital engine": ("digital",)}
    for r in rows:
        assert r["kind"] in types and r["description"]
        assert r["type"] in types[r["kind"]]


def test_presets_lists_every_preset():
    code, out, _ = invoke(["presets", "--format", "json"])
    _check_presets_json(code, out)
    by_name = {(r["name"], r["kind"]): r for r in json.loads(out)}
    assert by_name[("mixtral-8x7b", "model")]["type"] == "moe"
    assert by_name[("llama-2-7b", "model")]["type"] == "dense"


def test_presets_table_and_csv():
    code, out, _ = invoke(["presets"])
    assert code == 0 and "aimc-dse presets" in out
    code, out, _ = invoke(["presets", "-f", "csv"])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {r["name"] for r in rows} == ALL_PRESETS


def test_presets_in_subprocess(tmp_path):
    code, out, err = run(["presets", "--format", "json"], tmp_path)
    assert "Traceback" not in err
    _check_presets_json(code, out)


def test_presets_through_installed_entry_point(tmp_path):
    exe = entry_point()
    if exe is None:
        pytest.skip("aimc-dse console script not installed")
    code, out, _ = run(["presets", "--format", "json"], tmp_path, [exe])
    _check_presets_json(code, out)


@pytest.mark.parametrize("name", ["mixtral-8x7b", "moewithpim-hermes", "gpt2-medium"])
def test_show_json_is_a_list_with_one_object(name):
    code, out, _ = invoke(["show", name, "--format", "json"])
    assert code == 0
    rows = json.loads(out)
    assert isinstance(rows, list) and len(rows) == 1 and isinstance(rows[0], dict)
    assert rows[0]["name"] == name


@pytest.mark.parametrize("name", ["mixtral-8x7b", "moewithpim-hermes"])
def test_show_csv_is_a_header_and_one_line(name):
    code, out, _ = invoke(["show", name, "--format", "csv"])
    assert code == 0
    assert len(out.strip().splitlines()) == 2
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1 and rows[0]["name"] == name


def test_show_mixtral_reports_46_7b_and_12_9b_active():
    code, out, _ = invoke(["show", "mixtral-8x7b", "-f", "json"])
    row = json.loads(out)[0]
    assert code == 0
    assert row["derived.parameters_b"] == pytest.approx(46.7, rel=0.01)
    assert row["derived.active_parameters_b"] == pytest.approx(12.9, rel=0.01)


def test_show_model_on_hardware_reports_tier_blocks_and_fit():
    code, out, _ = invoke(["show", "moewithpim-layer", "--hw", "moewithpim-hermes", "-f", "json"])
    row = json.loads(out)[0]
    assert code == 0 and row["hardware"] == "moewithpim-hermes"
    assert row["tier_blocks.total"] == 6_592 and row["tier_blocks.per_expert"] == 96
    assert row["derived.fits"] is True


def test_show_set_overrides_a_field():
    code, out, _ = invoke(["show", "mixtral-8x7b", "--set", "model.layers=1", "--set", "model.moe.top_k=1", "-f", "json"])
    row = json.loads(out)[0]
    assert code == 0 and row["layers"] == 1 and row["moe.top_k"] == 1
    assert row["derived.moe_layers"] == 1


def test_show_hf_config_json(tmp_path):
    code, out, err = run(["show", str(HF / "mixtral-8x7b.json"), "-f", "json"], tmp_path)
    assert code == 0, err
    row = json.loads(out)[0]
    assert row["name"] == "mixtral-8x7b" and row["moe.experts"] == 8
    assert row["derived.parameters_b"] == pytest.approx(46.7, rel=0.01)
