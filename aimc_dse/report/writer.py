"""The one writer (and reader) of result files: CSV or Parquet, written so a crash leaves no half file.

A sweep's rows arrive as chunks (row ranges of the grid). Each finished chunk is stored as an
Arrow IPC file (LZ4) in a folder beside the output, ``.aimc-dse-<output name>.partial/``,
written to a temporary name and renamed into place, so a chunk file is either whole or absent.
A manifest there records what the chunks were computed from (grid hash, code hash, chunk
size, output columns), so ``--resume`` reuses finished chunks only for the same sweep. As
chunks finish, ``ResultSink`` streams them in row order into a temporary output file in that
folder (Parquet row groups or CSV batches of exactly ``ROW_GROUP_ROWS`` rows), which replaces
the output in one ``os.replace`` when the last one is in; the folder is removed last. Memory
stays bounded by a few chunks, not the grid.

Knobs that do not vary along the rows (fixed per hardware, per model, or for the whole
sweep) can be stored once (``Constants``): in the Parquet metadata, or in a
``NAME.constants.csv`` sidecar beside a CSV file (one line per knob and scope — a hardware
knob once per hardware name — so a spreadsheet reads it). ``iter_results`` / ``read_results`` / ``result_columns`` put them back, so every reader
sees the columns an ``--all-knobs`` file has.

Bytes are deterministic: rows in grid order, columns in a fixed order (knobs, headline
metrics, then other result columns as they first appear), floats printed by the shortest
round-trip representation in CSV (strings quoted, missing values empty), and the schema
version in the Parquet metadata.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv  # noqa: F401  (registers pa.csv)
import pyarrow.ipc  # noqa: F401  (registers pa.ipc)
import pyarrow.parquet as pq

from ..cost.metrics import HEADLINE_COLUMNS, SCHEMA_VERSION
from ..specs.base import SpecError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
META_SCHEMA = b"aimc_dse.schema_version"
META_SWEEP = b"aimc_dse.sweep"
ROW_GROUP_ROWS = 65_536


def output_format(path: str | Path) -> str:
    """``csv`` or ``parquet`` from the file extension (SpecError for anything else)."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise SpecError(str(path), None, "output must end in .csv or .parquet")
    return fmt


def partial_dir(output: str | Path) -> Path:
    """Folder of a run's finished chunks, beside its output."""
    out = Path(output)
    return out.parent / f".aimc-dse-{out.name}.partial"


# ---- arrow helpers --------------------------------------------------------------------------


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def unify_type(types: Iterable[pa.DataType]) -> pa.DataType:
    """One type that holds every given type: nulls drop out, numbers widen, else text."""
    ts = [t for t in types if not pa.types.is_null(t)]
    if not ts:
        return pa.null()
    first = ts[0]
    if all(t == first for t in ts):
        return first
    if all(_is_number(t) for t in ts):
        if all(pa.types.is_integer(t) or pa.types.is_boolean(t) for t in ts):
            return pa.int64()
        return pa.float64()
    if all(pa.types.is_string(t) or pa.types.is_large_string(t) for t in ts):
        return pa.large_string()
    return pa.string()


def unify_schema(schemas: Iterable[pa.Schema], first: Iterable[str] = ()) -> pa.Schema:
    """Union of fields: ``first`` (those present) in that order, the headline columns, then the rest as they appear."""
    types: dict[str, list[pa.DataType]] = {}
    for s in schemas:
        for f in s:
            types.setdefault(f.name, []).append(f.type)
    order = [c for c in first if c in types]
    order += [c for c in HEADLINE_COLUMNS if c in types and c not in order]
    seen = set(order)
    order += [c for c in types if c not in seen]
    return pa.schema([pa.field(c, unify_type(types[c])) for c in order])


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns and types (missing columns are nulls)."""
    if table.schema.equals(schema, check_metadata=False):
        return table
    have = dict(zip(table.column_names, table.columns))
    arrays = []
    for f in schema:
        col = have.get(f.name)
        if col is None:
            arrays.append(pa.nulls(len(table), f.type))
        else:
            arrays.append(col if col.type == f.type else col.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def combine(tables: list[pa.Table], first: Iterable[str] = ()) -> pa.Table:
    """Concatenate tables whose columns differ (other systems' columns become nulls)."""
    if len(tables) == 1 and not list(first):
        return tables[0]
    schema = unify_schema([t.schema for t in tables], first)
    return pa.concat_tables([conform(t, schema) for t in tables])


def to_arrow(df: pd.DataFrame, types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """A DataFrame as an arrow table without pandas metadata, columns cast to ``types`` where given."""
    t = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    if types:
        schema = pa.schema([pa.field(f.name, types.get(f.name, f.type)) for f in t.schema])
        t = conform(t, schema)
    return t


def arrow_type(dtype: str) -> pa.DataType:
    """Arrow type of a grid column's pandas dtype (``Grid.dtypes``)."""
    return {
        "bool": pa.bool_(),
        "boolean": pa.bool_(),
        "int64": pa.int64(),
        "Int64": pa.int64(),
        "float64": pa.float64(),
    }.get(dtype, pa.large_string())


_PANDAS_TYPES = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """An arrow table as a DataFrame with nullable ints/bools (so 100 stays 100, not 100.0)."""
    return table.to_pandas(types_mapper=_PANDAS_TYPES.get)


# ---- constant knobs -------------------------------------------------------------------------

META_CONSTANTS = b"aimc_dse.constants"
SIDECAR_SUFFIX = ".constants.csv"
ALL_ROWS = "all"  # scope of a knob constant over the whole sweep


def sidecar_path(output: str | Path) -> Path:
    """The CSV sidecar holding a CSV result file's constant knobs: ``NAME.constants.csv``."""
    out = Path(output)
    return out.with_name(out.stem + SIDECAR_SUFFIX)


SIDECAR_COLUMNS = ["applies_to", "name", "knob", "value", "type", "position"]


def _is_sidecar(path: Path) -> bool:
    """Whether ``path`` is a file whose header is a sidecar's (``applies_to, name, knob, …``)."""
    import csv

    try:
        with open(path, encoding="utf-8", newline="") as f:
            head = f.readline(4096)
        return next(csv.reader([head]), []) == SIDECAR_COLUMNS
    except (OSError, UnicodeDecodeError, csv.Error):
        return False


def check_sidecar_slot(output: str | Path) -> None:
    """SpecError when writing the CSV ``output`` would replace a file that is not its sidecar.

    Writing ``NAME.csv`` puts its constant knobs in ``NAME.constants.csv`` and removes an
    older sidecar there first; a file at that name that is not a sidecar (another sweep's
    ``-o NAME.constants.csv``, a folder) is someone else's and is never replaced, ``--force``
    or not (``--force`` is about the output named).
    """
    output = Path(output)
    if output_format(output) != "csv":
        return
    side = sidecar_path(output)
    if (side.exists() or side.is_symlink()) and not (side.is_file() and _is_sidecar(side)):
        raise SpecError(
            str(output), None,
            f"{side} is not a sidecar of constant knobs (another results file?), and writing {output.name} would "
            "replace it with its own; it is left alone: move it, or write elsewhere with -o",
        )


def _json_value(v: Any) -> Any:
    """A knob value as plain JSON (numpy scalars unwrapped, NaN/NA as null)."""
    if hasattr(v, "item"):
        v = v.item()
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    return v


class Constants:
    """Knob columns that are not written on every row, and their values.

    A knob whose value is fixed for every row of one hardware (``hw.*``, keyed by
    ``hw.name``), one model (``model.*``, keyed by ``model.name``) or the whole sweep (the
    rest) is stored once: ``values[scope][name][column]`` with scope ``hw.name``,
    ``model.name`` or ``all`` (name ``""``). ``order`` is every knob column in the grid's
    order (written ones included), ``dtypes`` their arrow type names, so a reader restores
    the exact columns an ``--all-knobs`` file has (``restore``).
    """

    def __init__(self, order: list[str], dtypes: dict[str, str], values: dict[str, dict[str, dict[str, Any]]]):
        self.order, self.dtypes, self.values = list(order), dict(dtypes), values

    @property
    def columns(self) -> list[str]:
        """The columns held here (not on the rows), in the grid's order."""
        held = {c for names in self.values.values() for cols in names.values() for c in cols}
        return [c for c in self.order if c in held]

    def scope_of(self, column: str) -> str:
        for scope, names in self.values.items():
            if any(column in cols for cols in names.values()):
                return scope
        raise KeyError(column)

    # -- serialisation: Parquet metadata (JSON) and the CSV sidecar (long table, one knob a line)

    def to_json(self) -> bytes:
        doc = {"order": self.order, "dtypes": self.dtypes, "values": self.values}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Constants":
        doc = json.loads(data)
        return cls(doc["order"], doc["dtypes"], doc["values"])

    def to_table(self) -> pa.Table:
        """The sidecar: ``applies_to, name, knob, value, type, position`` (a spreadsheet reads it as is)."""
        pos = {c: i for i, c in enumerate(self.order)}
        rows = []
        for scope in sorted(self.values):
            for name in sorted(self.values[scope]):
                for c, v in self.values[scope][name].items():
                    rows.append((scope, name, c, "" if v is None else _cell(v), self.dtypes[c], pos[c]))
        # the knobs written on every row too, so the sidecar alone lists every knob in order
        held = set(self.columns)
        rows += [("row", "", c, "", self.dtypes[c], pos[c]) for c in self.order if c not in held]
        rows.sort(key=lambda r: (r[5], r[0], r[1]))
        cols = list(zip(*rows)) if rows else [()] * 6
        names = ["applies_to", "name", "knob", "value", "type", "position"]
        arrays = [pa.array(list(col), pa.int64() if n == "position" else pa.string()) for n, col in zip(names, cols)]
        return pa.Table.from_arrays(arrays, names=names)

    @classmethod
    def from_table(cls, df: pd.DataFrame) -> "Constants":
        df = df.sort_values("position", kind="stable")
        order = list(dict.fromkeys(df["knob"].astype(str)))
        dtypes = dict(zip(df["knob"].astype(str), df["type"].astype(str)))
        values: dict[str, dict[str, dict[str, Any]]] = {}
        for scope, name, knob, value, typ in zip(df["applies_to"], df["name"], df["knob"], df["value"], df["type"]):
            if scope == "row":
                continue
            name = "" if pd.isna(name) else str(name)
            values.setdefault(str(scope), {}).setdefault(name, {})[str(knob)] = _parse_cell(value, str(typ))
        return cls(order, dtypes, values)

    # -- reading back

    def restore(self, table: pa.Table, columns: list[str] | None = None) -> pa.Table:
        """``table`` (rows of a result file) with the held knobs put back, in the grid's column order."""
        n = len(table)
        have = set(table.column_names)
        extra: dict[str, pa.Array] = {}
        for c in self.columns:
            if columns is not None and c not in columns:
                continue
            typ = _arrow_type_name(self.dtypes[c])
            scope = self.scope_of(c)
            names = self.values[scope]
            # Files of earlier versions typed a numeric knob that some system leaves unset as
            # text while storing its value as a number: such a value is read as its text.
            text = pa.types.is_string(typ) or pa.types.is_large_string(typ)
            if scope == ALL_ROWS:
                v = _as_text(names.get("", {}).get(c), text)
                extra[c] = pa.nulls(n, typ) if v is None else pa.repeat(pa.scalar(v, typ), n)
                continue
            keys = table.column(scope).to_pylist() if scope in have else [None] * n
            extra[c] = pa.array([_as_text(names.get(k, {}).get(c), text) if k is not None else None for k in keys], typ)
        knobs = [c for c in self.order if c in have or c in extra]
        rest = [c for c in table.column_names if c not in set(knobs)]
        arrays = [table.column(c) if c in have else extra[c] for c in knobs] + [table.column(c) for c in rest]
        out = pa.Table.from_arrays(arrays, names=knobs + rest)
        return out if columns is None else out.select([c for c in columns if c in out.column_names])


def _arrow_type_name(name: str) -> pa.DataType:
    return {"bool": pa.bool_(), "int64": pa.int64(), "double": pa.float64(), "large_string": pa.large_string(),
            "string": pa.string(), "null": pa.null()}.get(name, pa.large_string())


def _as_text(v: Any, text: bool) -> Any:
    return _cell(v) if text and v is not None and not isinstance(v, str) else v


def _cell(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        s = repr(v)
        return s[:-2] if s.endswith(".0") else s
    return str(v)


def _parse_cell(v: Any, typ: str) -> Any:
    if v is None or (isinstance(v, float) and v != v) or v == "":
        return None if typ != "large_string" or v is None or v != "" else ""
    t = _arrow_type_name(typ)
    if pa.types.is_boolean(t):
        return str(v).lower() == "true"
    if pa.types.is_integer(t):
        return int(float(v))
    if pa.types.is_floating(t):
        return float(v)
    return str(v)


def read_constants(path: str | Path) -> Constants | None:
    """The constant knobs of a result file (Parquet metadata or the CSV sidecar); None if it has all."""
    path = Path(path)
    if output_format(path) == "parquet":
        try:
            meta = pq.read_schema(path).metadata or {}
        except (pa.ArrowException, OSError) as e:  # not a Parquet file, or cut short
            raise SpecError(str(path), None, f"cannot read results: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        data = meta.get(META_CONSTANTS)
        try:
            return Constants.from_json(data) if data else None
        except (ValueError, KeyError, TypeError) as e:
            raise SpecError(str(path), None, f"cannot read the constant knobs in its metadata: {type(e).__name__} {e}") from None
    side = sidecar_path(path)
    if not side.is_file():
        return None
    try:
        df = pd.read_csv(side, dtype=str, keep_default_na=False)
        df["position"] = df["position"].astype(int)
        return Constants.from_table(df)
    except (ValueError, KeyError, pd.errors.ParserError, OSError) as e:
        raise SpecError(str(side), None, f"cannot read the constant knobs: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


# ---- the chunk store ------------------------------------------------------------------------


class ChunkStore:
    """Finished chunks of one run, each an atomically written Arrow IPC file, plus a manifest.

    A chunk file holds exactly the output's columns and types (the writer's schema), so the
    parent reads it (memory-mapped, LZ4-compressed) and streams it into the output without
    converting anything.
    """

    MANIFEST = "manifest.json"
    LOCK = "run.lock"  # held by the run writing this folder (sweep.runner); never removed while held
    PATTERN = "chunk-*.arrow"

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, k: int) -> Path:
        return self.folder / f"chunk-{k:07d}.arrow"

    def start(self, manifest: dict[str, Any], resume: bool) -> tuple[set[int], str | None]:
        """Prepare the folder; return the chunks to reuse and a note for the user (or None).

        With ``resume``, finished chunks are kept if the stored manifest equals ``manifest``;
        a different manifest is an error naming what changed. Without it, leftovers are cleared.
        """
        note = None
        old = self._read_manifest()
        if self.folder.exists() and not resume:
            n = len(self._chunk_files())
            if n:
                note = f"discarding {n} finished chunk(s) of an earlier unfinished run (use --resume to reuse them)"
            self._clear()
        elif resume and old is not None and old != manifest:
            what = [k for k in manifest if old.get(k) != manifest[k]] or ["manifest"]
            reasons = {
                "grid": "the sweep's grid has changed",
                "code": "the cost model's code has changed",
                # the interrupted run may have chosen its size itself: say the number to give
                "chunk_size": f"the interrupted run's chunks were {old.get('chunk_size')} points (resume with "
                              f"--chunk-size {old.get('chunk_size')}, or without --chunk-size)",
                "columns": "the sweep's columns, filters or output format changed",
                "all_knobs": "--all-knobs was " + ("given" if old.get("all_knobs") else "not given"),
            }
            why = "; ".join(reasons.get(k, f"{k} changed") for k in what)
            raise SpecError(
                str(self.folder),
                None,
                f"cannot resume: {why}. Run without --resume to start over",
            )
        elif resume and old is None and self.folder.exists():
            self._clear()
        if resume and old is None:
            note = "nothing to resume; starting from the beginning"
        self.folder.mkdir(parents=True, exist_ok=True)
        for tmp in self.folder.glob("*.tmp"):
            tmp.unlink()
        self._write_atomic(self.folder / self.MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
        n_chunks = manifest.get("n_chunks", 0)
        done = {k for k in self._chunk_files() if k < n_chunks}
        return done, note

    def _clear(self) -> None:
        """Remove everything in the folder but the lock file (another run may be waiting on it)."""
        for p in self.folder.iterdir():
            if p.name == self.LOCK:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()

    def _read_manifest(self) -> dict | None:
        try:
            return json.loads((self.folder / self.MANIFEST).read_text())
        except (OSError, ValueError):
            return None

    def _chunk_files(self) -> list[int]:
        if not self.folder.exists():
            return []
        return sorted(int(p.name.split("-")[1].split(".")[0]) for p in self.folder.glob(self.PATTERN))

    def count(self) -> int:
        return len(self._chunk_files())

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def write(self, k: int, table: pa.Table) -> None:
        """Store chunk ``k`` (to a temporary name, then renamed: a chunk file is whole or absent)."""
        path = self.path(k)
        tmp = path.with_name(path.name + ".tmp")
        # LZ4 halves the files (the names compress to nothing) for about 0.1 µs a row each way.
        opts = pa.ipc.IpcWriteOptions(compression="lz4")
        with pa.OSFile(str(tmp), "wb") as f, pa.ipc.new_file(f, table.schema, options=opts) as w:
            w.write_table(table)
        os.replace(tmp, path)

    def read(self, k: int) -> pa.Table:
        """Chunk ``k`` (memory-mapped: the pages are those the worker just wrote, still in the page cache)."""
        with pa.memory_map(str(self.path(k)), "r") as src:
            return pa.ipc.open_file(src).read_all()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class ResultSink:
    """The output file, written as rows stream in (in grid order), then moved into place atomically.

    Rows go to a temporary file in the partial folder; Parquet row groups (and CSV batches)
    are exactly ``ROW_GROUP_ROWS`` rows whatever the chunks were, so the bytes depend on the
    rows only — not on chunk sizes, workers or resumes. ``close`` fsyncs and renames the file
    over the output (a CSV's old sidecar removed first, the new one put beside it after);
    ``abort`` removes it.
    """

    def __init__(self, output: str | Path, folder: str | Path, schema: pa.Schema,
                 metadata: dict[bytes, bytes] | None = None, constants: Constants | None = None):
        self.output = Path(output)
        self.fmt = output_format(self.output)
        self.constants = constants
        meta = {META_SCHEMA: str(SCHEMA_VERSION).encode(), **(metadata or {})}
        if constants is not None and self.fmt == "parquet":
            meta[META_CONSTANTS] = constants.to_json()
        self.schema = schema.with_metadata(meta)
        self.tmp = Path(folder) / ("output.tmp" + self.output.suffix)
        self.rows = 0
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._sink: Any = None

    def _open(self) -> None:
        self.tmp.parent.mkdir(parents=True, exist_ok=True)
        if self.fmt == "parquet":
            # dictionary pages only where values repeat (names, knobs, flags): tried on every
            # float column they are abandoned after costing half the writer's CPU
            dicts = [f.name for f in self.schema if not pa.types.is_floating(f.type)]
            self._sink = pq.ParquetWriter(self.tmp, self.schema, use_dictionary=dicts)
        else:
            self._sink = pa.csv.CSVWriter(str(self.tmp), self.schema, write_options=pa.csv.WriteOptions(quoting_style="needed"))

    def write(self, table: pa.Table) -> None:
        """Append rows (exactly the sink's columns and types)."""
        if self._sink is None:
            self._open()
        if not table.schema.equals(self.schema, check_metadata=False):
            table = conform(table, self.schema)
        self.rows += len(table)
        self._pending.append(table)
        self._pending_rows += len(table)
        while self._pending_rows >= ROW_GROUP_ROWS:
            self._flush(ROW_GROUP_ROWS)

    def _flush(self, n: int) -> None:
        both = pa.concat_tables(self._pending)
        head, tail = both.slice(0, n), both.slice(n)
        self._sink.write_table(head.combine_chunks(), row_group_size=n) if self.fmt == "parquet" else self._sink.write_table(head)
        self._pending = [tail] if len(tail) else []
        self._pending_rows = len(tail)

    def close(self) -> int:
        """Finish the file and put it in place (a CSV with its sidecar of constant knobs); return rows written."""
        if self._sink is None:
            self._open()
        if self._pending_rows:
            self._flush(self._pending_rows)
        self._sink.close()
        _fsync(self.tmp)
        side = sidecar_path(self.output)
        stmp = self.tmp.with_name("sidecar.tmp.csv")
        if self.fmt == "csv" and self.constants is not None:
            pa.csv.write_csv(self.constants.to_table(), str(stmp), pa.csv.WriteOptions(quoting_style="needed"))
            _fsync(stmp)
        # Two files cannot appear at once. The old sidecar goes first, so that a crash between
        # the renames leaves a CSV without a sidecar (which readers point out), never a new
        # CSV beside an old sidecar that describes other knobs. A file there that is not a
        # sidecar is not ours to remove (checked before the run too: runner.run_sweep).
        if self.fmt == "csv" and (side.exists() or side.is_symlink()):
            check_sidecar_slot(self.output)
            side.unlink()
        os.replace(self.tmp, self.output)
        if self.fmt == "csv" and self.constants is not None:
            os.replace(stmp, side)
        _fsync(self.output.parent)
        return self.rows

    def abort(self) -> None:
        try:
            if self._sink is not None:
                self._sink.close()
        except Exception:
            pass
        self._sink = None
        if self.tmp.exists():
            self.tmp.unlink()


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk; a folder that cannot be
    opened for it (some file systems) is left to the system."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if path.is_dir():
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not path.is_dir():
            raise
    finally:
        os.close(fd)


def write_frame(df: pd.DataFrame, output: str | Path, first_columns: Iterable[str] = (), metadata=None) -> None:
    """Write one in-memory table (small reference tables) by the same rules, atomically."""
    output = Path(output)
    folder = partial_dir(output)
    folder.mkdir(parents=True, exist_ok=True)
    t = to_arrow(df)
    sink = ResultSink(output, folder, unify_schema([t.schema], list(first_columns)), metadata)
    try:
        sink.write(t)
        sink.close()
    finally:
        sink.abort()
        shutil.rmtree(folder, ignore_errors=True)


# ---- reading results -------------------------------------------------------------------------


def _check_readable(path: Path) -> str:
    if not path.exists():
        raise SpecError(str(path), None, "file not found")
    if path.is_dir():
        raise SpecError(str(path), None, "is a folder, not a results file")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SpecError(str(path), None, "a results file must end in .csv or .parquet")
    if fmt == "csv" and path.is_file() and _last_row_cut(path):
        raise SpecError(str(path), None, "is truncated: its last line has fewer fields than the header (an interrupted copy?)")
    return fmt


def _last_row_cut(path: Path, tail_bytes: int = 1 << 16) -> bool:
    """True when a CSV's last line does not end in a newline and has fewer fields than its
    header: a cut file, whose partial row a reader would take as a row with missing values."""
    import csv

    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return False
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return False
        f.seek(0)
        head = f.readline(tail_bytes)
        f.seek(max(0, size - tail_bytes))
        tail = f.read().rsplit(b"\n", 1)[-1]
    try:
        n_head = len(next(csv.reader([head.decode("utf-8")])))
        n_last = len(next(csv.reader([tail.decode("utf-8")])))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return False  # the reader's own error follows
    return tail != head and n_last < n_head


def missing_sidecar(path: str | Path) -> Path | None:
    """The sidecar a CSV written by a sweep should have beside it and does not: its rows carry
    an identity and results but not the knobs every --all-knobs file has (``hw.kind``)."""
    path = Path(path)
    side = sidecar_path(path)
    if output_format(path) != "csv" or side.exists():
        return None
    try:
        names = set(pd.read_csv(path, nrows=0).columns)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError):
        return None
    return side if {"hw.name", "fits"} <= names and "hw.kind" not in names else None


def result_columns(path: str | Path) -> list[str]:
    """Column names of a result file, constant knobs included (reads only the header / footer)."""
    path = Path(path)
    fmt = _check_readable(path)
    if not path.is_file():
        raise SpecError(str(path), None, "is not a regular file")
    try:
        if fmt == "parquet":
            names = pq.read_schema(path).names
        else:
            names = list(pd.read_csv(path, nrows=0).columns)
    except pd.errors.EmptyDataError:
        raise SpecError(str(path), None, "is empty (no header line); not a results file") from None
    except (pa.ArrowException, pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as e:
        raise SpecError(str(path), None, f"cannot read results: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    consts = read_constants(path)
    if consts is None:
        return names
    knobs = [c for c in consts.order if c in names or c in set(consts.columns)]
    return knobs + [c for c in names if c not in set(knobs)]


def _asked_columns(path: Path, columns: Iterable[str] | str | None) -> list[str] | None:
    """``columns`` as a list (one name given as a string is that column), each checked to be a
    column of the file, constant knobs included: a SpecError naming the first that is not.
    (Without this, Parquet skipped an unknown name and a string was read letter by letter.)"""
    if columns is None:
        return None
    asked = [columns] if isinstance(columns, str) else list(columns)
    for c in asked:
        if not isinstance(c, str):
            raise SpecError(str(path), None, f"columns: {c!r:.60} is not a column name (give names as strings)")
    names = result_columns(path)
    known = set(names)
    for c in asked:
        if c not in known:
            import difflib

            close = difflib.get_close_matches(c, names, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            side = missing_sidecar(path)
            gone = f" (the constant knobs of a sweep's CSV are in {side.name}, which is missing)" if side else ""
            raise SpecError(str(path), None, f"columns: {c!r} is not a column of this file{hint}{gone}")
    return asked


def iter_results(path: str | Path, columns: Iterable[str] | str | None = None, batch_rows: int = 250_000) -> Iterator[pd.DataFrame]:
    """A result file in batches of rows (bounded memory), optionally only some columns.

    Knobs stored once (``Constants``: Parquet metadata or the CSV sidecar) are put back on
    every row, so readers see the same columns as in an ``--all-knobs`` file. A name in
    ``columns`` that the file does not have is a SpecError (one name may be given as a string).
    """
    path = Path(path)
    fmt = _check_readable(path)
    columns = _asked_columns(path, columns)
    consts = read_constants(path) if path.is_file() else None
    read_cols = columns
    if consts is not None and columns is not None:
        held = set(consts.columns)
        keys = {consts.scope_of(c) for c in columns if c in held} - {ALL_ROWS}
        read_cols = [c for c in columns if c not in held] + sorted(k for k in keys if k not in columns)
    try:
        if fmt == "parquet":
            f = pq.ParquetFile(path)
            for batch in f.iter_batches(batch_size=batch_rows, columns=read_cols):
                t = pa.Table.from_batches([batch])
                yield to_pandas(consts.restore(t, columns) if consts is not None else t)
        else:
            # low_memory=False: each batch's types are inferred from the whole batch, not from
            # the parser's internal blocks (which could read one column as bools in one block
            # and as text in the next, and warn)
            for df in pd.read_csv(path, usecols=read_cols, chunksize=batch_rows, dtype_backend="numpy_nullable",
                                  low_memory=False):
                df = _typed_as_written(_like_parquet(df))
                if consts is not None:
                    df = _restore_frame(df, consts, columns)
                if columns is not None:  # the asked order, as the Parquet path gives (usecols keeps the file's)
                    df = df[[c for c in columns if c in df.columns]]
                yield df
    except pd.errors.EmptyDataError:
        raise SpecError(str(path), None, "is empty (no header line); not a results file") from None
    except (pa.ArrowException, pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SpecError(str(path), None, f"cannot read results: {msg}") from None


def _restore_frame(df: pd.DataFrame, consts: Constants, columns: list[str] | None) -> pd.DataFrame:
    """A CSV batch with the constant knobs put back, typed exactly as reading an ``--all-knobs`` CSV types them.

    The distinct identities of the batch get their constants written as CSV text and read
    back by the same reader (so an integral float reads as an integer, as it would on every
    row), then are joined onto the rows.
    """
    import io

    held = [c for c in consts.columns if columns is None or c in columns]
    if not held:  # none of the asked columns is held: the rows have them all
        return df[[c for c in df.columns if columns is None or c in columns]]
    keys = [k for k in ("hw.name", "model.name") if k in df.columns]
    if keys:
        ids = df[keys].drop_duplicates()
        table = pa.Table.from_arrays([pa.array(ids[k].astype(object).tolist(), pa.large_string()) for k in keys], names=keys)
    else:
        ids, table = None, pa.table({"_": pa.nulls(1)})
    restored = consts.restore(table, held).select(held)
    buf = io.BytesIO()
    pa.csv.write_csv(restored, buf, pa.csv.WriteOptions(quoting_style="needed"))
    buf.seek(0)
    # skip_blank_lines=False: with one knob, a missing value is an empty line, not no line
    text = _like_parquet(pd.read_csv(buf, dtype_backend="numpy_nullable", skip_blank_lines=False))
    if ids is not None:
        text.index = pd.MultiIndex.from_frame(ids.reset_index(drop=True)) if len(keys) > 1 else pd.Index(ids[keys[0]].to_numpy())
        where = pd.MultiIndex.from_frame(df[keys]) if len(keys) > 1 else pd.Index(df[keys[0]].to_numpy())
        text = text.iloc[text.index.get_indexer(where)]
    else:
        text = text.iloc[np.zeros(len(df), dtype=np.int64)]
    text.index = df.index
    order = [c for c in consts.order if c in df.columns or c in text.columns]
    order += [c for c in df.columns if c not in set(order)]
    # the grid's order here; iter_results puts asked columns in the asked order
    return pd.concat([df, text], axis=1)[[c for c in order if columns is None or c in columns]]


def _typed_as_written(df: pd.DataFrame) -> pd.DataFrame:
    """A CSV batch's result columns with the registry's types, as the same rows of the Parquet
    file have them. Text cannot say that 4.0 was a float (it reads as an integer) or that an
    empty cell was '' rather than missing: a result column every system writes (``fit_reason``)
    is never missing, so its empty cells are ''. (Knobs keep what the CSV text says, as on every
    row of an ``--all-knobs`` file, which has no sidecar to type them: docs/sweeps.md.)"""
    from ..cost import registry

    out = {}
    for c in df.columns:
        col, reg = df[c], registry.column(str(c))
        if reg is not None and reg.dtype == "float" and not pd.api.types.is_float_dtype(col.dtype):
            col = col.astype("float64")
        elif reg is not None and reg.dtype == "str" and set(reg.systems) >= {"aimc", "gpu"}:
            # (a column empty on every row reads as all-missing numbers: made text first)
            col = col.astype(object).where(col.notna(), "").astype("str")
        out[c] = col
    return pd.DataFrame(out, index=df.index)


def _like_parquet(df: pd.DataFrame) -> pd.DataFrame:
    """A CSV batch typed as a Parquet one reads: nullable integers and booleans, plain floats and text.

    (Plain ``read_csv`` turns an integer knob with missing values — ``hw.tiles`` on GPU rows —
    into floats, and booleans with gaps into text.)
    """
    out = {}
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_float_dtype(col.dtype):
            out[c] = col.astype("float64")
        elif isinstance(col.dtype, pd.StringDtype):
            out[c] = col.astype("str")  # pandas' default text type, missing values NaN
        else:
            out[c] = col
    return pd.DataFrame(out, index=df.index)


def read_results(path: str | Path, columns: Iterable[str] | str | None = None) -> pd.DataFrame:
    """A whole result file as a DataFrame (``columns``: only these, as in :func:`iter_results`)."""
    parts = list(iter_results(path, columns))
    if parts:
        return pd.concat(parts, ignore_index=True)
    return pd.DataFrame(columns=[columns] if isinstance(columns, str) else list(columns or []))


def schema_version(path: str | Path) -> int | None:
    """The schema version stored in a Parquet result file's metadata (None if absent)."""
    meta = pq.read_schema(Path(path)).metadata or {}
    v = meta.get(META_SCHEMA)
    return int(v) if v is not None else None
