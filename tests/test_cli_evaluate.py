"""`evaluate` and `validate` as a user types them: CliRunner and the installed entry point."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from aimc_dse.cli import app

runner = CliRunner()


def test_evaluate_json_reproduces_the_pim_prefill():
    r = runner.invoke(app, ["evaluate", "--hw", "moewithpim-hermes", "--model", "moewithpim-layer",
                            "--prompt-len", "32", "--gen-len", "1", "--no-kv-cache", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert len(rows) == 1
    assert rows[0]["flops"] == 6_085_003_041
    assert abs(rows[0]["energy_nj"] / 609_730.2515 - 1) < 1e-3


def test_evaluate_set_overrides_and_several_points():
    r = runner.invoke(app, ["evaluate", "--hw", "ibm3dsim-readme", "--hw", "nature-3d-aimc", "--model", "ibm3dsim-readme",
                            "--set", "hw.tiles=8", "--format", "csv"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3
    header = lines[0].split(",")
    tiles = [line.split(",")[header.index("hw.tiles")] for line in lines[1:]]
    assert tiles == ["8", "8"]


def test_evaluate_bad_set_exits_2_with_one_line():
    r = runner.invoke(app, ["evaluate", "--hw", "ibm3dsim-readme", "--model", "ibm3dsim-readme", "--set", "hw.tilez=3"])
    assert r.exit_code == 2
    assert "hw.tilez" in r.output and "Traceback" not in r.output


def test_evaluate_model_that_does_not_fit_exits_0_with_fits_false():
    r = runner.invoke(app, ["evaluate", "--hw", "ibm3dsim-readme", "--model", "nature-moe-51b", "--format", "json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)[0]
    assert row["fits"] is False
    assert row["tiles_needed"] == 194


def test_validate_passes_and_exits_0():
    r = runner.invoke(app, ["validate", "--format", "json", "--group", "moewithpim", "--group", "ibm3dsim_readme"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows and all(row["pass"] for row in rows)


def _entry_point() -> list[str]:
    exe = Path(sys.executable).with_name("aimc-dse")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("aimc-dse")
    return [found] if found else [sys.executable, "-m", "aimc_dse.cli"]


def test_evaluate_real_subprocess_table():
    p = subprocess.run(_entry_point() + ["evaluate", "--hw", "nature-3d-aimc", "--model", "nature-moe-51b"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "tokens_per_s" in p.stdout and "Traceback" not in p.stderr


def test_evaluate_real_subprocess_unknown_preset_exits_2():
    p = subprocess.run(_entry_point() + ["evaluate", "--hw", "nature-3d", "--model", "nature-moe-51b"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "nature-3d-aimc" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
