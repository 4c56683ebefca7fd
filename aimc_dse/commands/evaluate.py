"""`aimc-dse evaluate`: one design point (or several, with repeated --hw / --model), side by side.

With AIMC and GPU hardware in one call, every AIMC row also gets its ratios against each
GPU row of the same model (tokens/s, tokens/s/W, tokens/s/mm²: AIMC / GPU).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import pandas as pd
import typer

from ..cost.columns import spec_columns
from ..cost.evaluate import evaluate_frame
from ..cost.metrics import HEADLINE_COLUMNS
from ..report.output import emit
from ..specs import loader
from ..specs.base import SpecError
from .common import FormatOpt, SetOpt

RATIO_METRICS = ["tokens_per_s", "tokens_per_s_per_w", "tokens_per_s_per_mm2"]
TABLE_COLUMNS = ["hardware", "model"] + [c for c in HEADLINE_COLUMNS if c != "flops"]


def _hw_sets_for(data: dict, sets: dict[str, Any], all_hw: list[dict]) -> dict[str, Any]:
    """The --set hw.* items that apply to this hardware's kind (AIMC or GPU).

    An item that fits no given hardware is an error (check_path names it); one that fits
    another kind only is skipped here.
    """
    mine: dict[str, Any] = {}
    for rest, value in sets.items():
        if _fits(data, rest):
            mine[rest] = value
        elif not any(_fits(d, rest) for d in all_hw):
            loader.check_path({"hw": loader.hw_classes(data)}, f"hw.{rest}")
    return mine


def _fits(data: dict, rest: str) -> bool:
    """Whether ``hw.<rest>`` names a field of this hardware's kind."""
    try:
        loader.check_path({"hw": loader.hw_classes(data)}, f"hw.{rest}")
        return True
    except SpecError:
        return False


def build_points(
    hws: list[str], models: list[str], workload: dict[str, Any], sets: list[str] | None
) -> pd.DataFrame:
    """Validated design points (one row per hardware × model) as a columns frame."""
    overrides = loader.split_sets(sets)
    raw_hw = [loader.resolve("hw", h) for h in hws]
    w = loader.load_workload(workload, "command line", overrides["workload"])
    rows = []
    for m_name in models:
        m = loader.load_model(m_name, overrides["model"])
        for (data, src), h_name in zip(raw_hw, hws):
            hw = loader.validate_hardware(data, src, _hw_sets_for(data, overrides["hw"], [d for d, _ in raw_hw]))
            row = spec_columns(hw, m, w)
            rows.append({"hardware": h_name, "model": m_name, **row})
    return pd.DataFrame(rows)


def add_ratios(res: pd.DataFrame) -> pd.DataFrame:
    """Append AIMC / GPU ratio columns for every GPU of the same model."""
    gpus = res[res["system"] == "gpu"]
    out = res.copy()
    for _, g in gpus.iterrows():
        same = (out["model"] == g["model"]) & (out["system"] == "aimc")
        for metric in RATIO_METRICS:
            col = f"vs.{g['hardware']}.{metric}"
            out.loc[same, col] = out.loc[same, metric] / g[metric]
    return out


def _evaluate(grid: pd.DataFrame, fidelity: str, timeline: Path | None) -> pd.DataFrame:
    """The grid at the asked fidelity; with a timeline, each AIMC point's schedule is written too."""
    if fidelity not in ("closed", "event"):
        raise SpecError("--fidelity", None, f"must be closed or event, got {fidelity!r}")
    if fidelity == "closed":
        if timeline is not None:
            raise SpecError("--timeline", None, "needs --fidelity event (the closed form has no schedule)")
        return evaluate_frame(grid)
    from ..sim import evaluate_frame_event

    if timeline is not None and not (grid["hw.kind"].astype(str) == "aimc").any():
        raise SpecError("--timeline", None, "no AIMC design point to simulate (GPU rows have no schedule)")
    return evaluate_frame_event(grid, timeline=timeline)


def register(app: typer.Typer) -> None:
    from ..cli import cli_errors

    @app.command("evaluate")
    @cli_errors
    def evaluate(
        hw: Annotated[list[str], typer.Option("--hw", help="hardware preset or spec file (repeatable)")],
        model: Annotated[list[str], typer.Option("--model", help="model preset, spec file or HF config.json (repeatable)")],
        prompt_len: Annotated[Optional[int], typer.Option("--prompt-len", help="prompt tokens per sequence")] = None,
        gen_len: Annotated[
            Optional[int], typer.Option("--gen-len", help="generated tokens: prefill emits the first, G−1 decode steps the rest")
        ] = None,
        batch: Annotated[Optional[int], typer.Option("--batch", help="concurrent sequences B")] = None,
        prefill: Annotated[Optional[bool], typer.Option("--prefill/--no-prefill", help="cost the prompt step")] = None,
        kv_cache: Annotated[Optional[bool], typer.Option("--kv-cache/--no-kv-cache", help="KV cache in DRAM")] = None,
        go_cache: Annotated[
            Optional[bool], typer.Option("--go-cache/--no-go-cache", help="gate-output cache (expert-choice routing)")
        ] = None,
        sets: SetOpt = None,
        fmt: FormatOpt = "table",
        all_columns: Annotated[bool, typer.Option("--all", help="table: show every column, breakdowns included")] = False,
        fidelity: Annotated[
            str, typer.Option("--fidelity", help="closed: the closed-form model; event: the event-driven simulator (closed)")
        ] = "closed",
        timeline: Annotated[
            Optional[Path],
            typer.Option("--timeline", help="with --fidelity event: write the schedule as Chrome/Perfetto trace JSON"),
        ] = None,
    ) -> None:
        """Evaluate design points: tokens/s, tokens/s/W, tokens/s/mm², latency, energy, area."""
        workload = {
            k: v
            for k, v in dict(
                prompt_len=prompt_len, gen_len=gen_len, batch=batch, prefill=prefill, kv_cache=kv_cache, go_cache=go_cache
            ).items()
            if v is not None
        }
        grid = build_points(hw, model, workload, sets)
        res = add_ratios(_evaluate(grid, fidelity, timeline))
        if fmt != "table":
            emit(res, fmt)
            return
        ratio_cols = [c for c in res.columns if c.startswith("vs.")]
        if len(res) == 1 or all_columns:
            keep = [c for c in res.columns if not c.startswith(("hw.", "model.", "workload."))] if not all_columns else list(res.columns)
            emit(res[keep].set_index(res["hardware"] + " / " + res["model"]), "table", title="aimc-dse evaluate", transpose=True)
        else:
            emit(res, "table", title="aimc-dse evaluate", columns=TABLE_COLUMNS)
        if ratio_cols and (res["system"] == "aimc").any():
            rat = res[res["system"] == "aimc"][["hardware", "model"] + ratio_cols]
            emit(rat, "table", title="AIMC / GPU ratios")
