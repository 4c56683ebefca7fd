"""Run a sweep: evaluate the grid chunk by chunk, in parallel, and write the results safely.

A chunk is a fixed row range of the grid (``chunk_size`` rows; the size depends only on the
grid, never on the number of workers, so results are byte-identical whatever runs them). Each
chunk is built lazily (``Grid.segments``), evaluated with ``cost.evaluate.evaluate_frame`` per
(system, model) block, filtered, trimmed to the kept columns and returned as an arrow table.
Chunks run in this process (``-j 1``), on local cores with joblib's loky backend, or on a
dask.distributed cluster through joblib's dask backend. Only this process touches files:
workers return tables, which ``report.writer.ChunkStore`` stores as they arrive, so a remote
cluster needs no shared disk.

Safety (issue 16): one run writes an output at a time — an exclusive ``fcntl.flock`` on
``run.lock`` in the partial folder is held for the whole run (a second run exits 2 naming the
holder's PID; the kernel releases the lock when its holder dies, so a stale lock of a killed
run is simply taken over). ``inputs.json`` there records the SHA-256 of every file the sweep
read (sweep file, specs, traces, selection files); ``--resume`` refuses if one has changed.
Local (loky) workers watch their parent and exit when it dies; stale temporary files of a
killed run are removed by the next one; an interrupt says truthfully whether the output was
completed.
"""

from __future__ import annotations

import errno
import fcntl
import fnmatch
import hashlib
import json
import os
import signal
import sys
import threading
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


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; ``completed`` says whether the output had been written in full."""

    def __init__(self, output: Path, completed: bool, partial: Path, chunks: int):
        super().__init__()
        self.output, self.completed, self.partial, self.chunks = output, completed, partial, chunks


# ---- one writer per output -------------------------------------------------------------------


class OutputLock:
    """An exclusive ``flock`` on ``<partial folder>/run.lock``, holding the owner's PID.

    Non-blocking: a second run gets a SpecError naming the PID that holds the lock. The
    kernel drops a flock when its process dies, so a killed run's lock file is free to take.
    A finishing run removes the folder (lock file included) while holding the lock, so after
    locking we check that the file is still the one at the path, and retry otherwise.
    """

    def __init__(self, folder: Path, output: Path):
        self.folder, self.output = folder, output
        self.path = folder / ChunkStore.LOCK
        self.fd: int | None = None

    def acquire(self) -> "OutputLock":
        for _ in range(20):
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise SpecError(str(self.output), None, f"cannot create {self.folder}: {e.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = self._holder(fd)
                os.close(fd)
                raise SpecError(
                    str(self.output),
                    None,
                    f"another aimc-dse run (PID {pid}) is writing this output; wait for it to finish, or use another -o",
                ) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the folder was removed by a run finishing just now: lock the new one
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.fd = fd
            return self
        raise SpecError(str(self.output), None, f"cannot lock {self.path} (it keeps being replaced)")

    @staticmethod
    def _holder(fd: int) -> str:
        for _ in range(50):  # the holder writes its PID just after locking
            os.lseek(fd, 0, os.SEEK_SET)
            text = os.read(fd, 64).decode(errors="replace").strip()
            if text:
                return text
            time.sleep(0.01)
        return "unknown"

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _clean_stale(folder: Path) -> None:
    """Temporary files a killed run left in its partial folder (chunk/manifest .tmp, output.tmp.*)."""
    for p in list(folder.glob("*.tmp")) + list(folder.glob("output.tmp.*")):
        try:
            p.unlink()
        except OSError:
            pass


def _check_output_path(output: Path) -> None:
    """SpecError unless ``output`` can be a file: not a folder, no file where a folder should be."""
    if output.is_dir():
        raise SpecError(str(output), None, "is a folder; give a .csv or .parquet file name")
    for parent in output.parents:
        try:
            if parent.is_dir():
                return
            if parent.exists():
                raise SpecError(str(output), None, f"{parent} is a file, not a folder")
        except OSError as e:
            raise SpecError(str(output), None, f"bad path: {e.strerror}") from None


def _write_error(path: Path, e: OSError) -> SpecError:
    if e.errno == errno.ENOSPC:
        why = "the disk is full (no space left on device)"
    elif e.errno == errno.EDQUOT:
        why = "the disk quota is exceeded"
    else:
        why = e.strerror or str(e)
    return SpecError(str(path), None, f"cannot write: {why}; finished chunks are kept, free space and re-run with --resume")


def changed_inputs(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Paths whose content hash differs (or that appeared or disappeared) between two runs."""
    return [p for p in sorted(set(old) | set(new)) if old.get(p) != new.get(p)]


# ---- workers watch their parent ----------------------------------------------------------------

_watchdog_started = False


def _watch_parent(owner: int, period_s: float = 0.5) -> None:
    """In a loky worker: exit as soon as the sweep process that started it is gone.

    A SIGKILLed parent cannot shut its pool down; without this its workers (hundreds of MB
    each) would run on until their current chunk ends and linger afterwards.
    """
    global _watchdog_started
    if _watchdog_started or os.getpid() == owner or os.getppid() != owner:
        return
    _watchdog_started = True
    # Linux: ask the kernel to SIGKILL this worker when its parent dies. loky starts its
    # workers from the thread that first submits work (the sweep's main thread), so this
    # fires with the process. It needs no Python code to run, unlike the thread below,
    # which is the portable fallback (it cannot run once the interpreter is finalising).
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != owner:  # died before the request took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(period_s)
            if os.getppid() != owner:
                os._exit(1)

    threading.Thread(target=watch, name="aimc-dse-parent-watch", daemon=True).start()


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
    owner_pid: int = 0  # the sweep process; loky workers exit when it dies
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
    if job.owner_pid:
        _watch_parent(job.owner_pid)
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


def _check_scheduler(address: str, timeout_s: float = 3.0) -> None:
    """Fail fast (a few seconds, not dask's 30 s) when nothing listens at a scheduler address."""
    import socket
    from urllib.parse import urlsplit

    text = address if "://" in address else f"tcp://{address}"
    try:
        u = urlsplit(text)
        host, port = u.hostname, u.port
    except ValueError:
        host, port = None, None
    if u.scheme not in ("tcp", "tls") or not host or not port:
        if u.scheme in ("tcp", "tls", "") or not host:
            raise SpecError(f"--scheduler {address}", None, "expected an address like tcp://host:8786")
        return  # another transport (e.g. inproc, ucx): let dask connect
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as e:
        why = "timed out" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise SpecError(f"--scheduler {address}", None, f"cannot reach a dask scheduler there ({why})") from None


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
            try:
                client = Client(scheduler or cluster, timeout="10s")
            except (OSError, TimeoutError, ValueError, MemoryError) as e:
                # MemoryError: something answered that is not a dask scheduler (garbage frame length)
                why = "it does not speak the dask protocol" if isinstance(e, MemoryError) else (
                    str(e).splitlines()[0] if str(e) else type(e).__name__
                )
                raise SpecError(f"--scheduler {scheduler}", None, f"cannot connect to a dask scheduler there ({why})") from None
            with client, parallel_config(backend="dask", wait_for_workers_timeout=60):
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
    _check_output_path(output)
    if output.exists() and not force:
        raise SpecError(str(output), None, "already exists; pass --force to overwrite it, or -o to write elsewhere")
    if chunk_size is not None and chunk_size < 1:
        raise SpecError("--chunk-size", None, "must be at least 1")
    if backend == "dask" and scheduler:
        _check_scheduler(scheduler)
    if fidelity not in ("closed", "event"):
        raise SpecError("--fidelity", None, f"must be closed or event, got {fidelity!r}")
    preflight(sweep, grid)

    cs = chunk_size or default_chunk_size(grid.n)
    job = Job(grid, cs, list(sweep.filters), sweep.columns, {c: arrow_type(t) for c, t in grid.dtypes.items()},
              fidelity=fidelity)
    if backend == "loky":
        job.owner_pid = os.getpid()
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
    folder = partial_dir(output)
    lock = OutputLock(folder, output).acquire()
    store = ChunkStore(folder)
    try:
        before = _stat(output)
        if before is not None and not force:  # appeared while we waited for the lock
            raise SpecError(str(output), None, "already exists; pass --force to overwrite it, or -o to write elsewhere")
        return _run_locked(
            sweep, grid, job, manifest, store, output, before, t0,
            jobs=jobs, backend=backend, scheduler=scheduler, resume=resume, quiet=quiet, on_chunk=on_chunk, log=log,
        )
    finally:
        # A run that stopped before storing any chunk leaves nothing behind.
        try:
            if folder.exists() and not any(folder.glob("chunk-*.parquet")) and not any(folder.glob("output.tmp.*")):
                store.remove()
        except OSError:
            pass
        lock.release()


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


INPUTS = "inputs.json"


def _run_locked(sweep, grid, job, manifest, store, output, before, t0, *, jobs, backend, scheduler, resume, quiet, on_chunk, log):
    """The body of :func:`run_sweep`, with the output's lock held."""
    old_inputs = None
    if resume:
        try:
            old_inputs = json.loads((store.folder / INPUTS).read_text())
        except (OSError, ValueError):
            old_inputs = None
    done, note = store.start(manifest, resume)
    if note and log is not None:
        log(note)
    if resume and done and isinstance(old_inputs, dict):
        changed = changed_inputs(old_inputs, grid.inputs)
        if changed:
            what = "no longer exists" if changed[0] not in grid.inputs else "has changed" if changed[0] in old_inputs else "is new"
            raise SpecError(
                changed[0],
                None,
                f"{what} since the interrupted run (its content is hashed); cannot resume: its results would mix "
                "old and new inputs. Run without --resume to start over",
            )
    _clean_stale(store.folder)
    try:
        store._write_atomic(store.folder / INPUTS, json.dumps(grid.inputs, indent=1, sort_keys=True).encode())
    except OSError as e:
        raise _write_error(store.folder, e) from None
    pending = [k for k in range(job.n_chunks) if k not in done]
    done_points = sum(job.bounds(k)[1] - job.bounds(k)[0] for k in done)

    stage = "evaluating"
    try:
        with _Progress(f"sweep {grid.name}", grid.n, done_points, quiet) as progress:
            for k, points, table in execute(job, pending, jobs, backend, scheduler):
                try:
                    store.write(k, table)
                except OSError as e:
                    raise _write_error(store.folder, e) from None
                progress.advance(points)
                if on_chunk is not None:
                    on_chunk(k)

        id_cols = ["hw.name", "model.name"] + [a for a in grid.axes if a not in ("hw.name", "model.name")]
        summary = Summary(id_cols, list(sweep.pareto))
        stage = "assembling"
        try:
            rows = assemble(
                store,
                job.n_chunks,
                output,
                grid.columns,
                {META_SWEEP: grid.name.encode()},
                on_rows=summary.add_table,
            )
        except OSError as e:
            raise _write_error(output, e) from None
        stage = "written"
        store.remove()
    except KeyboardInterrupt:
        # os.replace is atomic: a new file at the output path means assembly had finished.
        completed = stage == "written" or (stage == "assembling" and _stat(output) not in (None, before))
        if completed:
            store.remove()
        n = len(list(store.folder.glob("chunk-*.parquet"))) if store.folder.exists() else 0
        raise SweepInterrupted(output, completed, store.folder, n) from None
    return RunResult(output, grid.n, rows, time.perf_counter() - t0, summary, len(done))
