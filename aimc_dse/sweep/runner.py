"""Run a sweep: grid → cost model → one sink (the output file and the running summary), once.

A chunk is a fixed row range of the grid (``chunk_size`` rows: about half a second of cost-model
work at the rate measured on a sample of a big grid, recorded in the manifest for
``--resume``; a function of the grid for small ones). A worker builds its
rows straight from the grid's columns (``Block.arrays``: a knob fixed within a (system,
model) block is passed as one value, never repeated), evaluates them
(``cost.evaluate.evaluate_columns``), filters them, and turns them into an arrow table with
exactly the output's columns and types — decided once, before anything runs, from the grid
and a one-point preflight per block. The worker writes that table as its chunk file (Arrow
IPC, for ``--resume``) and this process memory-maps it and streams the chunks, in grid
order, into the output writer and the summary/Pareto fold: no read-back-and-rewrite pass.
Chunks run in this process (``-j 1``); on local cores, ``-j N`` as N − 1 worker processes
beside this one, which evaluates chunks too (``_execute_local``; the workers are forks of
this process where that is safe, else loky's: ``start_method``); or on a dask.distributed
cluster through joblib's dask backend (there workers return their tables and this process
writes the chunk files, so a remote cluster needs no shared disk). Local workers started for
a big grid realise its spec variants beside this process while it is built (``realiser``).

Output columns (issue 15): the knobs that vary within a (system, model) block, the swept
axes and the design's identity (``hw.name``, ``model.name``) on every row, then the result
columns; knobs fixed per hardware, per model or for the whole sweep are stored once
(``report.writer.Constants``: Parquet metadata, or a ``NAME.constants.csv`` sidecar) and
put back by every reader. ``--all-knobs`` writes every knob on every row.

Bytes are the same whatever runs the chunks: output row groups have a fixed size, rows come
in grid order, and the columns and types are fixed before the first chunk.

Safety (issue 16): one run writes an output at a time — an exclusive ``fcntl.flock`` on
``run.lock`` in the partial folder is held for the whole run (a second run exits 2 naming the
holder's PID; the kernel releases the lock when its holder dies, so a stale lock of a killed
run is simply taken over). ``inputs.json`` there records the SHA-256 of every file the sweep
read (sweep file, specs, traces, selection files); ``--resume`` refuses if one has changed.
Local workers watch their parent and exit when it dies; stale temporary files of a
killed run are removed by the next one; an interrupt says truthfully whether the output was
completed.
"""

from __future__ import annotations

import errno
import fcntl
import fnmatch
import gc
import hashlib
import json
import os
import pickle
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from ..cost import registry
from ..cost.evaluate import evaluate_columns
from ..cost.metrics import HEADLINE_COLUMNS, SCHEMA_VERSION
from ..report import query
from ..report.summary import Summary
from ..report.writer import (
    ALL_ROWS,
    META_SWEEP,
    ROW_GROUP_ROWS,
    ChunkStore,
    Constants,
    ResultSink,
    _json_value,
    arrow_type,
    check_sidecar_slot,
    output_format,
    partial_dir,
    unify_schema,
)
from ..specs.base import SpecError
from ..specs.safe_io import pid_alive
from ..specs.sweep import SweepSpec
from .grid import Block, Grid

MAX_CHUNK = 49_152  # rows (3 × EVAL_ROWS) a chunk of a big grid that is not timed (--fidelity event)
MIN_CHUNK = 1_000
EVAL_ROWS = 16_384  # rows per call of the cost model (cache-sized; see _evaluate_in_batches)
MIN_CHUNKS = 16  # smaller grids are cut into at least this many chunks (to share among cores)
IDENTITY = ("hw.name", "model.name")

# CPU seconds per phase of the chunks evaluated in this process (make bench reads them at -j 1).
PHASES: dict[str, float] = {}


def _spent(phase: str, since: float) -> float:
    now = time.process_time()
    PHASES[phase] = PHASES.get(phase, 0.0) + now - since
    return now


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
            # Unlock before closing: a worker forked while the lock was held shares this open
            # file (and so the lock), which closing our descriptor alone would not release.
            fcntl.flock(self.fd, fcntl.LOCK_UN)
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
    return SpecError(str(path), None, f"cannot write: {why}; whatever chunks finished are kept, free space and re-run with --resume")


def changed_inputs(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Paths whose content hash differs (or that appeared or disappeared) between two runs."""
    return [p for p in sorted(set(old) | set(new)) if old.get(p) != new.get(p)]


# ---- workers watch their parent ----------------------------------------------------------------


def _ended(pid: int) -> bool:
    """Whether process ``pid`` has ended: it does not exist, or it is a zombie (dead, not yet
    reaped by its parent). A killed sweep process is a zombie until whatever started it waits
    for it, which may be later or never; its re-parented workers must not take it for alive."""
    if not pid_alive(pid):
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc (not Linux): pid_alive is all we know
        return False
    return state in (b"Z", b"X")


def _watch_parent(owner: int, period_s: float = 0.5) -> None:
    """In a local worker (the executor's initializer): exit as soon as the sweep process that
    started it is gone.

    A SIGKILLed parent cannot shut its pool down; without this its workers (hundreds of MB
    each) would run on until their current chunk ends and linger afterwards.
    """
    if os.getppid() != owner:
        # The sweep process is gone already (a worker's imports can outlast a kill -9 that
        # comes early, and the worker is then re-parented), or this process is not its child.
        if _ended(owner):
            os._exit(1)
        return
    # Linux: ask the kernel to SIGKILL this worker when its parent dies (strictly: when the
    # thread that started it ends). Both executors start their workers from the first
    # submit, which comes from the sweep's main thread, so this fires with the process. It
    # needs no Python code to run, unlike the thread below, which is the portable fallback
    # (it cannot run once the interpreter is finalising).
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
    """Rows per chunk without a measured rate: ``MAX_CHUNK``, fewer for small grids (a function of the grid only).

    At least ``EVAL_ROWS`` rows it is a multiple of them, so the cost model's batches (and
    the output's bytes) are the same whatever the chunk size (``_evaluate_in_batches``).
    """
    rows = int(min(MAX_CHUNK, max(MIN_CHUNK, -(-n // MIN_CHUNKS))))
    return rows if rows < EVAL_ROWS else -(-rows // EVAL_ROWS) * EVAL_ROWS


CODE_PACKAGES = ("cost", "moe", "sim")  # what computes the results (with their subpackages)


def code_files() -> list[Path]:
    root = Path(__file__).resolve().parent.parent
    return sorted(q for d in CODE_PACKAGES for q in (root / d).rglob("*.py"))


def code_hash() -> str:
    """Hash of the sources that compute results (``CODE_PACKAGES``): results of different code are
    never mixed on resume. (Before, only ``cost/*.py`` was hashed, not ``cost/aimc/``.)"""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for p in code_files():
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def keep_columns(result_cols: list[str], patterns: list[str] | None) -> list[str]:
    """Result columns to write: those matching the sweep's ``columns`` (default: the headline ones)."""
    if patterns is None:
        return [c for c in result_cols if c in HEADLINE_COLUMNS]
    return [c for c in result_cols if any(fnmatch.fnmatchcase(c, p) for p in patterns)]


# ---- which knobs go on every row -----------------------------------------------------------------


def _scope(column: str) -> str:
    """The identity a knob belongs to: ``hw.name`` for hardware knobs, ``model.name`` for model ones."""
    head = column.partition(".")[0]
    return {"hw": "hw.name", "model": "model.name"}.get(head, ALL_ROWS)


def plan_knobs(grid: Grid, all_knobs: bool = False) -> tuple[list[str], Constants | None]:
    """(knob columns written on every row, the others with their values) for ``grid``.

    On every row: the identity, the swept axes, and any knob that varies within a block or
    differs between blocks of the same identity. The rest is fixed per hardware name, per
    model name, or for the whole sweep, and is stored once (``Constants``).
    """
    if all_knobs:
        return list(grid.columns), None
    per_row = set(IDENTITY) | set(grid.axes)
    absent = object()
    values: dict[str, dict[str, dict]] = {}
    # An identity that is itself swept (axes: {hw.name: [...]}) names rows, not blocks: its
    # knobs can only be constant for the whole sweep.
    unkeyed = {k for k in IDENTITY if any(k in comp.columns for blk in grid.blocks for comp in blk.components)}
    for c in grid.columns:
        if c in per_row:
            continue
        scope = ALL_ROWS if _scope(c) in unkeyed else _scope(c)
        seen: dict[str, object] = {}
        for blk in grid.blocks:
            if any(c in comp.columns for comp in blk.components) or (scope != ALL_ROWS and scope not in blk.base):
                per_row.add(c)
                break
            name = "" if scope == ALL_ROWS else str(blk.base[scope][0])
            v = _json_value(blk.base[c][0]) if c in blk.base else absent
            if name in seen and (seen[name] is absent or v is absent or json.dumps(seen[name]) != json.dumps(v)):
                if not (seen[name] is absent and v is absent):
                    per_row.add(c)
                    break
            seen[name] = v
        else:
            for name, v in seen.items():
                if v is not absent:
                    values.setdefault(scope, {}).setdefault(name, {})[c] = v
    rows = [c for c in grid.columns if c in per_row]
    dtypes = {c: str(arrow_type(grid.dtypes[c])) for c in grid.columns}
    return rows, Constants(grid.columns, dtypes, values)


def summary_knobs(grid: Grid, row_knobs: list[str]) -> list[str]:
    """The knobs on every row that differ between blocks of one hardware or model name (two
    entries of one preset with different `set:`), not those an axis moves within a block."""
    return [c for c in row_knobs if c not in IDENTITY and c not in grid.axes
            and not any(c in comp.columns for blk in grid.blocks for comp in blk.components)]


# ---- a chunk: grid rows → cost model → arrow -------------------------------------------------------


@dataclass
class Job:
    """Everything a worker needs to produce any chunk (picklable)."""

    grid: Grid
    chunk_size: int
    filters: list[str]
    patterns: list[str] | None
    schema: pa.Schema | None = None  # the output's columns and types (None: every column seen, preflight)
    fidelity: str = "closed"  # closed: cost.evaluate; event: the event-driven simulator (sim)
    folder: str | None = None  # the partial folder: workers write their chunk files there
    send: bool = True  # return the table (in-process and dask) or only write it (local workers)

    @property
    def n_chunks(self) -> int:
        return -(-self.grid.n // self.chunk_size)

    def bounds(self, k: int) -> tuple[int, int]:
        start = k * self.chunk_size
        return start, min(start + self.chunk_size, self.grid.n)


def _arrow_of(values: np.ndarray, name: str) -> pa.DataType:
    """The arrow type a result column gets (numbers by their numpy kind; text; the registry's when unknown)."""
    kind = values.dtype.kind
    if kind == "f":
        return pa.float64()
    if kind in "iu":
        return pa.int64()
    if kind == "b":
        return pa.bool_()
    if kind == "O":
        vals = [v for v in values.tolist() if v is not None and not (isinstance(v, float) and v != v)]
        if not vals:
            col = registry.column(name)
            dtype = col.dtype if col is not None else "str"
            return {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_()}.get(dtype, pa.large_string())
        if all(isinstance(v, (bool, np.bool_)) for v in vals):
            return pa.bool_()
    return pa.large_string()


def _array(values: Any, typ: pa.DataType, n: int) -> pa.Array:
    """``values`` (one value or an array of ``n``) as an arrow array of type ``typ``."""
    if not isinstance(values, np.ndarray) or values.ndim == 0:
        v = _json_value(values)
        if v is None:
            return pa.nulls(n, typ)
        try:
            return pa.repeat(pa.scalar(v, typ), n)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.repeat(pa.scalar(v).cast(typ), n)
    try:
        return pa.array(values, typ, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(values, from_pandas=True).cast(typ)


def _evaluate_in_batches(job: Job, blk: Block, fixed: dict[str, Any], varying: dict[str, np.ndarray], a: int, n: int,
                         refs: list[str]) -> dict[str, np.ndarray]:
    """The cost model on ``EVAL_ROWS`` rows at a time: its many temporaries stay in the core's cache.

    (Two workers on 2 cores evaluating 50,000-row batches each ran at about half their solo
    speed; in cache-sized batches they keep most of it. Each call also costs ~5 ms whatever
    its rows: on the bench grid 16,384-row batches ran ~20 % faster than 8,192-row ones, alone
    and two side by side, and 32,768 slower again.) Only the columns the output or the
    filters need are kept.
    """
    # Slices end at global multiples of EVAL_ROWS (and at the chunk's ends): with chunk sizes
    # that are multiples of EVAL_ROWS, the batches — and so the last bits of the cost model's
    # sums — do not depend on the chunk size.
    first = blk.start + a
    cuts = [0, *range(EVAL_ROWS - first % EVAL_ROWS, n, EVAL_ROWS), n]
    cuts = sorted(set(c for c in cuts if 0 <= c <= n))
    if len(cuts) <= 2:
        return evaluate_columns(blk.kind, fixed, varying, n)
    need = None if job.schema is None else set(job.schema.names) | set(refs)
    parts: list[dict[str, np.ndarray]] = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        res = evaluate_columns(blk.kind, fixed, {c: v[lo:hi] for c, v in varying.items()}, hi - lo)
        parts.append(res if need is None else {c: v for c, v in res.items() if c in need})
    return {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}


def _block_table(job: Job, blk: Block, a: int, b: int, refs: list[str]) -> tuple[dict[str, Any], dict[str, Any], int]:
    """(fixed knobs, per-row arrays of knobs and results, rows) of block rows ``a:b``, evaluated and filtered."""
    fixed, varying = blk.arrays(a, b)
    n = b - a
    c = time.process_time()
    try:
        if job.fidelity == "event":
            from ..sim import evaluate_frame_event

            df = evaluate_frame_event(blk.frame(a, b))
            results = {c: df[c].to_numpy() for c in df.columns if c not in set(blk.columns)}
        else:
            results = _evaluate_in_batches(job, blk, fixed, varying, a, n, refs)
    except Exception as e:  # the cost model's own error, reported with the rows it concerns
        lo, hi = blk.start + a, blk.start + b - 1
        which = f"design point {lo}" if lo == hi else f"design points {lo}–{hi}"
        raise ChunkFailed(f"{which} ({blk.system}, {blk.model}) could not be evaluated: {type(e).__name__}: {e}") from None
    _spent("cost model", c)
    arrays: dict[str, Any] = {**varying, **results}
    if job.filters:
        cols = {c: np.broadcast_to(np.asarray(v, dtype=object if isinstance(v, str) else None), (n,)) for c, v in fixed.items()}
        cols.update(arrays)
        fdf = pd.DataFrame({c: cols[c] if c in cols else np.full(n, np.nan) for c in dict.fromkeys([*cols, *refs])})
        keep = np.ones(n, dtype=bool)
        for expr in job.filters:
            keep &= query.mask(fdf, expr)
        arrays = {c: np.asarray(v)[keep] for c, v in arrays.items()}
        n = int(keep.sum())
    return fixed, arrays, n


def evaluate_rows(job: Job, start: int, stop: int) -> pa.Table:
    """Rows ``start:stop`` of the grid, evaluated, filtered and trimmed, as one arrow table of ``job.schema``."""
    tables = []
    refs = sorted({n for e in job.filters for n in query.names(e)})
    for blk, a, b in job.grid.segments(start, stop):
        c, cost0 = time.process_time(), PHASES.get("cost model", 0.0)
        fixed, arrays, n = _block_table(job, blk, a, b, refs)
        schema = job.schema
        if schema is None:  # preflight: every knob and every result, types as they come
            knob_types = {c: arrow_type(job.grid.dtypes[c]) for c in blk.columns}
            results = [c for c in arrays if c not in knob_types]
            schema = pa.schema([pa.field(c, knob_types[c]) for c in blk.columns]
                               + [pa.field(c, _arrow_of(np.asarray(arrays[c]), c)) for c in results])
        cols = []
        for f in schema:
            if f.name in arrays:
                cols.append(_array(np.asarray(arrays[f.name]), f.type, n))
            elif f.name in fixed:
                cols.append(_array(fixed[f.name], f.type, n))
            else:
                cols.append(pa.nulls(n, f.type))
        tables.append(pa.Table.from_arrays(cols, schema=schema))
        conv = "conversion (grid rows, filters, arrow)"
        PHASES[conv] = PHASES.get(conv, 0.0) + time.process_time() - c - (PHASES["cost model"] - cost0)
    if job.schema is None:
        from ..report.writer import combine

        return combine(tables, job.grid.columns)
    if not tables:
        return job.schema.empty_table()
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def evaluate_chunk(job: Job, k: int, send: bool | None = None) -> tuple[int, int, pa.Table | None]:
    """Chunk ``k``: (k, points evaluated, table of kept rows, or None when only written to its
    file; ``send`` overrides ``job.send``)."""
    start, stop = job.bounds(k)
    table = evaluate_rows(job, start, stop)
    if job.folder is not None:
        c = time.process_time()
        ChunkStore(job.folder).write(k, table)
        _spent("chunk files", c)
    return k, stop - start, table if (job.send if send is None else send) else None


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


_warm_up: list = []  # the warm-up futures of local workers (start_workers), one a worker, until execute
_pool: Any = None  # the local workers' executor (``_executor``)
_pool_size = 0  # its worker count
_pool_forked = False  # whether its workers are forks of this process (else loky's fresh interpreters)

START_METHOD_ENV = "AIMC_DSE_START_METHOD"  # fork (the default, where safe) or spawn


def _warm() -> int:
    """In a local worker (its initializer already watches the sweep process): import the cost
    models, what the first chunk would pay (nothing, in a forked worker)."""
    from ..cost import aimc, gpu  # noqa: F401

    return os.getpid()


def start_method() -> str:
    """How local workers start: ``fork`` on Linux while this process runs no thread but its
    main one, else ``spawn`` (loky's fresh interpreters); ``AIMC_DSE_START_METHOD=spawn``
    asks for spawn always.

    A fork copies only the calling thread, so a lock another Python thread held (logging, an
    event loop's) would stay locked in the child forever; with one thread there is none.
    (numpy's and arrow's native thread pools re-initialise themselves in a forked child: both
    register ``pthread_atfork`` handlers.) A notebook kernel, or a process running a dask
    client, has threads and gets spawned workers."""
    import multiprocessing

    asked = os.environ.get(START_METHOD_ENV, "").strip().lower() or "fork"
    if asked not in ("fork", "spawn"):
        raise SpecError(START_METHOD_ENV, None, f"unknown start method {asked!r}; use fork or spawn")
    if (asked == "fork" and sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()
            and threading.active_count() == 1):
        return "fork"
    return "spawn"


def _forked_worker(owner: int) -> None:
    """A forked worker's initializer: Ctrl-C is the sweep process's to handle (it kills its
    workers), then watch it as every worker does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch_parent(owner)


def _executor(workers: int) -> Any:
    """The local worker processes. Forks of this process where that is safe (``start_method``):
    they start in milliseconds with the cost models already imported, where a fresh
    interpreter spends ~0.5 s of CPU importing them (docs/sweeps.md, "Scaling with cores").
    Otherwise loky's reusable executor. Either way they watch this
    process from their start (``_watch_parent`` in the initializer), so a worker still starting
    when the sweep is killed exits too."""
    global _pool, _pool_size, _pool_forked
    if _pool is not None and _pool_forked and _pool_size == workers:
        return _pool
    if _pool is not None and _pool_forked:
        stop_workers()
    if _pool is None and start_method() == "fork":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from ..cost import aimc, gpu  # noqa: F401  (imported once, here, for every worker)

        # Objects alive now go to the garbage collector's permanent generation, which it does
        # not traverse: its passes write into every object they visit, and on pages the fork
        # shares, each write copies the page (in the worker and in this process alike).
        gc.freeze()
        # The workers are forked at the first submit, before the executor starts its own thread.
        _pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                    initializer=_forked_worker, initargs=(os.getpid(),))
        _pool_size, _pool_forked = workers, True
        return _pool
    from joblib.externals.loky import get_reusable_executor

    from .. import runtime

    # a fresh interpreter: the library settings of the CLI's own process (aimc_dse/runtime.py)
    _pool = get_reusable_executor(max_workers=workers, timeout=300, initializer=_watch_parent, initargs=(os.getpid(),),
                                  env=runtime.worker_env())
    _pool_size, _pool_forked = workers, False
    return _pool


def stop_workers(kill: bool = False) -> None:
    """Shut the local workers down (``kill``: at once, their current chunks abandoned)."""
    global _pool
    pool, _pool = _pool, None
    if pool is None:
        return
    # Both executors are waited for, even when their workers are killed (milliseconds then):
    # their manager threads finish their cleanup before this process can exit. Without the
    # wait, a run refused (or interrupted) just after its workers started printed noise after
    # its one-line error, 1 run in ~20-80 of tests/test_sweep_safety.py's refused big sweep:
    # loky's resource tracker warned of a "leaked semlock" (the call queue's semaphore not yet
    # unregistered), and concurrent.futures's exit hook wrote to the wakeup pipe its manager
    # thread had just closed ("Bad file descriptor", a race of Python 3.11).
    if not _pool_forked:
        pool.shutdown(wait=True, kill_workers=kill)
        return
    if kill:
        # concurrent.futures (before Python 3.14's kill_workers) has no way to stop a busy
        # worker: kill its processes, which the executor then sees as a broken pool.
        for process in list((pool._processes or {}).values()):
            process.kill()
    pool.shutdown(wait=True, cancel_futures=True)
    gc.unfreeze()  # the forks are gone: what was frozen for them is collected as usual again


def check_local_settings(jobs: int) -> None:
    """SpecError for a ``-j`` other than -1 (all cores) or N ≥ 1, or an ``AIMC_DSE_START_METHOD``
    other than fork or spawn: checked when a run starts, not only when it starts workers
    (``-j 1`` starts none, and a bad setting would go unnoticed until a run that does)."""
    if not isinstance(jobs, int) or isinstance(jobs, bool) or (jobs != -1 and jobs < 1):
        raise SpecError(f"--jobs {jobs!r}", None, "must be -1 (all cores) or a number of processes ≥ 1")
    start_method()


def worker_count(jobs: int) -> int:
    """Worker processes for ``-j jobs``: the sweep process itself evaluates chunks (and
    realises grid variants) beside them, so ``-j 2`` starts one."""
    jobs = (os.cpu_count() or 1) if jobs <= 0 else jobs
    return max(jobs - 1, 0)


def start_workers(jobs: int) -> None:
    """Start the local workers for ``-j jobs`` now, without waiting (spawned ones import
    meanwhile): they realise grid variants (``realiser``), then evaluate chunks (``execute``)."""
    global _warm_up
    workers = worker_count(jobs)
    if workers < 1 or _warm_up:
        return
    pool = _executor(workers)
    _warm_up = [pool.submit(_warm) for _ in range(workers)]


def realiser() -> Callable[..., list] | None:
    """The grid's spec realisations spread over the local workers ``start_workers`` started
    (None when it started none): the workers realise their share while this process realises
    its own, so a sweep over thousands of tile counts builds its grid on every core."""
    return _realise_on_workers if _warm_up else None


REALISE_BATCH = 256  # spec variants a worker realises per task


def _realise_on_workers(part: Any, sets: list[dict[str, Any]]) -> list:
    """Batches of the variants: workers take them from the front once their warm-up is done,
    this process from the back (``_shared``); each is realised once, by whoever reaches it
    first."""
    from collections import deque

    from ..specs.safe_io import note_recorded

    warm = _warm_up
    items = list(enumerate(sets))
    batches = deque(items[i: i + REALISE_BATCH] for i in range(0, len(items), REALISE_BATCH))
    got: list = [None] * len(sets)
    for rows, inputs in _shared(_executor(len(warm)), batches, len(warm),
                                submit=lambda pool, batch: pool.submit(_realise_indexed, part.args(), batch),
                                own=lambda batch: ([(i, part.try_diff(x)) for i, x in batch], {}),
                                after=warm, depth=2):
        note_recorded(inputs)
        for i, row in rows:
            got[i] = row
    return got


SHARED_SWITCH_S = 0.0005  # the GIL switch interval while workers are fed (``_shared``)


def _shared(pool: Any, todo: Any, workers: int, submit: Callable, own: Callable,
            after: Any = (), in_order: bool = False, depth: int = 1) -> Iterator:
    """The items of the deque ``todo`` done by ``workers`` local processes and this one, their
    results yielded as they come (any order).

    Each worker holds ``depth`` items and is handed the next the moment one finishes (from the
    executor's thread, a future's done-callback), not when this process next looks: this
    process may be busy for a while with its own item or with what is yielded (writing).
    With ``depth`` 2 a worker finds its next item waiting when it finishes one, except near
    the end, where one each leaves the last items to whoever is free. The hand-over needs
    the GIL, which this process's own item holds: the switch interval is lowered meanwhile
    (5 ms → 0.5 ms) so that it is not kept waiting. Workers start once the futures ``after``
    (their warm-up) are done.

    Workers take items from the front; this process from the back, or (``in_order``) the
    front too, so that results come nearly in order and a consumer that must use them in
    order (the output writer) keeps pace instead of holding this process's items to the end."""
    import queue

    finished: queue.SimpleQueue = queue.SimpleQueue()  # the workers' futures, as they finish
    lock = threading.Lock()  # todo, running and open are shared with the executor's thread
    running = 0
    open_ = True

    def launch(_: Any = None) -> None:
        """Give the workers items until they hold what they may."""
        nonlocal running
        while True:
            with lock:  # held while submitting: once the loop has ended, nothing is submitted
                # a second item each only while more remain than the workers would hold: the
                # last ones are shared with this process
                held = depth * workers if len(todo) > depth * workers else workers
                if not (open_ and todo and running < held and all(f.done() for f in after)):
                    return
                item = todo.popleft()
                running += 1
                try:
                    future = submit(pool, item)
                except RuntimeError as e:  # the pool is shut down or broken (Ctrl-C, a dead worker)
                    finished.put(e)
                    return
            future.add_done_callback(done)  # outside the lock: it runs ``done`` at once if finished

    def done(future: Any) -> None:
        nonlocal running
        with lock:
            running -= 1
        finished.put(future)
        launch()

    def result(f: Any) -> Any:
        if isinstance(f, BaseException):
            raise f
        return f.result()

    total = len(todo)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(min(switch, SHARED_SWITCH_S))
    for f in after:
        f.add_done_callback(launch)
    launch()
    given = 0
    try:
        while given < total:
            while not finished.empty():
                given += 1
                yield result(finished.get())
            with lock:
                item = (todo.popleft() if in_order else todo.pop()) if todo else None
            if item is not None:
                given += 1
                yield own(item)
            elif given < total:
                try:
                    f = finished.get(timeout=0.5)  # a timeout keeps Ctrl-C deliverable
                except queue.Empty:
                    continue
                given += 1
                yield result(f)
    finally:
        with lock:
            open_ = False  # a worker finishing now is given nothing more
        sys.setswitchinterval(switch)


def _realise_indexed(args: tuple, batch: list[tuple[int, dict[str, Any]]]) -> tuple[list, dict[str, str]]:
    from .grid import realise_batch

    rows, inputs = realise_batch(args, [x for _, x in batch])
    return [(i, r) for (i, _), r in zip(batch, rows)], inputs


def finish_warm_up() -> None:
    """Forget a pending warm-up (``start_workers``): its tasks end on their own, ahead of any
    chunk the workers are given."""
    global _warm_up
    _warm_up = []


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
    workers = min(worker_count(jobs), len(pending) - 1)
    finish_warm_up()
    if workers < 1:
        for k in pending:
            yield evaluate_chunk(job, k)
        return
    yield from _execute_local(job, pending, workers)


_packed_job: tuple[str, Job] | None = None  # in a local worker: the job it last unpickled, by key


def _evaluate_packed(key: str, packed: bytes, k: int) -> tuple[int, int, pa.Table | None]:
    """In a local worker: ``evaluate_chunk`` of the job pickled in ``packed``, unpickled once per job."""
    global _packed_job
    if _packed_job is None or _packed_job[0] != key:
        _packed_job = (key, pickle.loads(packed))
    return evaluate_chunk(_packed_job[1], k)


def _execute_local(job: Job, pending: list[int], workers: int) -> Iterator[tuple[int, int, pa.Table]]:
    """The chunks on ``workers`` local processes and this one (``_shared``). The workers write
    their chunk files; this process's chunks are written too, and handed over in memory
    (``_InOrder`` keeps them if their turn is near)."""
    from collections import deque

    try:
        # The job (its grid: ~0.4 MB pickled at 5M points) is pickled once, not per chunk,
        # and each worker unpickles it once (``_evaluate_packed``).
        packed, key = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL), uuid.uuid4().hex
        yield from _shared(_executor(workers), deque(pending), workers,
                           submit=lambda pool, k: pool.submit(_evaluate_packed, key, packed, k),
                           own=lambda k: evaluate_chunk(job, k, send=True), in_order=True, depth=2)
    except BaseException:
        stop_workers(kill=True)  # Ctrl-C, a failed chunk: abandon the workers' chunks at once
        raise
    if _pool_forked:
        # Forks are cheap to make and copy this process as it was: the next run gets fresh
        # ones rather than workers holding what this process held then.
        stop_workers()


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
    chunk_size: int = 0


def preflight(sweep: SweepSpec, grid: Grid) -> pa.Schema:
    """Evaluate the first point of every block and check filters, columns and pareto metrics.

    Returns the schema of every result column seen (one point per block). SpecError (exit 2)
    for a bad name or expression.
    """
    from ..report.writer import combine, to_pandas

    samples = []
    for blk in grid.blocks:
        if blk.n:
            samples.append(evaluate_rows(Job(grid, 1, [], ["*"]), blk.start, blk.start + 1))
    table = combine(samples, grid.columns) if samples else pa.schema([]).empty_table()
    knobs = set(grid.columns)
    results = [c for c in (table.column_names if samples else grid.columns) if c not in knobs]
    if sweep.filters:  # checked on the samples as a frame (~10 ms at 100+ columns: only when there are filters)
        sample = to_pandas(table) if samples else pd.DataFrame(columns=grid.columns)
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
    return pa.schema([f for f in table.schema if f.name not in knobs])


_REGISTRY_TYPES = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "str": pa.large_string()}


def output_schema(grid: Grid, row_knobs: list[str], results: pa.Schema, patterns: list[str] | None) -> pa.Schema:
    """The output's columns: the knobs written on every row, then the kept results (headline ones first).

    A registered result column has its registry type whatever the sample showed (a column
    that is NaN in the one-point sample is still a float).
    """
    kept = keep_columns(results.names, patterns)
    fields = [pa.field(c, arrow_type(grid.dtypes[c])) for c in row_knobs]
    for c in kept:
        col = registry.column(c)
        fields.append(pa.field(c, _REGISTRY_TYPES[col.dtype] if col is not None else results.field(c).type))
    return unify_schema([pa.schema(fields)], row_knobs)


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
    all_knobs: bool = False,
    timings: dict[str, float] | None = None,
) -> RunResult:
    """Evaluate ``grid`` into ``output`` (CSV or Parquet), resumably; see the module docstring.

    ``timings``, when given, receives this process's CPU seconds per phase (make bench).
    """
    try:
        return _run_sweep(sweep, grid, output, jobs=jobs, backend=backend, scheduler=scheduler, resume=resume,
                          force=force, quiet=quiet, chunk_size=chunk_size, on_chunk=on_chunk, log=log,
                          fidelity=fidelity, all_knobs=all_knobs, timings=timings)
    finally:
        finish_warm_up()  # workers started for a run that stopped before using them


def _run_sweep(sweep, grid, output, *, jobs, backend, scheduler, resume, force, quiet, chunk_size, on_chunk, log,
               fidelity, all_knobs, timings) -> RunResult:
    t0 = time.perf_counter()
    check_local_settings(jobs)
    output = Path(output)
    output_format(output)
    _check_output_path(output)
    if output.exists() and not force:
        raise SpecError(str(output), None, "already exists; pass --force to overwrite it, or -o to write elsewhere")
    check_sidecar_slot(output)  # NAME.constants.csv taken by another file: refused before any work
    if chunk_size is not None and chunk_size < 1:
        raise SpecError("--chunk-size", None, "must be at least 1")
    if backend == "dask" and scheduler:
        _check_scheduler(scheduler)
    if fidelity not in ("closed", "event"):
        raise SpecError("--fidelity", None, f"must be closed or event, got {fidelity!r}")
    c0 = time.process_time()
    results = preflight(sweep, grid)
    row_knobs, constants = plan_knobs(grid, all_knobs)
    schema = output_schema(grid, row_knobs, results, sweep.columns)
    if timings is not None:
        timings["preflight"] = timings.get("preflight", 0.0) + time.process_time() - c0

    folder = partial_dir(output)
    lock = OutputLock(folder, output).acquire()
    store = ChunkStore(folder)
    try:
        before = _stat(output)
        if before is not None and not force:  # appeared while we waited for the lock
            raise SpecError(str(output), None, "already exists; pass --force to overwrite it, or -o to write elsewhere")
        job = Job(grid, 0, list(sweep.filters), sweep.columns, schema, fidelity=fidelity)
        c0, phases = time.process_time(), dict(PHASES)
        job.chunk_size = chunk_size or _chunk_size(job, store, resume)
        PHASES.clear()
        PHASES.update(phases)  # the calibration's evaluations count as chunk sizing, not as chunks
        if timings is not None:
            timings["chunk sizing"] = time.process_time() - c0
        if backend == "loky":
            job.folder = str(folder)
        manifest = {
            "grid": grid.digest(),
            "code": code_hash(),
            "chunk_size": job.chunk_size,
            "n_points": grid.n,
            "n_chunks": job.n_chunks,
            "columns": hashlib.sha256(repr((sweep.filters, sweep.columns, schema.to_string())).encode()).hexdigest()[:16],
            "schema_version": SCHEMA_VERSION,
            **({"fidelity": fidelity} if fidelity != "closed" else {}),
            **({"all_knobs": True} if all_knobs else {}),
        }
        return _run_locked(
            sweep, grid, job, manifest, store, output, before, t0, constants,
            jobs=jobs, backend=backend, scheduler=scheduler, resume=resume, quiet=quiet, on_chunk=on_chunk, log=log,
            timings=timings,
        )
    finally:
        # A run that stopped before storing any chunk leaves nothing behind.
        try:
            if folder.exists() and not any(folder.glob(ChunkStore.PATTERN)) and not any(folder.glob("output.tmp.*")):
                store.remove()
        except OSError:
            pass
        lock.release()


CALIBRATE_POINTS = 131_072  # grids at least this big get chunks sized by a measured rate
CHUNK_SECONDS = 0.5  # the work a chunk should hold (issue 15: 0.5–1 s; each chunk costs ~5 ms besides)
MAX_CHUNK_BATCHES = 8  # at most 8 × EVAL_ROWS rows a chunk (memory)


def measured_rate(job: Job, rows: int = 1_024, blocks: int = 4) -> float:
    """Points per CPU-second of the cost model on this grid: ``rows`` points of its (up to)
    ``blocks`` largest blocks, each weighted by its share of their points.

    Measured in this process, after the preflight, as the chunk sizes were tuned: with its
    caches cold a worker measures a lower rate (57,000–95,000 points a second against
    92,000–102,000 here on the bench grid), which cut the chunks to 32,768 points and made
    the 2-core run slower although the worker was otherwise idle then."""
    big = sorted(job.grid.blocks, key=lambda b: -b.n)[:blocks]
    total = sum(b.n for b in big)
    per_point = 0.0
    for blk in big:
        m = min(blk.n, rows)
        c = time.process_time()
        evaluate_rows(job, blk.start, blk.start + m)
        per_point += blk.n / total * (time.process_time() - c) / m
    return 1.0 / per_point if per_point > 0 else float("inf")


def _chunk_size(job: Job, store: ChunkStore, resume: bool) -> int:
    """Rows per chunk when ``--chunk-size`` is not given.

    Resuming: the interrupted run's (its manifest), so its chunks are reused. A big grid:
    about ``CHUNK_SECONDS`` of work at the measured rate, in whole ``EVAL_ROWS`` batches —
    which keeps the bytes independent of the choice (``_evaluate_in_batches``). Otherwise
    ``default_chunk_size``.
    """
    old = store._read_manifest() if resume else None
    if old and old.get("grid") == job.grid.digest() and isinstance(old.get("chunk_size"), int):
        return int(old["chunk_size"])
    if job.grid.n < CALIBRATE_POINTS or job.fidelity != "closed":
        return default_chunk_size(job.grid.n)
    batches = round(CHUNK_SECONDS * measured_rate(job) / EVAL_ROWS)
    return int(min(MAX_CHUNK_BATCHES, max(1, batches))) * EVAL_ROWS


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


INPUTS = "inputs.json"


HOLD_AHEAD = 4  # chunks ahead of the next to write that _InOrder keeps in memory


class _InOrder:
    """Finished chunks, fed to the sink and the summary strictly in grid order as they become available."""

    def __init__(self, store: ChunkStore, sink: ResultSink, summary: Summary, done: set[int], n_chunks: int,
                 timings: dict[str, float] | None):
        self.store, self.sink, self.summary, self.n_chunks = store, sink, summary, n_chunks
        self.on_disk = set(done)
        self.held: dict[int, pa.Table] = {}
        self.next = 0
        self.for_summary: list[pa.Table] = []
        self.summary_rows = 0
        self.timings = timings

    def add(self, k: int, table: pa.Table | None) -> None:
        # A chunk is in its file before it gets here. A table handed over in memory (this
        # process's own chunk) is kept if its turn is near, to be written without reading
        # it back; one further ahead waits on disk, so memory stays bounded.
        if table is None or k > self.next + HOLD_AHEAD:
            self.on_disk.add(k)
        else:
            self.held[k] = table
        self.drain()

    def drain(self) -> None:
        while self.next < self.n_chunks and (self.next in self.held or self.next in self.on_disk):
            k = self.next
            table = self.held.pop(k) if k in self.held else self.store.read(k)
            c = time.process_time()
            self.sink.write(table)
            c2 = time.process_time()
            # The summary takes rows in batches of at least ROW_GROUP_ROWS (its fold costs
            # ~3 ms a call whatever the rows); its result does not depend on the batching.
            self.for_summary.append(table)
            self.summary_rows += len(table)
            if self.summary_rows >= ROW_GROUP_ROWS or self.next == self.n_chunks - 1:
                self.summary.add_table(pa.concat_tables(self.for_summary))
                self.for_summary, self.summary_rows = [], 0
            if self.timings is not None:
                self.timings["writing"] = self.timings.get("writing", 0.0) + c2 - c
                self.timings["summary"] = self.timings.get("summary", 0.0) + time.process_time() - c2
            self.next += 1


def _start_store(store: ChunkStore, manifest: dict, grid: Grid, resume: bool, log) -> set[int]:
    """Prepare the partial folder; the chunks to reuse (SpecError when an input changed since them)."""
    old_inputs = None
    if resume:
        try:
            old_inputs = json.loads((store.folder / INPUTS).read_text())
        except (OSError, ValueError):
            old_inputs = None
    # A changed input file is named before what it changed (the grid, when it did): the file
    # is what the person edited.
    if resume and isinstance(old_inputs, dict) and any(store.folder.glob(ChunkStore.PATTERN)):
        changed = changed_inputs(old_inputs, grid.inputs)
        if changed:
            what = "no longer exists" if changed[0] not in grid.inputs else "has changed" if changed[0] in old_inputs else "is new"
            raise SpecError(
                changed[0],
                None,
                f"{what} since the interrupted run (its content is hashed); cannot resume: its results would mix "
                "old and new inputs. Run without --resume to start over",
            )
    done, note = store.start(manifest, resume)
    if note and log is not None:
        log(note)
    _clean_stale(store.folder)
    return done


def _run_locked(sweep, grid, job, manifest, store, output, before, t0, constants, *, jobs, backend, scheduler, resume,
                quiet, on_chunk, log, timings):
    """The body of :func:`run_sweep`, with the output's lock held."""
    try:
        # the manifest and inputs.json: a full disk here is one line naming the folder, as for chunks
        done = _start_store(store, manifest, grid, resume, log)
        store._write_atomic(store.folder / INPUTS, json.dumps(grid.inputs, indent=1, sort_keys=True).encode())
    except OSError as e:
        raise _write_error(store.folder, e) from None
    pending = [k for k in range(job.n_chunks) if k not in done]
    done_points = sum(job.bounds(k)[1] - job.bounds(k)[0] for k in done)
    if job.folder is not None:
        job.send = jobs == 1 or (jobs <= 0 and (os.cpu_count() or 1) == 1) or len(pending) <= 1

    # a design is named by its identity, the axes, and any knob that tells two entries of one
    # preset apart (`set:` beside a system or model: hw.chips, hw.parallelism …)
    rows = plan_knobs(grid)[0] if constants is None else [c for c in grid.columns if c not in set(constants.columns)]
    id_cols = ["hw.name", "model.name"] + [a for a in grid.axes if a not in IDENTITY] + summary_knobs(grid, rows)
    summary = Summary(id_cols, list(sweep.pareto))
    sink = ResultSink(output, store.folder, job.schema, {META_SWEEP: grid.name.encode()}, constants)
    feed = _InOrder(store, sink, summary, done, job.n_chunks, timings)
    stage = "evaluating"
    try:
        try:
            feed.drain()  # chunks of an interrupted run, up to the first missing one
            with _Progress(f"sweep {grid.name}", grid.n, done_points, quiet) as progress:
                for k, points, table in execute(job, pending, jobs, backend, scheduler):
                    if job.folder is None:  # dask: the workers sent their tables
                        store.write(k, table)
                    progress.advance(points)
                    if on_chunk is not None:
                        on_chunk(k)
                    feed.add(k, table)
            feed.drain()
        except OSError as e:
            raise _write_error(store.folder if e.filename is None or "output.tmp" not in str(e.filename) else output, e) from None
        stage = "finishing"
        try:
            rows = sink.close()
        except OSError as e:
            raise _write_error(output, e) from None
        stage = "written"
        store.remove()
    except BaseException as exc:
        completed = stage == "written" or (stage == "finishing" and _stat(output) not in (None, before))
        if not completed:
            sink.abort()
        if not isinstance(exc, KeyboardInterrupt):
            raise
        # os.replace is atomic: a new file at the output path means the output had been finished.
        if completed:
            store.remove()
        n = store.count() if store.folder.exists() else 0
        raise SweepInterrupted(output, completed, store.folder, n) from None
    return RunResult(output, grid.n, rows, time.perf_counter() - t0, summary, len(done), job.chunk_size)
