"""One BLAS thread for the processes that never multiply matrices.

numpy's wheels link OpenBLAS, which starts a thread per core as soon as numpy is imported;
the threads spin for a while waiting for work. That costs CPU in every process that imports
numpy, and again in every spawned sweep worker — on this project's 2-core VM, medians of
fresh processes: ``import numpy`` 0.15 s of CPU with two threads against 0.09 s with one, a
one-point ``aimc-dse evaluate`` 0.49 s against 0.38 s; more with more cores — for matrix
products the cost model never computes: it is element-wise arithmetic on arrays of design
points, and a sweep's parallelism is its worker processes.

So the CLI asks for one OpenBLAS thread before numpy is imported, for every command but the
ones in ``commands.LINEAR_ALGEBRA`` (``cli.LazyGroup.load``), and spawned sweep workers start
with it (``sweep.runner``; dask's nanny already starts its workers with one). A value the user
set is kept. The variable is read once, when OpenBLAS loads, so this only works before numpy
is first imported in the process it applies to; a notebook's numpy is the notebook's.

This module sits outside the layers (docs/architecture.md): the CLI imports it before anything
else, so it imports nothing of the package and nothing heavy.
"""

from __future__ import annotations

import os
from typing import MutableMapping

# OpenBLAS reads OPENBLAS_NUM_THREADS first (then GOTO_NUM_THREADS, then OMP_NUM_THREADS), in
# its pthreads and OpenMP builds alike. MKL and Accelerate start their threads on first use,
# not at import, so they need nothing here.
THREAD_VARS = ("OPENBLAS_NUM_THREADS",)


def one_thread(environ: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Ask for one BLAS thread in ``environ`` (default: this process's), unless already set."""
    env = os.environ if environ is None else environ
    for var in THREAD_VARS:
        env.setdefault(var, "1")
    return env


def worker_env() -> dict[str, str]:
    """The variables a spawned worker starts with: the user's values, else one thread."""
    return {var: os.environ.get(var, "1") for var in THREAD_VARS}
