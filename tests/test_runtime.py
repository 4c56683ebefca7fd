"""The CLI's process-wide library settings (aimc_dse/runtime.py): one BLAS thread for the
commands that never multiply matrices and Arrow's system memory pool, set before numpy and
pyarrow load; spawned sweep workers start with them; a user's value wins."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aimc_dse import runtime

VARS = ("OPENBLAS_NUM_THREADS", "ARROW_DEFAULT_MEMORY_POOL")

# A command run in a fresh process; prints what the process ended with.
_RUN = """
import json, os, sys
sys.argv = ["aimc-dse", *json.loads(sys.argv[1])]
from aimc_dse.cli import main
out = sys.stdout
sys.stdout = open(os.devnull, "w")
try:
    main()
except SystemExit as e:
    code = e.code
sys.stdout = out
pool = sys.modules["pyarrow"].default_memory_pool().backend_name if "pyarrow" in sys.modules else None
print(json.dumps({"threads": os.environ.get("OPENBLAS_NUM_THREADS"), "numpy": "numpy" in sys.modules,
                  "pool": pool, "code": code}))
"""


def _command(args: list[str], **env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in VARS}
    done = subprocess.run([sys.executable, "-c", _RUN, json.dumps(args)], env={**base, **env},
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_apply_sets_what_the_user_did_not():
    assert runtime.apply(environ={}) == {"OPENBLAS_NUM_THREADS": "1", "ARROW_DEFAULT_MEMORY_POOL": "system"}
    assert runtime.apply(linear_algebra=True, environ={}) == {"ARROW_DEFAULT_MEMORY_POOL": "system"}
    mine = {"OPENBLAS_NUM_THREADS": "8", "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}
    assert runtime.apply(environ=dict(mine)) == mine


def test_worker_env_is_the_users_values_else_the_clis(monkeypatch):
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    assert runtime.worker_env() == {"OPENBLAS_NUM_THREADS": "1", "ARROW_DEFAULT_MEMORY_POOL": "system"}
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    assert runtime.worker_env()["OPENBLAS_NUM_THREADS"] == "4"


def test_an_evaluate_asks_for_one_blas_thread_before_numpy_loads():
    got = _command(["evaluate", "--hw", "nature-3d-aimc", "--model", "mixtral-8x7b"])
    assert got["threads"] == "1" and got["numpy"] and got["code"] == 0


def test_a_sweep_runs_on_arrows_system_pool(tmp_path):
    from .sweep_support import SMALL, write_sweep

    path = write_sweep(tmp_path, SMALL)
    got = _command(["sweep", str(path), "-o", str(tmp_path / "r.parquet"), "-q"])
    assert got["pool"] == "system" and got["code"] == 0


def test_the_users_settings_are_kept(tmp_path):
    from .sweep_support import SMALL, write_sweep

    path = write_sweep(tmp_path, SMALL)
    got = _command(["sweep", str(path), "-o", str(tmp_path / "r.parquet"), "-q"],
                   OPENBLAS_NUM_THREADS="3", ARROW_DEFAULT_MEMORY_POOL="jemalloc")
    assert got["threads"] == "3" and got["pool"] == "jemalloc" and got["code"] == 0


def test_the_experts_command_keeps_every_blas_thread():
    # its noise proxy multiplies matrices (experts/noise.py), so BLAS keeps its default threads
    got = _command(["experts", "--help"])
    assert got["threads"] is None and got["code"] == 0


def test_cli_module_loads_neither_numpy_nor_pyarrow_before_a_command_does():
    # the variables are read when the libraries load: the CLI must not import them before
    code = "import sys, aimc_dse.cli; print('numpy' in sys.modules, 'pyarrow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "False False"


@pytest.mark.parametrize("users", [None, "2"])
def test_spawned_sweep_workers_start_with_the_clis_settings(monkeypatch, users):
    from aimc_dse.sweep import runner

    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    if users is not None:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", users)
    monkeypatch.setenv(runner.START_METHOD_ENV, "spawn")
    runner.stop_workers()
    try:
        pool = runner._executor(1)
        # os.getenv, a function: a bound os.environ.get would ship this process's environ along
        assert pool.submit(os.getenv, "OPENBLAS_NUM_THREADS").result(timeout=120) == (users or "1")
        assert pool.submit(os.getenv, "ARROW_DEFAULT_MEMORY_POOL").result(timeout=120) == "system"
    finally:
        runner.stop_workers()
