"""Helpers shared by the sweep tests: small sweep files, running the CLI in-process and for real."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from aimc_dse.cli import app

# A small mixed study: two AIMC chips and a GPU, a product of two axes and a model axis.
SMALL = {
    "name": "small",
    "systems": ["nature-3d-aimc", "hermes-3d", "a100-sxm4-80gb"],
    "models": ["olmoe-1b-7b", "deepseek-moe-16b"],
    "workload": {"prompt_len": 32, "gen_len": 8},
    "axes": {"hw.tiles": [1024, 4096], "workload.batch": [1, 4, 16]},
}


def write_sweep(folder: Path, data: dict | str, name: str = "sweep.yaml") -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def invoke(args: list[str]) -> tuple[int, str, str]:
    """The CLI in-process: (exit code, stdout, stderr)."""
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stdout, r.stderr


def entry_point() -> list[str]:
    """The installed ``aimc-dse`` script beside this Python, else ``python -m aimc_dse.cli``."""
    script = Path(sys.executable).parent / "aimc-dse"
    if script.exists():
        return [str(script)]
    found = shutil.which("aimc-dse")
    return [found] if found else [sys.executable, "-m", "aimc_dse.cli"]


def run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(entry_point() + [str(a) for a in args], capture_output=True, text=True, **kw)
