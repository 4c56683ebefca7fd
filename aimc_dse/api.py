"""The Python API: the CLI's evaluate and sweep for notebooks and scripts, validated the same way.

    import aimc_dse
    df = aimc_dse.evaluate(hw=["nature-3d-aimc", "a100-paper"], model="nature-moe-51b",
                           prompt_len=64, gen_len=8, batch=1, set={"hw.tiles": 400})
    df[["hardware", "model", "tokens_per_s", "tokens_per_s_per_w"]]

    res = aimc_dse.sweep("sweeps/default.yaml")            # or a dict with the same fields
    hw = aimc_dse.load_hw("nature-3d-aimc", set={"hw.tiles": 400})

Every input goes through the loader the CLI uses: a bad preset, field or value raises
:class:`aimc_dse.SpecError` whose message is the CLI's one line (file or ``set`` item, the
field, the problem) — never a ZeroDivisionError from deep in the cost model. A design whose
weights do not fit is a result (``fits`` false), not an exception.

``evaluate`` returns one row per hardware × model with the design's knobs (``hw.*``,
``model.*``, ``workload.*``), every result column (``cost.metrics``) and, when AIMC and
GPU hardware are mixed, ``vs.<gpu>.<metric>`` ratios (AIMC ÷ GPU of the same model).
``sweep`` runs a sweep file through the same runner as ``aimc-dse sweep`` and returns its
results file as a DataFrame (integers stay integers, missing values are ``<NA>``).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

from .specs.base import PositionsWarning, SpecError
from .specs.model import positions_note
from .sweep.frame import sweep_frame

# part of the API, loaded on first use: an evaluate never needs the sweep spec's models
_SWEEP_SPEC = ("load_sweep_spec", "with_pareto_columns")


def __getattr__(name: str):
    if name in _SWEEP_SPEC:
        from .specs import sweep

        return getattr(sweep, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

WORKLOAD_FLAGS = ("prompt_len", "gen_len", "batch", "prefill", "kv_cache", "go_cache")




# ---- overrides ------------------------------------------------------------------------------


def split_overrides(set: Mapping[str, Any] | Iterable[str] | str | None) -> dict[str, dict[str, Any]]:
    """``set`` as {"hw": {...}, "model": {...}, "workload": {...}}.

    Accepts a mapping of dotted paths to values (``{"hw.tiles": 400}``), or ``PATH=VALUE``
    strings as the CLI's ``--set`` takes them (values parsed as YAML).
    """
    from .specs import loader

    if set is None:
        return {"hw": {}, "model": {}, "workload": {}}
    if isinstance(set, str):
        set = [set]
    if not isinstance(set, (Mapping, Iterable)) or isinstance(set, (bytes, bytearray)):
        raise SpecError(
            f"set={_short(set)}", None,
            "must be a mapping of dotted paths to values ({'hw.tiles': 400}) or PATH=VALUE strings",
        )
    if isinstance(set, Mapping):
        out: dict[str, dict[str, Any]] = {"hw": {}, "model": {}, "workload": {}}
        for path, value in set.items():
            head, _, rest = str(path).partition(".")
            if head not in out or not rest:
                raise SpecError(f"set {path}={value}", None, "path must start with hw., model. or workload. and name a field")
            out[head][rest] = value
        return out
    return loader.split_sets([str(s) for s in set])


def set_text(path: str, value: Any) -> str:
    """A ``--set`` item as typed: ``hw.tiles=`` for an empty value (parsed as None), not ``hw.tiles=None``."""
    return f"{path}={'' if value is None else value}"


def workload_data(flags: Mapping[str, Any], sets: dict[str, Any], flag_name=None) -> dict[str, Any]:
    """The workload given by flags (or keyword arguments), refusing a ``set`` that contradicts one.

    ``flag_name(field)`` names the flag in the message (the CLI's ``--batch``; ``batch=`` here).
    """
    flag_name = flag_name or (lambda k: f"{k}=")
    given = {k: v for k, v in flags.items() if v is not None}
    for k, v in given.items():
        if k in sets and sets[k] != v:
            raise SpecError(
                f"--set {set_text(f'workload.{k}', sets[k])}" if flag_name(k).startswith("--") else f"set workload.{k}={sets[k]!r}",
                f"workload.{k}",
                f"contradicts {flag_name(k)}{'' if flag_name(k).endswith('=') else ' '}{v}; give the value once",
            )
    return given


def positions_problem(model, workload) -> str | None:
    """A one-line note when the positions a request feeds exceed the model's ``max_positions``
    (``specs.model.positions_note``)."""
    if model.max_positions is None:
        return None
    return positions_note(model.name, workload.prompt_len, workload.gen_len, model.max_positions, model.position_embedding)


# ---- specs ----------------------------------------------------------------------------------


def _short(value: Any) -> str:
    """A value as an argument's message shows it: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _name(value: Any, what: str) -> str:
    """A preset name or spec file path (str or Path) as text; SpecError naming the argument else."""
    if not isinstance(value, (str, Path)):
        raise SpecError(f"{what}={_short(value)}", None, "must be a preset name or a spec file path (str or Path)")
    return str(value)


def load_hw(name_or_path: str, set: Mapping[str, Any] | Iterable[str] | None = None):
    """A validated hardware spec (AimcHardware or GpuHardware) from a preset name or file."""
    from .specs import loader

    name = _name(name_or_path, "name_or_path")
    ov = split_overrides(set)
    _only(ov, "hw", "load_hw")
    return loader.load_hardware(name, ov["hw"])


def load_model(name_or_path: str, set: Mapping[str, Any] | Iterable[str] | None = None):
    """A validated ModelSpec from a preset name, YAML/JSON file or Hugging Face config.json."""
    from .specs import loader

    name = _name(name_or_path, "name_or_path")
    ov = split_overrides(set)
    _only(ov, "model", "load_model")
    return loader.load_model(name, ov["model"])


def load_workload(data: Mapping[str, Any] | None = None, set: Mapping[str, Any] | Iterable[str] | None = None, **fields):
    """A validated Workload from a mapping and/or keyword fields (prompt_len=…, batch=…)."""
    from .specs import loader

    if data is not None and not isinstance(data, Mapping):
        raise SpecError(f"data={_short(data)}", None, "must be a mapping of workload fields, e.g. {'batch': 4}")
    ov = split_overrides(set)
    _only(ov, "workload", "load_workload")
    given = dict(data or {})
    for k, v in fields.items():  # one value per field, as evaluate and --set take it
        if k in given and given[k] != v:
            raise SpecError(f"{k}={_short(v)}", f"workload.{k}", f"is also {given[k]!r} in data; give it once")
        if k in ov["workload"] and ov["workload"][k] != v:
            raise SpecError(f"{k}={_short(v)}", f"workload.{k}", f"is also set to {ov['workload'][k]!r}; give it once")
    base = {**given, **fields}
    return loader.load_workload(base, "workload", ov["workload"])


def _only(ov: dict[str, dict[str, Any]], head: str, fn: str) -> None:
    for other, items in ov.items():
        if other != head and items:
            path = next(iter(items))
            raise SpecError(f"set {other}.{path}", None, f"{fn} takes only {head}.* paths")


# ---- evaluate -------------------------------------------------------------------------------


def _as_list(v: str | Path | Iterable[str], what: str) -> list[str]:
    """One name or a list of them, as text; SpecError naming the argument for anything else
    (``hw=None`` and ``hw=3`` raised a bare TypeError, ``hw=[3]`` looked for a preset "3")."""
    if isinstance(v, (str, Path)):
        return [str(v)]
    from pydantic import BaseModel

    if isinstance(v, BaseModel) or (isinstance(v, (list, tuple)) and any(isinstance(x, BaseModel) for x in v)):
        raise SpecError(f"{what}={_short(v)}", None, "takes preset names or spec files, not loaded specs: pass the name "
                        "and changes as set={...} (a loaded spec's fields: spec.model_dump())")
    if not isinstance(v, Iterable) or isinstance(v, (Mapping, bytes, bytearray)):
        raise SpecError(f"{what}={_short(v)}", None, "must be a preset name or a spec file path (str or Path), or a list of them")
    items = list(v)
    if not items:
        raise SpecError(what, None, "give at least one")
    return [_name(x, f"{what}[{i}]") for i, x in enumerate(items)]


def design_rows(hws: list[str], models: list[str], workload: dict[str, Any], overrides: dict[str, dict[str, Any]]):
    """Validated design points (one dict of columns per hardware × model), plus notes.

    Returns ``(rows, notes)``; notes are one-line warnings (a workload beyond a model's
    positions).
    """
    from .specs.points import design_rows as rows_of
    from .sweep.inputs import check_rows

    rows, specs, w = rows_of(hws, models, workload, overrides)
    check_rows(rows, "command line")  # gate traces / selection files exist and fit the model
    notes = [n for n in (positions_problem(m, w) for m in specs) if n]
    return rows, notes


def _ratio(a: Any, b: Any) -> float:
    """a ÷ b as the frame computed it: IEEE division (x/0 is ±inf, 0/0 NaN), no exception."""
    import numpy as np

    with np.errstate(all="ignore"):
        return float(np.float64(a) / np.float64(b))


def add_ratios(res: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with AIMC / GPU ratio columns ``vs.<gpu>.<metric>`` appended for every GPU
    evaluated beside an AIMC chip on the same model (NaN in the rows they do not apply to); the metrics are
    ``cost.metrics.RATIO_METRICS``."""
    from .cost.metrics import RATIO_METRICS

    out = [dict(r) for r in res]
    compared = {r["model"] for r in res if r["system"] == "aimc"}  # a GPU with no AIMC row beside it gets no columns
    for g in [r for r in res if r["system"] == "gpu" and r["model"] in compared]:
        for metric in RATIO_METRICS:
            col = f"vs.{g['hardware']}.{metric}"
            for r in out:
                if r["model"] == g["model"] and r["system"] == "aimc":
                    r[col] = _ratio(r[metric], g[metric])
                else:
                    r.setdefault(col, math.nan)
    return out


def evaluate(
    hw: str | Iterable[str],
    model: str | Iterable[str],
    *,
    prompt_len: int | None = None,
    gen_len: int | None = None,
    batch: int | None = None,
    prefill: bool | None = None,
    kv_cache: bool | None = None,
    go_cache: bool | None = None,
    set: Mapping[str, Any] | Iterable[str] | None = None,
    ratios: bool = True,
    fidelity: str = "closed",
    timeline: str | Path | None = None,
    as_frame: bool = True,
):
    """Evaluate every hardware × model pair; a pandas DataFrame, one row per pair.

    ``hw`` and ``model`` are preset names or spec files (one or a list). Workload keywords
    left at None take the Workload defaults (prompt 32, gen 8, batch 1, prefill, KV cache,
    no GO cache) or a ``set={"workload.batch": 4}`` item; giving both with different values
    raises SpecError. ``set`` overrides any spec field by dotted path. Issues a
    :class:`PositionsWarning` when prompt + generated tokens exceed a model's positions.
    ``fidelity="event"`` simulates every AIMC point event by event (``aimc_dse.sim``; GPU
    rows keep the closed form), writing its schedule to ``timeline`` (Perfetto JSON) if given.
    ``as_frame=False`` returns the rows as a list of dicts instead, each with every column
    (NaN where a row lacks one); the closed form then never loads pandas, which is how a
    one-point ``aimc-dse evaluate`` starts fast.
    """
    flags = dict(prompt_len=prompt_len, gen_len=gen_len, batch=batch, prefill=prefill, kv_cache=kv_cache, go_cache=go_cache)
    recs, notes = _evaluate(hw, model, flags, set, ratios, fidelity, timeline)
    for n in notes:
        warnings.warn(n, PositionsWarning, stacklevel=2)
    if not as_frame:
        return recs
    return records_frame(recs)


def records_frame(recs: list[dict[str, Any]]):
    """The rows as a DataFrame whose integer and true/false columns stay so where some rows
    lack them (AIMC and GPU rows side by side): nullable ``Int64`` / ``boolean`` with ``<NA>``,
    as a sweep's frame has them, instead of floats and objects."""
    import numpy as np
    import pandas as pd

    from .sweep.grid import value_kind

    df = pd.DataFrame(recs)
    for c in df.columns:
        if df[c].dtype != object and df[c].dtype.kind != "f":
            continue
        vals = np.array([r.get(c) for r in recs], dtype=object)
        kind, missing = value_kind(vals)  # the kind of the values the rows hold (ints, flags …), and gaps
        if missing and kind in ("b", "i"):  # nothing missing: pandas's own type (int64, bool) is right
            gaps = pd.isna(vals)
            df[c] = pd.array([None if gap else (bool(v) if kind == "b" else int(v)) for v, gap in zip(vals, gaps)],
                             dtype="boolean" if kind == "b" else "Int64")
    return df


def _evaluate(hw, model, flags: dict[str, Any], set, ratios: bool, fidelity: str, timeline) -> tuple[list[dict[str, Any]], list[str]]:
    """(records, positions notes) of ``evaluate``."""
    ov = split_overrides(set)
    wl = workload_data(flags, ov["workload"])
    if fidelity not in ("closed", "event"):
        raise SpecError("--fidelity", None, f"must be closed or event, got {fidelity!r}")
    if fidelity == "closed" and timeline is not None:
        raise SpecError("--timeline", None, "needs --fidelity event (the closed form has no schedule)")
    rows, notes = design_rows(_as_list(hw, "hw"), _as_list(model, "model"), wl, ov)
    if fidelity == "closed":
        from .cost.evaluate import evaluate_records

        res = evaluate_records(rows)
    else:
        res = _event_records(rows, None if timeline is None else Path(timeline))
    return (add_ratios(res) if ratios else res), notes


def _event_records(rows: list[dict[str, Any]], timeline: Path | None) -> list[dict[str, Any]]:
    """The points simulated event by event (GPU rows in closed form); with a timeline, each
    AIMC point's schedule is written too."""
    import pandas as pd

    from .sim import evaluate_frame_event

    if timeline is not None and not any(str(r["hw.kind"]) == "aimc" for r in rows):
        raise SpecError("--timeline", None, "no AIMC design point to simulate (GPU rows have no schedule)")
    return evaluate_frame_event(pd.DataFrame(rows), timeline=timeline).reset_index(drop=True).to_dict(orient="records")


# ---- sweep ----------------------------------------------------------------------------------


# the sweep, its parameters shown to help() and inspect (the same function as aimc_dse.sweep(...))
sweep = sweep_frame
