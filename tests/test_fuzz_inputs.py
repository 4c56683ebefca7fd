"""Hostile and random inputs (issue 16): exit 0 with sane numbers, or exit 2 with one line.

Three parts: a table of known-bad inputs (each must be exit 2, one line, no traceback); the
YAML alias bomb under a memory limit; and hypothesis fuzzing of ``--set`` overrides and of
whole sweep files, asserting "exit 0 or exit 2 with one line, never a traceback, never a
negative or NaN metric for a design that fits". Example counts are modest and deadlines off,
so the suite stays fast and never flaky on a loaded machine.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimc_dse.cost.metrics import HEADLINE_COLUMNS
from aimc_dse.report.writer import read_results

from .sweep_support import entry_point, invoke, write_sweep

METRICS = [c for c in HEADLINE_COLUMNS if c not in ("system", "fits")]
FUZZ = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def assert_clean(code: int, err: str) -> None:
    """Exit 0, or exit 2 with exactly one line and no traceback."""
    assert "Traceback" not in err, err
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = [l for l in err.strip().splitlines() if l.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), err


def assert_sane(rows: pd.DataFrame) -> None:
    """No negative or NaN metric for a design that fits (TTFT is undefined without a prefill)."""
    fit = rows[rows["fits"].astype(str).str.lower() == "true"]
    for m in METRICS:
        if m not in fit.columns:
            continue
        v = pd.to_numeric(fit[m], errors="coerce")
        if m == "ttft_ns" and "workload.prefill" in fit.columns:
            v = v[fit["workload.prefill"].astype(str).str.lower() == "true"]
        assert not v.isna().any(), (m, fit[v.isna().reindex(fit.index, fill_value=False)].to_dict("records")[:1])
        assert (v >= 0).all(), (m, v[v < 0].head())


# ---- known-bad inputs ---------------------------------------------------------------------------


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


SPEC_FILES = {
    "deep.yaml": ("name: x\ntiles: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),  # libyaml's limit
    "deep100.yaml": ("name: x\ntiles: " + "[" * 100 + "]" * 100 + "\n", "nested too deeply"),  # MAX_DEPTH
    "deepblock.yaml": ("name: x\ntiles:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(2000)) + " " * 2001 + "v\n",
                       "nested too deeply"),
    "deep.json": ('{"tiles": ' + "[" * 100000 + "]" * 100000 + "}", "nested too deeply"),
    "bomb.yaml": (_bomb() + "name: x\n", "expands to more than"),
    "binary.yaml": (bytes(range(256)) * 8, "not a UTF-8 text file"),
    "nul.yaml": ("name: x\x00\n", "NUL bytes"),
    "empty.yaml": ("", "expected a mapping"),
    "list.yaml": ("- 1\n- 2\n", "expected a mapping"),
    "pyobj.yaml": ("!!python/object/apply:os.system ['touch pwned']\n", "malformed YAML"),
    "hugeint.yaml": ("kind: aimc\ntiles: " + "9" * 5000 + "\n", "malformed YAML"),
    "inf.yaml": (None, "finite number"),
    "dupkey.yaml": ("kind: aimc\nname: x\ntiles: 200\ntiles: 300\n", "the key 'tiles' is given twice (first on line 3)"),
    "dupkey.json": ('{"name": "x", "layers": 2, "layers": 3}', "the key 'layers' is given twice"),
    "booltiles.yaml": (None, "hw.tiles: must be a number, not true"),
}


def _inf_spec(folder: Path) -> Path:
    from aimc_dse.specs.loader import preset_dir

    data = yaml.safe_load((preset_dir("hw") / "nature-3d-aimc-sim.yaml").read_text())
    data["mvm_latency_ns"] = float("inf")
    p = folder / "inf.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_a_misspelt_field_is_named_with_what_it_stands_for(tmp_path):
    """The unknown name the person wrote comes first (not the field it leaves missing)."""
    from aimc_dse.specs.loader import preset_dir

    text = (preset_dir("hw") / "nature-3d-aimc.yaml").read_text().replace("\ntiles:", "\ntilez:")
    p = tmp_path / "typo.yaml"
    p.write_text(text)
    code, _, err = invoke(["show", p])
    assert code == 2 and err.strip() == f"error: {p}: hw.tilez: unknown field (not part of the spec; did you mean tiles?) (and 1 more problem)"


def _bool_tiles_spec(folder: Path) -> Path:
    from aimc_dse.specs.loader import preset_dir

    data = yaml.safe_load((preset_dir("hw") / "nature-3d-aimc-sim.yaml").read_text())
    data["tiles"] = True  # pydantic's lax mode would read it as 1 tile
    p = folder / "booltiles.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.mark.parametrize("name", list(SPEC_FILES))
def test_bad_spec_files_exit_2_with_one_line(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    text, fragment = SPEC_FILES[name]
    if text is None:
        p = _inf_spec(tmp_path) if name == "inf.yaml" else _bool_tiles_spec(tmp_path)
    else:
        p = tmp_path / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
    uses = [["evaluate", "--hw", p, "--model", "olmoe-1b-7b"], ["evaluate", "--hw", "nature-3d-aimc", "--model", p]]
    for args in uses[:1] if text is None else uses:  # the inf spec is a hardware spec
        code, _, err = invoke(args)
        assert code == 2
        assert_clean(code, err)
        assert fragment in err, err
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--gen-len", "9223372036854775808"], "workload.gen_len: Input should be less than or equal to"),
        (["--gen-len", "100000", "--no-kv-cache"], "without kv_cache, gen_len must be at most"),
        (["--batch", "1000000000000"], "workload.batch: Input should be less than or equal to"),
        (["--set", "model.vocab=9223372036854775807"], "model.vocab"),
        (["--set", "model.layers=1000000000"], "model.layers"),
        (["--set", "hw.stack_height=9223372036854775807"], "hw.stack_height"),
        (["--set", "hw.tiles=1e400"], "hw.tiles"),
        (["--set", "hw.mvm_latency_ns=.inf"], "finite number"),
        (["--set", "hw.mvm_latency_ns=.nan"], "finite number"),
        (["--set", "hw.mvm_latency_ns=1e-300"], "outside the accepted range"),
        (["--set", "hw.passive_power_w=1e300"], "outside the accepted range"),
        (["--set", "model.d_model=1048576", "--set", "model.heads=16", "--set", "model.moe.d_ff_expert=1048576"], "parameters"),
        (["--set", "model.layers=16384", "--set", "model.moe.experts=64"], "layers × experts"),
        (["--set", "workload.seed=" + str(2**80)], "too large"),
        (["--set", "hw.tiles=" + "[" * 200 + "]" * 200], "nested too deeply"),
        (["--set", "hw.tiles=true"], "hw.tiles: must be a number, not true"),
        (["--set", "hw.tiles='200'"], "hw.tiles: must be a number, not the text '200'"),
        (["--set", "hw.mvm_latency_ns=no"], "hw.mvm_latency_ns: must be a number, not false"),
        (["--set", "workload.kv_cache=1"], "workload.kv_cache: must be true or false, not 1"),
        (["--set", "hw.kind=gpu"], "--set hw.kind=gpu: hw.kind: cannot turn aimc hardware into another kind"),
        (["--set", "hw.tiles=400", "--set", "hw.tiles=800"], "--set hw.tiles=800: hw.tiles: is also set to 400; give it once"),
    ],
)
def test_out_of_bound_values_exit_2(args, fragment):
    code, _, err = invoke(["evaluate", "--hw", "nature-3d-aimc-sim", "--model", "olmoe-1b-7b", *args])
    assert code == 2
    assert_clean(code, err)
    assert fragment in err, err


def test_an_exponent_is_a_number_for_integer_fields_too():
    """`1e3`, which YAML 1.1 reads as text, is 1000 tiles; `1.5e0` is not a whole number."""
    code, out, err = invoke(["evaluate", "--hw", "nature-3d-aimc", "--model", "olmoe-1b-7b", "--set", "hw.tiles=1e3",
                             "-f", "csv", "--columns", "hw.tiles"])
    assert code == 0 and out.splitlines()[1].endswith(",1000"), err
    code, _, err = invoke(["evaluate", "--hw", "nature-3d-aimc", "--model", "olmoe-1b-7b", "--set", "hw.tiles=1.5e0"])
    assert code == 2 and "hw.tiles: Input should be a valid integer, got a number with a fractional part" in err


def test_a_check_of_the_whole_workload_names_it_once():
    code, _, err = invoke(["evaluate", "--hw", "nature-3d-aimc", "--model", "olmoe-1b-7b", "--no-prefill", "--gen-len", "1"])
    assert code == 2 and err.strip() == "error: workload: with prefill off, gen_len must be at least 2 (gen_len − 1 decode steps are costed)"


def test_the_api_takes_no_flag_for_a_number_nor_text_for_either():
    import aimc_dse
    from aimc_dse.specs.base import SpecError

    for kw, fragment in [({"batch": True}, "workload.batch: must be a number, not true"),
                         ({"batch": "4"}, "workload.batch: must be a number, not the text '4'"),
                         ({"prefill": "no"}, "workload.prefill: must be true or false, not the text 'no'")]:
        with pytest.raises(SpecError, match=fragment):
            aimc_dse.evaluate("nature-3d-aimc", "olmoe-1b-7b", **kw)


@pytest.mark.parametrize("value", ["-312", "0", "nan", ".inf", "1e999"])
def test_gpu_peak_values_are_validated(value):
    code, _, err = invoke(["evaluate", "--hw", "a100-sxm4-80gb", "--model", "olmoe-1b-7b", "--set", f"hw.peak_tflops.fp16={value}"])
    assert code == 2
    assert_clean(code, err)
    assert "hw.peak_tflops.fp16" in err


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "is empty"),
        (bytes(range(255, -1, -1)) * 4, "cannot read results"),
        (b"PAR1garbagePAR1", "cannot read results|no such column"),  # a one-column CSV
    ],
    ids=["empty", "binary", "fake-parquet"],
)
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_corrupt_results_files_exit_2_for_pareto_and_plot(tmp_path, content, fragment, suffix):
    if suffix == ".parquet" and content == b"":
        fragment = "cannot read results"
    p = tmp_path / f"r{suffix}"
    p.write_bytes(content)
    for args in (
        ["pareto", p, "--x", "tokens_per_s", "--y", "area_mm2"],
        ["plot", p, "--x", "tokens_per_s", "--y", "area_mm2", "-o", tmp_path / "f.png"],
    ):
        code, _, err = invoke(args)
        assert code == 2
        assert_clean(code, err)
        assert any(f in err for f in fragment.split("|")), err
    assert not (tmp_path / "f.png").exists()


def test_a_cut_csv_is_refused_and_one_without_a_final_newline_is_not(tmp_path):
    whole = "hw.name,fits,tokens_per_s,area_mm2\na,true,10.0,5.0\nb,true,20.0,7.5\n"
    cut, plain = tmp_path / "cut.csv", tmp_path / "plain.csv"
    cut.write_text(whole[:-6])  # "b,true,20" : the copy stopped mid-row
    plain.write_text(whole[:-1])
    code, _, err = invoke(["pareto", cut, "--x", "tokens_per_s", "--y", "area_mm2"])
    assert code == 2 and "is truncated: its last line has fewer fields than the header" in err
    assert_clean(code, err)
    assert read_results(plain)["area_mm2"].tolist() == [5.0, 7.5]


def test_a_sweep_csv_without_its_sidecar_says_so_when_a_knob_is_missing(tmp_path):
    path = write_sweep(tmp_path, {"name": "s", "systems": ["nature-3d-aimc"], "model": "olmoe-1b-7b", "axes": {"workload.batch": [1, 2]}})
    out = tmp_path / "s.csv"
    assert invoke(["sweep", path, "-o", out, "-j", "1", "-q"])[0] == 0
    (tmp_path / "s.constants.csv").unlink()
    code, _, err = invoke(["pareto", out, "--x", "tokens_per_s", "--y", "area_mm2", "--where", "hw.kind == 'aimc'"])
    assert code == 2 and "(the constant knobs of a sweep's CSV are in s.constants.csv, which is missing)" in err
    assert_clean(code, err)


def test_nan_weights_are_refused_naming_the_tensor(tmp_path):
    from .test_experts import OLMOE, TINY, tiny_weights

    w = tiny_weights()
    name = OLMOE.format(l=1, e=4, p="up_proj")
    w[name][2, 3] = np.nan
    npz = tmp_path / "w.npz"
    np.savez(npz, **w)
    model = tmp_path / "tiny.yaml"
    model.write_text(yaml.safe_dump(TINY))
    code, out, err = invoke(["experts", "score", npz, "--model", model, "--noise-c", "0", "-o", tmp_path / "s.json"])
    assert code == 2
    assert_clean(code, err)
    assert name in err and "NaN or infinite" in err and "[2, 3]" in err
    assert not (tmp_path / "s.json").exists()


def test_an_unexpected_error_is_one_line_with_a_debug_hint(monkeypatch):
    from aimc_dse.cost import evaluate

    def boom(*a, **kw):
        raise RuntimeError("internal\nproblem")

    monkeypatch.setattr(evaluate, "evaluate_records", boom)  # the API imports it at call time
    code, _, err = invoke(["evaluate", "--hw", "nature-3d-aimc", "--model", "olmoe-1b-7b"])
    assert code == 1
    assert err.strip() == "error: unexpected RuntimeError: internal problem (re-run with --debug for the traceback)"
    from typer.testing import CliRunner

    from aimc_dse.cli import app

    r = CliRunner().invoke(app, ["--debug", "evaluate", "--hw", "nature-3d-aimc", "--model", "olmoe-1b-7b"])
    assert isinstance(r.exception, RuntimeError)  # --debug lets the traceback through


def test_a_usage_error_raised_in_a_command_stays_clicks_exit_2():
    # typer's parameter errors are click exceptions of the click typer runs on (its own copy in
    # newer typers): click prints them as usage errors, so the guard must not call them unexpected
    import typer
    from typer.testing import CliRunner

    from aimc_dse.commands.errors import cli_errors

    app = typer.Typer()

    @app.command()
    @cli_errors
    def odd(n: int = 1) -> None:
        raise typer.BadParameter("must be odd", param_hint="--n")

    r = CliRunner().invoke(app, ["--n", "2"])
    assert r.exit_code == 2
    assert "Invalid value for --n: must be odd" in r.output and "unexpected" not in r.output


def test_debug_flag_after_the_command_shows_the_traceback(tmp_path):
    """``--debug`` is accepted anywhere (users add it to the command they just ran)."""
    bad = tmp_path / "r.csv"
    bad.write_text("a,b\n1,2\n")
    r = subprocess.run(entry_point() + ["pareto", str(bad), "--x", "a", "--y", "nope", "--debug"], capture_output=True, text=True)
    assert r.returncode == 2 and "no such column" in r.stderr  # a bad input stays a one-line error


# ---- bounded time and memory ------------------------------------------------------------------


def _limit_memory():  # 1 GiB of address space for the child
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("levels", [9, 12])
def test_alias_bomb_is_refused_within_a_memory_limit(tmp_path, levels):
    sweep = tmp_path / "bomb.yaml"
    sweep.write_text(_bomb(levels) + "name: x\nsystems: [nature-3d-aimc]\nmodel: olmoe-1b-7b\nworkload: {prompt_len: *a9}\n")
    r = subprocess.run(
        entry_point() + ["sweep", str(sweep), "--dry-run"],
        capture_output=True, text=True, preexec_fn=_limit_memory, timeout=300,
    )
    assert r.returncode == 2, r.stderr[-2000:]
    assert_clean(r.returncode, r.stderr)
    assert "expands to more than" in r.stderr


def test_a_huge_range_axis_is_refused_before_it_is_listed(tmp_path):
    path = write_sweep(
        tmp_path,
        {"name": "huge", "systems": ["nature-3d-aimc"], "model": "olmoe-1b-7b",
         "axes": {"hw.tiles": {"start": 1, "stop": 100, "num": 999_999_999}, "workload.batch": {"start": 1, "stop": 9, "num": 5_000_000}}},
    )
    r = subprocess.run(
        entry_point() + ["sweep", str(path), "--dry-run"],
        capture_output=True, text=True, preexec_fn=_limit_memory, timeout=300,
    )
    assert r.returncode == 2
    assert_clean(r.returncode, r.stderr)
    assert "more than --max-points" in r.stderr


# ---- hypothesis: --set overrides --------------------------------------------------------------

AIMC_PATHS = [
    "hw.tiles", "hw.stack_height", "hw.tier_rows", "hw.tier_cols", "hw.mvm_latency_ns", "hw.mvm_energy_nj",
    "hw.dpus", "hw.mha_units", "hw.dram.bandwidth_gbps", "hw.passive_power_w", "hw.area.tile_mm2",
    "hw.sharing.group_size", "hw.attention.alpha_ns", "hw.ops.add.latency_ns_fixed",
]
GPU_PATHS = ["hw.peak_tflops.fp16", "hw.hbm_bandwidth_gbps", "hw.memory_gb", "hw.tdp_w", "hw.devices", "hw.die_area_mm2"]
MODEL_PATHS = ["model.layers", "model.d_model", "model.heads", "model.vocab", "model.moe.experts", "model.moe.top_k",
               "model.moe.d_ff_expert", "model.moe.shared_experts"]
WORKLOAD_PATHS = ["workload.batch", "workload.gen_len", "workload.prompt_len", "workload.seed", "workload.kv_cache",
                  "workload.prefill", "workload.expert_load.zipf_exponent"]

values = st.one_of(
    st.integers(min_value=-3, max_value=4096),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-3, max_value=1e4),
    st.sampled_from(["true", "false", ".inf", "-.inf", ".nan", "1e9", "abc", "[1, 2]", "{a: 1}", "null", "''",
                     "9223372036854775808", "-0", "0x10", "1_000"]),
)


def _show(v) -> str:
    if isinstance(v, float):
        return ".nan" if math.isnan(v) else (".inf" if v > 0 else "-.inf") if math.isinf(v) else repr(v)
    return str(v)


@FUZZ
@given(
    hw=st.sampled_from(["nature-3d-aimc", "hermes-3d", "a100-sxm4-80gb"]),
    sets=st.lists(st.tuples(st.sampled_from(AIMC_PATHS + GPU_PATHS + MODEL_PATHS + WORKLOAD_PATHS), values), min_size=1, max_size=3),
)
def test_fuzz_set_overrides(hw, sets):
    args = ["evaluate", "--hw", hw, "--model", "olmoe-1b-7b", "-f", "json"]
    for path, v in sets:
        args += ["--set", f"{path}={_show(v)}"]
    code, out, err = invoke(args)
    assert_clean(code, err)
    if code == 0:
        assert_sane(pd.DataFrame(json.loads(out)))


# ---- hypothesis: sweep files ------------------------------------------------------------------

axis_values = st.one_of(
    st.lists(values, min_size=1, max_size=3),
    st.fixed_dictionaries({"start": st.floats(-10, 5000), "stop": st.floats(-10, 5000), "num": st.integers(-1, 4)}),
    st.fixed_dictionaries({"pow2": st.tuples(st.sampled_from([1, 2, 3, 4, 0, -2]), st.sampled_from([1, 8, 16, 64, 5]))}).map(
        lambda d: {"pow2": list(d["pow2"])}
    ),
)
sweeps = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["fz", "fz-1", "bad name", ""]),
        "systems": st.lists(st.sampled_from(["nature-3d-aimc", "a100-sxm4-80gb", "hermes-3d", "no-such-chip"]), min_size=1, max_size=2),
        "model": st.sampled_from(["olmoe-1b-7b", "gpt2-medium", "mixtral-8x7b", "nope"]),
        "workload": st.dictionaries(st.sampled_from(["prompt_len", "gen_len", "batch", "kv_cache", "prefill", "typo"]), values, max_size=2),
        "axes": st.dictionaries(st.sampled_from(AIMC_PATHS[:6] + MODEL_PATHS[:4] + WORKLOAD_PATHS[:3] + ["hw.nope"]), axis_values, max_size=2),
        "filters": st.lists(st.sampled_from(["fits == true", "tokens_per_s > 0", "hw.kind == 'aimc'", "fits == maybe",
                                             "(tokens_per_s).to_csv('x')", "hw.tiles.__class__", "tokens_per_s"]), max_size=1),
    }
)


@FUZZ
@given(data=sweeps)
def test_fuzz_sweep_files(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fz")
    path = write_sweep(folder, data)
    out = folder / "o.csv"
    code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "-q", "--max-points", "40"])
    assert_clean(code, err)
    created = sorted(p.name for p in folder.iterdir())
    if code == 0:
        assert created == ["o.constants.csv", "o.csv", "sweep.yaml"]  # the sidecar holds the constant knobs
        df = read_results(out)  # rows with the constant knobs put back (workload.prefill)
        if len(df):
            assert_sane(df)
    else:
        assert created == ["sweep.yaml"], "a refused sweep creates nothing"
