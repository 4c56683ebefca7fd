"""What a sweep found, for people: the best design per headline metric and a Pareto front.

Both are folded in chunk by chunk as the results are written (``Summary.add``), so a
sweep of any size is summarised in bounded memory. Only designs whose weights fit the
hardware (``fits``) compete, when that column was kept. Tables go through ``output.emit``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .output import emit
from .pareto import ParetoFront, collapse_ties

BEST_METRICS = ["tokens_per_s", "tokens_per_s_per_w", "tokens_per_s_per_mm2", "gops_per_w_per_mm2"]
MAX_FRONT_ROWS = 25


ID_COLUMNS = ["hw.name", "model.name"]
KNOB_PREFIXES = ("hw.", "model.", "workload.")


def readable(df: pd.DataFrame) -> pd.DataFrame:
    """Missing values in a form the table renderer shows as a dash (numbers stay numeric)."""
    out = {}
    for c in df.columns:
        col = df[c]
        if not col.isna().any():
            out[c] = col
        elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            out[c] = col.astype("float64")
        else:
            out[c] = col.astype(object).where(col.notna(), None)
    return pd.DataFrame(out, index=df.index)


class VaryingKnobs:
    """Knob columns that take more than one value within a (system, model) pair: the swept axes.

    Fed chunk by chunk; remembers one row per pair and which knobs ever differ from it.
    """

    def __init__(self):
        self.first: dict[tuple, pd.Series] = {}
        self.varying: set[str] = set()
        self.order: list[str] = []

    def add(self, df: pd.DataFrame) -> None:
        knobs = [c for c in df.columns if c.startswith(KNOB_PREFIXES) and c not in ID_COLUMNS]
        if not self.order:
            self.order = knobs
        ids = [c for c in ID_COLUMNS if c in df.columns]
        groups = df.groupby(ids, sort=False, dropna=False) if ids else [((), df)]
        for key, g in groups:
            key = key if isinstance(key, tuple) else (key,)
            ref = self.first.setdefault(key, g.iloc[0])
            for c in knobs:
                if c in self.varying:
                    continue
                col = g[c]
                r = ref.get(c)
                same = col.isna() if pd.isna(r) else (col == r).fillna(False)
                if not bool(same.all()):
                    self.varying.add(c)

    @property
    def columns(self) -> list[str]:
        return [c for c in self.order if c in self.varying]


def fitting(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose model fits the hardware (all rows if there is no ``fits`` column)."""
    if "fits" not in df.columns:
        return df
    return df[df["fits"].fillna(False).astype(bool).to_numpy()]


def _first_best(v: np.ndarray) -> tuple[int, float]:
    """(the first row with the largest finite value, that value; −inf if none is finite)."""
    v = np.where(np.isfinite(v), v, -np.inf)
    i = int(np.argmax(v))
    return i, float(v[i])


def _numbers(col) -> np.ndarray:
    """A result column as floats (nulls and text as NaN), as ``pd.to_numeric(errors="coerce")`` reads it."""
    import pyarrow as pa

    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type):
        return col.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
    return pd.to_numeric(col.to_pandas(), errors="coerce").to_numpy(dtype=float)


class Summary:
    """Best rows per metric and a Pareto front of a result table fed in chunks."""

    def __init__(self, id_columns: list[str], pareto: list[str], metrics: list[str] | None = None):
        self.id_columns = list(dict.fromkeys(id_columns))
        self.metrics = BEST_METRICS if metrics is None else metrics
        self.best: dict[str, pd.Series] = {}
        keep = self.id_columns + [m for m in dict.fromkeys(pareto + self.metrics)]
        self.front = ParetoFront(pareto, columns=keep)
        self.rows = 0
        self.fitting_rows = 0
        self.front_missing: set[str] = set()

    @property
    def columns(self) -> list[str]:
        """The columns a summary reads (select these before converting a chunk)."""
        return list(dict.fromkeys(self.id_columns + ["fits"] + self.front.metrics + self.metrics))

    def add_table(self, table) -> None:
        """``add`` for an arrow table: the rows that can matter — each metric's first best
        fitting row and the chunk's own front — are found on numpy columns, and only they are
        converted (the result is that of ``add`` on the whole table)."""
        from .pareto import pareto_values
        from .writer import to_pandas

        t = table.select([c for c in self.columns if c in table.column_names])
        n = len(t)
        fits = np.ones(n, dtype=bool)
        if "fits" in t.column_names:
            fits = t["fits"].fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        idx = np.flatnonzero(fits)
        self.rows += n
        self.fitting_rows += len(idx)
        if not len(idx):
            return
        keep = []
        for m in self.metrics:
            if m in t.column_names:
                keep.append(idx[_first_best(_numbers(t[m])[idx])[0]])
        if all(m in t.column_names for m in self.front.metrics):
            vals = np.column_stack([_numbers(t[m])[idx] for m in self.front.metrics])
            keep.extend(idx[pareto_values(vals, self.front.maximize)])
        self._add_fitting(to_pandas(t.take(np.unique(np.asarray(keep, dtype=np.int64)))))

    def add(self, df: pd.DataFrame) -> None:
        self.rows += len(df)
        df = fitting(df)
        self.fitting_rows += len(df)
        self._add_fitting(df)

    def _add_fitting(self, df: pd.DataFrame) -> None:
        if df.empty:
            return
        for m in self.metrics:
            if m not in df.columns:
                continue
            i, best = _first_best(pd.to_numeric(df[m], errors="coerce").to_numpy(dtype=float))
            if not np.isfinite(best):
                continue
            # Strictly better only: the first best row (in grid order) wins ties.
            if m not in self.best or best > float(self.best[m][m]):
                self.best[m] = df.iloc[i]
        missing = [m for m in self.front.metrics if m not in df.columns]
        if missing:
            self.front_missing.update(missing)
        else:
            self.front.add(df)

    def best_table(self) -> pd.DataFrame:
        recs = []
        for m in self.metrics:
            if m not in self.best:
                continue
            row = self.best[m]
            rec = {"best for": m}
            rec.update({c: row[c] for c in self.id_columns if c in row.index})
            rec.update({k: row[k] for k in self.metrics if k in row.index})
            recs.append(rec)
        return pd.DataFrame(recs)

    def front_table(self, ties: bool = False) -> pd.DataFrame:
        """The front's rows (ids and metrics); each point once with a ``ties`` count unless ``ties``."""
        rows = self.front.rows
        cols = [c for c in self.id_columns + self.front.metrics if c in rows.columns]
        return rows[cols] if ties else collapse_ties(rows[cols], self.front.metrics)

    def records(self) -> dict:
        """Both tables as plain data (``sweep --format json``)."""
        import json

        from .output import write_json

        def recs(df: pd.DataFrame) -> list:
            import io

            buf = io.StringIO()
            write_json(df, buf)
            return json.loads(buf.getvalue())

        out = {"rows": self.rows, "fitting_rows": self.fitting_rows, "best": recs(self.best_table())}
        if self.front_missing:
            out["pareto"] = None
            out["pareto_missing"] = sorted(self.front_missing)
        else:
            out["pareto_metrics"] = list(self.front.metrics)
            out["pareto"] = recs(self.front_table())
        return out

    def frame(self) -> pd.DataFrame:
        """Both tables in one (``sweep --format csv``): ``section`` is best or pareto."""
        best = self.best_table()
        best.insert(0, "section", "best")
        parts = [best]
        if not self.front_missing:
            front = self.front_table()
            front.insert(0, "section", "pareto")
            parts.append(front)
        parts = [p for p in parts if not p.empty]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["section"])

    def print(self, file=None, title: str = "") -> None:
        """Print both tables (people's view)."""
        if self.rows == 0:  # the sweep's filters kept none (its points were evaluated)
            emit([{"note": "the filters kept no row; nothing to rank"}], "table", file=file)
            return
        if self.fitting_rows == 0:
            emit([{"note": f"no design of the {self.rows:,} rows fits its hardware; nothing to rank"}], "table", file=file)
            return
        emit(readable(self.best_table()), "table", title=f"{title}: best design per metric ({self.fitting_rows:,} fitting of {self.rows:,})", file=file, hoist=True)
        if self.front_missing:
            missing = ", ".join(sorted(self.front_missing))
            emit([{"note": f"no Pareto front: {missing} not among the written columns"}], "table", file=file)
            return
        n_front = len(self.front.rows)
        front = self.front_table()
        shown = front.head(MAX_FRONT_ROWS)
        more = f", first {MAX_FRONT_ROWS} shown" if len(front) > MAX_FRONT_ROWS else ""
        tied = f" ({len(front)} distinct points; ties = designs sharing one)" if len(front) < n_front else ""
        if not tied:
            shown = shown.drop(columns=["ties"])
        emit(
            readable(shown),
            "table",
            title=f"Pareto front of {' × '.join(self.front.metrics)}: {n_front} design(s){tied}{more}",
            file=file,
            hoist=True,
        )
