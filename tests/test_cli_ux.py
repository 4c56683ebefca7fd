"""What a user sees (issue 14): tables that fit, one CSV/JSON style, a consistent CLI, the Python API, fast start."""

from __future__ import annotations

import importlib
import io
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import aimc_dse
from aimc_dse.cli import app
from aimc_dse.report.output import fmt_value, print_table

ROOT = Path(__file__).resolve().parent.parent
THREE_HW = ["evaluate", "--hw", "nature-3d-aimc", "--hw", "a100-paper", "--hw", "a100-sxm4-40gb", "--model", "nature-moe-51b"]


def invoke(args: list[str], columns: int | None = None) -> tuple[int, str, str]:
    env = {"COLUMNS": str(columns)} if columns else {}
    r = CliRunner().invoke(app, [str(a) for a in args], env=env)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stdout, r.stderr


def assert_fits(out: str, width: int) -> None:
    """Every line within ``width`` and no cell cut (rich marks a cut with an ellipsis)."""
    assert "…" not in out, out
    for line in out.splitlines():
        assert len(line) <= width, (len(line), line)


# ---- tables that fit ------------------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 100])
def test_evaluate_three_systems_fits_and_shows_every_number(width):
    code, out, err = invoke(THREE_HW, width)
    assert code == 0, err
    assert_fits(out, width)
    _, js, _ = invoke(THREE_HW + ["-f", "json"])
    for rec in json.loads(js):
        for m in ("latency_ns", "tokens_per_s", "energy_nj", "area_mm2", "tokens_per_s_per_w", "gops_per_w_per_mm2"):
            assert fmt_value(rec[m]) in out, (m, fmt_value(rec[m]))
    # the workload that ran is stated, and the ratios come one row per AIMC × GPU pair
    assert "prompt_len 32, gen_len 8, batch 1, prefill on, kv_cache on, go_cache off" in re.sub(r"\s+", " ", out)
    assert "AIMC ÷ GPU" in out and re.search(r"nature-3d-aimc +│ a100-sxm4-40gb +│ nature-moe-51b", out)


@pytest.mark.parametrize("width", [80, 100])
def test_sweep_summary_fits(width, tmp_path):
    code, out, err = invoke(["sweep", ROOT / "sweeps" / "default.yaml", "-o", tmp_path / "d.csv", "-j", "1", "-q"], width)
    assert code == 0, err
    assert_fits(out, width)
    assert "best design per metric" in out and "Pareto front" in out
    res = pd.read_csv(tmp_path / "d.csv")
    best = res.loc[res["tokens_per_s_per_w"].idxmax()]
    assert fmt_value(float(best["tokens_per_s_per_w"])) in out


def test_wide_table_is_split_not_cut():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"design": [f"design-{i}" for i in range(3)]})
    for k in range(18):
        df[f"metric_{k}.breakdown_ns"] = rng.uniform(1e6, 9e9, 3)
    buf = io.StringIO()
    print_table(df, title="wide", file=buf, width=60)
    out = buf.getvalue()
    assert_fits(out, 60)
    for v in df.iloc[:, 1:].to_numpy().ravel():
        assert fmt_value(float(v)) in out
    assert out.count("design-2") >= 2  # the name column repeats in every part
    assert "(continued," in out


# ---- one style for programs -----------------------------------------------------------------


def test_csv_and_json_booleans_and_integers_one_style(tmp_path):
    code, out, _ = invoke(THREE_HW + ["-f", "csv"])
    assert code == 0
    rows = list(__import__("csv").DictReader(io.StringIO(out)))
    aimc = next(r for r in rows if r["hardware"] == "nature-3d-aimc")
    assert aimc["hw.tiles"] == "620" and aimc["fits"] == "true" and aimc["workload.go_cache"] == "false"
    assert "True" not in out and "False" not in out
    code, out, _ = invoke(THREE_HW + ["-f", "json"])
    rec = json.loads(out)[0]
    assert rec["hw.tiles"] == 620 and isinstance(rec["hw.tiles"], int) and rec["fits"] is True
    # pareto of a sweep's CSV keeps integers integers and booleans lower-case
    invoke(["sweep", ROOT / "sweeps" / "default.yaml", "-o", tmp_path / "d.csv", "-j", "1", "-q"])
    code, out, _ = invoke(["pareto", tmp_path / "d.csv", "--x", "tokens_per_s_per_w", "--y", "tokens_per_s_per_mm2", "-f", "csv"])
    assert code == 0 and "True" not in out and ".0," not in out
    front = pd.read_csv(io.StringIO(out))
    assert len(front) >= 1 and (front["ties"] >= 1).all()
    code, out, _ = invoke(["show", "mixtral-8x7b", "-f", "csv"])
    assert code == 0 and ",false," in out and "False" not in out


# ---- one consistent CLI ---------------------------------------------------------------------


def test_set_contradicting_a_flag_is_an_error():
    code, out, err = invoke(["evaluate", "--hw", "nature-3d-aimc", "--model", "nature-moe-51b", "--set", "workload.batch=4", "--batch", "8"])
    assert code == 2 and out == ""
    assert err.strip() == "error: --set workload.batch=4: workload.batch: contradicts --batch 8; give the value once"
    code, _, _ = invoke(["evaluate", "--hw", "nature-3d-aimc", "--model", "nature-moe-51b", "--set", "workload.batch=8", "--batch", "8"])
    assert code == 0


def test_positions_beyond_the_model_warn():
    code, out, err = invoke(["evaluate", "--hw", "nature-3d-aimc", "--model", "nature-moe-51b", "--prompt-len", "2000"])
    assert code == 0 and "tokens_per_s" in out
    assert err.startswith("warning: nature-moe-51b: the workload feeds 2,007 positions") and "1,024" in err
    code, _, err = invoke(["evaluate", "--hw", "nature-3d-aimc", "--model", "nature-moe-51b", "--prompt-len", "1017"])
    assert code == 0 and err == ""  # 1017 + 8 − 1 = 1024 positions: exactly the table


def test_help_shows_every_default():
    from aimc_dse.commands.evaluate import WORKLOAD_DEFAULTS
    from aimc_dse.specs.workload import Workload

    w = Workload()
    assert WORKLOAD_DEFAULTS == {k: getattr(w, k) for k in WORKLOAD_DEFAULTS}
    code, out, _ = invoke(["evaluate", "--help"], 200)
    assert code == 0
    for text in ("(default: 32)", "(default: 8)", "(default: 1)", "(default: --prefill)", "(default: --kv-cache)",
                 "(default: --no-go-cache)"):
        assert text in out, text


def test_help_shows_no_type_beside_a_flag():
    """typer 0.29 printed ``--force <bool>`` (as if the flag took a value) and ``<list[str]>``
    beside repeatable options (``cli.plain_metavars``)."""
    from aimc_dse.commands import COMMANDS

    pages = {"": invoke(["--help"], 200)[1]}
    pages.update({name: invoke([name, "--help"], 200)[1] for name in COMMANDS})
    # the commands of the groups too (they printed `--force <bool>`)
    pages.update({f"{g} {c}": invoke([g, c, "--help"], 200)[1] for g, c in (("trace", "synth"), ("experts", "score"))})
    for name, out in pages.items():
        assert "Usage:" in out, name
        assert "<bool>" not in out and "<list[" not in out, (name, out)
        assert re.search(r"--help\s+Show this message", out), name
        # a default said once: evaluate's and sweep's --fidelity said "(default: closed) [default: closed]"
        flat = re.sub(r"\s*│\s*", " ", out)
        assert not re.search(r"\(default: ([^)]*)\) \[default: \1\]", flat), (name, out)
    assert re.search(r"--debug\s+show the full traceback", pages[""])
    assert re.search(r"--force\s+overwrite an existing results file", pages["sweep"])
    assert re.search(r"--all\s+include designs", pages["pareto"])


def test_validate_unknown_group_exits_2_naming_the_groups():
    from aimc_dse.validation import GROUPS

    code, out, err = invoke(["validate", "--group", "nonsense"])
    assert code == 2 and out == ""
    assert f"--group nonsense: no such group; the groups are {', '.join(GROUPS)}" in err


def test_validate_with_an_empty_group_name_is_refused_not_run_whole():
    code, _, err = invoke(["validate", "--group", ""])
    assert code == 2 and err.strip().startswith("error: --group: names no group; the groups are moewithpim")


def test_validate_help_lists_every_group():
    from aimc_dse.validation import GROUPS

    code, out, _ = invoke(["validate", "--help"], 200)
    assert code == 0
    assert f"comma-separated: {', '.join(GROUPS)} (default: all)" in " ".join(out.split())


def test_every_validation_check_has_its_command():
    from aimc_dse.validation import GROUPS

    code, out, _ = invoke(["validate", "-f", "json"])
    rows = json.loads(out)
    assert code == (0 if all(r["pass"] for r in rows) else 1)  # exit 1 exactly when a tolerance breaks
    assert rows and all(r["command"] for r in rows), [r["run"] for r in rows if not r["command"]]
    # the groups --help lists and --group accepts are the groups the checks carry, in their order
    assert list(dict.fromkeys(r["group"] for r in rows)) == list(GROUPS)


def test_sweep_format_json_and_csv(tmp_path):
    code, out, err = invoke(["sweep", ROOT / "sweeps" / "default.yaml", "-o", tmp_path / "a.csv", "-j", "1", "-q", "-f", "json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["points"] == 28 and doc["fitting_rows"] == 20 and len(doc["best"]) == 4
    assert doc["pareto_metrics"] == ["tokens_per_s_per_w", "tokens_per_s_per_mm2"] and doc["pareto"]
    code, out, _ = invoke(["sweep", ROOT / "sweeps" / "default.yaml", "-o", tmp_path / "b.csv", "-j", "1", "-q", "-f", "csv"])
    df = pd.read_csv(io.StringIO(out))
    assert set(df["section"]) == {"best", "pareto"}


def test_pareto_columns_are_written_even_when_columns_omit_them(tmp_path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        "name: s\nsystems: [nature-3d-aimc]\nmodel: gpt2-medium\naxes: {hw.tiles: [100, 200]}\n"
        "columns: [tokens_per_s, \"energy_nj.*\"]\npareto: [tokens_per_s_per_w, tokens_per_s_per_mm2]\n"
    )
    code, out, err = invoke(["sweep", sweep, "-o", tmp_path / "s.csv", "-j", "1", "-q"], 100)
    assert code == 0, err
    assert "not among the written columns" not in out and "Pareto front" in out
    code, out, err = invoke(["pareto", tmp_path / "s.csv", "--x", "tokens_per_s_per_w", "--y", "tokens_per_s_per_mm2"])
    assert code == 0, err


def test_fits_is_written_and_gates_the_summary_when_columns_omit_it(tmp_path):
    """hermes-3d with 256 tiles does not hold DeepSeekMoE-16B, yet has the smallest area and a
    max_batch (0): without ``fits`` in the file, the summary and ``pareto`` ranked it."""
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        "name: s\nsystems: [hermes-3d]\nmodel: deepseek-moe-16b\naxes: {hw.tiles: [256, 4096]}\n"
        "columns: [tokens_per_s]\npareto: [area_mm2, max_batch]\n"
    )
    code, out, err = invoke(["sweep", sweep, "-o", tmp_path / "s.csv", "-j", "1", "-q", "-f", "json"], 100)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["rows"] == 2 and doc["fitting_rows"] == 1
    assert [r["hw.tiles"] for r in doc["pareto"]] == [4096]
    assert "fits" in pd.read_csv(tmp_path / "s.csv").columns
    code, out, err = invoke(["pareto", tmp_path / "s.csv", "--x", "area_mm2", "--y", "max_batch", "-f", "json"])
    assert code == 0, err
    assert [r["hw.tiles"] for r in json.loads(out)] == [4096]


def test_digital_presets_listed_and_shown():
    code, out, _ = invoke(["presets", "-f", "json"])
    names = {r["name"]: r for r in json.loads(out)}
    assert names["hermes-14nm-digital"]["kind"] == "digital engine"
    code, out, err = invoke(["show", "hermes-14nm-digital", "-f", "json", "--set", "hw.digital.units=2"])
    assert code == 0, err
    rec = json.loads(out)[0]
    assert rec["units"] == 2 and rec["derived.total_peak_tops"] == pytest.approx(2 * rec["peak_tops"])


def test_commands_registry_matches_the_modules():
    import typer

    from aimc_dse.commands import COMMANDS, module

    registered = {}
    for mod in dict.fromkeys(m for m, _ in COMMANDS.values()):
        sub = typer.Typer()
        module(mod).register(sub)
        names = [c.name for c in sub.registered_commands] + [g.name for g in sub.registered_groups]
        registered.update({n: mod for n in names})
    assert registered == {n: m for n, (m, _) in COMMANDS.items()}


def test_start_up_imports_nothing_heavy():
    """--help and `import aimc_dse` load no numpy, pandas, pyarrow, matplotlib or pydantic."""
    code = (
        "import sys, aimc_dse, aimc_dse.cli; "
        "heavy = [m for m in ('numpy', 'pandas', 'pyarrow', 'matplotlib', 'pydantic', 'dask') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == ""
    p = subprocess.run([sys.executable, "-m", "aimc_dse.cli", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0 and "evaluate" in p.stdout and "presets" in p.stdout


# ---- the Python API -------------------------------------------------------------------------


def test_api_evaluate_matches_the_cli():
    df = aimc_dse.evaluate(hw=["nature-3d-aimc", "a100-paper"], model="nature-moe-51b", batch=4)
    assert list(df["hardware"]) == ["nature-3d-aimc", "a100-paper"] and (df["workload.batch"] == 4).all()
    _, out, _ = invoke(["evaluate", "--hw", "nature-3d-aimc", "--hw", "a100-paper", "--model", "nature-moe-51b", "--batch", "4", "-f", "json"])
    cli = json.loads(out)
    assert [r["tokens_per_s"] for r in cli] == pytest.approx(df["tokens_per_s"].tolist(), rel=1e-12)
    assert df["vs.a100-paper.tokens_per_s"].iloc[0] == pytest.approx(df["tokens_per_s"].iloc[0] / df["tokens_per_s"].iloc[1])


def test_api_bad_input_raises_the_clear_error():
    with pytest.raises(aimc_dse.SpecError, match=r"hw\.tiles: Input should be greater than 0"):
        aimc_dse.evaluate(hw="nature-3d-aimc", model="nature-moe-51b", set={"hw.tiles": 0})
    with pytest.raises(aimc_dse.SpecError, match="contradicts batch=8"):
        aimc_dse.evaluate(hw="nature-3d-aimc", model="nature-moe-51b", batch=8, set={"workload.batch": 4})
    with pytest.raises(aimc_dse.SpecError, match="unknown hardware preset; did you mean nature-3d-aimc"):
        aimc_dse.evaluate(hw="nature-3d-aimx", model="nature-moe-51b")
    with pytest.raises(aimc_dse.SpecError, match="load_hw takes only hw"):
        aimc_dse.load_hw("nature-3d-aimc", set={"model.layers": 2})
    with pytest.raises(aimc_dse.SpecError):
        aimc_dse.sweep({"name": "x", "systems": ["nature-3d-aimc"], "model": "gpt2-medium", "axes": {"hw.tilez": [1]}})


def test_api_positions_warning_and_loaders():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        aimc_dse.evaluate(hw="nature-3d-aimc", model="gpt2-medium", prompt_len=1020)
    assert any(issubclass(w.category, aimc_dse.PositionsWarning) for w in caught)
    assert aimc_dse.load_hw("hermes-3d", set={"hw.tiles": 5}).tiles == 5
    assert aimc_dse.load_model("mixtral-8x7b").moe.experts == 8
    assert aimc_dse.load_workload(batch=4, set=["workload.gen_len=16"]).gen_len == 16


def test_api_sweep_from_a_file_and_a_dict(tmp_path):
    res = aimc_dse.sweep(ROOT / "sweeps" / "default.yaml")
    assert len(res) == 28 and str(res["hw.tiles"].dtype) == "Int64"
    res2 = aimc_dse.sweep(
        {"name": "d", "systems": ["nature-3d-aimc"], "model": "gpt2-medium", "axes": {"workload.batch": [1, 2]}},
        output=tmp_path / "d.parquet",
    )
    assert len(res2) == 2 and (tmp_path / "d.parquet").exists()
    importlib.import_module("aimc_dse.sweep.grid")  # the package stays callable after its submodules load

    assert len(aimc_dse.sweep(ROOT / "sweeps" / "default.yaml")) == 28


def test_example_script_runs():
    p = subprocess.run([sys.executable, str(ROOT / "examples" / "notebook_example.py")], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "refused: --set hw.tiles=0: hw.tiles: Input should be greater than 0" in p.stdout
    assert "100 tiles: fits = False" in p.stdout


# ---- figures --------------------------------------------------------------------------------


def test_axis_labels_carry_units():
    from aimc_dse.report.labels import axis_label

    assert axis_label("tokens_per_s_per_w") == "tokens_per_s_per_w (tokens/s/W)"
    assert axis_label("area_mm2") == "area_mm2 (mm²)"
    assert axis_label("latency_ns.mvm") == "latency_ns.mvm (ns; summed busy time)"
    assert axis_label("hw.dram.bandwidth_gbps") == "hw.dram.bandwidth_gbps (GB/s)"
    assert axis_label("workload.batch") == "workload.batch (sequences)"
    assert axis_label("latency_ns", "ms") == "latency_ns (ms)"


def test_plot_counts_what_it_does_not_draw_and_keeps_zero_on_log(tmp_path):
    pytest.importorskip("matplotlib")
    from aimc_dse.report.plot import plot

    df = pd.DataFrame(
        {
            "hw.name": ["a"] * 3 + ["b"] * 3 + ["c"],
            "x": [0.0, 0.1, 0.5, 0.0, 0.1, 0.5, 0.2],
            "y": [10.0, 5.0, 2.0, 8.0, 4.0, 1.0, np.nan],
            "fits": [True] * 6 + [False],
        }
    )
    stats = plot(df, "x", "y", tmp_path / "f.png", hue="hw.name", by=["hw.name"], log=True, kind="line")
    assert (stats.rows, stats.drawn, stats.not_fitting, stats.missing) == (7, 6, 1, 0)
    assert stats.symlog == ("x",)  # x = 0 kept on a symlog axis, not dropped
    assert stats.lines == 2  # one line per design: never a zig-zag through both
    assert "6 of 7 rows drawn; 1 do not fit" in stats.summary()


def test_a_design_that_does_not_fit_says_why_in_the_default_table():
    code, out, err = invoke(["evaluate", "--hw", "nature-3d-aimc", "--hw", "a100-sxm4-80gb", "--model", "llama-2-70b",
                             "--set", "hw.devices=1"], columns=120)
    assert code == 0, err
    rows = {line.split("│")[0].split()[0]: [c.strip() for c in line.split("│")[1:]] for line in out.splitlines() if "│" in line}
    assert rows["fits"] == ["no", "no"]
    assert rows["fit_reason"] == ["weights", "weights"]
    assert rows["tiles_needed"] == ["823", "–"] and rows["chips_needed"] == ["2", "–"] and rows["devices_needed"] == ["–", "2"]
    # a design that fits keeps the headline alone
    code, out, _ = invoke(["evaluate", "--hw", "nature-3d-aimc", "--model", "mixtral-8x7b"], columns=120)
    assert code == 0 and "fit_reason" not in out and "tiles_needed" not in out


def test_integer_columns_are_integers_in_json_and_csv_of_a_mixed_table():
    args = ["evaluate", "--hw", "nature-3d-aimc", "--hw", "a100-sxm4-80gb", "--model", "mixtral-8x7b",
            "--columns", "n_devices,tiles_needed,chips_needed,tier_blocks"]
    code, out, err = invoke([*args, "-f", "json"])
    assert code == 0, err
    aimc, gpu = json.loads(out)
    assert aimc["tiles_needed"] == 558 and isinstance(aimc["tiles_needed"], int) and isinstance(aimc["tier_blocks"], int)
    assert gpu["n_devices"] == 2 and isinstance(gpu["n_devices"], int) and gpu["tiles_needed"] is None
    code, out, _ = invoke([*args, "-f", "csv"])
    assert out.splitlines()[1:] == ["nature-3d-aimc,mixtral-8x7b,,558,1,178416", "a100-sxm4-80gb,mixtral-8x7b,2,,,"]


@pytest.mark.parametrize("args, problem", [
    (["--columns", ""], "error: --columns: names no column"),
    (["--all", "--columns", "tokens_per_s"], "error: --all: --all and --columns both choose the columns; give one of them"),
])
def test_column_options_that_say_nothing_or_contradict_are_refused(args, problem):
    code, _, err = invoke(["evaluate", "--hw", "nature-3d-aimc", "--model", "mixtral-8x7b", *args])
    assert code == 2 and err.strip().startswith(problem), err


def test_five_designs_as_rows_move_their_shared_model_into_the_title():
    hws = ["nature-3d-aimc", "hermes-3d", "moewithpim-hermes", "a100-sxm4-80gb", "h100-sxm"]
    code, out, err = invoke(["evaluate", *[a for h in hws for a in ("--hw", h)], "--model", "mixtral-8x7b"], columns=200)
    assert code == 0, err
    assert "model: mixtral-8x7b" in out
    header = next(line for line in out.splitlines() if line.startswith("hardware"))
    assert "model" not in header.split("┃")[1]
