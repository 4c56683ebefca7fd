"""Process-wide library settings the CLI chooses for its own processes and its sweep workers.

Two libraries pick process-wide defaults that cost a sweep time and memory, and both read
them from the environment once, when they load. The CLI sets them before a command's module
loads numpy or pyarrow (``cli.LazyGroup.load``); spawned sweep workers start with them
(``sweep.runner``; forked ones inherit them, and dask's nanny starts its workers with one
BLAS thread already). A value the user set is kept. A notebook's numpy and pyarrow are the
notebook's: the Python API changes neither in its own process (the workers its sweeps spawn
start with both, as the CLI's do).

* **One OpenBLAS thread** (``OPENBLAS_NUM_THREADS=1``), for every command but those in
  ``commands.LINEAR_ALGEBRA`` (``experts``, whose noise proxy multiplies matrices). numpy's
  wheels link OpenBLAS, which starts a thread per core when numpy is imported; the threads
  spin for a while waiting for work the cost model never gives them (it is element-wise
  arithmetic on arrays of design points, and a sweep's parallelism is its worker
  processes). On this project's 2-core VM, medians of fresh processes: ``import numpy``
  0.15 s of CPU with two threads against 0.09 s with one, a one-point ``aimc-dse evaluate``
  0.49 s against 0.38 s; more with more cores.
* **Arrow's system memory pool** (``ARROW_DEFAULT_MEMORY_POOL=system``, glibc's malloc), for
  every command. pyarrow's default pool (mimalloc in pyarrow 26) returns freed pages to the
  system between a sweep's chunks and takes them back on the next: the 1M-point bench grid
  ran with ~100 MB more peak memory (313 MB against 216 MB for ``aimc-dse sweep … -j 1``) and
  more page faults and system time — most of all in a forked worker, whose chunks go through
  Arrow once more to be written to their files. Four alternating fresh-process runs each of
  the bench's 1M-point sweep (``python -m aimc_dse.sweep.bench --run …``): 1 core
  3.74–4.07 s against 3.62–3.88 s, 2 cores 2.16–2.48 s against 2.09–2.21 s; jemalloc sat in
  between. The output's bytes do not depend on the pool.

This module sits outside the layers (docs/architecture.md): the CLI imports it before anything
else, so it imports nothing of the package and nothing heavy.
"""

from __future__ import annotations

import os
from typing import MutableMapping

BLAS_THREADS = {"OPENBLAS_NUM_THREADS": "1"}
# OpenBLAS reads OPENBLAS_NUM_THREADS first (then GOTO_NUM_THREADS, then OMP_NUM_THREADS), in
# its pthreads and OpenMP builds alike. MKL and Accelerate start their threads on first use,
# not at import, so they need nothing here.
ARROW_POOL = {"ARROW_DEFAULT_MEMORY_POOL": "system"}


def apply(linear_algebra: bool = False, environ: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Set the CLI's defaults in ``environ`` (default: this process's) where the user set
    nothing; ``linear_algebra`` keeps OpenBLAS's own thread count (a command that multiplies
    matrices)."""
    env = os.environ if environ is None else environ
    for var, value in {**ARROW_POOL, **({} if linear_algebra else BLAS_THREADS)}.items():
        env.setdefault(var, value)
    return env


def worker_env() -> dict[str, str]:
    """The variables a spawned sweep worker starts with: the user's values, else the CLI's."""
    return {var: os.environ.get(var, value) for var, value in {**BLAS_THREADS, **ARROW_POOL}.items()}
