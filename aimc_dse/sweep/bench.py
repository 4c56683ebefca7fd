"""Benchmark of the sweep runner: design points per second on one core and on all cores.

The grid: two full-size MoE models (Mixtral-8×7B and Büchel et al.'s 51 B-parameter MoE) on
two 3D AIMC presets and an A100, over tile counts, batch sizes, prompt and generated lengths — about
100,000 points (``--points``). Each run is the whole pipeline of ``aimc-dse sweep`` (grid
chunks → cost model → chunk files → assembled Parquet) into a temporary folder. Peak memory
is the largest resident set of this process and of the worker processes
(``resource.getrusage``). Then the event-driven simulator's time for the stacked-batch corpus
and for nature-moe-51b at batch 16, 128 + 128 tokens (``aimc_dse.sim.bench``; ``--no-event``
skips it). A benchmark, not a test: nothing here asserts a time.

    python -m aimc_dse.sweep.bench [--points 100000] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from ..specs.sweep import SweepSpec
from .grid import build_grid
from .runner import run_sweep

SYSTEMS = ["nature-3d-aimc", "hermes-3d", "a100-sxm4-80gb"]
MODELS = ["mixtral-8x7b", "nature-moe-51b"]
BATCHES = [2**i for i in range(9)]  # 1 … 256
PROMPT_LENS = [64, 512]
GEN_LENS = [8, 32, 128]


def bench_sweep(points: int) -> SweepSpec:
    """The benchmark's sweep, with as many tile counts as needed for at least ``points`` points."""
    per_system = len(MODELS) * len(BATCHES) * len(PROMPT_LENS) * len(GEN_LENS)
    per_tiles = 2 * per_system  # two AIMC systems; the GPU has no tiles
    gpu = per_system
    n_tiles = max(1, -(-(points - gpu) // per_tiles))
    return SweepSpec(
        name="bench",
        systems=SYSTEMS,
        models=MODELS,
        axes={
            "hw.tiles": [256 + 64 * i for i in range(n_tiles)],
            "workload.batch": BATCHES,
            "workload.prompt_len": PROMPT_LENS,
            "workload.gen_len": GEN_LENS,
        },
    )


def bench_aimc_model(grid, chunk: int = 20_000, limit: int = 100_000) -> dict:
    """The AIMC cost model alone (no grid building, no I/O) on up to ``limit`` AIMC rows, one core.

    The first pass also fills the caches of per-mapping values (expected expert
    serialisation), which a fresh worker process pays once per distinct mapping.
    """
    from ..cost import mapping
    from ..cost.aimc import aimc_cost
    from ..cost.columns import Cols

    df = grid.frame(0, min(grid.n, 2 * limit))
    aim = df[df["hw.kind"] == "aimc"].dropna(axis=1, how="all").head(limit).reset_index(drop=True)
    parts = [Cols(aim.iloc[s : s + chunk]) for s in range(0, len(aim), chunk)]
    out = {"points": len(aim)}
    mapping.expected_expert_stage_w.cache_clear()
    for label in ("cold", "warm"):
        t = time.perf_counter()
        for c in parts:
            aimc_cost(c)
        out[label] = len(aim) / (time.perf_counter() - t)
    return out


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


def _shutdown_workers() -> None:
    """Stop loky's reusable workers so their peak memory is counted as children's."""
    try:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    except Exception:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aimc_dse.sweep.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000, help="grid size (at least)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="cores for the parallel run")
    ap.add_argument("--chunk-size", type=int, default=None, help="points per chunk (default: the runner's)")
    ap.add_argument("--no-event", action="store_true", help="skip the event-driven simulator's timings")
    args = ap.parse_args(argv)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores", flush=True)

    sweep = bench_sweep(args.points)
    t = time.perf_counter()
    grid = build_grid(sweep, "bench")
    t_grid = time.perf_counter() - t
    print(f"grid: {grid.n:,} points ({', '.join(SYSTEMS)} × {', '.join(MODELS)}), built in {t_grid:.2f} s", flush=True)

    rates = {}
    with tempfile.TemporaryDirectory(prefix="aimc-dse-bench-") as tmp:
        for label, jobs in (("1 core", 1), (f"{args.jobs} cores", args.jobs)):
            out = Path(tmp) / f"bench-{jobs}.parquet"
            t = time.perf_counter()
            res = run_sweep(sweep, grid, out, jobs=jobs, quiet=True, chunk_size=args.chunk_size)
            dt = time.perf_counter() - t
            rates[label] = grid.n / dt
            size = out.stat().st_size / 1e6
            print(
                f"{label:>8}: {grid.n:,} points in {dt:.2f} s = {grid.n / dt:,.0f} points/s "
                f"({res.rows:,} rows, {size:.1f} MB Parquet)",
                flush=True,
            )
        _shutdown_workers()
    print(f"peak memory of the sweeps: this process {_peak_mb(resource.RUSAGE_SELF):,.0f} MB, "
          f"largest worker {_peak_mb(resource.RUSAGE_CHILDREN):,.0f} MB")
    if len(rates) == 2:
        a, b = rates.values()
        print(f"speed-up on {args.jobs} cores: {b / a:.2f}x")
    model_rates = bench_aimc_model(grid)
    print(f"AIMC cost model alone, 1 core, {model_rates['points']:,} points: "
          f"{model_rates['cold']:,.0f} points/s first pass (fills the per-mapping caches), "
          f"{model_rates['warm']:,.0f} points/s once they are warm", flush=True)
    if not args.no_event:  # --fidelity event: the corpus and the 51 B MoE at batch 16 (issue 11)
        from ..sim.bench import bench as bench_event

        bench_event()
    return 0


if __name__ == "__main__":
    sys.exit(main())
