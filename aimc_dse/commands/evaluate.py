"""`aimc-dse evaluate`: one design point (or several, with repeated --hw / --model), side by side.

With AIMC and GPU hardware in one call, every AIMC row also gets its ratios against each
GPU row of the same model (tokens/s, tokens/s/W, tokens/s/mm²: AIMC / GPU). The work is
``aimc_dse.api.evaluate``'s (the same validation for the CLI and Python); this module adds
the flags and the people's view: the workload that ran, a table that fits the terminal
(transposed for a few designs), and the ratios as one row per AIMC × GPU pair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from ..cost.metrics import HEADLINE_COLUMNS, RATIO_METRICS
from .common import ColumnsOpt, FormatOpt, SetOpt

Rows = list[dict[str, Any]]  # one dict per design, every dict with every column (api.evaluate, as_frame=False)

RATIO_LABELS = {"tokens_per_s": "tokens/s ×", "tokens_per_s_per_w": "tokens/s/W ×", "tokens_per_s_per_mm2": "tokens/s/mm² ×"}
HEADLINE = [c for c in HEADLINE_COLUMNS if c not in ("system", "flops")]  # the table's metrics
TABLE_COLUMNS = ["hardware", "model", "system"] + HEADLINE
# Beside `fits` when a design does not fit: why, and what it would need (the rule that a
# design that does not fit is a result says why, not only that).
WHY_COLUMNS = ["fit_reason", "tiles_needed", "chips_needed", "devices_needed"]
MAX_TRANSPOSED = 4  # up to this many designs are shown as columns (field / design 1 / design 2 …)

# The Workload defaults, as --help shows them (tests/test_cli_ux.py checks them against specs.workload).
WORKLOAD_DEFAULTS = {"prompt_len": 32, "gen_len": 8, "batch": 1, "prefill": True, "kv_cache": True, "go_cache": False}


def workload_line(res: Rows) -> str:
    """What ran, in words: prompt, generated tokens, batch, prefill and caches (from the rows)."""
    parts = []
    for key in ("prompt_len", "gen_len", "batch", "prefill", "kv_cache", "go_cache"):
        col = f"workload.{key}"
        if col not in res[0]:
            continue
        vals = list(dict.fromkeys(r[col] for r in res))
        v = vals[0] if len(vals) == 1 else "/".join(str(x) for x in vals)
        if isinstance(v, bool) or str(v) in ("True", "False"):
            v = "on" if v in (True, "True") else "off"
        parts.append(f"{key} {v}")
    return "workload: " + ", ".join(parts)


def _design_names(res: Rows) -> list[str]:
    hws, models = [r["hardware"] for r in res], [r["model"] for r in res]
    if len(set(models)) == 1:
        return hws
    if len(set(hws)) == 1:
        return models
    return [f"{h} / {m}" for h, m in zip(hws, models)]


def ratio_rows(res: Rows) -> list[dict]:
    """One row per AIMC × GPU pair of the same model: AIMC ÷ GPU per metric, the
    ``vs.<gpu>.<metric>`` columns ``api.evaluate`` computed (one definition of the ratio)."""
    rows = []
    for a in [r for r in res if r["system"] == "aimc"]:
        for g in [r for r in res if r["system"] == "gpu" and r["model"] == a["model"]]:
            rec = {"aimc": a["hardware"], "vs gpu": g["hardware"], "model": a["model"]}
            for m in RATIO_METRICS:
                rec[RATIO_LABELS[m]] = a[f"vs.{g['hardware']}.{m}"]
            rows.append(rec)
    return rows


def register(app: typer.Typer) -> None:
    from .errors import cli_errors, err_console

    @app.command("evaluate")
    @cli_errors
    def evaluate(
        hw: Annotated[list[str], typer.Option("--hw", help="hardware preset or spec file (repeatable)")],
        model: Annotated[list[str], typer.Option("--model", help="model preset, spec file or HF config.json (repeatable)")],
        prompt_len: Annotated[
            Optional[int], typer.Option("--prompt-len", help=f"prompt tokens per sequence (default: {WORKLOAD_DEFAULTS['prompt_len']})")
        ] = None,
        gen_len: Annotated[
            Optional[int],
            typer.Option(
                "--gen-len", help=f"generated tokens: prefill emits the first, G−1 decode steps the rest (default: {WORKLOAD_DEFAULTS['gen_len']})"
            ),
        ] = None,
        batch: Annotated[Optional[int], typer.Option("--batch", help=f"concurrent sequences B (default: {WORKLOAD_DEFAULTS['batch']})")] = None,
        prefill: Annotated[
            Optional[bool], typer.Option("--prefill/--no-prefill", help="cost the prompt step (default: --prefill)")
        ] = None,
        kv_cache: Annotated[
            Optional[bool], typer.Option("--kv-cache/--no-kv-cache", help="keep the keys and values of earlier tokens (in the chip's KV SRAM and DRAM) instead of recomputing them (default: --kv-cache)")
        ] = None,
        go_cache: Annotated[
            Optional[bool],
            typer.Option("--go-cache/--no-go-cache", help="gate-output cache, expert-choice routing (default: --no-go-cache)"),
        ] = None,
        sets: SetOpt = None,
        fmt: FormatOpt = "table",
        columns: ColumnsOpt = None,
        all_columns: Annotated[
            bool, typer.Option("--all", help="table: every column, knobs and breakdowns included (default: the headline)")
        ] = False,
        fidelity: Annotated[
            Literal["closed", "event"],
            typer.Option("--fidelity", help="closed: the closed-form model; event: the event-driven simulator"),
        ] = "closed",
        timeline: Annotated[
            Optional[Path],
            typer.Option("--timeline", help="with --fidelity event: write the schedule as Chrome/Perfetto trace JSON (default: none)"),
        ] = None,
        force: Annotated[bool, typer.Option("--force", help="overwrite an existing --timeline file")] = False,
    ) -> None:
        """Evaluate design points: tokens/s, tokens/s/W, tokens/s/mm², latency, energy, area."""
        import warnings

        from .. import api
        from ..report.output import emit
        from ..specs.base import SpecError
        from .common import check_new_file, select_columns

        if timeline is not None:
            check_new_file(timeline, force)
        if all_columns and columns is not None:
            raise SpecError("--all", None, "--all and --columns both choose the columns; give one of them")
        ov = api.split_overrides(sets or [])
        flags = dict(prompt_len=prompt_len, gen_len=gen_len, batch=batch, prefill=prefill, kv_cache=kv_cache, go_cache=go_cache)
        wl = api.workload_data(flags, ov["workload"], flag_name=_flag)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", api.PositionsWarning)
            res = api.evaluate(hw, model, set=ov_items(ov), fidelity=fidelity, timeline=timeline, as_frame=False, **wl)
        for w in caught:
            err_console.print(f"warning: {w.message}", markup=False)
        if fmt != "table":
            emit(select_columns(res, columns, keep=["hardware", "model"]) if columns is not None else res, fmt)
            return
        if columns is not None:
            shown = select_columns(res, columns, keep=["hardware", "model"])
        elif all_columns:
            shown = res
        else:
            shown = [{c: r[c] for c in _table_columns(res) if c in r} for r in res]
        title = f"aimc-dse evaluate — {workload_line(res)}"
        if len(res) <= MAX_TRANSPOSED:
            body = [{c: v for c, v in r.items() if c not in ("hardware", "model")} for r in shown]
            if len(res) == 1:
                title += f"\n{res[0]['hardware']} / {res[0]['model']}"
            elif len({r["model"] for r in res}) == 1:
                title += f"\nmodel {res[0]['model']}"
            emit(body, "table", title=title, transpose=True, index=_design_names(res))
        else:
            emit(shown, "table", title=title, hoist=True)  # a model (or system) every design shares goes to the title
        ratios = ratio_rows(res)
        if ratios:
            emit(ratios, "table", title="AIMC ÷ GPU, same model and workload (> 1: AIMC ahead)")


def _table_columns(res: Rows) -> list[str]:
    """The default table's columns: the headline, and ``WHY_COLUMNS`` after ``fits`` when a design does not fit."""
    if all(r.get("fits", True) for r in res):
        return TABLE_COLUMNS
    why = [c for c in WHY_COLUMNS if any(c in r for r in res)]
    i = TABLE_COLUMNS.index("fits") + 1
    return TABLE_COLUMNS[:i] + why + TABLE_COLUMNS[i:]


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def ov_items(ov: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Parsed overrides back as {dotted path: value} for the API."""
    return {f"{head}.{rest}": v for head, items in ov.items() for rest, v in items.items()}
