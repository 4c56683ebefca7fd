"""`aimc-dse sweep SWEEP.yaml`: a whole grid of design points, in parallel, written safely, summarised.

The summary (best design per metric, the Pareto front with ties collapsed) prints as tables,
or as JSON / CSV with ``--format`` (the results themselves are always the output file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from ..sweep.grid import DEFAULT_MAX_POINTS, load_grid
from .common import FormatOpt

WARM_POINTS = 200_000  # grids at least this big start their workers before the grid is built


def _points_bound(path: Path) -> int:
    """An upper bound of the grid's size from the sweep file alone (0 if it cannot be read: load_grid says why)."""
    import math

    from ..specs.base import SpecError
    from ..specs.sweep import axis_len, load_sweep_spec

    try:
        spec, _ = load_sweep_spec(path)
    except SpecError:
        return 0
    return math.prod(axis_len(a) for a in spec.axes.values()) * len(spec.systems) * len(spec.model_refs())


def _system_sets(spec) -> list[str]:
    """Each block's system overrides (``set:`` beside it in the sweep file) as ``k=v`` text, in
    the grid's block order (systems × models): two entries of one preset tell apart by them."""
    n_models = len(spec.model_refs())
    out = []
    for ref in spec.systems:
        sets = {} if isinstance(ref, str) else dict(ref.set)
        out += [", ".join(f"{k}={v}" for k, v in sets.items())] * n_models
    return out


def register(app: typer.Typer) -> None:
    from .errors import EvaluationError, cli_errors, err_console

    @app.command("sweep")
    @cli_errors
    def sweep(
        sweep_file: Annotated[Path, typer.Argument(help="sweep file (YAML): systems, model(s), workload, axes", metavar="SWEEP.yaml")],
        output: Annotated[
            Optional[Path], typer.Option("--output", "-o", help="results file, .csv or .parquet (default: results/NAME.csv)")
        ] = None,
        jobs: Annotated[
            int,
            typer.Option("--jobs", "-j", help="local processes, this one included: -1 all cores, or N ≥ 1 (more than the cores "
                         "start N anyway, sharing them); with dask and no scheduler, workers"),
        ] = -1,
        backend: Annotated[
            Literal["loky", "dask"], typer.Option("--backend", help="loky: local cores; dask: a dask.distributed cluster")
        ] = "loky",
        scheduler: Annotated[
            Optional[str], typer.Option("--scheduler", help="dask scheduler address (implies --backend dask); none: a local cluster")
        ] = None,
        resume: Annotated[bool, typer.Option("--resume", help="reuse the finished chunks of an interrupted run of the same sweep")] = False,
        force: Annotated[bool, typer.Option("--force", help="overwrite an existing results file")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
        max_points: Annotated[int, typer.Option("--max-points", help="refuse grids with more points")] = DEFAULT_MAX_POINTS,
        chunk_size: Annotated[
            Optional[int], typer.Option("--chunk-size", help="points per chunk (default: ~0.5 s of work at a rate timed on a sample; 16 chunks for small grids)")
        ] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="check the sweep file (its filters, columns and pareto names against one point of each system × model) and print the grid's size; write nothing")] = False,
        fmt: FormatOpt = "table",
        fidelity: Annotated[
            Literal["closed", "event"],
            typer.Option("--fidelity", help="closed: the closed-form model; event: the event-driven simulator, point by point"),
        ] = "closed",
        all_knobs: Annotated[
            bool,
            typer.Option("--all-knobs", help="write every knob on every row (default: knobs fixed per hardware, model or sweep go "
                         "once into the Parquet metadata / a NAME.constants.csv sidecar)"),
        ] = False,
    ) -> None:
        """Evaluate every design point of a sweep file; write CSV/Parquet; print the best designs and a Pareto front."""
        from ..report.output import emit
        from ..specs.base import SpecError
        from ..sweep.runner import (
            ChunkFailed,
            SweepInterrupted,
            check_local_settings,
            preflight,
            realiser,
            run_sweep,
            start_workers,
            stop_workers,
        )

        # option values first, --dry-run included (a Makefile's check target runs it): as the API refuses them
        if max_points < 1:
            raise SpecError(f"--max-points {max_points}", None, "must be a whole number of points, at least 1")
        if chunk_size is not None and chunk_size < 1:
            raise SpecError("--chunk-size", None, "must be at least 1")
        check_local_settings(jobs)  # before any worker starts or the grid is built
        if not dry_run and not scheduler and backend == "loky" and jobs != 1 and _points_bound(sweep_file) >= WARM_POINTS:
            start_workers(jobs)  # a big grid: the workers help build it, then evaluate chunks
        try:
            spec, grid = load_grid(sweep_file, max_points, realiser())  # on the workers too, when started
        except BaseException:
            stop_workers(kill=True)  # unused workers are stopped quietly
            raise
        if dry_run:
            preflight(spec, grid)  # filters, columns and pareto names, on one point per block
            rows = [{"system": b.system, "set": s, "model": b.model, "points": b.n, "axes": ", ".join(p for f in b.factors for p in f.paths)}
                    for b, s in zip(grid.blocks, _system_sets(spec))]
            if not any(r["set"] for r in rows):
                rows = [{k: v for k, v in r.items() if k != "set"} for r in rows]
            emit(rows, fmt, title=f"sweep {grid.name}: {grid.n:,} points")
            return
        out = output or Path("results") / f"{spec.name}.csv"
        if scheduler:
            backend = "dask"

        def log(msg: str) -> None:
            err_console.print(f"note: {msg}", markup=False)

        from ..sweep.grid import position_overruns

        for note in position_overruns(grid):  # as evaluate warns
            err_console.print(f"warning: {note}", markup=False)

        try:
            try:
                res = run_sweep(
                    spec,
                    grid,
                    out,
                    jobs=jobs,
                    backend=backend,
                    scheduler=scheduler,
                    resume=resume,
                    force=force,
                    quiet=quiet,
                    chunk_size=chunk_size,
                    log=log,
                    fidelity=fidelity,
                    all_knobs=all_knobs,
                )
            except BaseException:
                stop_workers(kill=True)  # workers started for the grid end with the run, whatever ends it
                raise
            stop_workers()  # idle ones too (a resume with nothing left to run never used them)
        except ChunkFailed as e:
            raise EvaluationError(str(e)) from None
        except SweepInterrupted as e:
            if e.completed:
                msg = f"interrupted after the results were complete: {e.output} was written in full"
            elif e.chunks:
                msg = (
                    f"interrupted: no results file was written; {e.chunks} finished chunk(s) are kept in {e.partial} — "
                    "run the same command with --resume to continue"
                )
            else:
                msg = "interrupted before any chunk finished: no results file was written, nothing to resume"
            err_console.print(msg, markup=False)
            raise typer.Exit(130) from None
        except KeyboardInterrupt:
            err_console.print(
                "interrupted before evaluation started: no results file was written",
                markup=False,
            )
            raise typer.Exit(130) from None
        resumed = f", {res.resumed_chunks} chunk(s) reused" if res.resumed_chunks else ""
        err_console.print(
            f"wrote {res.rows:,} rows ({res.points:,} points{resumed}) to {res.output} in {res.seconds:.1f} s",
            markup=False,
        )
        if fmt == "json":
            import json
            import sys

            doc = {"sweep": grid.name, "output": str(res.output), "points": res.points, **res.summary.records()}
            sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        elif fmt == "csv":
            emit(res.summary.frame(), "csv")
        else:
            res.summary.print(title=f"sweep {grid.name}")
