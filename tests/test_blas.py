"""One BLAS thread for the commands that never multiply matrices (aimc_dse/blas.py): the CLI
asks for it before numpy loads, spawned sweep workers start with it, a user's value wins."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aimc_dse import blas

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
print(json.dumps({"threads": os.environ.get("OPENBLAS_NUM_THREADS"), "numpy": "numpy" in sys.modules, "code": code}))
"""


def _command(args: list[str], **env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in blas.THREAD_VARS}
    done = subprocess.run([sys.executable, "-c", _RUN, json.dumps(args)], env={**base, **env},
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_one_thread_sets_the_variable_unless_the_user_did():
    assert blas.one_thread({}) == {"OPENBLAS_NUM_THREADS": "1"}
    assert blas.one_thread({"OPENBLAS_NUM_THREADS": "8"}) == {"OPENBLAS_NUM_THREADS": "8"}


def test_worker_env_is_the_users_value_else_one(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    assert blas.worker_env() == {"OPENBLAS_NUM_THREADS": "1"}
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    assert blas.worker_env() == {"OPENBLAS_NUM_THREADS": "4"}


def test_an_evaluate_asks_for_one_blas_thread_before_numpy_loads():
    got = _command(["evaluate", "--hw", "nature-3d-aimc", "--model", "mixtral-8x7b"])
    assert got == {"threads": "1", "numpy": True, "code": 0}


def test_the_users_blas_threads_are_kept():
    got = _command(["evaluate", "--hw", "nature-3d-aimc", "--model", "mixtral-8x7b"], OPENBLAS_NUM_THREADS="3")
    assert got["threads"] == "3" and got["code"] == 0


def test_the_experts_command_keeps_every_blas_thread():
    # its noise proxy multiplies matrices (experts/noise.py), so BLAS keeps its default threads
    got = _command(["experts", "--help"])
    assert got["threads"] is None and got["code"] == 0


def test_cli_module_loads_no_numpy_before_a_command_does():
    # the variable is read when OpenBLAS loads: the CLI must not import numpy before it is set
    code = "import sys, aimc_dse.cli; print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("users", [None, "2"])
def test_spawned_sweep_workers_start_with_one_blas_thread(monkeypatch, users):
    from aimc_dse.sweep import runner

    if users is None:
        monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", users)
    monkeypatch.setenv(runner.START_METHOD_ENV, "spawn")
    runner.stop_workers()
    try:
        pool = runner._executor(1)
        # os.getenv, a function: a bound os.environ.get would ship this process's environ along
        assert pool.submit(os.getenv, "OPENBLAS_NUM_THREADS").result(timeout=120) == (users or "1")
    finally:
        runner.stop_workers()
