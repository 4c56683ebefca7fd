"""The one writer (and reader) of result files: CSV or Parquet, written so a crash leaves no half file.

A sweep's rows arrive as chunks (row ranges of the grid). Each finished chunk is stored as a
Parquet file in a folder beside the output, ``.aimc-dse-<output name>.partial/``, written to a
temporary name and renamed into place, so a chunk file is either whole or absent. A manifest
there records what the chunks were computed from (grid hash, code hash, chunk size), so
``--resume`` reuses finished chunks only for the same sweep. When every chunk is in, the
output is assembled by streaming the chunk files in row order (Parquet row groups, or CSV text
appended chunk by chunk) into a temporary file in that folder, which then replaces the output
in one ``os.replace``; the folder is removed last. Memory stays bounded by a chunk, not the grid.

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
from typing import Any, Callable, Iterable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.csv  # noqa: F401  (registers pa.csv)
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


# ---- the chunk store ------------------------------------------------------------------------


class ChunkStore:
    """Finished chunks of one run, each an atomically written Parquet file, plus a manifest."""

    MANIFEST = "manifest.json"
    LOCK = "run.lock"  # held by the run writing this folder (sweep.runner); never removed while held

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, k: int) -> Path:
        return self.folder / f"chunk-{k:07d}.parquet"

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
                "chunk_size": f"--chunk-size was {old.get('chunk_size')}",
                "columns": "the sweep's columns, filters or output format changed",
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
        return sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("chunk-*.parquet"))

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def write(self, k: int, table: pa.Table) -> None:
        path = self.path(k)
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)

    def read(self, k: int) -> pa.Table:
        return pq.read_table(self.path(k))

    def schema(self, k: int) -> pa.Schema:
        return pq.read_schema(self.path(k))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def assemble(
    store: ChunkStore,
    n_chunks: int,
    output: str | Path,
    first_columns: list[str],
    metadata: dict[bytes, bytes] | None = None,
    on_rows: Callable[[pa.Table], None] | None = None,
) -> int:
    """Stream the chunk files into ``output`` (CSV or Parquet), atomically; return rows written.

    ``on_rows`` sees each chunk's rows (an arrow table, for summaries) on the way through.
    """
    output = Path(output)
    fmt = output_format(output)
    schema = unify_schema([store.schema(k) for k in range(n_chunks)], first_columns)
    meta = {META_SCHEMA: str(SCHEMA_VERSION).encode(), **(metadata or {})}
    schema = schema.with_metadata(meta)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.folder / ("output.tmp" + output.suffix)
    rows = 0
    try:
        if fmt == "parquet":
            sink = pq.ParquetWriter(tmp, schema)
        else:
            sink = pa.csv.CSVWriter(str(tmp), schema, write_options=pa.csv.WriteOptions(quoting_style="needed"))
        with sink:
            # Chunks are gathered into writes (Parquet row groups) of at least ROW_GROUP_ROWS rows.
            pending: list[pa.Table] = []
            pending_rows = 0
            for k in range(n_chunks):
                t = conform(store.read(k), schema)
                rows += len(t)
                if on_rows is not None:
                    on_rows(t)
                pending.append(t)
                pending_rows += len(t)
                if pending_rows >= ROW_GROUP_ROWS or k == n_chunks - 1:
                    if pending_rows:
                        sink.write_table(pa.concat_tables(pending).combine_chunks())
                    pending, pending_rows = [], 0
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
    return rows


def write_frame(df: pd.DataFrame, output: str | Path, first_columns: Iterable[str] = (), metadata=None) -> None:
    """Write one in-memory table (small reference tables) by the same rules, atomically."""
    output = Path(output)
    store = ChunkStore(partial_dir(output))
    store.folder.mkdir(parents=True, exist_ok=True)
    try:
        store.write(0, to_arrow(df))
        assemble(store, 1, output, list(first_columns), metadata)
    finally:
        store.remove()


# ---- reading results -------------------------------------------------------------------------


def _check_readable(path: Path) -> str:
    if not path.exists():
        raise SpecError(str(path), None, "file not found")
    return output_format(path)


def result_columns(path: str | Path) -> list[str]:
    """Column names of a result file (reads only the header / footer); SpecError when unreadable."""
    path = Path(path)
    fmt = _check_readable(path)
    if not path.is_file():
        raise SpecError(str(path), None, "is not a regular file")
    try:
        if fmt == "parquet":
            return pq.read_schema(path).names
        return list(pd.read_csv(path, nrows=0).columns)
    except pd.errors.EmptyDataError:
        raise SpecError(str(path), None, "is empty (no header line); not a results file") from None
    except (pa.ArrowException, pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as e:
        raise SpecError(str(path), None, f"cannot read results: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def iter_results(path: str | Path, columns: list[str] | None = None, batch_rows: int = 250_000) -> Iterator[pd.DataFrame]:
    """A result file in batches of rows (bounded memory), optionally only some columns."""
    path = Path(path)
    fmt = _check_readable(path)
    try:
        if fmt == "parquet":
            f = pq.ParquetFile(path)
            for batch in f.iter_batches(batch_size=batch_rows, columns=columns):
                yield to_pandas(pa.Table.from_batches([batch]))
        else:
            for df in pd.read_csv(path, usecols=columns, chunksize=batch_rows, dtype_backend="numpy_nullable"):
                yield _like_parquet(df)
    except pd.errors.EmptyDataError:
        raise SpecError(str(path), None, "is empty (no header line); not a results file") from None
    except (pa.ArrowException, pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SpecError(str(path), None, f"cannot read results: {msg}") from None


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


def read_results(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A whole result file as a DataFrame."""
    parts = list(iter_results(path, columns))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns or [])


def schema_version(path: str | Path) -> int | None:
    """The schema version stored in a Parquet result file's metadata (None if absent)."""
    meta = pq.read_schema(Path(path)).metadata or {}
    v = meta.get(META_SCHEMA)
    return int(v) if v is not None else None
