"""The command-line contract where click and the operating system meet it: a usage error is one
line (not click's usage box), and a reader that goes away (``aimc-dse … | head``) ends the
command quietly with exit code 141, as ``yes | head`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from aimc_dse.cli import EXIT_STDOUT_GONE, app

EVAL = ["evaluate", "--hw", "nature-3d-aimc", "--model", "mixtral-8x7b"]


def invoke(args: list[str]) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stdout, r.stderr


def one_line_error(args: list[str]) -> str:
    code, out, err = invoke(args)
    assert code == 2, (code, out, err)
    assert out == "", out
    assert "Usage" not in err and "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ---- usage errors: one line naming the option --------------------------------------------------


@pytest.mark.parametrize(
    "args, line",
    [
        (EVAL + ["--batch", "abc"], "error: --batch: 'abc' is not a valid integer"),
        (EVAL + ["-f", "xml"], "error: --format: 'xml' is not one of 'table', 'json', 'csv'"),
        (["evaluate", "--hw", "nature-3d-aimc"], "error: --model: required option not given; see `aimc-dse evaluate --help`"),
        (["plot", "R.csv", "--kind", "bar"], "error: --kind: 'bar' is not one of 'scatter', 'line'"),
        (["sweep", "S.yaml", "--backend", "foo"], "error: --backend: 'foo' is not one of 'loky', 'dask'"),
        (["sweep"], "error: SWEEP.yaml: required argument not given; see `aimc-dse sweep --help`"),
        (["trace", "synth", "-o", "t.npy", "-E", "8", "-k", "2", "--zipf", "x"], "error: --zipf: 'x' is not a valid number"),
        (EVAL + ["--batc", "3"], "error: --batc: no such option (did you mean --batch?); see `aimc-dse evaluate --help`"),
        (["evaluate", "--hw"], "error: --hw: requires an argument"),
        (EVAL + ["extra"], "error: got unexpected extra argument(s) (extra); see `aimc-dse evaluate --help`"),
        (["evalute"], "error: evalute: no such command (did you mean evaluate or validate?); see `aimc-dse --help`"),
        (["trace", "foo"], "error: foo: no such command; see `aimc-dse trace --help`"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_option(args, line):
    assert one_line_error(args) == line


def test_help_is_still_clicks():
    code, out, err = invoke(["evaluate", "--help"])
    assert code == 0 and err == ""
    assert "Usage:" in out and "--batch" in out


def test_a_usage_error_is_one_line_in_a_real_process(tmp_path):
    p = subprocess.run([sys.executable, "-m", "aimc_dse.cli", *EVAL, "--batch", "abc"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == "error: --batch: 'abc' is not a valid integer\n"


# ---- a reader that goes away ---------------------------------------------------------------------


def run_reader_gone(args: list[str], cwd) -> tuple[int, str]:
    """Run the CLI with its stdout a pipe whose reading end is closed before it writes anything."""
    p = subprocess.Popen([sys.executable, "-m", "aimc_dse.cli", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=cwd, env={**os.environ, "COLUMNS": "80"})
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()
    err = p.stderr.read().decode()
    return p.wait(timeout=120), err


@pytest.mark.parametrize(
    "args",
    [
        EVAL + ["--all", "-f", "csv"],  # small: it reaches the pipe only at the final flush
        ["presets"],  # a rich table
        ["show", "nature-3d-aimc"],  # a transposed table
        ["--help"],  # click's help, printed while arguments are parsed
    ],
)
def test_a_reader_gone_away_stops_the_command_quietly_with_141(args, tmp_path):
    code, err = run_reader_gone(args, tmp_path)
    assert (code, err) == (EXIT_STDOUT_GONE, "")


# ---- sweep: -j and the workers' start method, checked before anything runs ------------------------


@pytest.fixture()
def small_sweep(tmp_path):
    from .sweep_support import SMALL, write_sweep

    return write_sweep(tmp_path, SMALL)


@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_jobs_is_minus_one_or_at_least_one(small_sweep, tmp_path, jobs):
    out = tmp_path / "r.csv"
    line = one_line_error(["sweep", small_sweep, "-o", out, "-j", jobs, "-q"])
    assert line == f"error: --jobs {jobs}: must be -1 (all cores) or a number of processes ≥ 1"
    assert not out.exists()
    assert one_line_error(["sweep", small_sweep, "-j", jobs, "--dry-run"]) == line


def test_the_api_refuses_a_bad_jobs_too(tmp_path):
    import aimc_dse
    from aimc_dse.specs.base import SpecError

    from .sweep_support import SMALL

    with pytest.raises(SpecError, match=r"^--jobs 0: must be -1"):
        aimc_dse.sweep(SMALL, jobs=0)


def test_the_jobs_help_says_what_more_than_the_cores_does():
    r = CliRunner().invoke(app, ["sweep", "--help"], env={"COLUMNS": "200"})
    text = " ".join(r.stdout.split())
    assert "-1 all cores, or N ≥ 1 (more than the cores start N anyway, sharing them)" in text


def test_an_unknown_start_method_is_refused_even_without_workers(small_sweep, tmp_path, monkeypatch):
    monkeypatch.setenv("AIMC_DSE_START_METHOD", "bogus")
    out = tmp_path / "r.csv"
    line = one_line_error(["sweep", small_sweep, "-o", out, "-j", "1", "-q"])
    assert line == "error: AIMC_DSE_START_METHOD: unknown start method 'bogus'; use fork or spawn"
    assert not out.exists()


# ---- the Python API: an argument of the wrong type is a SpecError naming it -------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda a: a.evaluate(hw=None, model="mixtral-8x7b"),
         "hw=None: must be a preset name or a spec file path (str or Path), or a list of them"),
        (lambda a: a.evaluate(hw=3, model="mixtral-8x7b"),
         "hw=3: must be a preset name or a spec file path (str or Path), or a list of them"),
        (lambda a: a.evaluate(hw="nature-3d-aimc", model=["mixtral-8x7b", 3]),
         "model[1]=3: must be a preset name or a spec file path (str or Path)"),
        (lambda a: a.evaluate(hw="nature-3d-aimc", model="mixtral-8x7b", set=5),
         "set=5: must be a mapping of dotted paths to values ({'hw.tiles': 400}) or PATH=VALUE strings"),
        (lambda a: a.load_hw(None), "name_or_path=None: must be a preset name or a spec file path (str or Path)"),
        (lambda a: a.load_workload(5), "data=5: must be a mapping of workload fields, e.g. {'batch': 4}"),
        (lambda a: a.sweep(5), "path_or_dict=5: must be a sweep file path (str or Path) or a dict with a sweep file's fields"),
        (lambda a: a.sweep("sweeps/default.yaml", jobs="2"), "--jobs '2': must be -1 (all cores) or a number of processes ≥ 1"),
    ],
)
def test_an_api_argument_of_the_wrong_type_is_a_spec_error(call, message):
    import aimc_dse

    with pytest.raises(aimc_dse.SpecError) as e:
        call(aimc_dse)
    assert str(e.value) == message


def test_read_results_is_part_of_the_api(tmp_path):
    import aimc_dse
    from aimc_dse.report import writer

    from .sweep_support import SMALL

    out = tmp_path / "r.parquet"
    res = aimc_dse.sweep(SMALL, out)
    assert aimc_dse.read_results is writer.read_results and "read_results" in dir(aimc_dse)
    back = aimc_dse.read_results(out)
    assert back.equals(res) and len(back) == 30 and "tokens_per_s" in back.columns


def test_an_empty_set_value_is_echoed_as_typed():
    line = one_line_error(EVAL + ["--set", "workload.batch=", "--batch", "8"])
    assert line == "error: --set workload.batch=: workload.batch: contradicts --batch 8; give the value once"
