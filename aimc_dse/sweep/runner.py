"""Run a sweep: evaluate the grid chunk by chunk, in parallel, and write the results safely.

A chunk is a fixed row range of the grid (``chunk_size`` rows; the size depends only on the
grid, never on the number of workers, so results are byte-identical whatever runs them). Each
chunk is built lazily (``Grid.segments``), evaluated with ``cost.evaluate.evaluate_frame`` per
(system, model) block, filtered, trimmed to the kept columns and returned as an arrow table.
Chunks run in this process (``-j 1``), on local cores with joblib's loky backend, or on a
dask.distributed cluster through joblib's dask backend. Only this process touches files:
workers return tables, which ``report.writer.ChunkStore`` stores as they arrive, so a remote
cluster needs no shared disk.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from ..cost.evaluate import evaluate_frame
from ..cost.metrics import HEADLINE_COLUMNS, SCHEMA_VERSION
from ..report import query
from ..report.summary import Summary
from ..report.writer import (
    META_SWEEP,
    ChunkStore,
    arrow_type,
    assemble,
    combine,
    output_format,
    partial_dir,
    to_arrow,
)
from ..specs.base import SpecError
from ..specs.sweep import SweepSpec
from .grid import Grid

MAX_CHUNK = 50_000
MIN_CHUNK = 1_000


class ChunkFailed(RuntimeError):
    """A chunk of design points could not be evaluated (the message names the rows)."""


def default_chunk_size(n: int) -> int:
    """Rows per chunk: about 64 chunks, between 1,000 and 50,000 rows (a function of the grid only)."""
    return int(min(MAX_CHUNK, max(MIN_CHUNK, -(-n // 64))))


def code_hash() -> str:
    """Hash of the cost model's sources: results of different code are never mixed on resume."""
    h = hashlib.sha256()
    for p in sorted((Path(__file__).resolve().parent.parent / "cost").glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def keep_columns(result_cols: list[str], patterns: list[str] | None) -> list[str]:
    """Result columns to write: those matching the sweep's ``columns`` (default: the headline ones)."""
    if patterns is None:
        return [c for c in result_cols if c in HEADLINE_COLUMNS]
    return [c for c in result_cols if any(fnmatch.fnmatchcase(c, p) for p in patterns)]


@dataclass
class Job:
    """Everything a worker needs to produce any chunk (picklable)."""

    grid: Grid
    chunk_size: int
    filters: list[str]
    patterns: list[str] | None
    knob_types: dict[str, pa.DataType]
    fidelity: str = "closed"  # closed: cost.evaluate; event: the event-driven simulator (sim)

    @property
    def n_chunks(self) -> int:
        return -(-self.grid.n // self.chunk_size)

    def bounds(self, k: int) -> tuple[int, int]:
        start = k * self.chunk_size
        return start, min(start + self.chunk_size, self.grid.n)


def _with_columns(df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """``df`` plus any of ``names`` it lacks, as missing values (other systems' columns)."""
    missing = [n for n in names if n not in df.columns]
    if not missing:
        return df
    return pd.concat([df, pd.DataFrame({n: np.full(len(df), np.nan) for n in missing}, index=df.index)], axis=1)


def evaluate_rows(job: Job, start: int, stop: int) -> pa.Table:
    """Rows ``start:stop`` of the grid, evaluated, filtered and trimmed, as one arrow table."""
    tables = []
    refs = sorted({n for e in job.filters for n in query.names(e)})
    for blk, a, b in job.grid.segments(start, stop):
        try:
            if job.fidelity == "event":
                from ..sim import evaluate_frame_event

                df = evaluate_frame_event(blk.frame(a, b))
            else:
                df = evaluate_frame(blk.frame(a, b))
        except Exception as e:  # the cost model's own error, reported with the rows it concerns
            lo, hi = blk.start + a, blk.start + b - 1
            which = f"design point {lo}" if lo == hi else f"design points {lo}–{hi}"
            raise ChunkFailed(
                f"{which} ({blk.system}, {blk.model}) could not be evaluated: {type(e).__name__}: {e}"
            ) from None
        if job.filters:
            fdf = _with_columns(df, refs)
            keep = np.ones(len(df), dtype=bool)
            for expr in job.filters:
                keep &= query.mask(fdf, expr)
            df = df[keep]
        knobs = set(blk.columns)
        results = [c for c in df.columns if c not in knobs]
        df = df[blk.columns + keep_columns(results, job.patterns)]
        tables.append(to_arrow(df, job.knob_types))
    return combine(tables, job.grid.columns)


def evaluate_chunk(job: Job, k: int) -> tuple[int, int, pa.Table]:
    """Chunk ``k``: (k, points evaluated, table of kept rows)."""
    start, stop = job.bounds(k)
    return k, stop - start, evaluate_rows(job, start, stop)


# ---- execution -------------------------------------------------------------------------------


def _local_cluster(workers: int):
    import logging

    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # any free port: never clashes with another cluster's 8787
        silence_logs=logging.ERROR,
    )


def execute(
    job: Job,
    pending: list[int],
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
) -> Iterator[tuple[int, int, pa.Table]]:
    """Evaluate the ``pending`` chunks, yielding (k, points, table) as each finishes (any order)."""
    if not pending:
        return
    if backend == "dask":
        from distributed import Client
        from joblib import Parallel, delayed, parallel_config

        cluster = None if scheduler else _local_cluster(jobs if jobs > 0 else 2)
        try:
            with Client(scheduler or cluster), parallel_config(backend="dask", wait_for_workers_timeout=60):
                yield from Parallel(n_jobs=-1, return_as="generator_unordered", batch_size=1)(
                    delayed(evaluate_chunk)(job, k) for k in pending
                )
        finally:
            if cluster is not None:
                cluster.close()
        return
    if backend != "loky":
        raise SpecError("--backend", None, f"unknown backend {backend!r}; use loky or dask")
    jobs = (os.cpu_count() or 1) if jobs <= 0 else jobs
    jobs = min(jobs, len(pending))
    if jobs == 1:
        for k in pending:
            yield evaluate_chunk(job, k)
        return
    from joblib import Parallel, delayed

    yield from Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered", batch_size=1)(
        delayed(evaluate_chunk)(job, k) for k in pending
    )


# ---- progress --------------------------------------------------------------------------------


class _Progress:
    """A rich progress bar on stderr (points done, points/s, ETA); silent when not a terminal."""

    def __init__(self, title: str, total: int, done: int, quiet: bool):
        self.enabled = not quiet and sys.stderr.isatty()
        self.bar = None
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task):
                s = task.finished_speed or task.speed
                return Text(f"{s:,.0f} points/s" if s else "– points/s")

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("points"),
            Rate(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.task = self.bar.add_task(title, total=total, completed=done)

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)


# ---- a whole run -----------------------------------------------------------------------------


@dataclass
class RunResult:
    output: Path
    points: int
    rows: int
    seconds: float
    summary: Summary
    resumed_chunks: int


def preflight(sweep: SweepSpec, grid: Grid) -> list[str]:
    """Evaluate the first point of every block and check filters, columns and pareto metrics.

    Returns the result columns seen. SpecError (exit 2) for a bad name or expression.
    """
    samples = []
    for blk in grid.blocks:
        if blk.n:
            samples.append(evaluate_rows(Job(grid, 1, [], ["*"], {}), blk.start, blk.start + 1))
    sample = combine(samples, grid.columns).to_pandas() if samples else pd.DataFrame(columns=grid.columns)
    knobs = set(grid.columns)
    results = [c for c in sample.columns if c not in knobs]
    for i, expr in enumerate(sweep.filters):
        try:
            query.mask(sample, expr)
        except query.QueryError as e:
            raise SpecError(grid.source, f"filters.{i}", f"{expr!r}: {e}") from None
    for i, pat in enumerate(sweep.columns or []):
        if not any(fnmatch.fnmatchcase(c, pat) for c in results):
            raise SpecError(grid.source, f"columns.{i}", f"{pat!r} matches no result column; they are: {', '.join(results)}")
    for m in sweep.pareto:
        if m not in results:
            raise SpecError(grid.source, "pareto", f"{m!r} is not a result column")
    return results


def run_sweep(
    sweep: SweepSpec,
    grid: Grid,
    output: str | Path,
    *,
    jobs: int = -1,
    backend: str = "loky",
    scheduler: str | None = None,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
    chunk_size: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
    log: Callable[[str], None] | None = None,
    fidelity: str = "closed",
) -> RunResult:
    """Evaluate ``grid`` into ``output`` (CSV or Parquet), resumably; see the module docstring."""
    t0 = time.perf_counter()
    output = Path(output)
    output_format(output)
    if output.exists() and not force:
        raise SpecError(str(output), None, "already exists; pass --force to overwrite it, or -o to write elsewhere")
    if output.is_dir():
        raise SpecError(str(output), None, "is a folder; give a .csv or .parquet file name")
    if chunk_size is not None and chunk_size < 1:
        raise SpecError("--chunk-size", None, "must be at least 1")
    if fidelity not in ("closed", "event"):
        raise SpecError("--fidelity", None, f"must be closed or event, got {fidelity!r}")
    preflight(sweep, grid)

    cs = chunk_size or default_chunk_size(grid.n)
    job = Job(grid, cs, list(sweep.filters), sweep.columns, {c: arrow_type(t) for c, t in grid.dtypes.items()}, fidelity)
    manifest = {
        "grid": grid.digest(),
        "code": code_hash(),
        "chunk_size": cs,
        "n_points": grid.n,
        "n_chunks": job.n_chunks,
        "columns": hashlib.sha256(repr((sweep.filters, sweep.columns)).encode()).hexdigest()[:16],
        "schema_version": SCHEMA_VERSION,
        **({"fidelity": fidelity} if fidelity != "closed" else {}),
    }
    store = ChunkStore(partial_dir(output))
    done, note = store.start(manifest, resume)
    if note and log is not None:
        log(note)
    pending = [k for k in range(job.n_chunks) if k not in done]
    done_points = sum(job.bounds(k)[1] - job.bounds(k)[0] for k in done)

    with _Progress(f"sweep {grid.name}", grid.n, done_points, quiet) as progress:
        for k, points, table in execute(job, pending, jobs, backend, scheduler):
            store.write(k, table)
            progress.advance(points)
            if on_chunk is not None:
                on_chunk(k)

    id_cols = ["hw.name", "model.name"] + [a for a in grid.axes if a not in ("hw.name", "model.name")]
    summary = Summary(id_cols, list(sweep.pareto))
    rows = assemble(
        store,
        job.n_chunks,
        output,
        grid.columns,
        {META_SWEEP: grid.name.encode()},
        on_rows=summary.add_table,
    )
    store.remove()
    return RunResult(output, grid.n, rows, time.perf_counter() - t0, summary, len(done))
