"""The expert-selection JSON: written by ``aimc-dse experts score``, read for ``workload.digital``.

Format (``schema: aimc-dse/expert-selection/1``)::

    {
      "schema": "aimc-dse/expert-selection/1",
      "model": "olmoe-1b-7b", "weights": "path/as/given", "experts": 64,
      "fraction": 0.125, "digital_per_layer": 8, "rounding": "ceil(fraction * experts)",
      "score": "maxnn", "neuron": "output",
      "noise": {"kind": "pcm", "c": 1.5, "inputs": 32, "seed": 0} | null,
      "layers": {"0": [17, 3, ...], ...},       # model layer → digital experts, best first
      "scores": {"0": [s_0, s_1, ...], ...},    # MaxNNScore of every expert, by index
      "mvm_rel_err": {"0": [...], ...},         # the noise proxy (experts/noise.py), when
      "ffn_rel_err": {...}, "ffn_err_vs_layer": {...}   # computed; by expert index
    }

Layer keys are model layer indices (as in the tensor names). A placement with ``score:
maxnn`` re-ranks the ``scores`` with its own fraction, so one file serves every φ; the
stored ``layers`` record the choice at the fraction the file was written with.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..specs.base import SpecError
from ..specs.placement import digital_count, top_mask
from ..specs.safe_io import pid_alive
from .score import ExpertScore

SCHEMA = "aimc-dse/expert-selection/1"


def _num(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def select(scores: list[ExpertScore], fraction: float) -> dict[int, list[int]]:
    """Per layer, the ⌈φ·E⌉ experts with the highest MaxNNScore, best first (ties: lower index)."""
    out: dict[int, list[int]] = {}
    for layer in sorted({s.layer for s in scores}):
        row = sorted((s for s in scores if s.layer == layer), key=lambda s: s.expert)
        vals = np.array([s.maxnn for s in row])
        n = digital_count(fraction, len(row))
        chosen = np.flatnonzero(top_mask(vals, n)[0])
        out[layer] = [int(row[i].expert) for i in sorted(chosen, key=lambda i: (-vals[i], i))]
    return out


def selection_document(
    scores: list[ExpertScore],
    *,
    model: str,
    weights: str,
    fraction: float,
    neuron: str,
    noise: dict[str, Any] | None,
) -> dict[str, Any]:
    layers = sorted({s.layer for s in scores})
    by_layer = {l: sorted((s for s in scores if s.layer == l), key=lambda s: s.expert) for l in layers}
    experts = len(by_layer[layers[0]]) if layers else 0
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "model": model,
        "weights": weights,
        "experts": experts,
        "fraction": fraction,
        "digital_per_layer": digital_count(fraction, experts) if experts else 0,
        "rounding": "ceil(fraction * experts)",
        "score": "maxnn",
        "neuron": neuron,
        "noise": noise,
        "layers": {str(l): v for l, v in select(scores, fraction).items()},
        "scores": {str(l): [_num(s.maxnn) for s in by_layer[l]] for l in layers},
    }
    if noise is not None:
        for key in ("mvm_rel_err", "ffn_rel_err", "ffn_err_vs_layer"):
            doc[key] = {str(l): [_num(getattr(s, key)) for s in by_layer[l]] for l in layers}
    return doc


def write_json_atomic(path: str | Path, doc: Any) -> None:
    """Write JSON so that a crash or Ctrl-C never leaves a half-written file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)  # as every output of the tool (README)
    clean_stale_temps(p)
    # The PID in the temporary name lets a later run remove what a killed one left behind.
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.{os.getpid()}.", suffix=".tmp", dir=p.parent or ".")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def clean_stale_temps(p: Path) -> None:
    """Remove ``.<name>.<pid>.*.tmp`` files of ``p`` whose writing process no longer exists."""
    for tmp in (p.parent or Path(".")).glob(f".{p.name}.*.tmp"):
        parts = tmp.name[len(p.name) + 2 :].split(".")
        if not parts or not parts[0].isdigit():
            continue
        if pid_alive(int(parts[0])):
            continue  # still running (or cannot tell): its file
        try:
            tmp.unlink()
        except OSError:
            pass


@dataclass(frozen=True)
class Selection:
    source: str
    model: str
    experts: int
    layer_ids: list[int]  # model layer index of each row
    scores: np.ndarray  # rows × experts MaxNNScores (NaN where the file had null)
    digital: dict[int, list[int]]  # as stored (at the file's fraction)
    fraction: float


def read_selection(path: str | Path) -> Selection:
    """Parse a selection JSON; :class:`SpecError` (file, field, problem) when malformed."""
    from ..specs.safe_io import parse_document, read_input

    src = str(path)
    doc = parse_document(read_input(path, "selection"), src, json_syntax=True)
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise SpecError(src, "schema", f"expected {SCHEMA!r} (a file written by `aimc-dse experts score`)")
    scores = doc.get("scores")
    if not isinstance(scores, dict) or not scores:
        raise SpecError(src, "scores", "missing or empty")
    try:
        layer_ids = sorted(int(k) for k in scores)
    except ValueError:
        raise SpecError(src, "scores", "layer keys must be integers") from None
    rows = []
    experts = None
    for l in layer_ids:
        row = scores[str(l)]
        if not isinstance(row, list) or not all(v is None or isinstance(v, (int, float)) for v in row):
            raise SpecError(src, f"scores.{l}", "expected a list of numbers")
        if experts is None:
            experts = len(row)
        elif len(row) != experts:
            raise SpecError(src, f"scores.{l}", f"{len(row)} scores; layer {layer_ids[0]} has {experts}")
        vals = [np.nan if v is None else float(v) for v in row]
        if any(isinstance(v, float) and not math.isfinite(v) for v in row):
            raise SpecError(src, f"scores.{l}", "scores must be finite numbers (or null)")
        rows.append(vals)
    layers = doc.get("layers") or {}
    try:
        digital = {int(k): [int(e) for e in v] for k, v in layers.items()}
    except (TypeError, ValueError, AttributeError):
        raise SpecError(src, "layers", "expected {layer: [expert, ...]}") from None
    return Selection(
        source=src,
        model=str(doc.get("model", "")),
        experts=int(experts or 0),
        layer_ids=layer_ids,
        scores=np.array(rows, dtype=np.float64),
        digital=digital,
        fraction=float(doc.get("fraction", 0.0)),
    )


def selection_scores(path: str | Path, model) -> np.ndarray:
    """MaxNNScores of a selection file as MoE-layers × experts, rows in the model's MoE-layer order.

    This is the ``scores`` argument of :func:`aimc_dse.specs.placement.digital_experts`.
    Raises :class:`SpecError` when the file's layers or expert count do not match ``model``.
    """
    sel = read_selection(path)
    if model.moe is None:
        raise SpecError(sel.source, None, f"model {model.name} is dense; a selection file needs an MoE model")
    want = [l for l in range(model.layers) if model.is_moe_layer(l)]
    check_selection_shape(sel, want, model.moe.experts, model.name)
    return sel.scores


def check_selection_shape(sel: Selection, moe_layer_ids: list[int], experts: int, model_name: str) -> None:
    """SpecError unless the selection's layers and expert count are the model's."""
    if sel.layer_ids != moe_layer_ids:
        raise SpecError(
            sel.source,
            "scores",
            f"layers {_span(sel.layer_ids)} do not match the MoE layers {_span(moe_layer_ids)} of model {model_name}",
        )
    if sel.experts != experts:
        raise SpecError(sel.source, "scores", f"{sel.experts} experts per layer, model {model_name} has {experts}")


def _span(ids: list[int]) -> str:
    if ids and ids == list(range(ids[0], ids[-1] + 1)):
        return f"{ids[0]}…{ids[-1]}" if len(ids) > 1 else str(ids[0])
    return ", ".join(map(str, ids[:6])) + (" …" if len(ids) > 6 else "")
