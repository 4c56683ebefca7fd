"""A sweep as a DataFrame: what ``aimc_dse.sweep(...)`` (the Python API) runs.

The same pipeline as ``aimc-dse sweep``: the grid (``grid.load_grid``: Pareto metrics always
written, inputs hashed), the chunked runner, the results file read back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


def sweep_frame(
    path_or_dict: str | Path | Mapping[str, Any],
    output: str | Path | None = None,
    *,
    jobs: int = 1,
    max_points: int | None = None,
    chunk_size: int | None = None,
    force: bool = True,
    quiet: bool = True,
):
    """Run a sweep (file or dict) and return its results as a DataFrame (``aimc_dse.sweep``).

    With ``output`` the results file (.csv or .parquet) is kept there (``force``, on by default
    as a notebook re-runs a cell, overwrites an existing one); without, the sweep runs into a
    temporary Parquet file that is removed afterwards. ``jobs`` local processes (default 1:
    notebooks rarely want a process pool), ``max_points`` the grid limit (default
    10,000,000), ``chunk_size`` rows per chunk (default: measured), ``quiet`` no progress bar.
    Integers and flags stay so, missing ones ``<NA>``.
    """
    import tempfile

    from ..specs.base import SpecError

    if not isinstance(path_or_dict, (str, Path, Mapping)):
        raise SpecError(f"path_or_dict={path_or_dict!r:.60}", None,
                        "must be a sweep file path (str or Path) or a dict with a sweep file's fields")
    if max_points is not None and (isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1):
        raise SpecError(f"max_points={max_points!r:.60}", None, "must be a whole number of points, at least 1")
    if output is not None and not isinstance(output, (str, Path)):
        raise SpecError(f"output={output!r:.60}", None, "must be a file path (str or Path) ending in .csv or .parquet")

    from ..report.writer import read_results
    from .grid import DEFAULT_MAX_POINTS, load_grid
    from .runner import ChunkFailed, run_sweep

    spec, grid = load_grid(path_or_dict, max_points or DEFAULT_MAX_POINTS)
    import warnings

    from ..specs.base import PositionsWarning
    from .grid import position_overruns

    for note in position_overruns(grid):  # as aimc_dse.evaluate warns
        warnings.warn(note, PositionsWarning, stacklevel=3)
    with tempfile.TemporaryDirectory(prefix="aimc-dse-") as tmp:
        out = Path(output) if output is not None else Path(tmp) / f"{spec.name}.parquet"
        if not force and out.is_file():  # said in the API's words (the runner's message names --force)
            raise SpecError(str(out), None, "already exists; pass force=True to overwrite it, or another output")
        try:
            run_sweep(spec, grid, out, jobs=jobs, force=force, quiet=quiet, chunk_size=chunk_size)
        except ChunkFailed as e:
            raise RuntimeError(str(e)) from None
        return read_results(out)
