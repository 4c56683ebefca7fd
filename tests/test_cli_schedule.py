"""`aimc-dse schedule` and `aimc-dse trace synth` as a user types them (CliRunner), plus real
subprocesses of the installed entry point. Bad input exits 2 with one line on stderr."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aimc_dse.cli import app
from aimc_dse.moe.routing import synth_choices


def invoke(args: list[str]) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    try:
        return r.exit_code, r.stdout, r.stderr
    except ValueError:  # older click: stderr mixed into output
        return r.exit_code, "", r.output


def rows(args: list[str]) -> list[dict]:
    code, out, err = invoke(args + ["--format", "json"])
    assert code == 0, err
    return json.loads(out)


def assert_bad_input(code: int, out: str, err: str, *fragments: str) -> None:
    assert "Traceback" not in out + err, out + err
    assert code == 2, (code, out, err)
    assert len(err.strip().splitlines()) == 1, err
    for f in fragments:
        assert f in err, (f, err)


def entry_point() -> list[str]:
    exe = shutil.which("aimc-dse", path=str(Path(sys.executable).parent)) or shutil.which("aimc-dse")
    return [exe] if exe else [sys.executable, "-m", "aimc_dse.cli"]


def by_schedule(rs: list[dict]) -> dict[str, tuple[int, int]]:
    return {r["schedule"]: (r["length"], r["transfers"]) for r in rs}


# ---- the toy example -------------------------------------------------------------------------


def test_toy_prints_single_compact_and_optimized():
    rs = rows(["schedule", "--toy"])
    assert by_schedule(rs) == {"single": (10, 10), "compact": (7, 16), "optimized": (7, 12)}
    assert all(r["group_loads"] == [7, 7, 5, 5] for r in rs)
    assert rs[0]["groups"] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert rs[1]["f_m"] == pytest.approx(7 / 6) and rs[1]["f_c"] == pytest.approx(16 / 6)
    assert all(r["f_g"] == pytest.approx(0.6) for r in rs)


def test_toy_reference_heuristic_from_the_cli():
    assert by_schedule(rows(["schedule", "--toy", "--schedule", "optimized-reference"])) == {
        "optimized-reference": (7, 13)
    }


def test_toy_table_for_people():
    code, out, err = invoke(["schedule", "--toy"])
    assert code == 0, err
    for text in ("single", "compact", "optimized", "7 7 5 5", "16", "12", "f_m", "f_c", "f_g"):
        assert text in out


def test_toy_as_csv():
    code, out, _ = invoke(["schedule", "--toy", "--format", "csv"])
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("layer,grouping,g,schedule,tokens,group_loads,length,transfers,f_m,f_c")
    assert len(lines) == 4
    compact = list(csv.DictReader(io.StringIO(out)))[1]
    assert (compact["schedule"], compact["length"], compact["transfers"]) == ("compact", "7", "16")
    assert compact["group_loads"] == "7 7 5 5" and compact["groups"] == "{0,1} {2,3} {4,5} {6,7}"


def test_toy_in_a_real_subprocess_of_the_installed_command():
    p = subprocess.run(entry_point() + ["schedule", "--toy", "--format", "json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert by_schedule(json.loads(p.stdout)) == {"single": (10, 10), "compact": (7, 16), "optimized": (7, 12)}


# ---- trace synth ----------------------------------------------------------------------------


def synth(tmp_path, name="t.npy", *extra):
    out = tmp_path / name
    code, stdout, err = invoke(["trace", "synth", "--experts", 16, "--top-k", 4, "--tokens", 300,
                                "--layers", 3, "--zipf", 1.2, "--seed", 7, "-o", out, *extra])
    return out, code, stdout, err


def test_trace_synth_writes_layers_tokens_experts_with_k_ones_per_row(tmp_path):
    out, code, stdout, err = synth(tmp_path)
    assert code == 0, err
    a = np.load(out)
    assert a.shape == (3, 300, 16) and a.dtype == np.bool_
    assert (a.sum(axis=2) == 4).all()
    assert np.array_equal(a, synth_choices(16, 4, 300, layers=3, zipf=1.2, seed=7))
    assert "busiest_expert_share" in stdout
    assert [p.name for p in tmp_path.iterdir()] == ["t.npy"]  # no temporary file left behind


def test_trace_synth_same_seed_same_bytes(tmp_path):
    a, *_ = synth(tmp_path, "a.npy")
    b, *_ = synth(tmp_path, "b.npy")
    c, code, _, err = synth(tmp_path, "c.npy", "--seed", 8)
    assert code == 0, err
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(a) == digest(b) != digest(c)


def test_trace_synth_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "t.npy"
    out.write_bytes(b"keep me")
    _, code, stdout, err = synth(tmp_path)
    assert_bad_input(code, stdout, err, "t.npy", "already exists; pass --force")
    assert out.read_bytes() == b"keep me"
    _, code, _, err = synth(tmp_path, "t.npy", "--force")
    assert code == 0, err
    assert np.load(out).shape == (3, 300, 16)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--experts", 8, "--top-k", 9], "--top-k: must be between 1 and --experts (8)"),
        (["--experts", 0, "--top-k", 1], "--experts: must be at least 1"),
        (["--experts", 8, "--top-k", 2, "--tokens", 0], "--tokens: must be at least 1"),
        (["--experts", 8, "--top-k", 2, "--zipf", -1], "--zipf: must be a number from 0 to 100, got -1.0"),
    ],
)
def test_trace_synth_bad_arguments_exit_2(tmp_path, args, fragment):
    code, out, err = invoke(["trace", "synth", "-o", tmp_path / "t.npy", *args])
    assert_bad_input(code, out, err, fragment)
    assert not (tmp_path / "t.npy").exists()


def test_trace_synth_makes_a_missing_folder_as_every_output_does(tmp_path):
    code, out, err = invoke(["trace", "synth", "-E", 8, "-k", 2, "-o", tmp_path / "no" / "t.npy"])
    assert code == 0, err
    assert (tmp_path / "no" / "t.npy").is_file()



@pytest.mark.parametrize(
    "layers,tokens,experts,size",
    [
        (2, 1_050_000, 256, "537,600,128"),  # 0.1 % above: the reader refused what synth wrote
        (1000, 100_000, 8_192, "819,200,000,128"),  # ran out of memory (exit 1) making it
    ],
)
def test_trace_synth_refuses_a_trace_the_reader_would_refuse_before_making_it(tmp_path, layers, tokens, experts, size):
    out = tmp_path / "big.npy"
    code, stdout, err = invoke(["trace", "synth", "-E", experts, "-k", 1, "-T", tokens, "-L", layers, "-o", out])
    assert_bad_input(code, stdout, err, f"{out}: the trace would be {size} bytes", "more than the 536,870,912 a trace file may have")
    assert not out.exists()


def test_the_trace_size_is_what_np_save_writes():
    from aimc_dse.commands.schedule import npy_file_size
    from aimc_dse.specs.safe_io import SIZE_LIMITS

    for shape in [(1, 1, 1), (3, 300, 16), (2, 7, 1000)]:
        buf = io.BytesIO()
        np.save(buf, np.zeros(shape, dtype=bool))
        assert npy_file_size(shape) == len(buf.getvalue()), shape
    assert npy_file_size((2, 1_048_575, 256)) <= SIZE_LIMITS["trace"]  # the largest such trace is still written


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_trace_synth_onto_a_folder_says_it_is_a_folder(tmp_path, force):
    (tmp_path / "d").mkdir()
    code, out, err = invoke(["trace", "synth", "-E", 8, "-k", 2, "-o", tmp_path / "d", *force])
    assert_bad_input(code, out, err, f"{tmp_path / 'd'}: is a folder; give a file name")


# ---- schedule on a trace --------------------------------------------------------------------


def test_schedule_a_synthesised_trace_per_layer(tmp_path):
    out, code, _, err = synth(tmp_path)
    assert code == 0, err
    rs = rows(["schedule", "--trace", out, "--group-size", 4, "--grouping", "balanced"])
    assert [(r["layer"], r["schedule"]) for r in rs] == [
        (l, s) for l in range(3) for s in ("single", "compact", "optimized")
    ]
    for r in rs:
        assert r["tokens"] == 300 and len(r["group_loads"]) == 4 and sum(r["group_loads"]) == 1200
        assert r["f_g"] == pytest.approx(0.2 + 0.8 / 4)
        assert r["f_m"] == pytest.approx(r["length"] / 300)
    comp = {r["layer"]: r for r in rs if r["schedule"] == "compact"}
    for r in rs:
        if r["schedule"] == "optimized":
            assert r["length"] == comp[r["layer"]]["length"]
            assert r["transfers"] <= comp[r["layer"]]["transfers"]


def test_schedule_one_layer_one_schedule_with_fit_tokens_and_area_share(tmp_path):
    out, *_ = synth(tmp_path)
    rs = rows(["schedule", "--trace", out, "--layer", 2, "--schedule", "compact", "--grouping", "sorted",
               "--fit-tokens", 0.5, "--crossbar-area-share", 0.4, "--top-k", 4])
    assert len(rs) == 1
    r = rs[0]
    assert (r["layer"], r["schedule"], r["tokens"]) == (2, "compact", 150)
    assert r["f_g"] == pytest.approx(0.7)


@pytest.mark.parametrize("g,f_g", [(1, 1.0), (2, 0.6), (4, 0.4)])
def test_area_factor_column_is_0_2_plus_0_8_over_g(tmp_path, g, f_g):
    out, *_ = synth(tmp_path)
    r = rows(["schedule", "--trace", out, "-g", g, "--schedule", "single", "--layer", 0])[0]
    assert r["f_g"] == pytest.approx(f_g)


def test_schedule_in_a_real_subprocess(tmp_path):
    out = tmp_path / "t.npy"
    p = subprocess.run(entry_point() + ["trace", "synth", "-E", "8", "-k", "2", "-T", "64", "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(entry_point() + ["schedule", "--trace", str(out), "--schedule", "compact"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "compact" in p.stdout and "f_m" in p.stdout


# ---- bad input -----------------------------------------------------------------------------


def bad_trace(tmp_path, arr) -> Path:
    p = tmp_path / "bad.npy"
    np.save(p, arr)
    return p


def test_wrong_shape_exits_2(tmp_path):
    code, out, err = invoke(["schedule", "--trace", bad_trace(tmp_path, np.zeros((2, 3, 4, 8)))])
    assert_bad_input(code, out, err, "bad.npy", "shape", "layers × tokens × experts", "(2, 3, 4, 8)")


def test_non_binary_values_exit_2(tmp_path):
    a = synth_choices(8, 2, 10, seed=0).astype(np.int64)
    a[0, 3, 1] = 2
    code, out, err = invoke(["schedule", "--trace", bad_trace(tmp_path, a)])
    assert_bad_input(code, out, err, "bad.npy", "token 3, expert 1", "not 0 or 1")


def test_wrong_k_per_row_exits_2(tmp_path):
    a = synth_choices(8, 2, 10, layers=2, seed=0)
    a[1, 6, :] = True
    code, out, err = invoke(["schedule", "--trace", bad_trace(tmp_path, a)])
    assert_bad_input(code, out, err, "bad.npy", "layer 1, token 6 selects 8 experts, expected k = 2")


def test_top_k_mismatch_exits_2(tmp_path):
    code, out, err = invoke(["schedule", "--trace", bad_trace(tmp_path, synth_choices(8, 2, 10, seed=0)), "--top-k", 3])
    assert_bad_input(code, out, err, "expected k = 3 (--top-k)")


def test_missing_trace_exits_2(tmp_path):
    code, out, err = invoke(["schedule", "--trace", tmp_path / "nope.npy"])
    assert_bad_input(code, out, err, "nope.npy: file not found")


def test_group_size_not_dividing_the_experts_exits_2(tmp_path):
    code, out, err = invoke(["schedule", "--trace", bad_trace(tmp_path, synth_choices(16, 2, 10, seed=0)), "-g", 3])
    assert_bad_input(code, out, err, "--group-size: 3 does not divide the 16 experts", "1, 2, 4, 8, 16")


def test_layer_out_of_range_exits_2(tmp_path):
    p = bad_trace(tmp_path, synth_choices(8, 2, 10, layers=2))
    code, out, err = invoke(["schedule", "--trace", p, "--layer", 2])
    assert_bad_input(code, out, err, "--layer", "out of range", "2 layer(s)")


@pytest.mark.parametrize(
    "args,fragment",
    [
        ([], "give a gate trace (--trace FILE.npy) or --toy"),
        (["--toy", "--trace", "x.npy"], "not both or neither"),
        (["--toy", "--fit-tokens", 0], "--fit-tokens: must be in (0, 1]"),
        (["--toy", "--crossbar-area-share", 1.5], "--crossbar-area-share: must be in (0, 1]"),
        (["--toy", "--top-k", 2], "the toy example has top-k = 4"),
    ],
)
def test_bad_options_exit_2(args, fragment):
    code, out, err = invoke(["schedule", *args])
    assert_bad_input(code, out, err, fragment)


def test_fit_tokens_on_a_one_token_trace_exits_2(tmp_path):
    p = bad_trace(tmp_path, synth_choices(8, 2, 1, seed=0))
    code, out, err = invoke(["schedule", "--trace", p, "--fit-tokens", 0.5])
    assert_bad_input(code, out, err, "bad.npy", "at least 2 tokens")


def test_bad_trace_in_a_real_subprocess_exits_2_with_one_line(tmp_path):
    p = bad_trace(tmp_path, np.full((4, 8), 0.5))
    r = subprocess.run(entry_point() + ["schedule", "--trace", str(p)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "not 0 or 1" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args, fragment", [
    (["--zipf", "inf"], "--zipf: must be a number from 0 to 100, got inf"),
    (["-E", "100000"], "--experts: must be at most 8,192 (a model's limit), got 100,000"),
    (["-E", "8192", "-k", "257"], "--top-k: must be at most 256 (a model's limit), got 257"),
])
def test_trace_synth_refuses_what_no_model_could_use(tmp_path, args, fragment):
    full = ["-E", "8", "-k", "2", *args]
    code, out, err = invoke(["trace", "synth", "-o", tmp_path / "t.npy", *full])
    assert_bad_input(code, out, err, fragment)
    assert not (tmp_path / "t.npy").exists()


def test_a_trace_error_shows_plain_values_and_no_pickle_advice(tmp_path):
    import numpy as np

    a = np.zeros((1, 4, 8), dtype=np.int8)
    a[0, :, 0] = 1
    a[0, 0, 1] = 2
    np.save(tmp_path / "bad.npy", a)
    code, out, err = invoke(["schedule", "--trace", tmp_path / "bad.npy", "--group-size", "2"])
    assert_bad_input(code, out, err, "token 0, expert 1: value 2 is not 0 or 1")
    (tmp_path / "text.npy").write_text("hello")
    code, out, err = invoke(["schedule", "--trace", tmp_path / "text.npy", "--group-size", "2"])
    assert_bad_input(code, out, err, "not an .npy array file (no .npy header); pickled objects are never loaded")
    assert "allow_pickle" not in err
