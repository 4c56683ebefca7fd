"""Files a design point refers to — gate traces and expert-selection files — read and checked.

A workload can point at a gate trace (``workload.expert_load.model: trace`` with
``expert_load.trace``) and at a selection JSON (``workload.digital.selection_file``). A
missing file, an unreadable one, or one whose shape disagrees with the model (number of
experts, top-k, MoE layers) is bad input: a :class:`SpecError` naming the file and the
problem, raised before any evaluation — never uniform-routing results with exit 0.

Each file is hashed as it is checked (``specs.safe_io``), so a sweep's manifest records its
content and ``--resume`` refuses to mix results across a change to it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cost.numeric import is_gap
from ..specs import safe_io
from ..specs.base import SpecError

if TYPE_CHECKING:
    import pandas as pd

# Columns that decide which files a point reads and what shape they must have.
REF_COLUMNS = [
    "workload.expert_load.model",
    "workload.expert_load.trace",
    "workload.digital.selection_file",
    "model.name",
    "model.layers",
    "model.moe.experts",
    "model.moe.top_k",
    "model.moe.routing",
    "model.moe.first_dense_layers",
    "model.moe.every",
]


def check_file(path: str, kind: str) -> str:
    """Size-check and hash ``path`` into the active recording; SpecError when it cannot be read."""
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError:
        raise SpecError(path, None, "file not found") from None
    if not p.is_file():
        raise SpecError(path, None, "is not a regular file")
    limit = safe_io.SIZE_LIMITS[kind]
    if st.st_size > limit:
        raise SpecError(path, None, f"is {st.st_size:,} bytes, more than the {limit:,} a {kind} file may have")
    digest = safe_io.file_digest(p)
    if digest is None:
        raise SpecError(path, None, "cannot be read")
    rec = safe_io._recording.get()
    if rec is not None:
        rec[str(p.resolve())] = digest
    return digest


@lru_cache(maxsize=64)
def _check_trace(path: str, digest: str, experts: int, top_k: int, expert_choice: bool) -> None:
    from ..moe.routing import load_trace

    choices = load_trace(path, top_k=None if expert_choice else top_k, exact_k=not expert_choice, k_from="the model's moe.top_k")
    if choices.shape[2] != experts:
        raise SpecError(path, "shape", f"the trace has {choices.shape[2]} experts per layer, the model {experts}")


def check_trace(path: str, experts: int, top_k: int, expert_choice: bool, where: str) -> None:
    """A gate trace exists, is well formed and has the model's number of experts (and top-k)."""
    if not path:
        raise SpecError(where, "workload.expert_load.trace", "expert_load.model is 'trace' but no trace file is given")
    if experts <= 0:
        raise SpecError(where, "workload.expert_load", f"a gate trace ({path}) needs an MoE model; this one is dense")
    digest = check_file(path, "trace")
    _check_trace(path, digest, int(experts), int(top_k), bool(expert_choice))


@lru_cache(maxsize=64)
def _check_selection(path: str, digest: str, layers: int, experts: int, first_dense: int, every: int, name: str) -> None:
    from ..experts.selection import check_selection_shape, read_selection

    sel = read_selection(path)
    if experts <= 0:
        raise SpecError(path, None, f"model {name} is dense; a selection file needs an MoE model")
    every = max(every, 1)
    want = [l for l in range(layers) if l >= first_dense and (l - first_dense) % every == 0]
    check_selection_shape(sel, want, experts, name)


def check_selection(path: str, layers: int, experts: int, first_dense: int, every: int, name: str) -> None:
    """A selection file exists, parses and matches the model's MoE layers and experts."""
    digest = check_file(path, "selection")
    _check_selection(path, digest, int(layers), int(experts), int(first_dense), int(every), str(name))


def _text(v) -> str:
    return "" if is_gap(v) else str(v)


def _int(v) -> int:
    try:
        return 0 if is_gap(v) else int(v)
    except (TypeError, ValueError):
        return 0


def _distinct_refs(points: pd.DataFrame | list[dict[str, Any]], have: list[str]) -> list[dict[str, Any]]:
    """The distinct combinations of the ``have`` columns, in order of first appearance."""
    if isinstance(points, list):
        seen: dict[tuple, dict[str, Any]] = {}
        for r in points:
            sub = {c: r.get(c) for c in have}
            seen.setdefault(tuple(_text(v) for v in sub.values()), sub)
        return list(seen.values())
    return points[have].astype(object).drop_duplicates().to_dict(orient="records")


def check_rows(points: pd.DataFrame | list[dict[str, Any]], where: str) -> None:
    """Check the referenced files of every distinct design in ``points`` (a frame, or rows as
    dicts; columns as in REF_COLUMNS)."""
    names = points.columns if not isinstance(points, list) else dict.fromkeys(k for r in points for k in r)
    have = [c for c in REF_COLUMNS if c in names]
    if "workload.expert_load.model" not in have and "workload.digital.selection_file" not in have:
        return
    for row in _distinct_refs(points, have):
        experts = _int(row.get("model.moe.experts"))
        if _text(row.get("workload.expert_load.model")) == "trace":
            check_trace(
                _text(row.get("workload.expert_load.trace")),
                experts,
                _int(row.get("model.moe.top_k")),
                _text(row.get("model.moe.routing")) == "expert_choice",
                where,
            )
        sel = _text(row.get("workload.digital.selection_file"))
        if sel:
            check_selection(
                sel,
                _int(row.get("model.layers")),
                experts,
                _int(row.get("model.moe.first_dense_layers")),
                _int(row.get("model.moe.every")) or 1,
                _text(row.get("model.name")),
            )
