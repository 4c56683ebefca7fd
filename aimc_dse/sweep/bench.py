"""Benchmark of sweeps end to end (issue 15): points per CPU-second and per wall-second, where the CPU goes.

The grid is a realistic mix: two full-size MoE models (Mixtral-8×7B and Büchel et al.'s
51 B-parameter MoE) on two 3D-stacked AIMC chips (nature-3d-aimc, hermes-3d), a planar one
(moewithpim-hermes, one tier per tile) and an A100, over tile counts, batch 1–256, prompt
64/512 and generated lengths 8–512 — 1,000,000 points by default (``--points``).

Printed, with the machine's load average beside them and a yardstick of its speed at the start
and the end (``machine_speed``: a fixed Python loop; a benchmark, not a test: nothing here
asserts a time):

* start-up, wall and CPU seconds of fresh processes: ``aimc-dse --help``, a one-point
  ``aimc-dse evaluate`` (it loads no pandas), and importing the sweep machinery and the cost
  model (what a spawned worker pays once; a forked one inherits them);
* end to end — grid building plus ``run_sweep`` into a temporary Parquet file, as
  ``aimc-dse sweep`` runs them — on 1 core and on ``--jobs`` cores, alternately ``--repeat``
  times (the same run varies by ~10 % on a shared VM): points per wall-second and per
  CPU-second (this process and its workers, which are shut down after each run so their CPU
  time is counted), the speed-up of each pair and their median, and peak memory (largest
  resident set of this process and of any worker). The cost models are imported before
  the first run, so that no run pays for them;
* the size of the default CSV of the same grid;
* the speed-up again on a bigger grid (``--scale-points``, 5,000,000 by default), where the
  fixed costs of going parallel (the grid, the preflight and the chunk sizing before the
  first chunk) weigh less;
* the per-phase CPU breakdown of the 1-core run: grid building, preflight, the cost model,
  conversion to arrow, chunk files, the output writer, the summary/Pareto fold, and the rest;
* the AIMC cost model alone per AIMC system, on cold and warm caches, and at gen_len 8 vs 512
  (no grid, no I/O);
* the event mode per point (``aimc_dse.sim.bench``; ``--no-event`` skips it).

    python -m aimc_dse.sweep.bench [--points 1000000] [--jobs N] [--repeat 3] [--scale-points 5000000] [--no-event]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..specs.sweep import SweepSpec
from . import runner
from .grid import build_grid
from .runner import run_sweep

SYSTEMS = ["nature-3d-aimc", "hermes-3d", "moewithpim-hermes", "a100-sxm4-80gb"]
STACKED, PLANAR, GPUS = 2, 1, 1
MODELS = ["mixtral-8x7b", "nature-moe-51b"]
BATCHES = [2**i for i in range(9)]  # 1 … 256
PROMPT_LENS = [64, 512]
GEN_LENS = [8, 32, 128, 512]


def bench_sweep(points: int) -> SweepSpec:
    """The benchmark's sweep, with as many tile counts as needed for at least ``points`` points."""
    per_system = len(MODELS) * len(BATCHES) * len(PROMPT_LENS) * len(GEN_LENS)
    per_tiles = (STACKED + PLANAR) * per_system  # the GPU has no tiles
    n_tiles = max(1, -(-(points - GPUS * per_system) // per_tiles))
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


def bench_aimc_model(grid, chunk: int = runner.EVAL_ROWS, per_system: int = 40_000) -> dict:
    """The AIMC cost model alone (no grid building, no I/O), one core: ``per_system`` rows of
    each AIMC system of the grid, first on cold caches (a fresh worker pays the per-mapping
    Monte-Carlo, routing draws and MoE-separated replays once), then warm; and the same number
    of gen_len 8 and gen_len 512 rows, whose ratio shows whether the model's time grows with
    the generated length."""
    from ..cost import mapping
    from ..cost.aimc import aimc_cost
    from ..cost.aimc.separated import separated_loads
    from ..cost.columns import Cols

    frames = {}
    for blk in grid.blocks:
        if blk.system not in frames and len(frames) < 8:
            df = blk.frame(0, min(blk.n, 4 * per_system)).reindex(columns=grid.columns)
            if (df["hw.kind"] == "aimc").all():
                frames[blk.system] = df.dropna(axis=1, how="all")

    def rate(df) -> float:
        parts = [Cols(df.iloc[s: s + chunk]) for s in range(0, len(df), chunk)]
        t = time.process_time()
        for c in parts:
            aimc_cost(c)
        return len(df) / max(time.process_time() - t, 1e-9)

    out: dict = {"systems": {}}
    for label in ("cold", "warm"):
        if label == "cold":
            for cached in (mapping.expected_expert_stage_w, mapping.routing_draws, separated_loads):
                cached.cache_clear()
        for name, df in frames.items():
            sub = df.iloc[np.linspace(0, len(df) - 1, min(per_system, len(df))).astype(int)].reset_index(drop=True)
            out["systems"].setdefault(name, {})[label] = rate(sub)
    for name, df in frames.items():  # warm: the generated length alone
        for g in (8, 512):
            sub = df[df["workload.gen_len"] == g].head(per_system // 2).reset_index(drop=True)
            out["systems"][name][f"gen{g}"] = rate(sub) if len(sub) else float("nan")
    return out


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


def _cpu() -> float:
    """CPU seconds of this process and of its waited-for children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_speed() -> float:
    """CPU-seconds of a fixed pure-Python loop (10 million additions), the figure's yardstick: a
    shared VM runs the same code 20–30 % slower in one hour than in another with an idle load
    average, so the rates above are comparable only at a similar yardstick."""
    t = time.process_time()
    s = 0
    for i in range(10_000_000):
        s += i
    return time.process_time() - t


# A one-point evaluate run twice in one fresh process: the first run pays the imports, the
# second none, so their difference bounds the imports' CPU from above (the second run also
# reuses the cost model's caches, so the bound includes the little work they save).
_EVALUATE_TWICE = """
import json, os, resource, sys
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
c = [cpu()]
from aimc_dse.cli import main
sys.stdout = open(os.devnull, "w")
for _ in range(2):
    sys.argv = ["aimc-dse", "evaluate", "--hw", "nature-3d-aimc", "--model", "mixtral-8x7b"]
    try:
        main()
    except SystemExit as e:
        if e.code:
            raise
    c.append(cpu())
sys.stdout = sys.__stdout__
print(json.dumps({"before": c[0], "first": c[1] - c[0], "second": c[2] - c[1]}))
"""


def startup() -> dict[str, tuple[float, float]]:
    """(wall s, CPU s) of fresh processes, the best of three each: the CLI's --help, a one-point
    evaluate (its imports, the cost model and the printed table), and importing what a spawned
    sweep worker imports (with the library settings a worker gets, aimc_dse/runtime.py)."""
    out = {}
    py = sys.executable
    for label, args, env in (  # the CLI applies aimc_dse/runtime.py itself; a worker is started with it
        ("aimc-dse --help", [py, "-m", "aimc_dse.cli", "--help"], None),
        ("aimc-dse evaluate (one point)", [py, "-m", "aimc_dse.cli", "evaluate", "--hw", "nature-3d-aimc", "--model", "mixtral-8x7b"], None),
        ("import runner + cost model", [py, "-c", "import aimc_dse.sweep.runner, aimc_dse.cost.aimc, aimc_dse.cost.gpu"], _worker_env()),
    ):
        best = (float("inf"), float("inf"))
        for _ in range(3):
            c = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            wall = time.perf_counter() - t
            d = resource.getrusage(resource.RUSAGE_CHILDREN)
            best = min(best, (wall, d.ru_utime + d.ru_stime - c.ru_utime - c.ru_stime))
        out[label] = best
    return out


def evaluate_imports() -> dict[str, float]:
    """CPU seconds of a one-point evaluate's imports (median of five fresh processes): the
    interpreter's start before any of our code, the first run minus the second
    (``_EVALUATE_TWICE``), and the second run (the evaluation and its printed table)."""
    runs = []
    for _ in range(5):
        done = subprocess.run([sys.executable, "-c", _EVALUATE_TWICE], check=True, stdout=subprocess.PIPE, text=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        "interpreter": float(np.median([r["before"] for r in runs])),
        "imports": float(np.median([r["first"] - r["second"] for r in runs])),
        "evaluation": float(np.median([r["second"] for r in runs])),
    }


def _worker_env() -> dict[str, str]:
    """This process's environment with the library settings a CLI command or spawned sweep
    worker has (aimc_dse/runtime.py), so that the timed processes run as they would."""
    from .. import runtime

    return {**os.environ, **runtime.worker_env()}


def _timed_run(points: int, out: Path, jobs: int, chunk_size: int | None) -> dict:
    """In a fresh process, after its imports: grid building + run_sweep, timed (wall and CPU of
    this process and its workers), as ``aimc-dse sweep`` runs them."""
    from ..cost import aimc, gpu  # noqa: F401  (start-up is reported apart)

    sweep = bench_sweep(points)
    runner.PHASES.clear()
    c0, t0 = _cpu(), time.perf_counter()
    if jobs != 1:
        runner.start_workers(jobs)  # as aimc-dse sweep does for big grids: the workers share the grid
    grid = build_grid(sweep, "bench", realiser=runner.realiser())  # None at -j 1
    c_grid = _cpu() - c0
    timings: dict[str, float] = {}
    res = run_sweep(sweep, grid, out, jobs=jobs, quiet=True, chunk_size=chunk_size, timings=timings, force=True)
    wall = time.perf_counter() - t0
    runner.stop_workers()  # ended, so their CPU time and peak memory count as children's
    cpu = _cpu() - c0
    phases = {"grid building": c_grid, **{k: v for k, v in timings.items()}, **dict(runner.PHASES)}
    return {"n": grid.n, "rows": res.rows, "wall": wall, "cpu": cpu, "phases": phases, "size": out.stat().st_size,
            "chunk": res.chunk_size, "peak_mb": _peak_mb(resource.RUSAGE_SELF), "worker_peak_mb": _peak_mb(resource.RUSAGE_CHILDREN)}


def end_to_end(points: int, out: Path, jobs: int, chunk_size: int | None) -> dict:
    """``_timed_run`` in a fresh process, so that every run starts on cold caches as a sweep
    command does (in one process, a run after another reuses the cost model's caches, ~15 %
    of a 1M-point run)."""
    args = json.dumps({"points": points, "out": str(out), "jobs": jobs, "chunk_size": chunk_size})
    done = subprocess.run([sys.executable, "-m", "aimc_dse.sweep.bench", "--run", args], check=True,
                          stdout=subprocess.PIPE, text=True, env=_worker_env())
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aimc_dse.sweep.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000, help="grid size (at least)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="cores for the parallel run")
    ap.add_argument("--chunk-size", type=int, default=None, help="points per chunk (default: the runner's)")
    ap.add_argument("--scale-points", type=int, default=5_000_000,
                    help="a bigger grid, run on 1 and --jobs cores for the speed-up once start-up is amortised (0: skip)")
    ap.add_argument("--repeat", type=int, default=3, help="runs on 1 and --jobs cores, alternately, of the main grid")
    ap.add_argument("--no-event", action="store_true", help="skip the event-driven simulator's timings")
    ap.add_argument("--run", help=argparse.SUPPRESS)  # one timed run (end_to_end), in this process
    args = ap.parse_args(argv)
    if args.run:
        a = json.loads(args.run)
        print(json.dumps(_timed_run(a["points"], Path(a["out"]), a["jobs"], a["chunk_size"])))
        return 0
    print(f"{os.cpu_count()} cores, {_load()}; machine: 10M-addition Python loop {machine_speed():.3f} CPU-s", flush=True)
    for label, (wall, cpu) in startup().items():
        print(f"start-up: {label}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    e = evaluate_imports()
    print(f"start-up: one-point evaluate, CPU: interpreter {e['interpreter']:.3f} s, imports {e['imports']:.3f} s, "
          f"evaluation and table {e['evaluation']:.3f} s", flush=True)
    sweep = bench_sweep(args.points)
    runs: dict[int, list[dict]] = {}  # the main grid's runs by core count, in order
    timed: list[dict] = []  # every timed run (peak memory)
    with tempfile.TemporaryDirectory(prefix="aimc-dse-bench-") as tmp:
        for _ in range(max(args.repeat, 1)):
            for jobs in dict.fromkeys((1, args.jobs)):
                r = end_to_end(args.points, Path(tmp) / f"bench-{jobs}.parquet", jobs, args.chunk_size)
                runs.setdefault(jobs, []).append(r)
                timed.append(r)
                print(
                    f"{jobs} core(s): {r['n']:,} points ({', '.join(SYSTEMS)} × {', '.join(MODELS)}) in {r['wall']:.2f} s wall, "
                    f"{r['cpu']:.2f} s CPU = {r['n'] / r['wall']:,.0f} points per wall-second, "
                    f"{r['n'] / r['cpu']:,.0f} per CPU-second ({r['size'] / 1e6:.1f} MB Parquet, chunks of {r['chunk']:,} points; "
                    f"{_load()})",
                    flush=True,
                )
        # the CSV a user gets by default (rows carry what varies; constant knobs in the sidecar)
        csv = Path(tmp) / "bench.csv"
        grid = build_grid(sweep, "bench")
        t = time.perf_counter()
        run_sweep(sweep, grid, csv, jobs=args.jobs, quiet=True, chunk_size=args.chunk_size, force=True)
        runner.stop_workers()
        print(f"CSV by default: {csv.stat().st_size / 1e6:,.1f} MB ({csv.stat().st_size / grid.n:.0f} bytes a point) "
              f"in {time.perf_counter() - t:.2f} s on {args.jobs} core(s)", flush=True)
    one = runs[1][0]  # the first 1-core run: its phases
    total = one["cpu"]
    shown = sum(one["phases"].values())
    print("CPU by phase, 1 core (seconds, share of the run's CPU):")
    # "other" is the rest of the run's CPU (rusage) beyond the phases (process_time); both
    # clocks tick separately, so a rest within ±0.1 s is noise.
    for k, v in list(one["phases"].items()) + [("other (interpreter, joins, clock noise)", total - shown)]:
        print(f"  {k:<38} {v:7.2f} s  {100 * v / total:5.1f} %")
    if args.jobs != 1:
        ratios = [a["wall"] / b["wall"] for a, b in zip(runs[1], runs[args.jobs])]
        print(f"speed-up on {args.jobs} cores: {float(np.median(ratios)):.2f}x median of {len(ratios)} "
              f"(each pair: {', '.join(f'{x:.2f}' for x in ratios)}; points per wall-second)")
    if args.jobs != 1 and args.scale_points:
        # The grid, the preflight and the chunk sizing come before the first chunk, partly on
        # one core: fixed costs that weigh less on a bigger grid.
        big_walls = {}
        with tempfile.TemporaryDirectory(prefix="aimc-dse-bench-") as tmp:
            for jobs in (1, args.jobs):
                r = end_to_end(args.scale_points, Path(tmp) / f"scale-{jobs}.parquet", jobs, args.chunk_size)
                big_walls[jobs], n_big = r["wall"], r["n"]
                timed.append(r)
                print(f"{r['n']:,} points on {jobs} core(s): {r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU = "
                      f"{r['n'] / r['wall']:,.0f} points per wall-second, {r['n'] / r['cpu']:,.0f} per CPU-second ({_load()})",
                      flush=True)
        print(f"speed-up on {args.jobs} cores at {n_big:,} points: {big_walls[1] / big_walls[args.jobs]:.2f}x")
    print(f"peak memory of the timed runs: sweep process {max(r['peak_mb'] for r in timed):,.0f} MB, "
          f"largest worker {max(r['worker_peak_mb'] for r in timed):,.0f} MB")
    model_rates = bench_aimc_model(grid)
    print(f"AIMC cost model alone, 1 core, points per CPU-second ({_load()}):", flush=True)
    for name, r in model_rates["systems"].items():
        print(f"  {name:<20} {r['cold']:>9,.0f} on cold caches, {r['warm']:>9,.0f} warm; gen_len 8 {r['gen8']:>9,.0f}, "
              f"512 {r['gen512']:>9,.0f} (time ratio {r['gen8'] / r['gen512']:.2f})", flush=True)
    print(f"machine at the end: 10M-addition Python loop {machine_speed():.3f} CPU-s ({_load()})", flush=True)
    if not args.no_event:  # --fidelity event: the corpus and the 51 B MoE at batch 16 (issue 11)
        from ..sim.bench import bench as bench_event

        bench_event()
    return 0


if __name__ == "__main__":
    sys.exit(main())
