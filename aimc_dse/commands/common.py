"""Options and helpers shared by several commands (one override mechanism: ``--set``).

Light on purpose: command modules import this at start-up, so nothing heavy loads here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..report.output import Format
from ..specs.base import SpecError

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table (people), json or csv (programs)")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="override a spec field by dotted path, e.g. hw.tiles=4096, model.layers=1 (repeatable)"),
]
ColumnsOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--columns",
        "-c",
        help="only these columns: names or patterns, comma-separated or repeated, e.g. tokens_per_s,'energy_nj.*' (default: the headline)",
    ),
]


def split_list(items: list[str] | None) -> list[str]:
    """Repeated and comma-separated option values as one list."""
    return [s.strip() for it in items or [] for s in it.split(",") if s.strip()]


def select_columns(df, patterns: list[str] | None, keep: list[str] = ()):
    """The columns of ``df`` (a DataFrame, or rows as dicts with the same keys) matching
    ``patterns`` (fnmatch), ``keep`` first; SpecError for a pattern matching none."""
    import difflib
    import fnmatch

    from ..specs.base import SpecError

    pats = split_list(patterns)
    if patterns is not None and not pats:
        raise SpecError("--columns", None, "names no column (give names or patterns such as 'tokens_per_s,energy_nj.*')")
    rows = isinstance(df, list)  # every dict has every column (api.evaluate, as_frame=False)
    names = (list(df[0]) if df else []) if rows else list(df.columns)
    chosen = [c for c in keep if c in names]
    for p in pats:
        hits = [c for c in names if fnmatch.fnmatchcase(str(c), p)]
        if not hits:
            close = difflib.get_close_matches(p, [str(c) for c in names], n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise SpecError(f"--columns {p}", None, f"matches no column{hint}")
        chosen += [c for c in hits if c not in chosen]
    return [{c: r[c] for c in chosen} for r in df] if rows else df[chosen]


def check_new_file(path: Path, force: bool) -> None:
    """SpecError unless ``path`` may be written: not a folder, no file in the way of its folder,
    and not an existing file unless ``force``."""
    if path.is_dir():
        raise SpecError(str(path), None, "is a folder; give a file name")
    for parent in path.parents:
        if parent.is_dir():
            break
        if parent.exists():
            raise SpecError(str(path), None, f"{parent} is a file, not a folder")
    if path.exists() and not force:
        raise SpecError(str(path), None, "already exists; pass --force to overwrite it")
